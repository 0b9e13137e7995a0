"""The real ``openstack`` CLI against ``overcast up`` with two ``fs`` backends (issue 18):
``volume set --type --retype-policy on-demand`` and ``volume migrate --host`` move a volume's
data between them, byte for byte; ``volume set --type`` without the policy is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .test_migration_api import files, raw_sha256

pytest.importorskip("overcast.testing.cloud")
pytest.importorskip("overcast_storage_fs")

pytestmark = [pytest.mark.clients, pytest.mark.slow]

MiB = 1 << 20


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-pools")


@pytest.fixture(scope="module")
def running_cloud_config(pools: Path) -> dict[str, Any]:
    return {
        "volume_backends": {
            "gold": {"driver": "fs", "path": str(pools / "gold"), "format": "raw"},
            "silver": {"driver": "fs", "path": str(pools / "silver"), "format": "qcow2"},
        }
    }


def test_retype_and_migrate_with_the_cli(running_cloud: Any, pools: Path, tmp_path: Path) -> None:
    os_ = running_cloud.openstack

    def show() -> dict[str, Any]:
        return os_("volume", "show", "mv1", "-f", "json")

    def wait(done: Any, what: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            shown = show()
            if done(shown):
                return shown
            assert time.monotonic() < deadline, f"{what}: {shown}"
            time.sleep(0.3)

    for name in ("gold", "silver"):
        os_("volume", "type", "create", "--property", f"volume_backend_name={name}", f"t-{name}")
    os_("volume", "type", "create", "anywhere")
    os_("volume", "create", "--size", "1", "--type", "t-gold", "mv1")
    wait(lambda v: v["status"] == "available", "mv1 to be made")
    (name,) = files(pools / "gold")
    with open(pools / "gold" / name, "r+b") as f:
        f.seek(3 * MiB)
        f.write(bytes(range(256)) * 8192)  # 2 MiB of a pattern
    before = raw_sha256(pools / "gold" / name, tmp_path)

    refused = os_("volume", "set", "--type", "t-silver", "mv1", check=False)
    assert refused.returncode != 0 and "Retype requires migration but is not allowed" in refused.stderr, refused.stderr
    assert show()["type"] == "t-gold"

    os_("volume", "set", "--type", "t-silver", "--retype-policy", "on-demand", "mv1")
    moved = wait(lambda v: v["status"] == "available" and v["type"] == "t-silver", "the retype")
    assert moved["os-vol-host-attr:host"] == "overcast@silver#silver"
    assert moved["os-vol-mig-status-attr:migstat"] == "success"
    assert files(pools / "gold") == []
    (name,) = files(pools / "silver")
    assert raw_sha256(pools / "silver" / name, tmp_path) == before

    refused = os_("volume", "migrate", "--host", "overcast@gold#gold", "mv1", check=False)
    assert refused.returncode != 0 and "No valid backend was found" in refused.stderr, refused.stderr
    os_("volume", "set", "--type", "anywhere", "mv1")  # silver offers it: the type changes in place
    assert show()["os-vol-host-attr:host"] == "overcast@silver#silver"
    os_("volume", "migrate", "--host", "overcast@gold#gold", "--force-host-copy", "--lock-volume", "mv1")
    back = wait(lambda v: v["os-vol-host-attr:host"] == "overcast@gold#gold", "the migration")
    assert (
        back["status"] == "available"
        and back["os-vol-mig-status-attr:migstat"] == "success"
        and back["type"] == "anywhere"
    )
    assert files(pools / "silver") == []
    (name,) = files(pools / "gold")
    assert raw_sha256(pools / "gold" / name, tmp_path) == before
    os_("volume", "delete", "mv1")
