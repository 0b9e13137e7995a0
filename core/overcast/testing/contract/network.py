"""The network driver contract (``net_*``)."""

from __future__ import annotations

import uuid

import pytest

from overcast.hookspecs import NetworkHooks
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.types import Backend, FixedIp, IpAllocationPool, Network, Port, Router, Subnet, VifDetails


def sample_network(segmentation_id: int = 4242) -> Network:
    net_id = str(uuid.uuid4())
    subnet = Subnet(
        id=str(uuid.uuid4()),
        network_id=net_id,
        cidr="10.231.0.0/24",
        gateway_ip="10.231.0.1",
        allocation_pools=(IpAllocationPool("10.231.0.10", "10.231.0.200"),),
    )
    return Network(
        id=net_id,
        name="contract-net",
        project_id="contract-project",
        network_type="vxlan",
        segmentation_id=segmentation_id,
        mtu=1450,
        subnets=(subnet,),
    )


def sample_port(network: Network, ip: str = "10.231.0.10") -> Port:
    return Port(
        id=str(uuid.uuid4()),
        network_id=network.id,
        mac_address="fa:16:3e:00:23:01",
        project_id=network.project_id,
        fixed_ips=(FixedIp(network.subnets[0].id, ip),),
    )


class NetworkContract:
    """Provide ``driver``, ``target`` (the ``[network]`` :class:`Backend`) and optionally
    ``host_name`` (the host whose plumbing is made; default ``contract-host``)."""

    @pytest.fixture
    def host_name(self) -> str:
        return "contract-host"

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: NetworkHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_bind_port_answers_vif_details_or_none(self, driver: NetworkHooks, target: Backend, host_name: str) -> None:
        needs(driver, "bind_port")
        port = sample_port(sample_network())
        vif = driver.bind_port(backend=target, host=host_name, port=port)
        assert vif is None or (isinstance(vif, VifDetails) and vif.port_id == port.id and vif.vif_type)

    def test_network_setup_is_idempotent_and_teardown_complete(
        self, driver: NetworkHooks, target: Backend, host_name: str
    ) -> None:
        needs(driver, "setup_network", "teardown_network", "list_resources")
        before = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items()}
        net = sample_network()
        assert driver.setup_network(backend=target, host=host_name, network=net) is True
        assert driver.setup_network(backend=target, host=host_name, network=net) is True
        during = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items()}
        assert during != before, "setting up a network must create something"
        assert driver.teardown_network(backend=target, host=host_name, network=net) is True
        after = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
        assert after == {k: v for k, v in before.items() if v}, "teardown must leave nothing behind"

    def test_dhcp_follows_the_ports(self, driver: NetworkHooks, target: Backend, host_name: str) -> None:
        needs(driver, "setup_network", "setup_dhcp", "teardown_dhcp", "teardown_network")
        net = sample_network()
        driver.setup_network(backend=target, host=host_name, network=net)
        try:
            assert driver.setup_dhcp(backend=target, host=host_name, network=net, ports=[sample_port(net)]) is True
            ports = [sample_port(net, "10.231.0.11"), sample_port(net, "10.231.0.12")]
            assert driver.setup_dhcp(backend=target, host=host_name, network=net, ports=ports) is True
            assert driver.teardown_dhcp(backend=target, host=host_name, network=net) is True
        finally:
            driver.teardown_network(backend=target, host=host_name, network=net)

    def test_router_setup_and_teardown(self, driver: NetworkHooks, target: Backend, host_name: str) -> None:
        needs(driver, "setup_router", "teardown_router", "setup_network", "teardown_network")
        net = sample_network()
        driver.setup_network(backend=target, host=host_name, network=net)
        router = Router(id=str(uuid.uuid4()), project_id=net.project_id)
        try:
            assert driver.setup_router(backend=target, host=host_name, router=router) is True
            assert driver.setup_router(backend=target, host=host_name, router=router) is True
            assert driver.teardown_router(backend=target, host=host_name, router=router) is True
        finally:
            driver.teardown_network(backend=target, host=host_name, network=net)

    def test_plug_namespace_and_unplug_leave_nothing(
        self, driver: NetworkHooks, target: Backend, host_name: str
    ) -> None:
        needs(driver, "plug_namespace", "unplug_namespace", "setup_network", "teardown_network", "list_resources")
        net = sample_network()
        port = sample_port(net)
        namespace = f"ocn-contract-{uuid.uuid4().hex[:8]}"
        before = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
        try:
            device = driver.plug_namespace(backend=target, host=host_name, network=net, port=port, namespace=namespace)
            assert isinstance(device, str) and device
            again = driver.plug_namespace(backend=target, host=host_name, network=net, port=port, namespace=namespace)
            assert again == device
        finally:
            assert driver.unplug_namespace(backend=target, host=host_name, port=port, namespace=namespace) is True
            driver.teardown_network(backend=target, host=host_name, network=net)
        assert driver.unplug_namespace(backend=target, host=host_name, port=port, namespace=namespace) is True
        after = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
        assert after == before, "unplugging must leave nothing behind"
