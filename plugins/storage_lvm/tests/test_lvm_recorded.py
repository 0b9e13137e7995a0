"""The LVM driver's activation-dependent paths (thin pools, snapshots, activation, block
copies, image conversion) with a recorded command runner: these need device-mapper, which
this machine's kernel lacks. A small model of lvm2's state answers the reports, so the
whole contract runs; the tests assert the exact commands the driver issues."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from overcast.errors import Conflict
from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract import VolumeContract
from overcast.types import Backend, Connector, DriverKind, ImageFile, ImageRef, SnapshotRef, VolumeRef
from overcast_storage_lvm.driver import LvmVolumeDriver
from overcast_storage_lvm.runner import CommandResult, RecordingRunner

GiB = 1024**3
VG = "ocvg"


class LvmModel:
    """Just enough of lvm2's behaviour to answer the driver's reports consistently."""

    def __init__(self, thin_pool: str = "") -> None:
        self.lvs: dict[str, dict[str, str]] = {}
        if thin_pool:
            self.lvs[thin_pool] = {
                "lv_size": str(100 * GiB),
                "lv_attr": "twi-a-tz--",
                "pool_lv": "",
                "origin": "",
                "data_percent": "12.50",
            }

    @staticmethod
    def _size(text: str) -> int:
        return int(text.rstrip("g")) * GiB

    def __call__(self, cmd: tuple[str, ...]) -> CommandResult | None:
        prog, args = cmd[0], list(cmd[1:])
        if prog == "vgs":
            body = {"report": [{"vg": [{"vg_name": VG, "vg_size": str(200 * GiB), "vg_free": str(150 * GiB)}]}]}
            return CommandResult(cmd, 0, json.dumps(body))
        if prog == "lvs":
            target = args[-1]
            names = [target.split("/", 1)[1]] if "/" in target else list(self.lvs)
            rows = [{"lv_name": n, **self.lvs[n]} for n in names if n in self.lvs]
            return CommandResult(cmd, 0, json.dumps({"report": [{"lv": rows}]}))
        if prog == "lvcreate":
            name = args[args.index("-n") + 1]
            if "--snapshot" in args:
                origin = args[-1].split("/", 1)[1]
                thin = "-L" not in args
                size = self.lvs[origin]["lv_size"]
                self.lvs[name] = {
                    "lv_size": size,
                    "lv_attr": "Vwi---tz-k" if thin else "swi-a-s---",
                    "pool_lv": self.lvs[origin]["pool_lv"] if thin else "",
                    "origin": origin,
                }
            elif "-V" in args:
                pool = args[args.index("--thinpool") + 1].split("/", 1)[1]
                self.lvs[name] = {
                    "lv_size": str(self._size(args[args.index("-V") + 1])),
                    "lv_attr": "Vwi-a-tz--",
                    "pool_lv": pool,
                    "origin": "",
                }
            else:
                self.lvs[name] = {
                    "lv_size": str(self._size(args[args.index("-L") + 1])),
                    "lv_attr": "-wi-a-----",
                    "pool_lv": "",
                    "origin": "",
                }
            return CommandResult(cmd, 0)
        if prog == "lvextend":
            self.lvs[args[-1].split("/", 1)[1]]["lv_size"] = str(self._size(args[args.index("-L") + 1]))
            return CommandResult(cmd, 0)
        if prog == "lvremove":
            name = args[-1].split("/", 1)[1]
            for other in [n for n, r in self.lvs.items() if r["origin"] == name and not r["pool_lv"]]:
                del self.lvs[other]
            self.lvs.pop(name, None)
            return CommandResult(cmd, 0)
        if prog == "qemu-img" and args[0] == "info":
            return CommandResult(cmd, 0, json.dumps({"virtual-size": GiB // 2, "format": "qcow2"}))
        return None


def make(thin_pool: str) -> tuple[DriverCaller, RecordingRunner, Backend]:
    runner = RecordingRunner(responders=[LvmModel(thin_pool)])
    pm = PluginManager()
    pm.registry.add(DriverKind.VOLUME, "lvm", LvmVolumeDriver(runner))
    backend = Backend(
        DriverKind.VOLUME,
        "fast",
        "lvm",
        {"volume_group": VG, "thin_pool": thin_pool, "max_over_subscription_ratio": 20.0},
    )
    return pm.driver("volume", "lvm"), runner, backend


class TestLvmContractThinRecorded(VolumeContract):
    @pytest.fixture
    def driver(self) -> DriverCaller:
        self._made = make("pool0")
        return self._made[0]

    @pytest.fixture
    def target(self, driver: DriverCaller) -> Backend:
        return self._made[2]

    def test_open_local_reads_and_writes_the_volume(self, driver: DriverCaller, target: Backend) -> None:
        """No LV device exists without device-mapper: check the device handed out instead (the
        LV's node after activation, its size) -- the bytes are the LV's own, no copy."""
        v = vol(1)
        loc = driver.create(backend=target, volume=v)
        ref = VolumeRef(v.id, v.name, 1, v.project_id, loc.location)
        dev = driver.open_local(backend=target, volume=ref, snapshot=None, writable=True)
        assert dev.path == f"/dev/{loc.location}" and dev.size == GiB and dev.writable and not dev.zeroed
        assert ("lvchange", "-ay", "-K", loc.location) in self._made[1].commands
        assert driver.close_local(backend=target, volume=ref, device=dev, commit=True) is True
        driver.delete(backend=target, volume=ref)


class TestLvmContractThickRecorded(TestLvmContractThinRecorded):
    @pytest.fixture
    def driver(self) -> DriverCaller:
        self._made = make("")
        return self._made[0]


def vol(size: int = 1) -> VolumeRef:
    return VolumeRef(str(uuid.uuid4()), "v", size)


def test_thin_volume_snapshot_and_clone_commands() -> None:
    driver, runner, backend = make("pool0")
    v = vol(2)
    loc = driver.create(backend=backend, volume=v)
    assert ("lvcreate", "-y", "-n", f"volume-{v.id}", "-V", "2g", "--thinpool", f"{VG}/pool0") in runner.commands
    v = VolumeRef(v.id, "v", 2, location=loc.location)
    snap = driver.create_snapshot(backend=backend, snapshot=SnapshotRef("s1", v))
    assert snap.copy_on_write and ("lvcreate", "-y", "--snapshot", "-n", "snap-s1", loc.location) in runner.commands
    c = vol(3)
    made = driver.create_from_snapshot(backend=backend, volume=c, snapshot=SnapshotRef("s1", v, location=snap.location))
    assert made.copy_on_write is True
    assert (
        "lvcreate",
        "-y",
        "--snapshot",
        "--setactivationskip",
        "n",
        "-n",
        f"volume-{c.id}",
        f"{VG}/snap-s1",
    ) in runner.commands
    assert ("lvextend", "-L", "3g", f"{VG}/volume-{c.id}") in runner.commands  # grown to the requested size
    assert "qemu-img" not in runner.programs()  # no data copied anywhere
    stats = driver.get_stats(backend=backend)
    assert stats.thin_provisioning and stats.total_gb == 100 and stats.free_gb == 87.5


def test_thick_clone_is_a_reported_full_copy_from_a_temporary_snapshot() -> None:
    driver, runner, backend = make("")
    src = vol(1)
    src = VolumeRef(src.id, "v", 1, location=driver.create(backend=backend, volume=src).location)
    c = vol(1)
    made = driver.clone(backend=backend, volume=c, source=src)
    assert made.copy_on_write is False
    temp = f"snap-clone-{c.id}"
    assert ("lvcreate", "-y", "--snapshot", "-n", temp, "-L", "1g", src.location) in runner.commands
    assert ("lvchange", "-ay", "-K", f"{VG}/{temp}") in runner.commands
    assert (
        "qemu-img",
        "convert",
        "-n",
        "-f",
        "raw",
        "-O",
        "raw",
        f"/dev/{VG}/{temp}",
        f"/dev/{VG}/volume-{c.id}",
    ) in runner.commands
    assert runner.commands[-1] == ("lvremove", "-f", f"{VG}/{temp}")


def test_thick_origin_with_snapshots_is_not_removed() -> None:
    driver, runner, backend = make("")
    v = vol()
    v = VolumeRef(v.id, "v", 1, location=driver.create(backend=backend, volume=v).location)
    driver.create_snapshot(backend=backend, snapshot=SnapshotRef("s9", v))
    with pytest.raises(Conflict, match="snap-s9"):
        driver.delete(backend=backend, volume=v)
    assert not any(c[0] == "lvremove" for c in runner.commands)


def test_attach_activates_and_images_convert_onto_the_device(tmp_path: Path) -> None:
    driver, runner, backend = make("pool0")
    v = vol()
    v = VolumeRef(v.id, "v", 1, location=driver.create(backend=backend, volume=v).location)
    info = driver.initialize_connection(
        backend=backend, volume=v, connector=Connector("node1", frozenset({"block", "file"}))
    )
    assert info.data == {"device_path": f"/dev/{VG}/volume-{v.id}"}
    assert ("lvchange", "-ay", "-K", f"{VG}/volume-{v.id}") in runner.commands
    image = ImageFile(ImageRef("img", "img", "qcow2"), str(tmp_path / "i.qcow2"), "qcow2")
    driver.copy_image_to_volume(backend=backend, volume=v, image=image)
    assert runner.commands[-1] == (
        "qemu-img",
        "convert",
        "-n",
        "-f",
        "qcow2",
        "-O",
        "raw",
        image.path,
        f"/dev/{VG}/volume-{v.id}",
    )
    dest = tmp_path / "out.qcow2"
    dest.write_bytes(b"x" * 10)  # what qemu-img would have written
    out = driver.copy_volume_to_image(backend=backend, volume=v, disk_format="qcow2", dest_path=str(dest))
    assert out.size == 10 and runner.commands[-1][:6] == ("qemu-img", "convert", "-f", "raw", "-O", "qcow2")
