"""The ``hyperv`` driver's devices: SMB volumes (VHD/VHDX files on a share, as Cinder's SMB
driver exports them) and network adapters on virtual switches."""

from __future__ import annotations

import os
from collections.abc import Sequence

from overcast.errors import DriverError, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import ConnectionInfo, Connector, Host, Instance, VifDetails
from overcast_hv_hyperv.base import VIF_TYPE, option, translate
from overcast_hv_hyperv.powershell import Pattern, Script


class DevicesMixin:
    """Volume and VIF operations of :class:`~overcast_hv_hyperv.driver.HyperVDriver`."""

    # ---- volumes (SMB: a VHD/VHDX file on a share, as Cinder's SMB driver exports) ----------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse

        return Connector(
            host=host.name,
            connection_types=frozenset({"smbfs"}),
            ip=urlparse(str(option(host, "url"))).hostname,
            os_type="windows",
        )

    def _check_volume(self, host: Host, info: ConnectionInfo) -> str:
        if info.driver_volume_type != "smbfs":
            raise UnsupportedOperation(
                "hyperv host '%s' cannot attach %r volumes (it takes smbfs)" % (host.name, info.driver_volume_type)
            )
        export = str(info.data.get("export", "")).replace("/", "\\").rstrip("\\")
        name = str(info.data.get("name", ""))
        fmt = str(info.data.get("format", os.path.splitext(name)[1].lstrip(".") or "vhdx"))
        if not export.startswith("\\\\") or not name or "\\" in name or "/" in name:
            raise DriverError("hyperv host '%s': bad smbfs connection data %r" % (host.name, dict(info.data)))
        if fmt not in ("vhd", "vhdx"):
            raise UnsupportedOperation("hyperv host '%s' cannot attach %s volume files" % (host.name, fmt))
        return "%s\\%s" % (export, name)

    def _attach(self, host: Host, instance: Instance, info: ConnectionInfo) -> None:
        path = self._check_volume(host, info)
        self._run(
            host,
            Script().cmd(
                "Add-VMHardDiskDrive",
                VMName=Pattern(instance.name),
                ControllerType="SCSI",
                ControllerNumber=0,
                Path=path,
            ),
        )

    @hookimpl
    @translate
    def hv_attach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        self._vm(host, instance)
        self._attach(host, instance, connection_info)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        path = self._check_volume(host, connection_info)
        drives = self.client(host).json(
            Script()
            .json(
                "Get-VMHardDiskDrive",
                select=["Path", "ControllerType", "ControllerNumber", "ControllerLocation"],
                VMName=Pattern(instance.name),
            )
            .text()
        )
        for d in drives:
            if str(d["Path"]).lower() == path.lower():
                self._run(
                    host,
                    Script().cmd(
                        "Remove-VMHardDiskDrive",
                        VMName=Pattern(instance.name),
                        ControllerType="IDE" if int(d["ControllerType"]) == 0 else "SCSI",
                        ControllerNumber=int(d["ControllerNumber"]),
                        ControllerLocation=int(d["ControllerLocation"]),
                    ),
                )
                return True
        return True  # not attached: nothing to do

    # ---- vifs ---------------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        name = Pattern(instance.name)
        nics = self.client(host).json(
            Script().json("Get-VMNetworkAdapter", select=["Name", "SwitchName"], VMName=name).text()
        )
        have = {n["Name"]: n for n in nics}
        s = Script()
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("hyperv host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            sw = self._switch(host, vif)
            if vif.port_id in have:
                if have[vif.port_id]["SwitchName"] != sw:
                    s.cmd("Connect-VMNetworkAdapter", VMName=name, Name=Pattern(vif.port_id), SwitchName=sw)
            else:
                s.cmd(
                    "Add-VMNetworkAdapter",
                    VMName=name,
                    Name=vif.port_id,
                    SwitchName=sw,
                    StaticMacAddress=vif.mac_address.replace(":", "").upper(),
                )
        if len(s.lines) > 1:
            self._run(host, s)
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        if not self._exists(host, instance):
            return True
        s = Script()
        for vif in network_info:
            s.cmd("Remove-VMNetworkAdapter", VMName=Pattern(instance.name), Name=Pattern(vif.port_id))
        if len(s.lines) > 1:
            self._run(host, s)
        return True
