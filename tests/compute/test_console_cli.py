"""``openstack console url show`` (issue 17) with the real CLI against ``overcast up`` on the
fake driver, which has no consoles: Nova's 501 reaches the user, never a 500."""

from __future__ import annotations

import pytest

pytest.importorskip("overcast.testing.cloud")
pytest.importorskip("overcast.image.service", reason="the CLI test boots from an image: needs the image service")

pytestmark = [pytest.mark.clients, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_console_url_on_a_driver_without_consoles(running_cloud, tmp_path) -> None:
    cloud = running_cloud
    image = tmp_path / "c.raw"
    image.write_bytes(b"\0" * 65536)
    cloud.openstack("image", "create", "--file", str(image), "--disk-format", "raw", "--container-format", "bare",
                    "con-img", "-f", "json")  # fmt: skip
    cloud.openstack("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "con-f", "-f", "json")
    cloud.openstack("server", "create", "--flavor", "con-f", "--image", "con-img", "--nic", "none", "--wait", "con",
                    "-f", "json")  # fmt: skip
    for version, kind in (("2.6", "--serial"), ("2.6", "--novnc"), ("2.1", "--serial"), ("2.1", "--novnc")):
        done = cloud.openstack("--os-compute-api-version", version, "console", "url", "show", kind, "con", check=False)
        assert done.returncode != 0, (version, kind, done.stdout)
        assert "501" in done.stderr and "The requested functionality is not supported." in done.stderr, done.stderr
    cloud.openstack("server", "delete", "--wait", "con")
