"""Prepare a running cloud for Tempest and write its ``tempest.conf`` (``scripts/conformance.sh``).

``python -m overcast.testing.conformance prepare --url URL --password PW --guest DIR --out FILE``
logs in as admin, makes what Tempest needs and cannot make itself (the tiny guest as image,
two flavors, a public external network for routers and floating IPs), reads what the cloud
advertises (microversion ranges, Neutron extensions, Swift's ``/info``) and writes a
``tempest.conf`` whose ``*-feature-enabled`` flags are true exactly where the feature exists.
Idempotent: existing resources are found by name and reused.

The feature table below is the one place that says what Overcast implements; each flag not
listed keeps Tempest's default. Keep it honest: a feature is true only if its API works.
"""

from __future__ import annotations

import argparse
import configparser
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_NAMES = ("tempest-tinyguest", "tempest-tinyguest-alt")  # two images: some filters need distinct ones
FLAVORS = {"tempest-1": (128, 1, 1), "tempest-2": (192, 1, 1)}  # name: (MiB RAM, GB disk, vCPUs)
PUBLIC_NETWORK = "public"
PUBLIC_CIDR = "172.24.4.0/24"
# The conformance cloud's ``[image] require_format_match`` (Glance's require_image_format_match):
# off, as Tempest's ListUserImagesTest (10 interop ids) uploads random bytes as each disk format.
# Unsafe content is still refused. tempest.conf's ``image_format_enforcement`` follows it.
REQUIRE_IMAGE_FORMAT_MATCH = False

# Keystone's API extensions Overcast implements (Tempest's default "all" would claim
# OS-OAUTH1, OS-TRUST and the rest too).
IDENTITY_EXTENSIONS = ("OS-INHERIT", "OS-EC2", "OS-EP-FILTER")

# What Overcast implements (True) or not (False), by Tempest's feature-group option name.
FEATURES: dict[str, dict[str, bool]] = {
    "identity-feature-enabled": {
        "api_v2": False,
        "api_v2_admin": False,
        "api_v3": True,
        "trust": False,
        "domain_specific_drivers": False,
        "security_compliance": False,
        "access_rules": False,
        "immutable_user_source": False,
    },
    "compute-feature-enabled": {
        "change_password": False,
        "console_output": True,
        "resize": True,
        "pause": True,
        "suspend": True,
        "shelve": True,  # shelve, shelve offload and unshelve (issue 18)
        "shelve_migrate": False,
        "cold_migration": False,
        "live_migration": False,
        "live_migrate_back_and_forth": False,
        "metadata_service": True,  # the metadata service on 169.254.169.254 (the tiny guest reads its keys there)
        "block_migration_for_live_migration": False,
        "can_migrate_between_any_hosts": False,
        "vnc_console": False,
        "spice_console": False,
        "serial_console": False,
        "rescue": True,  # rescue/unrescue (issue 18)
        "stable_rescue": False,  # rescue boots the rescue disk first: not stable device rescue
        "enable_instance_password": True,
        "interface_attach": True,  # os-interface with NIC hot-plug (issue 18)
        "snapshot": True,
        "personality": False,
        "attach_encrypted_volume": False,
        "config_drive": True,
        "swap_volume": False,
        "volume_backed_live_migration": False,
        "volume_multiattach": False,
        "ide_bus": False,
        "unified_limits": False,
        "disk_config": False,
        "hostname_fqdn_sanitization": False,
        "vtpm_live_migration": False,
        "image_caching_enabled": False,
    },
    "image-feature-enabled": {
        "api_v2": True,
        "import_image": True,  # glance-direct and web-download (issue 18)
        "os_glance_reserved": True,
        "manage_locations": False,
        "image_conversion": False,
        "image_format_enforcement": REQUIRE_IMAGE_FORMAT_MATCH,
        "do_secure_hash": True,
        "http_store_enabled": False,
        "store_weight_enabled": False,
    },
    "network-feature-enabled": {
        "ipv6": True,
        "ipv6_subnet_attributes": True,
        "port_admin_state_change": True,
        "port_security": True,
        "floating_ips": True,
        "qos_min_bw_and_pps": False,
    },
    # QoS specs, type access, groups, group snapshots, messages, pools and retype without
    # migration are served (issues 16 and 18); Tempest has no flag for them. multi_backend stays
    # off: the conformance cloud has one backend and Overcast does not migrate between backends.
    "volume-feature-enabled": {
        "multi_backend": False,
        "backup": True,  # volume backups into the object store (issue 18)
        "snapshot": True,
        "clone": True,
        "manage_snapshot": False,
        "manage_volume": False,
        "replication": False,
        "extend_attached_volume": True,
        "extend_attached_encrypted_volume": False,
        "extend_volume_with_snapshot": True,
        "enable_volume_image_dep_tests": False,
    },
    "object-storage-feature-enabled": {
        "container_sync": False,
        "object_versioning": True,
        "discoverability": True,
    },
}


@dataclass
class CloudFacts:
    """What ``prepare`` made or read, everything ``tempest.conf`` needs."""

    url: str
    password: str
    region: str
    image_ids: list[str]
    flavor_ids: list[str]
    public_network_id: str
    compute_versions: tuple[str, str]
    volume_versions: tuple[str, str]
    network_extensions: list[str]
    volume_extensions: list[str] = field(default_factory=list)
    swift_apis: list[str] = field(default_factory=list)
    http_image: str = ""  # the tiny guest at a public URL on web-download's allow-list
    # what the (first) volume pool reports: Tempest puts them in a type's extra specs
    volume_vendor_name: str = "Open Source"
    volume_storage_protocol: str = ""


SECOND_STORAGE_POLICY = "silver"
RESELLER_ADMIN_ROLE = "ResellerAdmin"  # the default of [objectstore] reseller_admin_role


class Admin:
    """The admin's token and the catalog's endpoints, for the set-up calls."""

    def __init__(self, url: str, password: str, timeout: float = 120) -> None:
        import httpx

        self.http = httpx.Client(timeout=timeout)
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        r = self.http.post(url + "/identity/v3/auth/tokens", json=body)
        r.raise_for_status()
        self.http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        token = r.json()["token"]
        self.region = ""
        self.endpoints: dict[str, str] = {}
        for entry in token["catalog"]:
            for ep in entry["endpoints"]:
                if ep["interface"] == "public":
                    self.endpoints[entry["type"]] = ep["url"].rstrip("/")
                    self.region = ep.get("region_id") or ep.get("region") or self.region

    def call(self, method: str, url: str, **kw: Any) -> Any:
        r = self.http.request(method, url, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None


def _ensure_image(admin: Admin, guest_dir: Path, name: str) -> str:
    images = admin.endpoints["image"]
    found = admin.call("GET", f"{images}/v2/images", params={"name": name})["images"]
    active = [i for i in found if i["status"] == "active"]
    if active:
        return active[0]["id"]
    image = admin.call(
        "POST",
        f"{images}/v2/images",
        json={
            "name": name,
            "disk_format": "qcow2",
            "container_format": "bare",
            "visibility": "public",
            "hypervisor_type": "qemu",
        },
    )
    with open(guest_dir / "tinyguest.qcow2", "rb") as f:
        admin.call(
            "PUT",
            f"{images}/v2/images/{image['id']}/file",
            content=f.read(),
            headers={"Content-Type": "application/octet-stream"},
        )
    return image["id"]


WEB_CONTAINER = "tempest-web-images"


def _publish_guest(admin: Admin, guest_dir: Path) -> str:
    """The tiny guest (qcow2) in a world-readable object store container: the URL Tempest's
    web-download and task tests import from (on the cloud's web-download allow-list)."""
    container = f"{admin.endpoints['object-store']}/{WEB_CONTAINER}"
    r = admin.http.put(container, headers={"X-Container-Read": ".r:*"})
    if r.status_code >= 400:
        raise RuntimeError(f"PUT {container}: {r.status_code} {r.text[:300]}")
    url = f"{container}/tinyguest.qcow2"
    with open(guest_dir / "tinyguest.qcow2", "rb") as f:
        r = admin.http.put(url, content=f.read())
    if r.status_code >= 400:
        raise RuntimeError(f"PUT {url}: {r.status_code} {r.text[:300]}")
    return url


def _ensure_flavors(admin: Admin) -> list[str]:
    compute = admin.endpoints["compute"]
    have = {
        f["name"]: f["id"] for f in admin.call("GET", f"{compute}/flavors", params={"is_public": "None"})["flavors"]
    }
    ids = []
    for name, (ram, disk, vcpus) in FLAVORS.items():
        if name not in have:
            have[name] = admin.call(
                "POST", f"{compute}/flavors", json={"flavor": {"name": name, "ram": ram, "disk": disk, "vcpus": vcpus}}
            )["flavor"]["id"]
        ids.append(have[name])
    return ids


def _ensure_public_network(admin: Admin) -> str:
    """The flat external network ``public`` (physical network ``public``) with a subnet for
    gateways and floating IPs: the one ``overcast init`` made on the host bridge br-ex, where
    the host answers as its gateway (else one made here)."""
    net_url = admin.endpoints["network"] + "/v2.0"
    found = admin.call("GET", f"{net_url}/networks", params={"name": PUBLIC_NETWORK})["networks"]
    if found:
        net_id = found[0]["id"]
    else:
        net_id = admin.call(
            "POST",
            f"{net_url}/networks",
            json={
                "network": {
                    "name": PUBLIC_NETWORK,
                    "router:external": True,
                    "shared": False,
                    "provider:network_type": "flat",
                    "provider:physical_network": "public",
                }
            },
        )["network"]["id"]
    if not admin.call("GET", f"{net_url}/subnets", params={"network_id": net_id})["subnets"]:
        admin.call(
            "POST",
            f"{net_url}/subnets",
            json={
                "subnet": {
                    "name": PUBLIC_NETWORK + "-subnet",
                    "network_id": net_id,
                    "ip_version": 4,
                    "cidr": PUBLIC_CIDR,
                    "enable_dhcp": False,
                }
            },
        )
    return net_id


def _version_range(admin: Admin, service: str, root: str) -> tuple[str, str]:
    """(min, max) microversion of the CURRENT version in ``GET {root}``."""
    doc = admin.call("GET", root)
    versions = doc["versions"] if isinstance(doc.get("versions"), list) else doc["versions"]["values"]
    current = [v for v in versions if v.get("status") == "CURRENT"] or versions[-1:]
    return current[0].get("min_version") or "", current[0].get("version") or ""


def _ensure_role(admin: Admin, name: str) -> None:
    identity = admin.endpoints["identity"] + "/v3"
    if not admin.call("GET", f"{identity}/roles", params={"name": name})["roles"]:
        admin.call("POST", f"{identity}/roles", json={"role": {"name": name}})


def prepare(url: str, password: str, guest_dir: Path) -> CloudFacts:
    admin = Admin(url.rstrip("/"), password)
    # Swift's reseller admin role ([objectstore] reseller_admin_role), which devstack creates
    # when it deploys Swift; Tempest gives it to the user that sets account quotas
    _ensure_role(admin, RESELLER_ADMIN_ROLE)
    # the roles devstack's Keystone has besides admin/member/reader, which Tempest gives to its
    # service user (external events, assisted snapshots) and project manager (migrations)
    for role in ("service", "manager"):
        _ensure_role(admin, role)
    image_ids = [_ensure_image(admin, guest_dir, name) for name in IMAGE_NAMES]
    flavor_ids = _ensure_flavors(admin)
    public = _ensure_public_network(admin)
    base = url.rstrip("/")
    extensions = sorted(
        e["alias"] for e in admin.call("GET", admin.endpoints["network"] + "/v2.0/extensions")["extensions"]
    )
    volume_extensions = sorted(
        e["alias"] for e in admin.call("GET", admin.endpoints["volumev3"] + "/extensions")["extensions"]
    )
    pools = admin.call("GET", admin.endpoints["volumev3"] + "/scheduler-stats/get_pools", params={"detail": "true"})
    pool_caps = (pools.get("pools") or [{}])[0].get("capabilities") or {}
    swift_root = admin.endpoints["object-store"].split("/v1/")[0]
    info = admin.call("GET", swift_root + "/info") or {}
    return CloudFacts(
        url=base,
        password=password,
        region=admin.region,
        image_ids=image_ids,
        flavor_ids=flavor_ids,
        public_network_id=public,
        compute_versions=_version_range(admin, "compute", base + "/compute/"),
        volume_versions=_version_range(admin, "volume", base + "/volume/"),
        network_extensions=extensions,
        volume_extensions=volume_extensions,
        swift_apis=sorted(k for k in info if k != "swift") + ["swift"],
        http_image=_publish_guest(admin, guest_dir),
        volume_vendor_name=str(pool_caps.get("vendor_name") or "Open Source"),
        volume_storage_protocol=str(pool_caps.get("storage_protocol") or ""),
    )


def tempest_conf(facts: CloudFacts, log_file: str = "tempest.log") -> str:
    """The ``tempest.conf`` text for ``facts``."""
    conf = configparser.ConfigParser(interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]  # keep option names as written
    conf["DEFAULT"] = {"log_file": log_file, "use_stderr": "false"}
    conf["auth"] = {
        "use_dynamic_credentials": "true",
        "create_isolated_networks": "true",
        "admin_username": "admin",
        "admin_password": facts.password,
        "admin_project_name": "admin",
        "admin_domain_name": "Default",
        "default_credentials_domain_name": "Default",
    }
    conf["identity"] = {
        "uri_v3": facts.url + "/identity/v3",
        "auth_version": "v3",
        "region": facts.region,
        "v3_endpoint_type": "public",
    }
    conf["compute"] = {
        "image_ref": facts.image_ids[0],
        "image_ref_alt": facts.image_ids[1],
        "flavor_ref": facts.flavor_ids[0],
        "flavor_ref_alt": facts.flavor_ids[1],
        "min_microversion": facts.compute_versions[0],
        "max_microversion": facts.compute_versions[1],
        "build_timeout": "300",
        "region": facts.region,
    }
    conf["image"] = {"region": facts.region, "build_timeout": "300"}
    if facts.http_image:
        conf["image"].update(http_image=facts.http_image, http_qcow2_image=facts.http_image)
    conf["network"] = {
        "public_network_id": facts.public_network_id,
        "floating_network_name": PUBLIC_NETWORK,
        "project_network_cidr": "10.100.0.0/16",
        "project_network_mask_bits": "28",
        "region": facts.region,
        "build_timeout": "300",
    }
    conf["volume"] = {
        "min_microversion": facts.volume_versions[0],
        "max_microversion": facts.volume_versions[1],
        "build_timeout": "300",
        "volume_size": "1",
        "region": facts.region,
        "vendor_name": facts.volume_vendor_name,
    }
    if facts.volume_storage_protocol:
        conf["volume"]["storage_protocol"] = facts.volume_storage_protocol
    # Swift's operator role is a project member; account quotas are set by the reseller admin
    conf["object-storage"] = {
        "region": facts.region,
        "operator_role": "member",
        "reseller_admin_role": RESELLER_ADMIN_ROLE,
    }
    # instance validation: Tempest logs into its servers over SSH through a floating IP (the
    # external network is on the host bridge br-ex, so the host reaches it) with the key pair it
    # made, which the tiny guest takes from the metadata service (root, dropbear)
    conf["validation"] = {
        "run_validation": "true",
        "connect_method": "floating",
        "auth_method": "keypair",
        "image_ssh_user": "root",
        "ip_version_for_ssh": "4",
        "ssh_timeout": "120",
        "ping_timeout": "120",
    }
    conf["service_available"] = {
        "nova": "true",
        "glance": "true",
        "cinder": "true",
        "neutron": "true",
        "swift": "true",
        "keystone": "true",
        "horizon": "false",
        "placement": "false",
    }
    for group, flags in FEATURES.items():
        conf[group] = {k: str(v).lower() for k, v in flags.items()}
    conf["identity-feature-enabled"]["api_extensions"] = ",".join(IDENTITY_EXTENSIONS)
    conf["network-feature-enabled"]["api_extensions"] = ",".join(facts.network_extensions) or "None"
    conf["volume-feature-enabled"]["api_extensions"] = ",".join(facts.volume_extensions) or "None"
    conf["object-storage-feature-enabled"]["discoverable_apis"] = ",".join(facts.swift_apis)
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


def cloud_config(config_path: Path) -> None:
    """Rewrite ``overcast init``'s config for the conformance cloud: one KVM host under TCG
    (QEMU without hardware acceleration: this machine kind's ``/dev/kvm`` cannot run a guest)
    booting into the data dir, Linux-bridge networking (with init's br-ex for the external
    network, so floating IPs answer the host), and the fs stores ``init`` chose."""
    import tomllib

    from overcast.cli.server import to_toml
    from overcast.config import parse_config

    data = tomllib.loads(config_path.read_text())
    data_dir = config_path.parent
    data["hosts"] = {
        "conformance1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(data_dir / "instances")}
    }
    # Linux-bridge, keeping init's host bridge br-ex for the external network ``public``
    data["network"] = {**data.get("network", {}), "driver": "linuxbridge"}
    data.setdefault("compute", {})["allow_resize_to_same_host"] = True
    # every server gets a config drive (Nova's force_config_drive), so Tempest's validation
    # key pair reaches the tiny guest without the metadata service as well
    data["compute"]["force_config_drive"] = True
    data.setdefault("image", {})["require_format_match"] = REQUIRE_IMAGE_FORMAT_MATCH
    # Keystone's default, as devstack runs Tempest: no admin project, so the admin role on any
    # project administers the cloud (Tempest's dynamic admin users are admins of projects it makes)
    data.setdefault("identity", {})["admin_project"] = ""
    # web-download may fetch from this cloud's own object store only (where ``prepare`` puts
    # the tiny guest, world-readable); it is on loopback, which the operator has to allow
    data.setdefault("image", {}).update(
        web_download_allowed=[parse_config(data, config_path).object_store_url() + "/object/v1/"],
        web_download_allow_local=True,
    )
    # a second Swift storage policy, named as Tempest's per-policy account quota test expects
    data.setdefault("objectstore", {}).setdefault("policies", {})[SECOND_STORAGE_POLICY] = {
        "driver": "fs",
        "path": str(data_dir / f"objects-{SECOND_STORAGE_POLICY}"),
    }
    # Swift's crossdomain middleware, with the policy of Swift's own sample configuration
    data["objectstore"]["cross_domain_policy"] = '<allow-access-from domain="*" secure="false" />'
    # the metadata API on a free port, not Nova's 8775: another conformance cloud on this
    # machine (another checkout's run) may hold that one
    data.setdefault("metadata", {})["port"] = free_port()
    config_path.write_text(to_toml(data, "Overcast conformance cloud (scripts/conformance.sh)."))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cleanup(url: str, password: str, timeout: float = 300) -> None:
    """Delete every server (waiting for them to go), then floating IPs, routers (their
    interfaces first), ports and networks: the bridges, namespaces and dnsmasq go with them."""
    import time

    admin = Admin(url.rstrip("/"), password)
    compute, net = admin.endpoints["compute"], admin.endpoints["network"] + "/v2.0"

    def servers() -> list[dict]:
        return admin.call("GET", f"{compute}/servers", params={"all_tenants": "1"})["servers"]

    for s in servers():
        admin.http.delete(f"{compute}/servers/{s['id']}")
    deadline = time.monotonic() + timeout
    while servers() and time.monotonic() < deadline:
        time.sleep(1)
    for fip in admin.call("GET", f"{net}/floatingips")["floatingips"]:
        admin.http.delete(f"{net}/floatingips/{fip['id']}")
    for router in admin.call("GET", f"{net}/routers")["routers"]:
        for port in admin.call("GET", f"{net}/ports", params={"device_id": router["id"]})["ports"]:
            if port["device_owner"] == "network:router_interface":
                admin.http.put(f"{net}/routers/{router['id']}/remove_router_interface", json={"port_id": port["id"]})
        admin.http.delete(f"{net}/routers/{router['id']}")
    for port in admin.call("GET", f"{net}/ports")["ports"]:
        if not port["device_owner"].startswith("network:"):
            admin.http.delete(f"{net}/ports/{port['id']}")
    for network in admin.call("GET", f"{net}/networks")["networks"]:
        r = admin.http.delete(f"{net}/networks/{network['id']}")
        if r.status_code >= 400:
            print(f"clean-up: DELETE network {network['id']}: {r.status_code} {r.text[:200]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make the image, flavors and public network; write tempest.conf")
    p.add_argument("--url", required=True, help="the cloud's base URL, e.g. http://127.0.0.1:6080")
    p.add_argument("--password", required=True, help="the admin password")
    p.add_argument("--guest", required=True, type=Path, help="the tiny guest's directory (tinyguest.qcow2)")
    p.add_argument("--out", required=True, type=Path, help="where tempest.conf goes")
    c = sub.add_parser("cloud-config", help="rewrite overcast init's config for the conformance cloud")
    c.add_argument("--config", required=True, type=Path)
    d = sub.add_parser("cleanup", help="delete every server, router, floating IP and network")
    d.add_argument("--url", required=True)
    d.add_argument("--password", required=True)
    args = parser.parse_args(argv)
    if args.command == "cloud-config":
        cloud_config(args.config)
        return 0
    if args.command == "cleanup":
        cleanup(args.url, args.password)
        return 0
    facts = prepare(args.url, args.password, args.guest)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(tempest_conf(facts, str(args.out.parent / "tempest.log")))
    args.out.chmod(0o600)
    print(
        f"wrote {args.out} (compute {'-'.join(facts.compute_versions)}, volume {'-'.join(facts.volume_versions)}, "
        f"{len(facts.network_extensions)} network extensions)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
