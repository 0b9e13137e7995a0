"""What compute uses: a port for a server, its binding (VifDetails), addresses, release;
and the agent re-creating its host's plumbing from the controller's state on restart."""

from __future__ import annotations

from typing import Any

from overcast.agent.network import NetworkAgent


def tenant_net(svc: Any, ctx: Any, cidr: str = "10.0.0.0/24") -> tuple[dict[str, Any], dict[str, Any]]:
    net = svc.networks.create(ctx, {"network": {"name": "tenant"}})
    sub = svc.subnets.create(ctx, {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}})
    return net, sub


def test_allocate_bind_addresses_and_deallocate(svc: Any, alice: Any, fake_drivers: Any) -> None:
    net, sub = tenant_net(svc, alice)
    port = svc.allocate_port_for_instance(alice, "inst-1", "fake1", network_id=net["id"])
    assert port.device_id == "inst-1" and port.binding_host == "fake1" and port.fixed_ips[0].subnet_id == sub["id"]
    vif = svc.bind_port(alice, port.id, "fake1")
    assert vif.vif_type == "bridge" and vif.port_id == port.id and vif.mac_address == port.mac_address
    shown = svc.ports.get(alice, port.id)
    assert shown["binding:vif_type"] == "bridge" and shown["status"] == "ACTIVE" and shown["binding:host_id"] == "fake1"
    state = fake_drivers.network.state["fake1"]
    assert net["id"] in state["networks"]
    assert state["ports"][port.id].security_group_rules  # the default group's rules reached the host
    leases = {p.id for p in state["dhcp"][net["id"]]}
    assert port.id in leases
    addresses = svc.get_instance_addresses("inst-1")
    assert addresses == {
        "tenant": [
            {
                "version": 4,
                "addr": port.fixed_ips[0].ip_address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
            }
        ]
    }
    assert [v.port_id for v in svc.get_instance_vifs("inst-1")] == [port.id]
    svc.deallocate_ports(alice, "inst-1")
    assert port.id not in state["ports"]
    assert svc.get_instance_addresses("inst-1") == {}
    assert port.id not in {p.id for p in state["dhcp"][net["id"]]}


def test_users_own_port_is_unbound_not_deleted(svc: Any, alice: Any) -> None:
    net, _ = tenant_net(svc, alice)
    mine = svc.ports.create(alice, {"port": {"network_id": net["id"], "name": "keep"}})
    port = svc.allocate_port_for_instance(alice, "inst-2", "fake1", port_id=mine["id"])
    assert port.id == mine["id"] and port.device_id == "inst-2"
    svc.bind_port(alice, port.id, "fake1")
    svc.deallocate_ports(alice, "inst-2")
    kept = svc.ports.get(alice, mine["id"])
    assert kept["device_id"] == "" and kept["binding:host_id"] == "" and kept["binding:vif_type"] == "unbound"


def test_another_projects_network_is_not_usable(svc: Any, alice: Any, bob: Any) -> None:
    import pytest

    from overcast.errors import NotFound

    net, _ = tenant_net(svc, alice)
    with pytest.raises(NotFound):
        svc.allocate_port_for_instance(bob, "inst-3", "fake1", network_id=net["id"])


def test_agent_restart_recreates_everything(
    net_runtime: Any, svc: Any, alice: Any, boss: Any, fake_drivers: Any
) -> None:
    net, sub = tenant_net(svc, alice)
    ext = svc.networks.create(
        boss,
        {
            "network": {
                "name": "pub",
                "router:external": True,
                "provider:network_type": "flat",
                "provider:physical_network": "public",
            }
        },
    )
    svc.subnets.create(boss, {"subnet": {"network_id": ext["id"], "cidr": "172.24.4.0/24", "enable_dhcp": False}})
    router = svc.routers.create(alice, {"router": {"name": "r", "external_gateway_info": {"network_id": ext["id"]}}})
    svc.routers.add_interface(alice, router["id"], {"subnet_id": sub["id"]})
    port = svc.allocate_port_for_instance(alice, "inst-4", "fake1", network_id=net["id"])
    svc.bind_port(alice, port.id, "fake1")
    before = {k: set(v) for k, v in fake_drivers.network.state["fake1"].items()}
    fake_drivers.network.state["fake1"].clear()  # the host rebooted: nothing is plumbed
    NetworkAgent(net_runtime, "fake1").start()
    after = {k: set(v) for k, v in fake_drivers.network.state["fake1"].items()}
    assert after == before
    assert (
        after["routers"] == {router["id"]} and port.id in after["ports"] and {net["id"], ext["id"]} <= after["networks"]
    )


def test_controller_start_pushes_state(net_runtime: Any, svc: Any, alice: Any, fake_drivers: Any) -> None:
    net, _ = tenant_net(svc, alice)
    fake_drivers.network.state["fake1"].clear()
    svc.close()
    svc.start()
    assert net["id"] in fake_drivers.network.state["fake1"]["networks"]
    assert net["id"] in fake_drivers.network.state["fake1"]["dhcp"]


def test_rebinding_on_another_host_moves_the_plumbing(
    overcast_config: Any, overcast_pm: Any, fake_drivers: Any, alice: Any
) -> None:
    """A migration binds the port on the destination: the source host keeps nothing of it."""
    from overcast.agent import start_local_agents
    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    config = parse_config(fake_config_data(overcast_config.data_dir, hosts=2), overcast_config.path)
    runtime = build_runtime(config, pm=overcast_pm)
    try:
        start_local_agents(runtime)
        svc = runtime.network
        svc.plumbing.strict = True
        net, _ = tenant_net(svc, alice)
        port = svc.allocate_port_for_instance(alice, "inst-m", "fake2", network_id=net["id"])
        svc.bind_port(alice, port.id, "fake2")
        assert (
            port.id in fake_drivers.network.state["fake2"]["ports"]
            and net["id"] in fake_drivers.network.state["fake2"]["networks"]
        )
        svc.bind_port(alice, port.id, "fake1")  # fake1 is also the network host (DHCP)
        assert port.id in fake_drivers.network.state["fake1"]["ports"]
        assert port.id not in fake_drivers.network.state["fake2"]["ports"]
        assert net["id"] not in fake_drivers.network.state["fake2"]["networks"]
    finally:
        runtime.close()
