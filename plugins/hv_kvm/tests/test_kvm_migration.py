"""Integration: cold and live migration between two libvirt daemons on one machine.

The destination is a second, unprivileged libvirtd (user ``ocmig``) with its own host UUID:
two privileged daemons cannot share a machine, and libvirt refuses to migrate a guest to
the daemon it runs on. The destination host uses ``file_owner`` so that the directories
the (root) driver prepares belong to the daemon's user.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from kvm_testlib import make_instance, wait_console
from overcast.errors import Conflict, NotFound
from overcast.plugins import DriverCaller
from overcast.types import ConnectionInfo, Flavor, Host, ImageFile, Instance, PowerState
from overcast_hv_kvm import domxml

pytestmark = [pytest.mark.libvirt, pytest.mark.root, pytest.mark.slow]

MIG_USER = "ocmig"


def ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


@pytest.fixture(scope="module")
def session_uri() -> Iterator[str]:
    """A second libvirtd, run as user ``ocmig`` in the foreground by this fixture (so it
    is stopped by its own PID), with a distinct host UUID. Yields its URI."""
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.skip("needs root and libvirtd")
    user = ensure_user(MIG_USER)
    run = tempfile.mkdtemp(prefix="oc-mig-run-", dir="/run")
    os.chown(run, user.pw_uid, user.pw_gid)
    os.chmod(run, 0o700)
    conf = os.path.join(run, "libvirtd.conf")
    with open(conf, "w") as f:
        f.write(f'host_uuid = "{uuid.uuid4()}"\n')
    os.chown(conf, user.pw_uid, user.pw_gid)
    log = open(os.path.join(run, "libvirtd.log"), "wb")
    env = {"HOME": user.pw_dir, "XDG_RUNTIME_DIR": run, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "USER": MIG_USER}
    proc = subprocess.Popen(
        ["libvirtd", "-f", conf],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=user.pw_dir,
    )
    sock = os.path.join(run, "libvirt", "libvirt-sock")
    uri = f"qemu+unix:///session?socket={sock}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"session libvirtd exited: {Path(run, 'libvirtd.log').read_text()[-2000:]}")
            if os.path.exists(sock):
                try:
                    libvirt.open(uri).close()
                    break
                except libvirt.libvirtError:
                    pass
            if time.monotonic() > deadline:
                pytest.fail("session libvirtd did not answer within 120 s")
            time.sleep(0.3)
        yield uri
    finally:
        try:
            conn = libvirt.open(uri)
            for dom in conn.listAllDomains(0):
                if dom.name().startswith("oc-"):
                    if dom.isActive():
                        dom.destroy()
                    if dom.isPersistent():
                        dom.undefine()
            conn.close()
        except libvirt.libvirtError:
            pass
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def dest_host(session_uri: str, qemu_dir: str) -> Host:
    return Host(
        name="kvm-it2",
        driver="kvm",
        options={
            "uri": session_uri,
            "virt_type": "qemu",
            "instances_dir": os.path.join(qemu_dir, "dest-instances"),
            "file_owner": MIG_USER,
        },
    )


def with_user_data(inst: Instance) -> Instance:
    """The instance with a user-data script: it gets a config drive, which must follow it."""
    return dataclasses.replace(
        inst, user_data=base64.b64encode(b"#!/bin/sh\necho migrating\n").decode(), config_drive=True
    )


def config_drive_path(host: Host, inst: Instance) -> str:
    xml = libvirt.open(host.options["uri"]).lookupByName(inst.name).XMLDesc(0)
    paths = [d.path for d in domxml.disks(xml) if d.path.endswith("/disk.config")]
    assert len(paths) == 1 and os.path.exists(paths[0]), paths
    return paths[0]


def test_same_daemon_is_refused(kvm: DriverCaller, qemu_host: Host, tiny_image: ImageFile) -> None:
    twin = Host("kvm-twin", "kvm", {**qemu_host.options, "instances_dir": qemu_host.options["instances_dir"] + "-twin"})
    inst = make_instance(image=tiny_image.image)
    kvm.init_host(host=qemu_host)
    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    try:
        with pytest.raises(Conflict, match="same libvirt daemon"):
            kvm.migrate_disk_and_power_off(host=qemu_host, instance=inst, dest=twin, flavor=inst.flavor)
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)


def test_live_migration(
    kvm: DriverCaller, qemu_host: Host, dest_host: Host, tiny_image: ImageFile, qemu_dir: str
) -> None:
    kvm.init_host(host=qemu_host)
    kvm.init_host(host=dest_host)
    inst = with_user_data(make_instance(image=tiny_image.image))
    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    try:
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 180)
        data = kvm.check_can_live_migrate_destination(host=dest_host, instance=inst, source=qemu_host)
        data = kvm.pre_live_migration(host=dest_host, instance=inst, migration=data, network_info=[], block_devices=[])
        t0 = time.monotonic()
        assert kvm.live_migration(host=qemu_host, instance=inst, dest=dest_host, migration=data) is True
        print(f"\nlive migration took {time.monotonic() - t0:.2f} s")
        assert kvm.get_info(host=dest_host, instance=inst).state == PowerState.RUNNING
        with pytest.raises(NotFound):
            kvm.get_info(host=qemu_host, instance=inst)
        assert kvm.post_live_migration(host=qemu_host, instance=inst, migration=data) is True
        assert not Path(qemu_host.options["instances_dir"], inst.name).exists()
        assert inst.name in kvm.list_instances(host=dest_host)
        assert config_drive_path(dest_host, inst).startswith(dest_host.options["instances_dir"] + "/")

        # the guest kept running on the destination: its hot-plug watcher still reports
        vol = Path(dest_host.options["instances_dir"], "after-migration.raw")
        vol.write_bytes(b"\0" * 16 * 1024 * 1024)
        shutil.chown(vol, MIG_USER)
        info = ConnectionInfo("file", {"path": str(vol), "format": "raw", "volume_id": "mig-vol"})
        kvm.attach_volume(host=dest_host, instance=inst, connection_info=info, mountpoint="/dev/vdc")
        added = wait_console(kvm, dest_host, inst, "TINYGUEST-DISK-ADDED", 60)
        assert added.endswith("serial=mig-vol")
        # and it is persistent there: it survives a power cycle on the destination
        kvm.power_off(host=dest_host, instance=inst, timeout=0, retry_interval=1)
        kvm.power_on(host=dest_host, instance=inst)
        wait_console(kvm, dest_host, inst, "TINYGUEST-READY", 180)
        # the config drive rebuilt on the destination is the one it reads after the reboot
        assert (
            wait_console(kvm, dest_host, inst, "TINYGUEST-CONFIGDRIVE", 5) == f"TINYGUEST-CONFIGDRIVE uuid={inst.uuid}"
        )
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)
        kvm.destroy(host=dest_host, instance=inst, destroy_disks=True)


def test_cold_migration_with_resize(kvm: DriverCaller, qemu_host: Host, dest_host: Host, tiny_image: ImageFile) -> None:
    kvm.init_host(host=qemu_host)
    kvm.init_host(host=dest_host)
    inst = with_user_data(make_instance(image=tiny_image.image))
    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    try:
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 180)
        t0 = time.monotonic()
        bigger = Flavor(id="f2", name="m1.bigger", vcpus=1, memory_mb=256, root_gb=2)
        data = kvm.migrate_disk_and_power_off(host=qemu_host, instance=inst, dest=dest_host, flavor=bigger)
        assert kvm.get_info(host=qemu_host, instance=inst).state == PowerState.SHUTDOWN
        resized = dataclasses.replace(inst, flavor=bigger)
        info = kvm.finish_migration(
            host=dest_host,
            instance=resized,
            migration=data,
            image=None,
            network_info=[],
            block_devices=[],
            power_on=True,
        )
        assert info.state == PowerState.RUNNING
        disk = wait_console(kvm, dest_host, resized, "TINYGUEST-DISK vda", 180)
        assert disk.split()[2] == str(2 * 1024**3)  # grown to the new flavor
        wait_console(kvm, dest_host, resized, "TINYGUEST-READY", 180)
        assert (
            wait_console(kvm, dest_host, resized, "TINYGUEST-CONFIGDRIVE", 5)
            == f"TINYGUEST-CONFIGDRIVE uuid={inst.uuid}"
        )
        assert config_drive_path(dest_host, resized).startswith(dest_host.options["instances_dir"] + "/")
        print(f"\ncold migration + resize, READY on the destination after {time.monotonic() - t0:.2f} s")
        assert kvm.confirm_migration(host=qemu_host, instance=inst, migration=data) is True
        with pytest.raises(NotFound):
            kvm.get_info(host=qemu_host, instance=inst)
        assert not Path(qemu_host.options["instances_dir"], inst.name).exists()
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)
        kvm.destroy(host=dest_host, instance=inst, destroy_disks=True)


def volume_file(qemu_dir: str, name: str, source: str | None = None, size_mib: int = 16) -> ConnectionInfo:
    """A raw file volume both daemons' QEMU can open (as the ``fs`` volume backend exports
    one), from ``source`` (an image converted to raw) or blank."""
    vols = Path(qemu_dir, "volumes")
    vols.mkdir(exist_ok=True)
    os.chmod(vols, 0o777)
    path = vols / f"{name}.raw"
    if source:
        subprocess.run(["qemu-img", "convert", "-O", "raw", source, str(path)], check=True, capture_output=True)
    else:
        path.write_bytes(b"\0" * size_mib * 1024 * 1024)
    os.chmod(path, 0o666)
    return ConnectionInfo("file", {"path": str(path), "format": "raw", "volume_id": name})


def disk_serials(host: Host, inst: Instance) -> dict[str, str]:
    """target dev -> serial of the guest's disks on ``host``."""
    import xml.etree.ElementTree as ET

    xml = libvirt.open(host.options["uri"]).lookupByName(inst.name).XMLDesc(0)
    return {d.target_dev: ET.fromstring(d.xml).findtext("serial") or "" for d in domxml.disks(xml)}  # <= 20 bytes


def test_volume_backed_server_moves_with_its_volumes(
    kvm: DriverCaller, qemu_host: Host, dest_host: Host, tiny_image: ImageFile, qemu_dir: str
) -> None:
    """Issue 18: a server booted from a volume, with a second volume attached, is cold-migrated
    to another libvirt daemon (nothing local is copied: the volumes arrive as block devices),
    then live-migrated back; the guest sees both volumes at their names after each move."""
    from overcast.types import BlockDevice

    kvm.init_host(host=qemu_host)
    kvm.init_host(host=dest_host)
    root = volume_file(qemu_dir, "vol-root", source=tiny_image.path)
    data = volume_file(qemu_dir, "vol-data")
    devices = [BlockDevice("vol-root", "/dev/vda", root), BlockDevice("vol-data", "/dev/vdb", data)]
    inst = make_instance()  # no image: it boots from its root volume
    kvm.spawn(host=qemu_host, instance=inst, image=None, network_info=[], block_devices=devices)
    try:
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 180)
        assert wait_console(kvm, qemu_host, inst, "TINYGUEST-DISK vdb", 5).endswith("serial=vol-data")

        moved = kvm.migrate_disk_and_power_off(host=qemu_host, instance=inst, dest=dest_host, flavor=inst.flavor)
        assert moved.data.get("root") == "volume" and "disk_path" not in moved.data
        kvm.finish_migration(
            host=dest_host,
            instance=inst,
            migration=moved,
            image=None,
            network_info=[],
            block_devices=devices,
            power_on=True,
        )
        wait_console(kvm, dest_host, inst, "TINYGUEST-READY", 180)
        assert wait_console(kvm, dest_host, inst, "TINYGUEST-DISK vdb", 5).endswith("serial=vol-data")
        assert disk_serials(dest_host, inst) == {"vda": "vol-root", "vdb": "vol-data"}
        assert kvm.confirm_migration(host=qemu_host, instance=inst, migration=moved) is True
        assert Path(root.data["path"]).exists() and Path(data.data["path"]).exists()  # volumes are not the host's

        check = kvm.check_can_live_migrate_destination(host=qemu_host, instance=inst, source=dest_host)
        check = kvm.pre_live_migration(
            host=qemu_host, instance=inst, migration=check, network_info=[], block_devices=devices
        )
        assert check.data["volume_paths"] == {"vol-root": root.data["path"], "vol-data": data.data["path"]}
        assert kvm.live_migration(host=dest_host, instance=inst, dest=qemu_host, migration=check) is True
        assert kvm.get_info(host=qemu_host, instance=inst).state == PowerState.RUNNING
        assert kvm.post_live_migration(host=dest_host, instance=inst, migration=check) is True
        assert disk_serials(qemu_host, inst) == {"vda": "vol-root", "vdb": "vol-data"}
        # the live guest still answers on its volumes: a hot-plugged third one is seen
        extra = volume_file(qemu_dir, "vol-extra")
        kvm.attach_volume(host=qemu_host, instance=inst, connection_info=extra, mountpoint="/dev/vdc")
        assert wait_console(kvm, qemu_host, inst, "TINYGUEST-DISK-ADDED", 60).endswith("serial=vol-extra")
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)
        kvm.destroy(host=dest_host, instance=inst, destroy_disks=True)
