"""Domain/disk/interface XML: pure functions, no libvirt needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from overcast.errors import BadRequest, UnsupportedOperation
from overcast.types import ConnectionInfo, VifDetails
from overcast_hv_kvm import domxml


def spec(**kw: object) -> domxml.DomainSpec:
    base = dict(
        name="oc-1",
        uuid="6b1f2a3c-0000-4000-8000-000000000001",
        memory_mb=256,
        vcpus=2,
        virt_type="qemu",
        machine_type="pc",
        cpu_mode="custom",
        cpu_model="qemu64",
        console_path="/i/oc-1/console.log",
        disks=[domxml.DiskSpec("file", "/i/oc-1/disk", "qcow2", "vda")],
        metadata={"display_name": "</name><evil/>&", "uuid": "u1"},
    )
    base.update(kw)
    return domxml.DomainSpec(**base)  # type: ignore[arg-type]


def test_domain_xml_has_the_essentials() -> None:
    root = ET.fromstring(domxml.domain_xml(spec()))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "oc-1"
    assert root.findtext("memory") == "256" and root.find("memory").get("unit") == "MiB"
    assert root.findtext("vcpu") == "2"
    assert root.find("os/boot").get("dev") == "hd"
    assert root.find("features/acpi") is not None  # ACPI shutdown needs it
    assert root.findtext("cpu/model") == "qemu64"
    disk = root.find("devices/disk")
    assert disk.find("source").get("file") == "/i/oc-1/disk"
    assert disk.find("driver").get("type") == "qcow2" and disk.find("driver").get("cache") == "none"
    serial = root.find("devices/serial")
    assert serial.get("type") == "file"
    assert serial.find("source").get("path") == "/i/oc-1/console.log"
    assert serial.find("source").get("append") == "on"


def test_display_name_is_data_not_markup() -> None:
    text = domxml.domain_xml(spec())
    assert "<evil/>" not in text
    assert domxml.metadata(text) == {"display_name": "</name><evil/>&", "uuid": "u1"}


def test_kvm_type_and_host_model_cpu() -> None:
    root = ET.fromstring(domxml.domain_xml(spec(virt_type="kvm", cpu_mode="host-model")))
    assert root.get("type") == "kvm"
    assert root.find("cpu").get("mode") == "host-model" and root.find("cpu/model") is None


def test_bridge_interface() -> None:
    vif = VifDetails(
        vif_type="bridge",
        port_id="p1",
        mac_address="52:54:00:aa:bb:cc",
        mtu=1450,
        details={"bridge": "ocbr-net1", "devname": "tapp1"},
    )
    el = ET.fromstring(domxml.interface_xml(vif))
    assert el.get("type") == "bridge"
    assert el.find("source").get("bridge") == "ocbr-net1"
    assert el.find("target").get("dev") == "tapp1"
    assert el.find("mac").get("address") == "52:54:00:aa:bb:cc"
    assert el.find("model").get("type") == "virtio"
    assert el.find("mtu").get("size") == "1450"


def test_unknown_vif_type_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedOperation, match="ovs"):
        domxml.interface_xml(VifDetails(vif_type="ovs", port_id="p1", mac_address="52:54:00:00:00:01"))
    with pytest.raises(BadRequest, match="bridge"):
        domxml.interface_xml(VifDetails(vif_type="bridge", port_id="p1", mac_address="52:54:00:00:00:01"))


def test_volume_connections() -> None:
    f = domxml.disk_from_connection(
        ConnectionInfo("file", {"path": "/v/1", "format": "qcow2", "volume_id": "vol-1"}), "vdb", "none"
    )
    assert (f.kind, f.path, f.fmt, f.serial) == ("file", "/v/1", "qcow2", "vol-1")
    b = domxml.disk_from_connection(ConnectionInfo("block", {"device_path": "/dev/loop7"}), "vdc", "none")
    assert (b.kind, b.path, b.fmt) == ("block", "/dev/loop7", "raw")
    el = ET.fromstring(domxml.disk_xml(b))
    assert el.get("type") == "block" and el.find("source").get("dev") == "/dev/loop7"
    with pytest.raises(UnsupportedOperation, match="iscsi"):
        domxml.disk_from_connection(ConnectionInfo("iscsi", {}), "vdb", "none")
    with pytest.raises(UnsupportedOperation, match="vmdk"):
        domxml.disk_from_connection(ConnectionInfo("file", {"path": "/v/1", "format": "vmdk"}), "vdb", "none")


def test_serial_is_cut_to_virtio_limit() -> None:
    d = domxml.DiskSpec("file", "/v", "raw", "vdb", serial="x" * 40)
    assert ET.fromstring(domxml.disk_xml(d)).findtext("serial") == "x" * 20


def test_target_dev() -> None:
    assert domxml.target_dev("/dev/vdb", []) == "vdb"
    assert domxml.target_dev("/dev/sdc", []) == "vdc"
    assert domxml.target_dev("", ["vda", "vdb"]) == "vdc"
    assert domxml.target_dev("auto", ["vda"]) == "vdb"
    with pytest.raises(BadRequest):
        domxml.target_dev("/etc/passwd", [])


def test_reading_and_rewriting_paths() -> None:
    text = domxml.domain_xml(
        spec(
            disks=[
                domxml.DiskSpec("file", "/i/oc-1/disk", "qcow2", "vda"),
                domxml.DiskSpec("file", "/vol/v1", "raw", "vdb", serial="v1"),
            ]
        )
    )
    assert [d.target_dev for d in domxml.disks(text)] == ["vda", "vdb"]
    assert domxml.console_path(text) == "/i/oc-1/console.log"
    moved = domxml.rewrite_paths(text, {"/i/oc-1/disk": "/j/oc-1/disk", "/i/oc-1/console.log": "/j/oc-1/console.log"})
    assert [d.path for d in domxml.disks(moved)] == ["/j/oc-1/disk", "/vol/v1"]
    assert domxml.console_path(moved) == "/j/oc-1/console.log"
    assert domxml.metadata(moved)["uuid"] == "u1"  # our metadata survives the rewrite


def test_readonly_disk() -> None:
    el = ET.fromstring(
        domxml.disk_xml(domxml.DiskSpec("file", "/i/disk.config", "raw", "vdb", serial="config-2", readonly=True))
    )
    assert el.find("readonly") is not None and el.findtext("serial") == "config-2"
    assert el.find("driver").get("type") == "raw"
    assert ET.fromstring(domxml.disk_xml(domxml.DiskSpec("file", "/i/d", "qcow2", "vda"))).find("readonly") is None


def test_rescue_xml_boots_the_rescue_disk_with_the_root_second() -> None:
    disks = [
        domxml.DiskSpec("file", "/i/oc-1/disk", "qcow2", "vda"),
        domxml.DiskSpec("file", "/v/volume-1", "qcow2", "vdb", serial="vol-1"),
        domxml.DiskSpec("file", "/i/oc-1/disk.config", "raw", "vdz", readonly=True),
    ]
    original = domxml.domain_xml(spec(disks=disks))
    original = _with_address(original)  # as libvirt returns it: the root disk has its PCI slot
    rescue = domxml.rescue_xml(original, domxml.DiskSpec("file", "/i/oc-1/disk.rescue", "qcow2", "vda"))
    assert "<address" in original and "<address" not in rescue  # the guest orders disks by PCI slot
    by_dev = {d.target_dev: d.path for d in domxml.disks(rescue)}
    # the rescue disk first, the guest's own disk second, the config drive kept, the volume out
    assert by_dev == {"vda": "/i/oc-1/disk.rescue", "vdb": "/i/oc-1/disk", "vdz": "/i/oc-1/disk.config"}
    assert domxml.disks(rescue)[0].target_dev == "vda"
    assert domxml.metadata(rescue) == domxml.metadata(original)
    assert domxml.console_path(rescue) == domxml.console_path(original)
    with pytest.raises(BadRequest):
        domxml.rescue_xml(domxml.domain_xml(spec(disks=disks[1:2])), disks[0])


def _with_address(domain_xml_text: str) -> str:
    """The domain with a PCI address on its first disk, as libvirt's XMLDesc gives it."""
    root = ET.fromstring(domain_xml_text)
    disk = root.find("devices/disk")
    assert disk is not None
    ET.SubElement(disk, "address", type="pci", domain="0x0000", bus="0x00", slot="0x04", function="0x0")
    return ET.tostring(root, encoding="unicode")


def test_front_end_qos_specs_become_iotune() -> None:
    info = ConnectionInfo(
        "file",
        {
            "path": "/v/1",
            "format": "raw",
            "qos_specs": {
                "read_iops_sec": "2000",
                "total_bytes_sec": "1048576",
                "consumer_note": "x",
                "write_iops_sec": "0",
            },
        },
    )
    disk = domxml.disk_from_connection(info, "vdb", "none")
    assert disk.iotune == (("total_bytes_sec", "1048576"), ("read_iops_sec", "2000"))
    tune = ET.fromstring(domxml.disk_xml(disk)).find("iotune")
    assert tune is not None and {c.tag: c.text for c in tune} == {"total_bytes_sec": "1048576", "read_iops_sec": "2000"}
    plain = domxml.disk_from_connection(ConnectionInfo("block", {"device_path": "/dev/loop7"}), "vdc", "none")
    assert ET.fromstring(domxml.disk_xml(plain)).find("iotune") is None
