"""Every contract dataclass survives the bus's JSON encoding unchanged."""

from __future__ import annotations

import json

from overcast import types as t


def sample_values() -> list:
    flavor = t.Flavor("1", "tiny", 1, 64, 1, extra_specs={"hw:cpu_policy": "shared"})
    image = t.ImageRef("i", "cirros", "qcow2", properties={"hypervisor_type": "kvm"})
    subnet = t.Subnet(
        "s", "n", "10.0.0.0/24", gateway_ip="10.0.0.1", allocation_pools=(t.IpAllocationPool("10.0.0.2", "10.0.0.9"),)
    )
    network = t.Network("n", "net", "p", subnets=(subnet,))
    port = t.Port(
        "pt",
        "n",
        "fa:16:3e:00:00:01",
        fixed_ips=(t.FixedIp("s", "10.0.0.5"),),
        allowed_address_pairs=(("10.0.0.0/24", "fa:16:3e:00:00:02"),),
    )
    conn = t.ConnectionInfo("file", {"path": "/v/1", "format": "raw"})
    return [
        t.Instance("u", "oc-u", "vm", "p", flavor, image=image, metadata={"a": "b"}),
        t.HvCapabilities(
            "kvm", frozenset({"qcow2", "raw"}), frozenset({"file"}), frozenset({"bridge"}), live_migration=True
        ),
        t.HostResources(4, 8192, 100, cpu_info={"model": "x"}),
        t.InstanceInfo(t.PowerState.PAUSED, 1, 2, 3, 4, "dom-1"),
        t.BlockDevice("v", "/dev/vdb", conn),
        t.Connector("node1", frozenset({"file", "block"}), ip="10.0.0.1"),
        t.Router(
            "r",
            "p",
            external_network=network,
            interfaces=(t.RouterInterface(subnet, port),),
            floating_ips=(t.FloatingIp("f", "172.24.4.10", "10.0.0.5", "pt"),),
        ),
        t.VifDetails("bridge", "pt", "fa:16:3e:00:00:01", details={"bridge": "ocbr1"}),
        t.ObjectInfo("a/b", 3, "d41d8cd98f00b204e9800998ecf8427e", metadata={"k": "v"}),
        t.ScheduleRequest("u", "p", flavor, image=image, hints={"group": "g"}, ignore_hosts=("n2",)),
        t.Backend(t.DriverKind.VOLUME, "fast", "lvm", {"volume_group": "vg0"}),
    ]


def test_round_trip_through_json() -> None:
    for value in sample_values():
        wire = json.loads(json.dumps(t.to_dict(value)))
        assert t.from_dict(wire) == value, type(value).__name__
