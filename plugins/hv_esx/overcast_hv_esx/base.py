"""What every ``esx`` driver operation starts from: the config options, vSphere faults turned
into Overcast errors (:func:`translate`), one session per endpoint, and finding the Overcast
host's HostSystem, datacenter, datastore and VMs.

pyVmomi (~12 MiB) is imported by each function that needs it, on first use, not with the
plugin: every ``overcast`` process loads every installed plugin, and one with no ESX host must
not pay for it (``tests/test_esx_lazy.py`` pins it)."""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING, Any

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound, UnsupportedOperation
from overcast.remote import EndpointSessions, host_option, translate_errors
from overcast.types import ConfigOption, DriverKind, Host, Instance, InstanceInfo, PowerState
from overcast_hv_esx.vim import VimError, VimSession, VimUnreachable

if TYPE_CHECKING:
    from pyVmomi import vim

NAME = "esx"
VIF_TYPE = "vmware"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True, help="vCenter or ESXi SDK URL, e.g. https://vc.example/sdk"),
    ConfigOption(_HV, NAME, "username", str, required=True, help="vSphere user"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="its password"),
    ConfigOption(_HV, NAME, "esx_host", str, "", help="name of the HostSystem this Overcast host stands for"),
    ConfigOption(_HV, NAME, "datastore", str, "", help="datastore for instance disks (default: the host's first)"),
    ConfigOption(_HV, NAME, "network", str, "", help="port group for NICs whose binding names none"),
    ConfigOption(_HV, NAME, "verify_tls", bool, True, help="verify the endpoint's certificate"),
    ConfigOption(_HV, NAME, "timeout", float, 600.0, help="seconds to wait for one vSphere task"),
    ConfigOption(_HV, NAME, "qemu_img", str, "qemu-img", help="qemu-img binary used to rewrite VMDKs"),
]

POWER_STATES = {"poweredOn": PowerState.RUNNING, "poweredOff": PowerState.SHUTDOWN, "suspended": PowerState.SUSPENDED}


def not_found_faults() -> tuple[type, ...]:
    """The faults that mean "no such object"."""
    from pyVmomi import vim, vmodl

    return (vmodl.fault.ManagedObjectNotFound, vim.fault.NotFound, vim.fault.FileNotFound)


def option(host: Host, key: str) -> Any:
    return host_option(host, OPTIONS, key)


def _overcast_error(exc: Exception, where: str) -> Exception | None:
    """vSphere faults and unreachable endpoints as Overcast errors naming the host."""
    if isinstance(exc, VimUnreachable):
        return BackendUnavailable("%s: %s" % (where, exc))
    from pyVmomi import vim, vmodl

    conflict = (
        vim.fault.InvalidState,
        vim.fault.TaskInProgress,
        vim.fault.ToolsUnavailable,
        vim.fault.InsufficientResourcesFault,
        vim.fault.FileAlreadyExists,
        vim.fault.VmConfigFault,
    )
    unsupported = (vmodl.fault.MethodNotFound, vmodl.fault.NotImplemented, vmodl.fault.NotSupported)
    if isinstance(exc, (VimError, vmodl.MethodFault)):
        e = exc if isinstance(exc, VimError) else VimError(exc)  # a fault raised by a direct call
        f = e.fault
        if isinstance(f, (vim.fault.InvalidLogin, vim.fault.NotAuthenticated)):
            return BackendUnavailable("%s: vSphere refused the credentials (%s)" % (where, e))
        if isinstance(f, not_found_faults()):
            return NotFound("%s: %s" % (where, e))
        if isinstance(f, conflict):
            return Conflict("%s: %s" % (where, e))
        if isinstance(f, unsupported):
            return UnsupportedOperation("%s: %s" % (where, e))
        return DriverError("%s: %s" % (where, e))
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return BackendUnavailable("%s: vSphere did not answer: %s" % (where, exc))
    return None


translate = translate_errors(NAME, _overcast_error)


class EsxBase:
    """Sessions per endpoint and the lookups the operations share."""

    def __init__(self) -> None:
        self._sessions: EndpointSessions[VimSession] = EndpointSessions(
            lambda host, url, user, password: VimSession(
                url, user, password, verify_tls=bool(option(host, "verify_tls"))
            )
        )

    # ---- plumbing ------------------------------------------------------------------------
    def session(self, host: Host) -> VimSession:
        return self._sessions.get(
            host, str(option(host, "url")), str(option(host, "username")), str(option(host, "password"))
        )

    def close(self) -> None:
        self._sessions.close()

    def _timeout(self, host: Host) -> float:
        return float(option(host, "timeout"))

    def _wait(self, host: Host, task, call: str):
        return self.session(host).wait(task, call, self._timeout(host))

    def _host(self, host: Host) -> vim.HostSystem:
        from pyVmomi import vim

        s = self.session(host)
        name = option(host, "esx_host")

        def find():
            hosts = s.objects(vim.HostSystem)
            if not name:
                if not hosts:
                    raise DriverError("esx host '%s': the endpoint has no ESXi host" % host.name)
                return hosts[0]
            for h in hosts:
                if h.name == name:
                    return h
            raise DriverError("esx host '%s': the endpoint has no ESXi host named %r" % (host.name, name))

        return s.run(find, "find host")

    def _datacenter(self, obj) -> vim.Datacenter:
        from pyVmomi import vim

        while obj is not None and not isinstance(obj, vim.Datacenter):
            obj = obj.parent
        return obj

    def _datastore(self, host: Host, h: vim.HostSystem) -> vim.Datastore:
        name = option(host, "datastore")
        for ds in h.datastore:
            if not name or ds.name == name:
                return ds
        raise DriverError("esx host '%s': no datastore %r on %s" % (host.name, name, h.name))

    @staticmethod
    def _mark(vm) -> str:
        for opt in vm.config.extraConfig or []:
            if opt.key == "overcast.migration":
                return str(opt.value)
        return ""

    def _vm(self, host: Host, instance: Instance, required: bool = True) -> vim.VirtualMachine | None:
        """The instance's VM on this host. During a cold migration two VMs carry the name (the
        stopped source and its clone on the destination); each Overcast host sees its own."""
        s = self.session(host)

        def find():
            vms = s.vms_named(instance.name)
            if not vms:
                return None
            h = self._host(host)
            for vm in vms:
                if vm.runtime.host == h:
                    return vm
            # moved by DRS or an operator: still ours, unless it is a migration's source
            if len(vms) == 1 and self._mark(vms[0]) != "source":
                return vms[0]
            return None

        vm = s.run(find, "find VM")
        if vm is None and required:
            raise NotFound("instance %s not found on esx host '%s'" % (instance.name, host.name))
        return vm

    def _set_mark(self, host: Host, vm, value: str) -> None:
        from pyVmomi import vim

        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="overcast.migration", value=value)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    @staticmethod
    def _info(vm: vim.VirtualMachine) -> InstanceInfo:
        cfg = vm.summary.config
        state = POWER_STATES.get(str(vm.runtime.powerState), PowerState.NOSTATE)
        mem = int(cfg.memorySizeMB or 0) * 1024
        return InstanceInfo(
            state=state,
            max_mem_kb=mem,
            mem_kb=mem if state == PowerState.RUNNING else 0,
            num_cpu=int(cfg.numCpu or 0),
            internal_id=str(cfg.instanceUuid or cfg.uuid or vm._moId),
        )
