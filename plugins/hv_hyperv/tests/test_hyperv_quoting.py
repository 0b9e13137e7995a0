"""Hostile strings reach PowerShell as data, never as code.

The simulator's interpreter follows PowerShell's lexer where it matters: single-quoted strings
end at any of ' ‘ ’ ‚ ‛, double-quoted strings expand $var and *execute* $(...), ';' and
newlines separate statements. Every cmdlet that runs is recorded in the host's transcript, so
an injection shows up as an extra command or a changed parameter.
"""

from __future__ import annotations

import uuid
import warnings

import pytest
import winrm

from overcast.types import Flavor, Instance

from overcast_hv_hyperv.powershell import Pattern, Script, quote, quote_literal_pattern
from overcast_hv_hyperv_sim.fake_powershell import Fabric, lex, wildcard_match

HOSTILE = [
    "web'; Remove-VM -Name * -Force; '",
    "web\u2019; Stop-VM -Name * -TurnOff; \u2018",  # typographic quotes close '...' in PowerShell
    "web\u201a; Remove-Item C:\\ -Recurse; \u201b",
    "$(Remove-VM -Name * -Force)",
    '`$env:COMPUTERNAME` "$(whoami)" ${x}',
    "line one\nRemove-VM -Name *\r\n-Force",
    "a | Remove-VM",
    "# comment ; Remove-VM",
    "-Force",
    "''''",
    "'",
    "\u2019",
    "web[1]*?",
    "emoji \U0001f600 and \u00e9\u00e8 and \u4e2d\u6587",
    "x" * 300,
]


@pytest.fixture
def host(tmp_path):
    fabric = Fabric(str(tmp_path))
    return fabric.add_host("hv1")


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_is_one_literal_token(value):
    toks = lex("Set-VM -Notes " + quote(value))
    assert [t.kind for t in toks] == ["word", "param", "str"]
    assert toks[2].value == value


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_arrives_as_data(host, value):
    host.run(Script().quiet("New-VM", Name="victim", NoVHD=True).text())
    s = Script().cmd("Set-VM", Name=Pattern("victim"), Notes=value)
    out, errors, code = host.run(s.text())
    assert code == 0, errors
    names = [c for c, _ in host.transcript]
    assert names == ["New-VM", "Out-Null", "Set-VM"]  # nothing else ran
    assert host.transcript[-1][1]["Notes"] == value  # byte for byte
    assert [v.name for v in host.vms] == ["victim"]


def test_naive_quoting_would_be_caught(host):
    """The simulator is strict enough to catch the classic bug: escaping only ASCII quotes."""
    host.run(Script().quiet("New-VM", Name="victim", NoVHD=True).text())
    evil = "x\u2019; Remove-VM -Name victim -Force; \u2019"
    naive = "Set-VM -Name 'victim' -Notes '" + evil.replace("'", "''") + "'"
    host.run(naive)
    assert "Remove-VM" in [c for c, _ in host.transcript]  # the injection executed
    assert host.vms == []


def test_double_quotes_would_execute_subexpressions(host):
    host.run(Script().quiet("New-VM", Name="victim", NoVHD=True).text())
    host.run('Set-VM -Name "victim" -Notes "$(Remove-VM -Name victim -Force)"')
    assert host.vms == []  # why the plugin never uses "..."


def test_wildcards_are_escaped_for_pattern_parameters(host):
    for name in ("web[1]", "web1", "web*"):
        host.run(Script().quiet("New-VM", Name=name, NoVHD=True).text())
    out, errors, code = host.run(Script().json("Get-VM", select=["Name"], Name=Pattern("web[1]")).text())
    assert code == 0 and '"web[1]"' in out and "web1" not in out
    assert wildcard_match(quote_literal_pattern("web*")[1:-1], "web*")
    assert not wildcard_match(quote_literal_pattern("web*")[1:-1], "webX")


def test_nul_is_refused():
    with pytest.raises(ValueError):
        quote("a\0b")


def test_hostile_display_names_through_the_driver(hv_driver, hv_sim, hv_host, qemu_img, tmp_path):
    """Spawn guests named with every hostile string over real pywinrm (NTLM): each ends up as
    the VM's Notes verbatim, and only the driver's own cmdlets ever ran."""
    host = hv_host(hv_sim, "hv1")
    sim_host = hv_sim.host("hv1")
    allowed = {
        "Get-VM",
        "Select-Object",
        "ConvertTo-Json",
        "Get-VMHost",
        "New-VHD",
        "Out-Null",
        "New-VM",
        "Set-VM",
        "Remove-VMNetworkAdapter",
        "Start-VM",
        "Stop-VM",
        "Get-VMSnapshot",
        "Remove-VMSnapshot",
        "Remove-VM",
        "Remove-Item",
        "Get-VMHardDiskDrive",
        "Add-VMNetworkAdapter",
    }
    for value in HOSTILE[:8]:
        u = str(uuid.uuid4())
        inst = Instance(
            uuid=u,
            name="oc-" + u,
            display_name=value,
            project_id="p",
            flavor=Flavor(id="f", name="f", vcpus=1, memory_mb=128, root_gb=0),
        )
        hv_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
        vm = next(v for v in sim_host.vms if v.name == inst.name)
        assert vm.notes == value
        hv_driver.destroy(host=host, instance=inst, destroy_disks=True)
    ran = {c for c, _ in sim_host.transcript}
    assert ran <= allowed, ran - allowed
    assert sim_host.vms == []


def test_hostile_script_over_the_wire(hv_sim):
    warnings.simplefilter("ignore", DeprecationWarning)
    s = winrm.Session(hv_sim.url("hv1"), auth=("Administrator", "Passw0rd!"), transport="ntlm")
    value = HOSTILE[1]
    script = Script().quiet("New-VM", Name=value, NoVHD=True).json("Get-VM", select=["Name"], Name=Pattern(value))
    r = s.run_ps(script.text())
    assert r.status_code == 0, r.std_err
    import json

    assert json.loads(r.std_out)["Name"] == value
