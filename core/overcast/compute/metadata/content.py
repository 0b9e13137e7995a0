"""What a guest learns about itself: Nova's metadata, as files.

One function, :func:`files`, turns a :class:`GuestMetadata` into every path Nova serves
(``openstack/<version>/…`` and the EC2 ``<version>/meta-data/…`` tree). The metadata API
answers from it and the config drive is written from it, so both carry the same content.
Versions and file names are Nova's (``nova/api/metadata/base.py``): a guest's cloud-init
asks for the newest version it knows and falls back.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Nova's OpenStack metadata versions, oldest first
OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
)
#: the first version with each file (Nova's ``OPENSTACK_VERSIONS`` feature gates)
NETWORK_DATA_SINCE = "2015-10-15"
VENDOR_DATA2_SINCE = "2016-10-06"
VENDOR_DATA_SINCE = "2013-10-17"
#: Nova's EC2 versions, oldest first
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)


@dataclass(frozen=True)
class KeyPair:
    name: str
    public_key: str
    type: str = "ssh"


@dataclass(frozen=True)
class GuestAddress:
    """One fixed address of one port, with its subnet's settings."""

    address: str
    cidr: str
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination cidr, nexthop)


@dataclass(frozen=True)
class GuestLink:
    """One port of the guest: its interface and addresses."""

    port_id: str
    network_id: str
    mac_address: str
    mtu: int
    vif_type: str = "bridge"
    addresses: tuple[GuestAddress, ...] = ()
    floating_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuestMetadata:
    """Everything the metadata files are made of (built by :mod:`.source`)."""

    uuid: str
    name: str
    project_id: str
    availability_zone: str
    image_id: str = ""
    flavor_name: str = ""
    launch_index: int = 0
    reservation_id: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)
    key: KeyPair | None = None
    user_data: bytes | None = None
    links: tuple[GuestLink, ...] = ()
    security_groups: tuple[str, ...] = ()
    vendor_data: Mapping[str, Any] = field(default_factory=dict)
    vendor_data2: Mapping[str, Any] = field(default_factory=dict)


def hostname(display_name: str) -> str:
    """Nova's ``sanitize_hostname``: lower-case letters, digits and dashes, at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", display_name.lower().replace("_", "-")).strip("-")
    return name[:63].rstrip("-") or "server"


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True).encode()


def meta_data(md: GuestMetadata) -> dict[str, Any]:
    """``openstack/<version>/meta_data.json``."""
    data: dict[str, Any] = {
        "uuid": md.uuid,
        "name": md.name,
        "hostname": hostname(md.name),
        "launch_index": md.launch_index,
        "availability_zone": md.availability_zone,
        "project_id": md.project_id,
        "meta": dict(md.meta),
        "devices": [],  # Nova lists tagged devices only; Overcast has no device tags
    }
    if md.key is not None:
        data["public_keys"] = {md.key.name: md.key.public_key}
        data["keys"] = [{"name": md.key.name, "type": md.key.type, "data": md.key.public_key}]
    return data


def _link_name(link: GuestLink) -> str:
    return f"tap{link.port_id[:11]}"


def network_data(md: GuestMetadata) -> dict[str, Any]:
    """``network_data.json`` in Nova's format: links, networks (``ipv4_dhcp`` where the subnet
    runs DHCP, else the static address with routes) and DNS services."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    dns: list[dict[str, str]] = []
    for link in md.links:
        links.append(
            {
                "id": _link_name(link),
                "vif_id": link.port_id,
                "type": link.vif_type if link.vif_type not in ("", "unbound", "binding_failed") else "bridge",
                "mtu": link.mtu,
                "ethernet_mac_address": link.mac_address,
            }
        )
        for addr in link.addresses:
            net = ipaddress.ip_network(addr.cidr)
            version = net.version
            entry: dict[str, Any] = {
                "id": f"network{len(networks)}",
                "link": _link_name(link),
                "network_id": link.network_id,
            }
            if addr.enable_dhcp:
                entry["type"] = "ipv4_dhcp" if version == 4 else "ipv6_dhcp"
            else:
                routes = [(d, h) for d, h in addr.host_routes]
                if addr.gateway_ip:
                    routes.append(("0.0.0.0/0" if version == 4 else "::/0", addr.gateway_ip))
                entry.update(
                    type=f"ipv{version}",
                    ip_address=addr.address,
                    netmask=str(net.netmask) if version == 4 else str(net.prefixlen),
                    routes=[
                        {
                            "network": str(ipaddress.ip_network(d).network_address),
                            "netmask": str(ipaddress.ip_network(d).netmask),
                            "gateway": h,
                        }
                        for d, h in routes
                    ],
                    services=[{"type": "dns", "address": a} for a in addr.dns_nameservers],
                )
            networks.append(entry)
            for server in addr.dns_nameservers:
                if {"type": "dns", "address": server} not in dns:
                    dns.append({"type": "dns", "address": server})
    return {"links": links, "networks": networks, "services": dns}


def _first(md: GuestMetadata, what: str) -> str:
    for link in md.links:
        if what == "floating" and link.floating_ips:
            return link.floating_ips[0]
        for addr in link.addresses:
            if what == "fixed" and ipaddress.ip_address(addr.address).version == 4:
                return addr.address
    return ""


def _ec2_id(prefix: str, uuid: str) -> str:
    return f"{prefix}-{uuid.replace('-', '')[:8]}" if uuid else ""


def ec2_meta_data(md: GuestMetadata) -> dict[str, Any]:
    """The EC2 ``meta-data`` tree: leaves are strings, branches dicts."""
    name = hostname(md.name)
    tree: dict[str, Any] = {
        "ami-id": _ec2_id("ami", md.image_id),
        "ami-launch-index": str(md.launch_index),
        "ami-manifest-path": "FIXME",  # Nova's literal value
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": name,
        "instance-action": "none",
        "instance-id": _ec2_id("i", md.uuid),
        "instance-type": md.flavor_name,
        "local-hostname": name,
        "local-ipv4": _first(md, "fixed"),
        "placement": {"availability-zone": md.availability_zone},
        "public-hostname": name,
        "public-ipv4": _first(md, "floating"),
        "reservation-id": md.reservation_id,
        "security-groups": "\n".join(md.security_groups),
    }
    if md.key is not None:
        tree["public-keys"] = {"0": {"openssh-key": md.key.public_key + "\n"}}
    return tree


def openstack_version_files(md: GuestMetadata, version: str) -> dict[str, bytes]:
    """The files of one OpenStack version (``latest`` is the newest)."""
    newest = OPENSTACK_VERSIONS[-1] if version == "latest" else version
    out = {"meta_data.json": _json(meta_data(md))}
    if md.user_data is not None:
        out["user_data"] = md.user_data
    if newest >= VENDOR_DATA_SINCE:
        out["vendor_data.json"] = _json(dict(md.vendor_data))
    if newest >= NETWORK_DATA_SINCE:
        out["network_data.json"] = _json(network_data(md))
    if newest >= VENDOR_DATA2_SINCE:
        out["vendor_data2.json"] = _json(dict(md.vendor_data2))
    return out


def _flatten(tree: Mapping[str, Any], prefix: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = str(value).encode()
    return out


def files(md: GuestMetadata) -> dict[str, bytes]:
    """Every metadata path and its content: ``openstack/<v>/<file>`` for each version and
    ``latest``, and ``ec2/<v>/meta-data/...``, ``ec2/<v>/user-data`` (the EC2 tree the
    metadata API serves at the root, the config drive under ``ec2/``)."""
    out: dict[str, bytes] = {}
    for version in (*OPENSTACK_VERSIONS, "latest"):
        for name, content in openstack_version_files(md, version).items():
            out[f"openstack/{version}/{name}"] = content
    meta = _flatten(ec2_meta_data(md), "meta-data/")
    for version in (*EC2_VERSIONS, "latest"):
        for path, content in meta.items():
            out[f"ec2/{version}/{path}"] = content
        if md.user_data is not None:
            out[f"ec2/{version}/user-data"] = md.user_data
    return out


def drive_files(md: GuestMetadata) -> dict[str, bytes]:
    """What a config drive carries: the OpenStack tree and, as Nova writes it, the EC2
    metadata as ``ec2/<version>/meta-data.json`` (one JSON document) plus ``user-data``."""
    out = {p: c for p, c in files(md).items() if p.startswith("openstack/")}
    meta = _json(ec2_meta_data(md))
    for version in ("2009-04-04", "latest"):
        out[f"ec2/{version}/meta-data.json"] = meta
        if md.user_data is not None:
            out[f"ec2/{version}/user-data"] = md.user_data
    return out


def encode(data: Mapping[str, bytes]) -> dict[str, str]:
    """Files as base64 text (for the database and the agent RPC)."""
    return {path: base64.b64encode(content).decode() for path, content in data.items()}


def decode(data: Mapping[str, str]) -> dict[str, bytes]:
    return {path: base64.b64decode(content) for path, content in data.items()}


def listing(paths: Sequence[str], prefix: str) -> list[str]:
    """The entries directly under ``prefix`` (a directory's listing, subdirectories with
    a trailing ``/``), in order of first appearance."""
    seen: dict[str, None] = {}
    for path in paths:
        if path.startswith(prefix):
            head, sep, _ = path[len(prefix) :].partition("/")
            if head:
                seen.setdefault(head + ("/" if sep else ""), None)
    return list(seen)
