"""Cold and live migration between two libvirt daemons (two ``kvm`` hosts).

Disks move through libvirt itself, never through ssh or a shared filesystem:

* **cold**: the source stops the guest, flattens its root disk and uploads it into the
  destination's instance directory over the destination daemon's storage API (a transient
  ``dir`` pool, ``virStorageVol.upload``); the destination defines the guest on it.
* **resize on the same host**: the source keeps a copy of the root disk (a qcow2 overlay)
  and of the domain definition in the instance directory, grows the disk and redefines the
  guest with the new flavor; a revert puts both back, a confirm deletes the copies.
* **live**: the source pre-creates an empty disk of the same size on the destination (same
  transient-pool trick), then ``virDomainMigrate3`` with ``VIR_MIGRATE_NON_SHARED_DISK``
  copies the disk (NBD) and the memory while the guest runs; the destination definition is
  the source's with the instance paths rewritten.

Files the destination daemon creates are owned by the user it runs as, so this also works
for an unprivileged ``qemu:///session`` daemon as the destination.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import libvirt
from overcast.errors import Conflict, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import (
    BlockDevice,
    Flavor,
    Host,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    VifDetails,
)

from overcast_hv_kvm import configdrive, domxml, images
from overcast_hv_kvm.base import DriverBase, chown_to
from overcast_hv_kvm.errors import translated

if TYPE_CHECKING:
    from collections.abc import Iterator

    from overcast_hv_kvm.driver import KvmDriver

log = logging.getLogger(__name__)

GiB = images.GiB
UPLOAD_CHUNK = 4 * 1024 * 1024
#: a same-host resize keeps the root disk and the definition here until confirm or revert
RESIZE_BACKUP = "disk.resize-orig"
RESIZE_XML = "domain.resize-orig.xml"


# --- helpers --------------------------------------------------------------------------------


def host_uuid(conn: libvirt.virConnect) -> str:
    with translated("reading host capabilities"):
        return ET.fromstring(conn.getCapabilities()).findtext("./host/uuid", "")


@contextmanager
def transient_pool(conn: libvirt.virConnect, path: str) -> Iterator[libvirt.virStoragePool]:
    """A transient ``dir`` storage pool over ``path`` on ``conn``'s daemon (the directory is
    built if missing). Destroying it afterwards leaves the files in place."""
    name = f"oc-mig-{uuidlib.uuid4().hex[:12]}"
    root = ET.Element("pool", {"type": "dir"})
    ET.SubElement(root, "name").text = name
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = path
    perms = ET.SubElement(target, "permissions")
    ET.SubElement(perms, "mode").text = "0755"
    with translated(f"opening {path} on the destination daemon"):
        pool = conn.storagePoolCreateXML(
            ET.tostring(root, encoding="unicode"), libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD
        )
    try:
        yield pool
    finally:
        try:
            pool.destroy()
        except libvirt.libvirtError:
            log.warning("could not remove transient pool %s", name)


def create_remote_volume(
    pool: libvirt.virStoragePool, name: str, capacity: int, fmt: str = "qcow2"
) -> libvirt.virStorageVol:
    """A new volume file ``name`` in ``pool`` (an old one of that name is replaced)."""
    with translated(f"creating {name} on the destination"):
        pool.refresh(0)
        try:
            pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
        root = ET.Element("volume")
        ET.SubElement(root, "name").text = name
        ET.SubElement(root, "capacity", {"unit": "bytes"}).text = str(capacity)
        target = ET.SubElement(root, "target")
        ET.SubElement(target, "format", {"type": fmt})
        return pool.createXML(ET.tostring(root, encoding="unicode"), 0)


def upload(conn: libvirt.virConnect, vol: libvirt.virStorageVol, path: str) -> None:
    """Stream a local file into a remote volume (byte for byte)."""
    size = os.path.getsize(path)
    stream = conn.newStream(0)
    with translated(f"uploading {path}"), open(path, "rb") as f:
        vol.upload(stream, 0, size, 0)

        def read(_stream: libvirt.virStream, nbytes: int, fh: object) -> bytes:
            return f.read(min(nbytes, UPLOAD_CHUNK))

        try:
            stream.sendAll(read, None)
            stream.finish()
        except BaseException:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
            raise


def free_port(address: str) -> int:
    """A TCP port free on ``address`` now (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def free_ports(address: str, count: int) -> list[int]:
    """``count`` distinct TCP ports free on ``address`` now (all held open while choosing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    held = [socket.socket(family) for _ in range(count)]
    try:
        for s in held:
            s.bind((address, 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def _dest_conn(driver: KvmDriver, dest: Host) -> libvirt.virConnect:
    return driver.pool.get(driver.config(dest).migration_uri)


def _check_distinct(driver: KvmDriver, source: Host, dest: Host) -> tuple[libvirt.virConnect, libvirt.virConnect]:
    sconn = driver.conn(source)
    dconn = _dest_conn(driver, dest)
    if host_uuid(sconn) == host_uuid(dconn):
        raise Conflict(
            f"hosts {source.name} and {dest.name} are the same libvirt daemon (same host UUID); "
            "migration needs two daemons"
        )
    return sconn, dconn


# --- cold migration ------------------------------------------------------------------------


def _stop(driver: KvmDriver, host: Host, dom: libvirt.virDomain, instance: Instance) -> None:
    """Shut the guest down (ACPI, then hard) and drop a suspended guest's saved memory,
    which cannot follow its disk."""
    with translated(f"stopping {instance.name}"):
        if dom.isActive() and not driver._acpi_shutdown(dom, driver.config(host).shutdown_timeout, 10):
            driver.hard_stop(dom)
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)


def _check_root_fits(path: str, instance: Instance, flavor: Flavor) -> None:
    """Refuse a flavor whose root disk is smaller than the guest's (a qcow2 disk is never
    shrunk: the guest's filesystem would be cut)."""
    want = flavor.root_gb * GiB
    if want and want < images.virtual_size(path, force_share=True):
        raise Conflict(
            f"cannot resize {instance.name} to flavor {flavor.name}: its {flavor.root_gb} GiB root disk is "
            "smaller than the current one (Unable to resize disk down)"
        )


def migrate_disk_and_power_off(
    driver: KvmDriver, host: Host, instance: Instance, dest: Host, flavor: Flavor
) -> MigrationData:
    """Source side: stop the guest and upload a flattened copy of its root disk to ``dest``
    (or, for a resize on this same host, keep a copy of the disk and definition to revert to)."""
    dom = driver.domain(host, instance)
    root = driver.root_disk(dom)  # the definition does not change when the guest stops
    volume_root = _volume_root(driver, host, instance, root)
    if not volume_root:
        _check_root_fits(root.path, instance, flavor)
    if dest.name == host.name:
        return _resize_in_place(driver, host, dom, instance, volume_root)
    scfg, dcfg = driver.config(host), driver.config(dest)
    _sconn, dconn = _check_distinct(driver, host, dest)
    _stop(driver, host, dom, instance)
    if volume_root:  # nothing local to copy: the volumes come to the destination as block devices
        return MigrationData(source_host=host.name, dest_host=dest.name, data={"kind": "cold", "root": "volume"})
    dest_dir = dcfg.instance_dir(instance.name)
    tmpdir = tempfile.mkdtemp(prefix="oc-coldmig-", dir=scfg.instances_dir)
    try:
        flat = os.path.join(tmpdir, "disk.qcow2")
        images.convert(root.path, flat, "qcow2")
        with transient_pool(dconn, dest_dir) as pool:
            vol = create_remote_volume(pool, "disk", os.path.getsize(flat), "raw")
            try:
                upload(dconn, vol, flat)
            except BaseException:
                vol.delete(0)
                raise
            dest_disk = vol.path()
        size = images.virtual_size(flat)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    log.info("cold migration of %s: disk uploaded to %s:%s", instance.name, dest.name, dest_disk)
    return MigrationData(
        source_host=host.name,
        dest_host=dest.name,
        data={"disk_path": dest_disk, "disk_format": "qcow2", "virtual_size": size, "kind": "cold"},
    )


def _volume_root(driver: KvmDriver, host: Host, instance: Instance, root: domxml.DiskInfo) -> bool:
    """Whether the guest's root disk is a volume (it lies outside the instance directory)."""
    inst_dir = os.path.realpath(driver.config(host).instance_dir(instance.name))
    return os.path.commonpath([inst_dir, os.path.realpath(root.path)]) != inst_dir


def _resize_in_place(
    driver: KvmDriver, host: Host, dom: libvirt.virDomain, instance: Instance, volume_root: bool = False
) -> MigrationData:
    """Same-host resize, first half: stop the guest, copy its root disk (a small qcow2
    overlay; not a volume root, which a resize leaves as it is) and save its definition
    beside it, for ``finish_revert_migration``."""
    cfg = driver.config(host)
    _stop(driver, host, dom, instance)
    root = driver.root_disk(dom)
    inst_dir = cfg.instance_dir(instance.name)
    backup = os.path.join(inst_dir, RESIZE_BACKUP)
    saved_xml = os.path.join(inst_dir, RESIZE_XML)
    with translated(f"reading the definition of {instance.name}"):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        if not volume_root:
            shutil.copyfile(root.path, f"{backup}.part")
            os.replace(f"{backup}.part", backup)
        with open(saved_xml, "w") as f:
            f.write(xml)
    except OSError as exc:
        raise DriverError(f"keeping the disk of {instance.name} for a revert: {exc}") from exc
    if volume_root:
        return MigrationData(
            source_host=host.name,
            dest_host=host.name,
            data={"kind": "same-host", "root": "volume", "saved_xml": saved_xml},
        )
    chown_to(backup, cfg.file_owner)
    return MigrationData(
        source_host=host.name,
        dest_host=host.name,
        data={
            "kind": "same-host",
            "disk_path": root.path,
            "disk_format": root.fmt or "qcow2",
            "backup": backup,
            "saved_xml": saved_xml,
        },
    )


def finish_migration(
    driver: KvmDriver,
    host: Host,
    instance: Instance,
    migration: MigrationData,
    network_info: Sequence[VifDetails],
    block_devices: Sequence[BlockDevice],
    power_on: bool,
) -> InstanceInfo:
    """Destination side: define the guest on the uploaded disk (grown to the flavor's root
    size if that is larger: a resize), or on its root volume, with its volumes attached as
    ``block_devices`` say, and start it if asked."""
    cfg = driver.config(host)
    conn = driver.conn(host)
    disks: list[domxml.DiskSpec] = []
    if migration.data.get("root") != "volume":
        disk = str(migration.data.get("disk_path", ""))
        if not disk or not os.path.exists(disk):
            raise NotFound(f"migrated disk {disk!r} of {instance.name} is not on host {host.name}")
        want = instance.flavor.root_gb * GiB
        if want and want > images.virtual_size(disk):
            images.resize(disk, want)
        fmt = str(migration.data.get("disk_format", "qcow2"))
        disks.append(domxml.DiskSpec("file", disk, fmt, "vda", cfg.disk_cachemode))
    disks += driver.volume_disks(cfg, instance, block_devices, [d.target_dev for d in disks])
    # the config drive holds only what the instance record does: rebuilt here, not copied
    driver.prepare_dir(cfg, cfg.instance_dir(instance.name))
    disks += driver.config_drive_disks(cfg, host, instance, [d.target_dev for d in disks])
    spec = driver.domain_spec(cfg, instance, disks, network_info)
    with translated(f"defining {instance.name} on {host.name}"):
        dom = conn.defineXML(domxml.domain_xml(spec))
    if power_on:
        with translated(f"starting {instance.name} on {host.name}"):
            dom.create()
    return driver.info(dom)


def confirm_migration(driver: KvmDriver, host: Host, instance: Instance, migration: MigrationData) -> bool:
    """Source side: forget the stopped source guest and delete its files (a same-host
    resize: only the copy kept for a revert)."""
    if migration.data.get("kind") == "same-host":
        for key in ("backup", "saved_xml"):
            path = str(migration.data.get(key) or "")
            if path and os.path.exists(path):
                os.unlink(path)
        return True
    return driver.hv_destroy(host=host, instance=instance, destroy_disks=True)


def finish_revert_migration(
    driver: KvmDriver, host: Host, instance: Instance, migration: MigrationData, power_on: bool
) -> InstanceInfo:
    """Source side: the guest as it was. After a same-host resize the kept disk and
    definition replace the resized ones; otherwise the stopped source guest is untouched."""
    data = migration.data
    if data.get("kind") == "same-host":
        dom = driver.domain(host, instance)
        driver.hard_stop(dom)
        backup, saved_xml = str(data.get("backup") or ""), str(data.get("saved_xml") or "")
        if backup and os.path.exists(backup):
            os.replace(backup, str(data["disk_path"]))
        if saved_xml and os.path.exists(saved_xml):
            with open(saved_xml) as f, translated(f"redefining {instance.name} on {host.name}"):
                dom = driver.conn(host).defineXML(f.read())
            os.unlink(saved_xml)
    else:
        dom = driver.domain(host, instance)
    if power_on:
        with translated(f"starting {instance.name} on {host.name}"):
            if not dom.isActive():
                dom.create()
    return driver.info(dom)


# --- live migration ------------------------------------------------------------------------


def check_can_live_migrate_destination(
    driver: KvmDriver, host: Host, instance: Instance, source: Host
) -> MigrationData:
    """Destination side: refuse early if the guest cannot come here."""
    cfg, scfg = driver.config(host), driver.config(source)
    if cfg.virt_type != scfg.virt_type:
        raise Conflict(f"cannot live-migrate from a {scfg.virt_type} host to a {cfg.virt_type} host")
    conn = driver.conn(host)
    try:
        conn.lookupByName(instance.name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise DriverError(f"looking up {instance.name} on {host.name}: {exc}") from exc
    else:
        raise Conflict(f"instance {instance.name} already exists on host {host.name}")
    driver.prepare_dir(cfg, cfg.instances_dir)
    fs = os.statvfs(cfg.instances_dir)
    free = fs.f_bavail * fs.f_frsize
    if free < instance.flavor.root_gb * GiB:
        raise Conflict(
            f"host {host.name} has {free / GiB:.1f} GiB free in {cfg.instances_dir}, "
            f"{instance.name} needs {instance.flavor.root_gb} GiB"
        )
    with translated(f"reading free memory of {host.name}"):
        free_mem = conn.getFreeMemory()
    if free_mem < instance.flavor.memory_mb * 1024 * 1024:
        raise Conflict(
            f"host {host.name} has {free_mem // 2**20} MiB free, {instance.name} needs {instance.flavor.memory_mb}"
        )
    return MigrationData(
        source_host=source.name,
        dest_host=host.name,
        data={"kind": "live", "dest_dir": cfg.instance_dir(instance.name)},
    )


def pre_live_migration(
    driver: KvmDriver,
    host: Host,
    instance: Instance,
    migration: MigrationData,
    block_devices: Sequence[BlockDevice] = (),
) -> MigrationData:
    """Destination side: make the instance directory the incoming guest will use, and say
    where each volume (``block_devices``, exported to this host) is here."""
    cfg = driver.config(host)
    dest_dir = cfg.instance_dir(instance.name)
    driver.prepare_dir(cfg, dest_dir)
    # the config drive is rebuilt here (same content), not copied: the source's stays
    # read-only outside the migrated disks and the destination definition points at this one
    drive = driver.config_drive_disks(cfg, host, instance, [])
    return MigrationData(
        source_host=migration.source_host,
        dest_host=migration.dest_host,
        data={
            **migration.data,
            "dest_dir": dest_dir,
            "dest_disk": os.path.join(dest_dir, "disk"),
            "dest_console": os.path.join(dest_dir, "console.log"),
            "dest_config_drive": drive[0].path if drive else "",
            "migration_address": cfg.migration_address,
            # the ports are probed here, on the destination: only it can bind its address
            # (the source agent may run on another machine or in another network namespace)
            **dict(zip(("migration_port", "disks_port"), free_ports(cfg.migration_address, 2))),
            # the serial console's loopback port, free here (issue 17's TCP chardev)
            "dest_serial_port": free_port("127.0.0.1") if cfg.serial_console else 0,
            # volume id -> its path here (the domain's disks are matched by their serial)
            "volume_paths": {
                bdm.volume_id: domxml.disk_from_connection(bdm.connection_info, "vdz", cfg.disk_cachemode).path
                for bdm in block_devices
            },
        },
    )


def live_migration(driver: KvmDriver, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
    """Source side: copy the root disk and memory to ``dest`` while the guest runs."""
    _sconn, dconn = _check_distinct(driver, host, dest)
    dom = driver.domain(host, instance)
    with translated(f"reading {instance.name}"):
        if not dom.isActive():
            raise Conflict(f"cannot live-migrate {instance.name}: it is not running")
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    data = migration.data
    dest_dir = str(data["dest_dir"])
    dest_disk = str(data.get("dest_disk") or os.path.join(dest_dir, "disk"))
    dest_console = str(data.get("dest_console") or os.path.join(dest_dir, "console.log"))
    address = str(data.get("migration_address") or driver.config(dest).migration_address)

    root = driver.root_disk(dom)
    volume_root = _volume_root(driver, host, instance, root)
    console = domxml.console_path(xml) or ""
    paths = {console: dest_console}
    if not volume_root:
        paths[root.path] = dest_disk
    dest_drive = str(data.get("dest_config_drive") or "")
    volume_paths = data.get("volume_paths") or {}
    by_serial = {volume_id[: domxml.SERIAL_MAX]: path for volume_id, path in volume_paths.items()}
    for disk in domxml.disks(xml):
        if dest_drive and os.path.basename(disk.path) == configdrive.FILE_NAME:
            paths[disk.path] = dest_drive
        serial = ET.fromstring(disk.xml).findtext("serial")  # the volume id, cut to SERIAL_MAX
        if serial and serial in by_serial:
            paths[disk.path] = str(by_serial[serial])
    dest_xml = domxml.rewrite_paths(xml, paths)
    if data.get("dest_serial_port"):
        dest_xml = domxml.rewrite_serial_port(dest_xml, int(data["dest_serial_port"]))

    vol = None
    if not volume_root:  # a local root disk is copied (block migration); volumes are shared
        with translated(f"reading the size of {instance.name}'s disk"):
            capacity = int(dom.blockInfo(root.target_dev)[0])
        with transient_pool(dconn, dest_dir) as pool:
            vol = create_remote_volume(pool, os.path.basename(dest_disk), capacity, "qcow2")
    params = {
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: dest_xml,
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: dest_xml,
        libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{_url_host(address)}:{_port(data, 'migration_port', address)}",
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: address,
    }
    flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    if vol is not None:
        params[libvirt.VIR_MIGRATE_PARAM_DISKS_URI] = f"tcp://{_url_host(address)}:{_port(data, 'disks_port', address)}"
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = [root.target_dev]
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
    if volume_paths:
        # the volumes stay where they are: the volume service exported each one to the
        # destination (its path there is in volume_paths), so both ends open the same data;
        # libvirt cannot see that for a local file or block device and would refuse
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    log.info("live-migrating %s from %s to %s", instance.name, host.name, dest.name)
    try:
        dom.migrate3(dconn, params, flags)
    except libvirt.libvirtError as exc:
        try:
            if vol is not None:
                vol.delete(0)
        except libvirt.libvirtError:
            log.warning("could not remove %s on %s after a failed migration", dest_disk, dest.name)
        raise DriverError(
            f"live migration of {instance.name} to {dest.name} failed: {exc.get_error_message()}"
        ) from exc
    return True


def _port(data: dict, key: str, address: str) -> int:
    """The port the destination chose in pre_live_migration (probed locally only for data
    from an older destination that did not choose one)."""
    return int(data.get(key) or free_port(address))


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def post_live_migration(driver: KvmDriver, host: Host, instance: Instance, migration: MigrationData) -> bool:
    """Source side, after success: drop any leftover definition and the local files."""
    return driver.hv_destroy(host=host, instance=instance, destroy_disks=True)


class MigrationHooks(DriverBase):
    """The ``hv_*`` migration hooks, delegating to the functions above."""

    @hookimpl
    def hv_migrate_disk_and_power_off(
        self, host: Host, instance: Instance, dest: Host, flavor: Flavor
    ) -> MigrationData:
        return migrate_disk_and_power_off(self, host, instance, dest, flavor)

    @hookimpl
    def hv_finish_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        return finish_migration(self, host, instance, migration, network_info, block_devices, power_on)

    @hookimpl
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return confirm_migration(self, host, instance, migration)

    @hookimpl
    def hv_finish_revert_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        return finish_revert_migration(self, host, instance, migration, power_on)

    @hookimpl
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        return check_can_live_migrate_destination(self, host, instance, source)

    @hookimpl
    def hv_pre_live_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> MigrationData:
        return pre_live_migration(self, host, instance, migration, block_devices)

    @hookimpl
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        return live_migration(self, host, instance, dest, migration)

    @hookimpl
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return post_live_migration(self, host, instance, migration)
