"""A deleted port's lease must not keep its address from the next port that IPAM gives it to
(dnsmasq answered "no address available" to the new MAC; found by Tempest, which reuses the
first address of its small subnets)."""

from __future__ import annotations

from pathlib import Path

from overcast_net_linuxbridge.dhcp import stale_leases


def test_a_lease_of_a_mac_and_address_no_longer_hosted_is_stale(tmp_path: Path) -> None:
    leases = tmp_path / "leases"
    leases.write_text(
        "1796665796 fa:16:3e:02:30:ef 10.100.0.3 host-10-100-0-3 01:fa:16:3e:02:30:ef\n"
        "1796665797 fa:16:3e:aa:bb:cc 10.100.0.4 host-10-100-0-4 *\n"
    )
    hosts = ["fa:16:3e:75:2a:7f,host-10-100-0-3,10.100.0.3", "FA:16:3E:AA:BB:CC,host-10-100-0-4,10.100.0.4"]
    assert stale_leases(leases, hosts) == [
        "1796665796 fa:16:3e:02:30:ef 10.100.0.3 host-10-100-0-3 01:fa:16:3e:02:30:ef"
    ]
    assert stale_leases(tmp_path / "none", hosts) == []
