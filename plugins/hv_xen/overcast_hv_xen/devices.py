"""The ``xen`` driver's devices: iSCSI volumes (an SR with one VDI, attached as a VBD) and
VIFs on XAPI networks."""

from __future__ import annotations

from collections.abc import Sequence

from overcast.errors import DriverError, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import ConnectionInfo, Connector, Host, Instance, VifDetails
from overcast_hv_xen.base import VIF_TYPE, option, translate
from overcast_hv_xen.session import NULL_REF, XenError, XenSession


class DevicesMixin:
    """Volume and VIF operations of :class:`~overcast_hv_xen.driver.XenDriver`."""

    # ---- volumes and vifs ------------------------------------------------------------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse

        label = option(host, "xen_host") or host.name
        return Connector(
            host=host.name,
            connection_types=frozenset({"iscsi"}),
            ip=urlparse(str(option(host, "url"))).hostname,
            os_type="xen",
            extra={
                "xen_host": option(host, "xen_host"),
                "initiator": "iqn.2026-01.org.overcast:%s"
                % "".join(c if c.isalnum() or c in ".-" else "-" for c in str(label).lower()),
            },
        )

    # ---- volumes: an iSCSI LUN becomes an SR (introduced, one PBD per pool host) with one VDI --
    @staticmethod
    def _iscsi(host: Host, info: ConnectionInfo) -> dict:
        if info.driver_volume_type != "iscsi":
            raise UnsupportedOperation(
                "xen host '%s' cannot attach %r volumes (it takes iscsi)" % (host.name, info.driver_volume_type)
            )
        d = info.data
        portal, iqn, lun = str(d.get("target_portal", "")), str(d.get("target_iqn", "")), d.get("target_lun")
        if not portal or not iqn or lun is None:
            raise DriverError(
                "xen host '%s': iscsi connection data needs target_portal, target_iqn and "
                "target_lun, got %r" % (host.name, dict(d))
            )
        ip, _, port = portal.rpartition(":") if ":" in portal else (portal, "", "3260")
        key = "%s|%s|%s" % (portal, iqn, lun)
        import uuid as _uuid

        return {
            "sr_uuid": str(_uuid.uuid5(_uuid.NAMESPACE_URL, "overcast-volume:" + key)),
            "volume_id": str(d.get("volume_id", "")),
            "device_config": {"target": ip, "port": port or "3260", "targetIQN": iqn, "LUNid": str(lun)},
        }

    def _volume_sr(self, host: Host, vol: dict) -> str:
        """Find or introduce the volume's SR, plugged on every pool member (so it can migrate)."""
        x = self.session(host)
        try:
            sr = x.call("SR.get_by_uuid", vol["sr_uuid"])
        except XenError as e:
            if e.code != "UUID_INVALID":
                raise
            sr = x.call(
                "SR.introduce",
                vol["sr_uuid"],
                "overcast volume %s" % vol["volume_id"],
                "iSCSI LUN %s" % vol["device_config"]["LUNid"],
                "iscsi",
                "",
                True,
                {"overcast_volume": vol["volume_id"]},
            )
        have = {x.call("PBD.get_host", p): p for p in x.call("SR.get_PBDs", sr)}
        try:
            for h in x.call("host.get_all"):
                pbd = have.get(h) or x.call(
                    "PBD.create", {"host": h, "SR": sr, "device_config": vol["device_config"], "other_config": {}}
                )
                if not x.call("PBD.get_currently_attached", pbd):
                    x.call("PBD.plug", pbd)
            x.call("SR.scan", sr)
        except BaseException:
            self._release_volume_sr(x, sr)
            raise
        return sr

    def _release_volume_sr(self, x: XenSession, sr: str) -> None:
        """Unplug and forget a volume SR nobody uses any more (the data stays on the array)."""
        for vdi in x.call("SR.get_VDIs", sr):
            if x.call("VDI.get_VBDs", vdi):
                return
        for pbd in x.call("SR.get_PBDs", sr):
            if x.call("PBD.get_currently_attached", pbd):
                x.call("PBD.unplug", pbd)
        x.call("SR.forget", sr)

    @staticmethod
    def _userdevice(mountpoint: str, used: set[str]) -> str:
        letter = str(mountpoint or "").rstrip("/")[-1:]
        if letter.isalpha() and letter.lower() != "a":
            n = ord(letter.lower()) - ord("a")
            if str(n) not in used and n < 16:
                return str(n)
        return next(str(i) for i in range(1, 16) if str(i) not in used)

    def _attach(self, host, vm, connection_info: ConnectionInfo, mountpoint: str, plug: bool):
        x = self.session(host)
        vol = self._iscsi(host, connection_info)
        sr = self._volume_sr(host, vol)
        vdis = x.call("SR.get_VDIs", sr)
        if not vdis:
            self._release_volume_sr(x, sr)
            raise DriverError("xen host '%s': the iSCSI LUN shows no disk after SR.scan" % host.name)
        used = {x.call("VBD.get_userdevice", b) for b in x.call("VM.get_VBDs", vm)}
        try:
            vbd = x.call(
                "VBD.create",
                {
                    "VM": vm,
                    "VDI": vdis[0],
                    "userdevice": self._userdevice(mountpoint, used),
                    "bootable": False,
                    "mode": "RW",
                    "type": "Disk",
                    "empty": False,
                    "other_config": {"overcast_volume": vol["volume_id"] or vol["sr_uuid"]},
                    "qos_algorithm_type": "",
                    "qos_algorithm_params": {},
                },
            )
        except BaseException:
            self._release_volume_sr(x, sr)
            raise
        if plug and x.call("VM.get_power_state", vm) == "Running":
            try:
                x.call("VBD.plug", vbd)
            except BaseException:
                x.call("VBD.destroy", vbd)
                self._release_volume_sr(x, sr)
                raise
        return vbd

    @hookimpl
    @translate
    def hv_attach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        self._iscsi(host, connection_info)  # refuse what we cannot attach before touching anything
        self._attach(host, self._find_vm(host, instance), connection_info, mountpoint, plug=True)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        x = self.session(host)
        vol = self._iscsi(host, connection_info)
        vm = self._find_vm(host, instance)
        try:
            sr = x.call("SR.get_by_uuid", vol["sr_uuid"])
        except XenError as e:
            if e.code == "UUID_INVALID":
                return True  # never attached here
            raise
        for vbd in x.call("VM.get_VBDs", vm):
            vdi = x.call("VBD.get_VDI", vbd)
            if vdi != NULL_REF and x.call("VDI.get_SR", vdi) == sr:
                if x.call("VBD.get_currently_attached", vbd):
                    x.async_call("VBD.unplug", vbd, timeout=self._wait(host))
                x.call("VBD.destroy", vbd)
        self._release_volume_sr(x, sr)
        return True

    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        existing = {
            x.call("VIF.get_record", v)["other_config"].get("overcast_port"): v for v in x.call("VM.get_VIFs", vm)
        }
        used = {int(x.call("VIF.get_device", v)) for v in existing.values()}
        running = x.call("VM.get_power_state", vm) == "Running"
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("xen host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            if vif.port_id in existing:
                continue
            dev = next(i for i in range(64) if i not in used)
            used.add(dev)
            ref = self._create_vif(host, vm, vif, dev)
            if running:
                x.call("VIF.plug", ref)
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance, required=False)
        if vm is None:
            return True
        ports = {v.port_id for v in network_info}
        for ref in x.call("VM.get_VIFs", vm):
            rec = x.call("VIF.get_record", ref)
            if rec["other_config"].get("overcast_port") in ports:
                if rec["currently_attached"]:
                    x.call("VIF.unplug", ref)
                x.call("VIF.destroy", ref)
        return True
