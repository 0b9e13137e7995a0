"""The linuxbridge rig: a cloud whose network backend is this driver on real kernel networking
(used by the ``rig`` fixture in ``conftest.py`` and by tests that build their own runtime)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class Rig:
    """A cloud whose network backend is this driver on real kernel networking: the service,
    an admin and two projects, and helpers to make guests bound the way compute binds them."""

    def __init__(self, runtime: Any, workdir: Path) -> None:
        from overcast.context import RequestContext

        self.runtime = runtime
        self.svc = runtime.network
        self.workdir = workdir
        self.host = next(iter(runtime.drivers.hosts))
        self.admin = RequestContext(
            user_id="admin", project_id="admin-project", roles=frozenset({"admin", "member", "reader"})
        )
        self.alice = RequestContext(user_id="alice", project_id="alice-project", roles=frozenset({"member", "reader"}))
        self.bob = RequestContext(user_id="bob", project_id="bob-project", roles=frozenset({"member", "reader"}))
        self.namespaces: list[Any] = []

    def network(self, ctx: Any, cidr: str, name: str = "net") -> tuple[dict[str, Any], dict[str, Any]]:
        net = self.svc.networks.create(ctx, {"network": {"name": name}})
        sub = self.svc.subnets.create(ctx, {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}})
        return net, sub

    def guest(self, ctx: Any, network_id: str, instance: str, **port: Any) -> tuple[Any, Any]:
        """A port made and bound as compute does it, and a namespace plugged as a hypervisor would."""
        from guests import Guest

        if port:
            made = self.svc.ports.create(ctx, {"port": {"network_id": network_id, **port}})
            contract = self.svc.allocate_port_for_instance(ctx, instance, self.host, port_id=made["id"])
        else:
            contract = self.svc.allocate_port_for_instance(ctx, instance, self.host, network_id=network_id)
        vif = self.svc.bind_port(ctx, contract.id, self.host)
        guest = Guest(self.workdir, vif)
        self.namespaces.append(guest)
        return contract, guest

    def outside(self, bridge: str, cidr: str) -> Any:
        from guests import Namespace

        world = Namespace(self.workdir, "outside")
        world.plug(f"octw{os.getpid() % 100000}{len(self.namespaces)}", bridge)
        world.run("ip", "addr", "add", cidr, "dev", "eth0")
        self.namespaces.append(world)
        return world

    def resources(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.runtime.agents.network(self.host).list_resources().items() if v}

    def close(self) -> None:
        for ns in self.namespaces:
            ns.close()


def _scrub(runtime: Any) -> None:
    """Remove whatever a failed test left, through the driver, so later tests start clean."""
    from overcast.context import system_context

    svc, ctx = runtime.network, system_context()
    for fip in svc.floating_ips.list(ctx):
        svc.floating_ips.delete(ctx, fip["id"])
    for router in svc.routers.list(ctx):
        for port in svc.ports.list(ctx):
            if port["device_id"] == router["id"] and port["device_owner"] == "network:router_interface":
                svc.routers.remove_interface(ctx, router["id"], {"port_id": port["id"]})
        svc.routers.update(ctx, router["id"], {"router": {"external_gateway_info": None}})
        svc.routers.delete(ctx, router["id"])
    for port in svc.ports.list(ctx):
        if not port["device_owner"].startswith("network:"):
            svc.ports.delete(ctx, port["id"], internal=True)
    for net in svc.networks.list(ctx):
        svc.networks.delete(ctx, net["id"])
