"""The ``esx`` driver's devices: VMDK volumes on a datastore the host sees, and NICs."""

from __future__ import annotations

from collections.abc import Sequence

from overcast.errors import DriverError, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import ConnectionInfo, Connector, Host, Instance, VifDetails
from overcast_hv_esx.base import VIF_TYPE, option, translate


class DevicesMixin:
    """Volume and VIF operations of :class:`~overcast_hv_esx.driver.EsxDriver`."""

    # ---- volumes: VMDK files on a datastore the host sees ------------------------------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse

        return Connector(
            host=host.name,
            connection_types=frozenset({"vmdk"}),
            ip=urlparse(str(option(host, "url"))).hostname,
            os_type="vmware",
            extra={"esx_host": option(host, "esx_host")},
        )

    def _volume_path(self, host: Host, info: ConnectionInfo) -> str:
        if info.driver_volume_type != "vmdk":
            raise UnsupportedOperation(
                "esx host '%s' cannot attach %r volumes (it takes vmdk)" % (host.name, info.driver_volume_type)
            )
        path = str(info.data.get("path") or info.data.get("datastore_path") or "")
        if not (path.startswith("[") and "] " in path and path.endswith(".vmdk")):
            raise DriverError(
                "esx host '%s': vmdk connection data needs 'path' like '[ds] dir/x.vmdk', got %r"
                % (host.name, dict(info.data))
            )
        return path

    def _attach(self, host: Host, vm, info: ConnectionInfo) -> None:
        from pyVmomi import vim

        path = self._volume_path(host, info)
        used = {
            d.unitNumber
            for d in vm.config.hardware.device
            if getattr(d, "controllerKey", None) == 1000 and d.unitNumber is not None
        }
        unit = next(u for u in range(1, 16) if u not in used and u != 7)
        disk = vim.vm.device.VirtualDisk(
            key=-1,
            unitNumber=unit,
            controllerKey=1000,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=path, diskMode="independent_persistent"),
        )
        spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=disk)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    @hookimpl
    @translate
    def hv_attach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        self._volume_path(host, connection_info)  # refuse what we cannot attach before looking anything up
        self._attach(host, self._vm(host, instance), connection_info)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        from pyVmomi import vim

        path = self._volume_path(host, connection_info)
        vm = self._vm(host, instance)
        for d in vm.config.hardware.device:
            if isinstance(d, vim.vm.device.VirtualDisk) and str(d.backing.fileName) == path:
                spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d)])
                self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
        return True

    # ---- vifs ---------------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        from pyVmomi import vim

        vm = self._vm(host, instance)
        h = vm.runtime.host
        have = {
            getattr(d, "externalId", None)
            for d in vm.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualEthernetCard)
        }
        changes = []
        for i, vif in enumerate(network_info):
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("esx host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            if vif.port_id not in have:
                changes.append(
                    vim.vm.device.VirtualDeviceSpec(operation="add", device=self._nic(host, h, vif, -200 - i))
                )
        if changes:
            self._wait(host, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=changes)), "ReconfigVM_Task")
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        from pyVmomi import vim

        vm = self._vm(host, instance, required=False)
        if vm is None:
            return True
        ports = {v.port_id for v in network_info}
        nics = [
            d
            for d in vm.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualEthernetCard)
            and (
                getattr(d, "externalId", None) in ports
                or str(getattr(d, "macAddress", "")).lower() in {v.mac_address.lower() for v in network_info}
            )
        ]
        if nics:
            spec = vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d) for d in nics]
            )
            self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
        return True
