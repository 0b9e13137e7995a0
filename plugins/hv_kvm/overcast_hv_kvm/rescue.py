"""Rescue and unrescue (issue 18), as Nova's libvirt driver does them: the guest's
persistent definition is saved as ``unrescue.xml`` in its instance directory, a fresh root
disk ``disk.rescue`` (a qcow2 overlay on the rescue image) becomes ``vda`` with the guest's own
root disk as ``vdb``, and the guest boots from it; unrescue defines the saved guest again,
boots it and removes the rescue files."""

from __future__ import annotations

import logging
import os

import libvirt
from overcast.errors import Conflict, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import Host, ImageFile, Instance, InstanceInfo

from overcast_hv_kvm import domxml, images
from overcast_hv_kvm.base import IMAGE_TYPES, DriverBase, chown_to
from overcast_hv_kvm.errors import translated

log = logging.getLogger(__name__)

UNRESCUE_XML = "unrescue.xml"
RESCUE_DISK = "disk.rescue"


class RescueHooks(DriverBase):
    @hookimpl
    def hv_rescue(self, host: Host, instance: Instance, image: ImageFile) -> InstanceInfo:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        dom = self.domain(host, instance)
        inst_dir = cfg.instance_dir(instance.name)
        saved, disk = os.path.join(inst_dir, UNRESCUE_XML), os.path.join(inst_dir, RESCUE_DISK)
        if os.path.exists(saved):
            raise Conflict(f"instance {instance.name} is already rescued")
        if image.disk_format not in IMAGE_TYPES:
            raise UnsupportedOperation(
                f"kvm host {cfg.name} cannot boot {image.disk_format} images (it boots {', '.join(sorted(IMAGE_TYPES))})"
            )
        if conn.getType() == "QEMU":
            self._check_traversable(cfg, image.path, f"rescue image {image.image.id}")
        with translated(f"reading the definition of {dom.name()}"):
            original = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        images.create_overlay(image.path, image.disk_format, disk, None)  # the rescue image's own size
        chown_to(disk, cfg.file_owner)
        rescue = domxml.rescue_xml(original, domxml.DiskSpec("file", disk, "qcow2", "vda", cfg.disk_cachemode))
        with open(saved, "w") as f:
            f.write(original)
        self.hard_stop(dom)
        try:
            with translated(f"defining the rescue guest of {instance.name}"):
                dom = conn.defineXML(rescue)
            with translated(f"starting the rescue guest of {instance.name}"):
                dom.create()
        except BaseException:
            self._restore(conn, instance, saved, disk, start=False)
            raise
        return self.info(dom)

    @hookimpl
    def hv_unrescue(self, host: Host, instance: Instance) -> InstanceInfo:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        inst_dir = cfg.instance_dir(instance.name)
        saved = os.path.join(inst_dir, UNRESCUE_XML)
        if not os.path.exists(saved):
            raise Conflict(f"instance {instance.name} is not rescued")
        self.hard_stop(self.domain(host, instance))
        return self.info(self._restore(conn, instance, saved, os.path.join(inst_dir, RESCUE_DISK), start=True))

    def _restore(
        self, conn: libvirt.virConnect, instance: Instance, saved: str, disk: str, start: bool
    ) -> libvirt.virDomain:
        """Define the saved guest again (and start it), then drop the rescue files."""
        with open(saved) as f:
            original = f.read()
        with translated(f"defining {instance.name} again after rescue"):
            dom = conn.defineXML(original)
        if start:
            with translated(f"starting {instance.name} after rescue"):
                dom.create()
        for path in (disk, saved):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return dom
