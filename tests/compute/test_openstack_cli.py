"""The real ``openstack`` CLI against ``overcast up`` with two fake hosts: flavors, the
server life cycle and its actions, console log, cold and live migration, resize, hypervisors and
compute services. Skips until the identity and image services are installed."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("overcast.testing.cloud")
pytest.importorskip("overcast.image.service", reason="the CLI test boots from an image: needs the image service")

pytestmark = [pytest.mark.clients, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def running_cloud_config():
    return {"hosts": {"fake2": {"driver": "fake"}}, "compute": {"shutdown_timeout": 0}}


def _flavor(server: dict) -> str:
    """The flavor's name as the CLI shows it: the embedded flavor from microversion 2.47
    (which the CLI negotiates), "name (id)" before."""
    flavor = server["flavor"]
    return flavor["original_name"] if isinstance(flavor, dict) else flavor.split(" (")[0]


def _status(cloud, name: str, wanted: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = cloud.openstack("server", "show", name, "-f", "json")
        if server["status"] == wanted:
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {server['status']}, wanted {wanted}: {server.get('fault')}")
        time.sleep(0.3)


def test_server_life_cycle_with_the_cli(running_cloud, tmp_path):
    cloud = running_cloud
    image_file = tmp_path / "tiny.raw"
    image_file.write_bytes(b"\0" * 65536)
    cloud.openstack(
        "image",
        "create",
        "--file",
        str(image_file),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "tiny",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "m1.tiny", "-f", "json")
    assert "m1.tiny" in [f["Name"] for f in cloud.openstack("flavor", "list", "-f", "json")]

    # OSC 10.5 reads "--network none" as a network named "none" whenever a network service is
    # in the catalog (as with real Neutron); "--nic none" is its spelling of Nova's networks=none.
    server = cloud.openstack(
        "server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--nic", "none", "--wait", "vm1", "-f", "json"
    )
    assert server["status"] == "ACTIVE"
    assert [s["Name"] for s in cloud.openstack("server", "list", "-f", "json")] == ["vm1"]
    for action, status in (
        ("stop", "SHUTOFF"),
        ("start", "ACTIVE"),
        ("reboot", "ACTIVE"),
        ("pause", "PAUSED"),
        ("unpause", "ACTIVE"),
        ("suspend", "SUSPENDED"),
        ("resume", "ACTIVE"),
    ):
        cloud.openstack("server", action, "vm1")
        _status(cloud, "vm1", status)
    assert "TINYGUEST-READY" in cloud.openstack("console", "log", "show", "vm1")

    before = _status(cloud, "vm1", "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    cloud.openstack("server", "migrate", "--live-migration", "vm1")
    after_live = _status(cloud, "vm1", "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    assert after_live != before
    cloud.openstack("server", "migrate", "vm1")
    _status(cloud, "vm1", "VERIFY_RESIZE")
    cloud.openstack("server", "migrate", "confirm", "vm1")
    assert _status(cloud, "vm1", "ACTIVE")["OS-EXT-SRV-ATTR:host"] == before

    # resize: revert restores the flavor and host, confirm keeps the new flavor
    cloud.openstack("flavor", "create", "--ram", "512", "--disk", "2", "--vcpus", "2", "m1.small", "-f", "json")
    cloud.openstack("server", "resize", "--flavor", "m1.small", "--wait", "vm1")
    assert _flavor(_status(cloud, "vm1", "VERIFY_RESIZE")) == "m1.small"
    cloud.openstack("server", "resize", "revert", "vm1")
    reverted = _status(cloud, "vm1", "ACTIVE")
    assert _flavor(reverted) == "m1.tiny" and reverted["OS-EXT-SRV-ATTR:host"] == before
    cloud.openstack("server", "resize", "--flavor", "m1.small", "--wait", "vm1")
    cloud.openstack("server", "resize", "confirm", "vm1")
    assert _flavor(_status(cloud, "vm1", "ACTIVE")) == "m1.small"

    hypervisors = cloud.openstack("hypervisor", "list", "-f", "json")
    assert sorted(h["Hypervisor Hostname"] for h in hypervisors) == ["fake1", "fake2"]
    services = cloud.openstack("compute", "service", "list", "-f", "json")
    assert {(s["Binary"], s["Host"], s["State"]) for s in services} >= {
        ("nova-compute", "fake1", "up"),
        ("nova-compute", "fake2", "up"),
    }
    cloud.openstack("server", "delete", "--wait", "vm1")
    assert cloud.openstack("server", "list", "-f", "json") == []
