"""Issue 17 end to end: a user's first hour, with the unmodified ``openstack`` CLI and a stock
Debian 12 cloud image (``scripts/build-debian-image.sh``: Debian's packages, cloud-init with
the standard OpenStack datasources, nothing of Overcast's).

Key pair, external network (flat, on a host bridge carrying its gateway address, as
DevStack's ``br-ex``), private network behind a router, ``server create --key-name
--user-data --wait``, a floating IP; then SSH as ``debian`` through the floating IP from the
host: the hostname is the server's name, ``169.254.169.254`` answers its own uuid and key
(the router's metadata proxy), the user-data script ran, another server's metadata is out of
reach. Then ``--config-drive True`` on an isolated network without DHCP or metadata: the
guest configures its address from the drive's ``network_data.json`` and gets its key.

Under TCG a Debian boot takes a minute or more; the timeouts are generous and bounded. The
time from ``server create`` to SSH answering is printed (bench/guest_ssh_boot.py compares it
with a raw QEMU boot of the same image).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from overcast.testing.cloud import free_port
from overcast.testing.facilities import missing_facility
from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]

DEBIAN = Path(os.environ.get("OVERCAST_DEBIAN_DIR") or "/var/lib/overcast/debian") / "debian-12.qcow2"
EXT_BRIDGE = f"obe{os.getpid() % 100000}"
ISO_BRIDGE = f"obi{os.getpid() % 100000}"
USER_DATA = "#!/bin/sh\necho user-data-ran > /var/tmp/user-data-marker\n"
# the config-drive server's user data: a password, so the browser can log in on the serial console
CLOUD_CONFIG = "#cloud-config\npassword: console-pw-17\nchpasswd: {expire: false}\nssh_pwauth: false\n"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def browser_serial_console(url: str, password: str, server_id: str, name: str) -> str:
    """Log in to the dashboard in Debian's Chromium (Playwright), open the instance's serial
    console, log in on it and type ``hostname``; returns what the terminal shows."""
    import shutil

    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.fill("input[name=project]", "admin")
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/overview**", timeout=60_000)
        page.goto(f"{url}/instances/{server_id}")
        page.click("#serial-open")
        # (locators, not wait_for_function: the dashboard's CSP forbids eval, rightly)
        page.locator("#serial-status", has_text=re.compile("^connected$")).wait_for(timeout=60_000)

        def screen() -> str:
            return str(
                page.evaluate(
                    "() => { const b = window.overcastTerminal.buffer.active; const out = [];"
                    " for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));"
                    " return out.join('\\n'); }"
                )
            )

        def wait_for(text: str, timeout: float = 120, nudge: bool = False) -> None:
            deadline = time.monotonic() + timeout
            while text not in screen():
                if time.monotonic() > deadline:
                    page.screenshot(path=str(SHOTS / "serial-console-failed.png"), full_page=True)
                    raise AssertionError(f"{text!r} not on the serial console:\n{screen()[-2000:]}")
                if nudge:  # a getty that printed its prompt before we connected prints it again
                    page.keyboard.press("Enter")
                time.sleep(2)

        wait_for("login:", nudge=True)
        page.keyboard.type("debian\n")
        wait_for("Password:", 60)
        page.keyboard.type("console-pw-17\n")
        wait_for("$ ", 60)
        page.keyboard.type("hostname\n")
        wait_for(f"\n{name}\n", 60)  # the command's answer: a line of its own (not the prompts')
        page.screenshot(path=str(SHOTS / "serial-console.png"), full_page=True)
        shown = screen()
        # the noVNC console in its frame: connected to the guest's VGA text console
        page.click("#vnc-open")
        frame = page.frame_locator("#vnc-frame")
        frame.locator("#status", has_text=re.compile("^Connected to")).wait_for(timeout=60_000)
        frame.locator("canvas").wait_for(timeout=30_000)
        time.sleep(3)  # a frame update or two
        page.screenshot(path=str(SHOTS / "novnc-console.png"), full_page=True)
        browser.close()
    return shown


@pytest.fixture
def kvm_network_config():
    if not DEBIAN.exists():  # scripts/test.sh builds it; in CI its absence fails the test
        missing_facility("debian_image", f"no Debian image at {DEBIAN} (run scripts/build-debian-image.sh)")
    yield {
        "network": {
            "driver": "linuxbridge",
            "host_bridges": [f"{EXT_BRIDGE}=172.24.47.1/24", f"{ISO_BRIDGE}=10.93.0.1/24"],
            "physical_interface_mappings": [f"public:{EXT_BRIDGE}", f"isolated:{ISO_BRIDGE}"],
        },
        "metadata": {"port": free_port()},
    }
    for bridge in (EXT_BRIDGE, ISO_BRIDGE):
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def ssh(key: Path, address: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            f"debian@{address}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_ssh(key: Path, address: str, expect: str, api: Observer, server_id: str, timeout: float) -> float:
    """Seconds until ``ssh debian@address hostname`` prints ``expect``; bounded by ``timeout``."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        try:
            done = ssh(key, address, "hostname", timeout=30)
            if done.returncode == 0 and done.stdout.strip() == expect:
                return time.monotonic() - started
            last = (done.stderr or done.stdout).strip()[-300:]
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
        time.sleep(2)
    console = api.console(server_id)[-4000:]
    raise AssertionError(f"ssh debian@{address} did not answer in {timeout:.0f} s ({last})\nconsole:\n{console}")


def test_debian_guest_with_key_metadata_floating_ip_and_config_drive(kvm_cloud, tmp_path: Path) -> None:
    try:
        _first_hour(kvm_cloud, tmp_path)
    finally:  # floating IPs and the router's interface first: the tear-down deletes servers, routers, networks
        listed = kvm_cloud.openstack("floating", "ip", "list", "-f", "json", check=False)
        for fip in json.loads(listed.stdout or "[]") if listed.returncode == 0 else []:
            kvm_cloud.openstack("floating", "ip", "delete", fip["ID"], check=False)
        kvm_cloud.openstack("router", "remove", "subnet", "r1", "private-subnet", check=False)


def _first_hour(cloud, tmp_path: Path) -> None:
    api = Observer(cloud)

    def osc(*args: str, timeout: float = 120):
        return cloud.openstack(*args, timeout=timeout)

    def nova(*args: str, timeout: float = 120):
        return cloud.openstack(*COMPUTE_VERSION, *args, timeout=timeout)

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public_key = key.with_suffix(".pub").read_text().strip()
    osc("keypair", "create", "--public-key", str(key.with_suffix(".pub")), "k1", "-f", "json")
    osc(
        "image",
        "create",
        "--file",
        str(DEBIAN),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "debian-12",
        "-f",
        "json",
        timeout=600,
    )
    osc("flavor", "create", "--ram", "1024", "--disk", "4", "--vcpus", "1", "d1", "-f", "json")
    # the external network on the host bridge that carries its gateway address
    osc(
        "network",
        "create",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "public",
        "public",
        "-f",
        "json",
    )
    osc(
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        "172.24.47.0/24",
        "--gateway",
        "172.24.47.1",
        "--no-dhcp",
        "public-subnet",
        "-f",
        "json",
    )
    osc("network", "create", "private", "-f", "json")
    osc("subnet", "create", "--network", "private", "--subnet-range", "10.92.0.0/24", "private-subnet", "-f", "json")
    osc("router", "create", "r1", "-f", "json")
    osc("router", "set", "--external-gateway", "public", "r1")
    osc("router", "add", "subnet", "r1", "private-subnet")
    osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default", "-f", "json")
    user_data = tmp_path / "user-data.sh"
    user_data.write_text(USER_DATA)

    started = time.monotonic()
    server = nova(
        "server",
        "create",
        "--image",
        "debian-12",
        "--flavor",
        "d1",
        "--key-name",
        "k1",
        "--network",
        "private",
        "--user-data",
        str(user_data),
        "--wait",
        "deb1",
        "-f",
        "json",
        timeout=900,
    )
    active = time.monotonic() - started
    fip = osc("floating", "ip", "create", "public", "-f", "json")["floating_ip_address"]
    osc("server", "add", "floating", "ip", "deb1", fip)
    waited = wait_ssh(key, fip, "deb1", api, server["id"], timeout=900)
    print(f"\ndeb1: server create -> ACTIVE {active:.1f} s, -> ssh answering {active + waited:.1f} s")
    shown = nova("server", "show", "deb1", "-f", "json")
    assert shown["config_drive"] in ("", None, False)  # it asked for none, and has none

    meta = json.loads(ssh(key, fip, "curl -s -m 10 http://169.254.169.254/openstack/latest/meta_data.json").stdout)
    assert meta["uuid"] == server["id"] and meta["name"] == "deb1"
    assert meta["public_keys"] == {"k1": public_key}
    # the user-data script runs in cloud-init's last stage, which may still run when sshd answers
    ssh(key, fip, "cloud-init status --wait >/dev/null", timeout=600)
    assert ssh(key, fip, "cat /var/tmp/user-data-marker").stdout.strip() == "user-data-ran"
    ec2 = ssh(key, fip, "curl -s -m 10 http://169.254.169.254/latest/meta-data/public-ipv4").stdout.strip()
    assert ec2 == fip

    # a second server on the same network: its metadata is out of deb1's reach, even with the
    # proxy's headers forged
    osc(
        "image",
        "create",
        "--file",
        str(GUEST_DIR / "tinyguest.qcow2"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "tinyguest",
        "-f",
        "json",
    )
    osc("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    other = nova(
        "server", "create", "--image", "tinyguest", "--flavor", "t1", "--network", "private", "--wait", "tiny2", "-f", "json",
        timeout=300,
    )  # fmt: skip
    other_ip = next(a["addr"] for a in api.server(other["id"])["addresses"]["private"])
    net_id = osc("network", "show", "private", "-f", "json")["id"]
    forged = ssh(
        key,
        fip,
        f"curl -s -m 10 -H 'X-Forwarded-For: {other_ip}' -H 'X-Overcast-Network-ID: {net_id}' "
        "http://169.254.169.254/openstack/latest/meta_data.json",
    ).stdout
    assert json.loads(forged)["uuid"] == server["id"] and other["id"] not in forged

    # --config-drive True on an isolated network: no DHCP, no router, no metadata route
    osc(
        "network",
        "create",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "isolated",
        "isolated",
        "-f",
        "json",
    )
    osc(
        "subnet",
        "create",
        "--network",
        "isolated",
        "--subnet-range",
        "10.93.0.0/24",
        "--gateway",
        "10.93.0.1",
        "--no-dhcp",
        "isolated-subnet",
        "-f",
        "json",
    )
    cloud_config = tmp_path / "cloud-config.yaml"
    cloud_config.write_text(CLOUD_CONFIG)
    started = time.monotonic()
    cd = nova(
        "server", "create", "--image", "debian-12", "--flavor", "d1", "--key-name", "k1", "--network", "isolated",
        "--config-drive", "True", "--user-data", str(cloud_config), "--wait", "deb-cd", "-f", "json", timeout=900,
    )  # fmt: skip
    assert nova("server", "show", "deb-cd", "-f", "json")["config_drive"] == "True"
    cd_ip = next(a["addr"] for a in api.server(cd["id"])["addresses"]["isolated"])
    waited = wait_ssh(key, cd_ip, "deb-cd", api, cd["id"], timeout=900)  # the host is on that network
    print(f"deb-cd: server create -> ssh answering {time.monotonic() - started:.1f} s (config drive, static address)")
    assert ssh(key, cd_ip, "test -e /dev/disk/by-label/config-2 && echo drive").stdout.strip() == "drive"
    no_md = ssh(key, cd_ip, "curl -s -m 5 http://169.254.169.254/ >/dev/null; echo rc=$?").stdout.strip()
    assert no_md != "rc=0"  # nothing serves metadata there: the key came from the drive

    # the console URLs as the CLI shows them: one-time tokens, each to its proxy
    serial_url = nova("console", "url", "show", "--serial", "deb-cd", "-f", "json")["url"]
    novnc_url = nova("console", "url", "show", "--novnc", "deb-cd", "-f", "json")["url"]
    assert "/compute/console/serial?token=" in serial_url and serial_url.startswith("ws")
    assert "/compute/console/novnc/vnc_lite.html?path=compute%2Fconsole%2Fvnc%3Ftoken%3D" in novnc_url

    ssh(key, cd_ip, "cloud-init status --wait >/dev/null", timeout=600)  # its last messages are on ttyS0 too
    # the dashboard's serial console in a real browser: log in on ttyS0 and type hostname
    shown = browser_serial_console(cloud.url, cloud.admin_password, cd["id"], "deb-cd")
    assert "hostname" in shown and "\ndeb-cd\n" in shown

    for name in ("deb1", "tiny2", "deb-cd"):
        nova("server", "delete", "--wait", name, timeout=300)
    wait_until(lambda: not api.servers(), "the servers to be gone", timeout=120, every=1)
