"""The WS-Management responder against the real, unmodified pywinrm."""

from __future__ import annotations

import base64
import json
import warnings

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError, WSManFaultError

from overcast_hv_hyperv.powershell import Script, parse_error
from overcast_hv_hyperv_sim.wsman_sim import HyperVSimulator

warnings.simplefilter("ignore", DeprecationWarning)


@pytest.fixture(params=["basic", "ntlm"])
def sim(request, tmp_path):
    with HyperVSimulator(["hv1"], auth=request.param, root=str(tmp_path)) as s:
        yield s


def session(sim, password="Passw0rd!"):
    return winrm.Session(sim.url("hv1"), auth=("Administrator", password), transport=sim.auth)


def test_run_ps_json_and_state_rules(sim):
    s = session(sim)
    r = s.run_ps(
        Script()
        .quiet("New-VM", Name="vm1", MemoryStartupBytes=256 << 20, NoVHD=True)
        .json("Get-VM", select=["Name", "State", "MemoryStartup"])
        .text()
    )
    assert r.status_code == 0 and r.std_err == b""
    vm = json.loads(r.std_out)  # one object: not wrapped in an array (PS 5.1)
    assert vm == {"Name": "vm1", "State": 3, "MemoryStartup": 256 << 20}
    r = s.run_ps(Script().cmd("Start-VM", Name="vm1").cmd("Start-VM", Name="vm1").text())
    assert r.status_code == 0 and b"already in the specified state" in r.std_err  # a warning, not an error
    r = s.run_ps(Script().cmd("Resume-VM", Name="vm1").text())
    assert r.status_code == 1
    err = parse_error(r.std_err.decode())
    assert err.cmdlet == "Resume-VM" and err.reason == "InvalidState"
    r = s.run_ps(Script().json("Get-VM", Name="nothing*").text())
    assert r.status_code == 0 and r.std_out == b""  # zero objects: no output at all
    if sim.auth == "ntlm":
        assert type(s.protocol.transport.encryption).__name__ == "Encryption"


def test_error_records_are_clixml(sim):
    s = session(sim)
    rs = s.run_cmd(
        "powershell -encodedcommand %s"
        % base64.b64encode(Script().cmd("Get-VM", Name="ghost").text().encode("utf-16-le")).decode()
    )
    assert rs.status_code == 1 and rs.std_err.startswith(b"#< CLIXML\r\n")
    r = s.run_ps(Script().cmd("Get-VM", Name="ghost").text())
    err = parse_error(r.std_err.decode())
    assert err.message == 'Hyper-V was unable to find a virtual machine with name "ghost".'
    assert err.error_id == "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"
    r = s.run_ps("Get-Something")
    assert r.status_code == 1 and b"is not recognized as the name of a cmdlet" in r.std_err
    r = s.run_ps("Get-VM -Bogus 1")
    assert r.status_code == 1 and b"A parameter cannot be found" in r.std_err


def test_bad_password_is_refused(sim):
    with pytest.raises(InvalidCredentialsError):
        session(sim, "wrong").run_ps("Get-VM")


def test_shell_not_found_fault(sim):
    s = session(sim)
    with pytest.raises(WSManFaultError) as e:
        s.protocol.run_command("NOT-A-SHELL", "ipconfig")
    assert e.value.wsman_fault_code == 2150858843 and e.value.code == 500


def test_slow_command_uses_operation_timeout_and_retry(sim):
    sim.command_delay = 0.6
    sim.receive_wait = 0.1  # Receive answers OperationTimeout until the command is done
    r = session(sim).run_ps(Script().json("Get-VMHost", select=["ComputerName"]).text())
    assert r.status_code == 0 and json.loads(r.std_out)["ComputerName"] == "hv1"


def test_ntlm_listener_refuses_unencrypted_bodies(tmp_path):
    import requests

    with HyperVSimulator(["hv1"], auth="ntlm", root=str(tmp_path)) as s:
        r = requests.post(s.url("hv1"), data=b"<x/>", headers={"Content-Type": "application/soap+xml"})
        assert r.status_code == 401
