"""The ``ip`` and ``ip6`` server list filters, as Nova's ``_ip_filter``."""

from overcast.compute.servers import _filter_re, _ip_matches

from .conftest import IMAGE_ID

ADDRS = {
    "private": [
        {"version": 4, "addr": "10.1.1.10", "OS-EXT-IPS:type": "fixed"},
        {"version": 6, "addr": "fd00::10", "OS-EXT-IPS:type": "fixed"},
        {"version": 4, "addr": "172.24.4.9", "OS-EXT-IPS:type": "floating"},
    ]
}


def _match(**params: str) -> bool:
    return _ip_matches(ADDRS, {4: _filter_re(params, "ip"), 6: _filter_re(params, "ip6")})


def test_ip_matches_fixed_addresses_from_their_start() -> None:
    assert _match(ip="10.1.1.1")  # a prefix: 10.1.1.1 finds 10.1.1.10, as in Nova
    assert _match(ip=r"10\.1\.1\.10$") and not _match(ip=r"10\.1\.1\.1$")
    assert not _match(ip="1.1")  # anchored at the start
    assert not _match(ip="172.24")  # floating addresses are not filtered on
    assert _match(ip6="fd00::") and not _match(ip6="10.1")  # ip6 looks at IPv6 addresses only


def test_list_by_ip(api, api_flavor, compute) -> None:
    body = {"server": {"name": "a", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    assert api("POST", "/servers", json=body).status_code == 202
    compute.runner.wait_idle()
    assert len(api("GET", "/servers").json()["servers"]) == 1
    assert api("GET", "/servers?ip=10.").json()["servers"] == []  # no address: filtered out, not ignored
    assert api("GET", "/servers?ip=[").status_code == 400
