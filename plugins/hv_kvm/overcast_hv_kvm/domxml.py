"""Domain, disk and interface XML for libvirt, as pure functions over plain data.

Everything user-controlled (display names, paths) goes through ElementTree, which escapes
it: never format XML by string concatenation here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from overcast.errors import BadRequest, UnsupportedOperation
from overcast.types import ConnectionInfo, VifDetails

METADATA_NS = "https://overcast.dev/xmlns/hv-kvm/1"
METADATA_PREFIX = "overcast"

#: ConnectionInfo.driver_volume_type values this driver attaches, and VifDetails.vif_type.
VOLUME_TYPES = frozenset({"file", "block"})
VIF_TYPES = frozenset({"bridge"})
#: Guest serial numbers are limited to 20 bytes by virtio-blk.
SERIAL_MAX = 20

ET.register_namespace(METADATA_PREFIX, METADATA_NS)


@dataclass(frozen=True)
class DiskSpec:
    """One guest disk: a file (qcow2/raw) or a block device, on the virtio bus."""

    kind: str  # "file" | "block"
    path: str
    fmt: str  # qcow2 | raw
    target_dev: str  # vda, vdb, ...
    cache: str = "none"
    serial: str = ""
    readonly: bool = False
    # libvirt <iotune> limits from the volume type's front-end QoS specs, as (element, value)
    iotune: tuple[tuple[str, str], ...] = ()


#: the QoS spec keys libvirt's <iotune> takes (Nova's libvirt driver honours the same set).
IOTUNE_KEYS = (
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
)


def iotune_from_qos(specs: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The <iotune> settings of a connection's ``qos_specs`` (Cinder's front-end QoS): the keys
    libvirt knows with a positive whole value, in a stable order; other keys are left to the
    storage (back-end consumers) and ignored here, as Nova does."""
    out = []
    for key in IOTUNE_KEYS:
        value = (specs or {}).get(key)
        try:
            number = int(str(value))
        except (TypeError, ValueError):
            continue
        if number > 0:
            out.append((key, str(number)))
    return tuple(out)


@dataclass(frozen=True)
class DomainSpec:
    name: str
    uuid: str
    memory_mb: int
    vcpus: int
    virt_type: str
    machine_type: str
    cpu_mode: str
    cpu_model: str
    console_path: str
    disks: Sequence[DiskSpec]
    vifs: Sequence[VifDetails] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    # issue 17: the serial port as a TCP chardev on this loopback port (the console proxy's),
    # still logged to console_path; 0: a plain file chardev
    serial_port: int = 0
    # issue 17: a VNC server on 127.0.0.1 (libvirt picks the port) and a VGA device
    vnc: bool = False


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _disk_element(disk: DiskSpec) -> ET.Element:
    if disk.kind not in ("file", "block"):
        raise UnsupportedOperation(f"kvm driver cannot attach a '{disk.kind}' disk")
    el = ET.Element("disk", {"type": disk.kind, "device": "disk"})
    _sub(el, "driver", name="qemu", type=disk.fmt, cache=disk.cache)
    if disk.kind == "file":
        _sub(el, "source", file=disk.path)
    else:
        _sub(el, "source", dev=disk.path)
    _sub(el, "target", dev=disk.target_dev, bus="virtio")
    if disk.serial:
        _sub(el, "serial", disk.serial[:SERIAL_MAX])
    if disk.readonly:
        _sub(el, "readonly")
    if disk.iotune:
        tune = _sub(el, "iotune")
        for key, value in disk.iotune:
            _sub(tune, key, value)
    return el


def _interface_element(vif: VifDetails) -> ET.Element:
    if vif.vif_type not in VIF_TYPES:
        raise UnsupportedOperation(
            f"kvm driver cannot plug vif_type '{vif.vif_type}' (port {vif.port_id}); "
            f"it plugs {', '.join(sorted(VIF_TYPES))}"
        )
    bridge = vif.details.get("bridge")
    if not bridge:
        raise BadRequest(f"vif for port {vif.port_id} has no 'bridge' in its details")
    el = ET.Element("interface", {"type": "bridge"})
    _sub(el, "mac", address=vif.mac_address)
    _sub(el, "source", bridge=str(bridge))
    devname = vif.details.get("devname")
    if devname:
        _sub(el, "target", dev=str(devname))
    _sub(el, "model", type="virtio")
    if vif.mtu and vif.mtu != 1500:
        _sub(el, "mtu", size=str(vif.mtu))
    return el


def disk_xml(disk: DiskSpec) -> str:
    return ET.tostring(_disk_element(disk), encoding="unicode")


def interface_xml(vif: VifDetails) -> str:
    return ET.tostring(_interface_element(vif), encoding="unicode")


def domain_xml(spec: DomainSpec) -> str:
    """The persistent definition of a guest."""
    dom = ET.Element("domain", {"type": spec.virt_type})
    _sub(dom, "name", spec.name)
    _sub(dom, "uuid", spec.uuid)
    meta = _sub(dom, "metadata")
    ours = _sub(meta, f"{{{METADATA_NS}}}instance")
    for key, value in sorted(spec.metadata.items()):
        _sub(ours, f"{{{METADATA_NS}}}{key}", value)
    _sub(dom, "memory", str(spec.memory_mb), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.machine_type)
    _sub(os_el, "boot", dev="hd")
    _sub(os_el, "smbios", mode="sysinfo")
    # Nova's SMBIOS identity: cloud-init's ds-identify recognises an OpenStack guest by the
    # product name and then asks 169.254.169.254 (issue 17)
    sysinfo = _sub(dom, "sysinfo", type="smbios")
    system = _sub(sysinfo, "system")
    for key, value in (
        ("manufacturer", "OpenStack Foundation"),
        ("product", "OpenStack Nova"),
        ("serial", spec.uuid),
        ("uuid", spec.uuid),
        ("family", "Virtual Machine"),
    ):
        _sub(system, "entry", value, name=key)
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if spec.cpu_mode == "custom":
        cpu = _sub(dom, "cpu", mode="custom", match="exact")
        _sub(cpu, "model", spec.cpu_model, fallback="allow")
    else:
        _sub(dom, "cpu", mode=spec.cpu_mode)
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    for disk in spec.disks:
        devices.append(_disk_element(disk))
    for vif in spec.vifs:
        devices.append(_interface_element(vif))
    # A file-backed serial port: the console log survives the guest, and append='on'
    # keeps earlier boots' output across power cycles and reboots.
    if spec.serial_port:
        for tag in ("serial", "console"):
            chardev = _sub(devices, tag, type="tcp")
            _sub(chardev, "source", mode="bind", host="127.0.0.1", service=str(spec.serial_port))
            _sub(chardev, "protocol", type="raw")
            _sub(chardev, "log", file=spec.console_path, append="on")
            if tag == "serial":
                _sub(chardev, "target", port="0")
            else:
                _sub(chardev, "target", type="serial", port="0")
    else:
        serial = _sub(devices, "serial", type="file")
        _sub(serial, "source", path=spec.console_path, append="on")
        _sub(serial, "target", port="0")
        console = _sub(devices, "console", type="file")
        _sub(console, "source", path=spec.console_path, append="on")
        _sub(console, "target", type="serial", port="0")
    if spec.vnc:
        graphics = _sub(devices, "graphics", type="vnc", port="-1", autoport="yes", listen="127.0.0.1")
        _sub(graphics, "listen", type="address", address="127.0.0.1")
        video = _sub(devices, "video")
        _sub(video, "model", type="vga")
    # Headless servers have no USB devices; without this libvirt adds a UHCI controller that
    # the guest probes at every boot (bench/compute_boot_overhead.py: ~2 s -> ~0.7 s over raw QEMU).
    _sub(devices, "controller", type="usb", model="none")
    rng = _sub(devices, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    _sub(devices, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")


# --- reading domain XML ------------------------------------------------------------------


@dataclass(frozen=True)
class DiskInfo:
    target_dev: str
    kind: str
    path: str
    fmt: str
    xml: str


def disks(domain_xml_text: str) -> list[DiskInfo]:
    """The guest's disks, in definition order."""
    root = ET.fromstring(domain_xml_text)
    out = []
    for el in root.findall("./devices/disk"):
        target = el.find("target")
        source = el.find("source")
        driver = el.find("driver")
        path = ""
        if source is not None:
            path = source.get("file") or source.get("dev") or ""
        out.append(
            DiskInfo(
                target_dev=target.get("dev", "") if target is not None else "",
                kind=el.get("type", ""),
                path=path,
                fmt=driver.get("type", "raw") if driver is not None else "raw",
                xml=ET.tostring(el, encoding="unicode"),
            )
        )
    return out


def interfaces(domain_xml_text: str) -> dict[str, str]:
    """The guest's NICs as {mac: interface XML}."""
    root = ET.fromstring(domain_xml_text)
    out = {}
    for el in root.findall("./devices/interface"):
        mac = el.find("mac")
        if mac is not None:
            out[mac.get("address", "").lower()] = ET.tostring(el, encoding="unicode")
    return out


def console_path(domain_xml_text: str) -> str | None:
    root = ET.fromstring(domain_xml_text)
    for tag in ("serial", "console"):
        el = root.find(f"./devices/{tag}/source")
        if el is not None and el.get("path"):
            return el.get("path")
        log = root.find(f"./devices/{tag}/log")
        if log is not None and log.get("file"):
            return log.get("file")
    return None


def metadata(domain_xml_text: str) -> dict[str, str]:
    """Our metadata element's fields ({} if the domain is not one of ours)."""
    root = ET.fromstring(domain_xml_text)
    el = root.find(f"./metadata/{{{METADATA_NS}}}instance")
    if el is None:
        return {}
    return {child.tag.split("}", 1)[-1]: child.text or "" for child in el}


def rewrite_paths(domain_xml_text: str, mapping: Mapping[str, str]) -> str:
    """The same domain with file paths (disk sources, console) replaced per ``mapping``.

    Used for the destination's definition in a migration, where the instance directory
    differs. Paths not in ``mapping`` are kept.
    """
    root = ET.fromstring(domain_xml_text)
    for el in root.iter("source"):
        for attr in ("file", "path"):
            value = el.get(attr)
            if value in mapping:
                el.set(attr, mapping[value])
    for el in root.iter("log"):
        value = el.get("file")
        if value in mapping:
            el.set("file", mapping[value])
    return ET.tostring(root, encoding="unicode")


def rescue_xml(domain_xml_text: str, rescue_disk: DiskSpec) -> str:
    """The rescue guest of a domain (Nova's libvirt rescue): ``rescue_disk`` as ``vda``, the
    domain's own root disk (``vda``) moved to ``vdb``, read-only disks (the config drive)
    kept, volumes left out, the disks' PCI addresses dropped (the guest orders its disks by
    them); everything else (NICs, console, metadata) as it was."""
    root = ET.fromstring(domain_xml_text)
    devices = root.find("devices")
    if devices is None:
        raise BadRequest("domain definition without devices")
    found = False
    for el in devices.findall("disk"):
        target = el.find("target")
        dev = target.get("dev") if target is not None else None
        for address in el.findall("address"):  # the guest names disks by PCI order: let libvirt
            el.remove(address)  # give the rescue disk (first in the list) the first slot
        if target is not None and dev == "vda":
            target.set("dev", "vdb")
            found = True
        elif el.find("readonly") is None:
            devices.remove(el)
    if not found:
        raise BadRequest("the domain has no root disk (vda) to rescue")
    devices.insert(0, _disk_element(rescue_disk))
    return ET.tostring(root, encoding="unicode")


def rewrite_serial_port(domain_xml_text: str, port: int) -> str:
    """The same domain with its TCP serial/console chardev on ``port`` (a migration's
    destination binds its own free port: the source's may be taken there)."""
    root = ET.fromstring(domain_xml_text)
    for tag in ("serial", "console"):
        for chardev in root.iter(tag):
            source = chardev.find("source")
            if chardev.get("type") == "tcp" and source is not None and source.get("mode") == "bind":
                source.set("service", str(port))
    return ET.tostring(root, encoding="unicode")


# --- device names -------------------------------------------------------------------------

_DEV_RE = re.compile(r"^(?:/dev/)?[a-z]*d([a-z]{1,2})$")


def target_dev(mountpoint: str, used: Sequence[str]) -> str:
    """The virtio target (``vdb``) for a requested mountpoint (``/dev/vdb``, ``/dev/sdb``),
    or the next free one if the mountpoint is empty or ``auto``."""
    if mountpoint and mountpoint != "auto":
        m = _DEV_RE.match(mountpoint)
        if not m:
            raise BadRequest(f"invalid device name {mountpoint!r} (expected e.g. /dev/vdb)")
        return "vd" + m.group(1)
    for i in range(1, 26):
        dev = "vd" + chr(ord("a") + i)
        if dev not in used:
            return dev
    raise BadRequest("no free virtio disk name left")


def last_free_dev(used: Sequence[str]) -> str:
    """The last virtio disk name not in ``used`` (``vdz`` first): for the config drive."""
    for i in range(25, 0, -1):
        dev = "vd" + chr(ord("a") + i)
        if dev not in used:
            return dev
    raise BadRequest("no free virtio disk name left")


def disk_from_connection(info: ConnectionInfo, dev: str, cache: str) -> DiskSpec:
    """The disk a volume's ConnectionInfo describes (``file``: path + format; ``block``:
    device_path)."""
    data = info.data
    serial = str(data.get("serial") or data.get("volume_id") or "")
    if info.driver_volume_type == "file":
        path = data.get("path") or data.get("device_path")
        if not path:
            raise BadRequest("file volume connection without a 'path'")
        fmt = str(data.get("format") or "raw")
        if fmt not in ("raw", "qcow2"):
            raise UnsupportedOperation(f"kvm driver cannot attach {fmt} file volumes")
        return DiskSpec("file", str(path), fmt, dev, cache, serial, iotune=iotune_from_qos(data.get("qos_specs")))
    if info.driver_volume_type == "block":
        path = data.get("device_path") or data.get("path")
        if not path:
            raise BadRequest("block volume connection without a 'device_path'")
        return DiskSpec("block", str(path), "raw", dev, cache, serial, iotune=iotune_from_qos(data.get("qos_specs")))
    raise UnsupportedOperation(
        f"kvm driver cannot attach '{info.driver_volume_type}' volumes; it attaches {', '.join(sorted(VOLUME_TYPES))}"
    )
