"""Frozen dataclasses that cross the plugin contract (``overcast.hookspecs``).

Everything a driver receives or returns is one of these (or a plain ``str``/``int``/``bool``,
a path, or an iterator of ``bytes`` for data streams). They are plain data: no methods that
do I/O, no references to the database or to other services, so that the same values can be
sent to a host agent over the message bus (see :func:`to_dict` / :func:`from_dict`).

Sections follow the hook families: configuration targets, hypervisor (``hv_*``), volume
(``vol_*``), network (``net_*``), image store (``img_*``) and object store (``obj_*``).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------
# Driver kinds and configuration targets
# --------------------------------------------------------------------------------------


class DriverKind(str, enum.Enum):
    """The kinds of driver a plugin can register; each has its own hook family."""

    HYPERVISOR = "hypervisor"  # hv_*
    VOLUME = "volume"  # vol_*
    NETWORK = "network"  # net_*
    IMAGE_STORE = "image_store"  # img_*
    OBJECT_STORE = "object_store"  # obj_*
    BACKUP = "backup"  # backup_*: where volume backups are kept (issue 18)
    LOADBALANCER = "loadbalancer"  # lb_*

    @property
    def hook_prefix(self) -> str:
        return HOOK_PREFIXES[self]


HOOK_PREFIXES: Mapping[DriverKind, str] = types.MappingProxyType(
    {
        DriverKind.HYPERVISOR: "hv_",
        DriverKind.VOLUME: "vol_",
        DriverKind.NETWORK: "net_",
        DriverKind.IMAGE_STORE: "img_",
        DriverKind.OBJECT_STORE: "obj_",
        DriverKind.BACKUP: "backup_",
        DriverKind.LOADBALANCER: "lb_",
    }
)


@dataclass(frozen=True)
class ConfigOption:
    """An option a driver accepts in the config table of a host or backend that names it.

    ``type`` is one of ``str``, ``int``, ``float``, ``bool``, ``list``. ``choices`` limits
    the value; ``secret`` hides it from ``overcast config check`` output.
    """

    kind: DriverKind
    driver: str
    name: str
    type: type = str
    default: Any = None
    required: bool = False
    help: str = ""
    choices: tuple[Any, ...] | None = None
    secret: bool = False


@dataclass(frozen=True)
class Host:
    """A compute host as configured in ``[hosts.NAME]``: the unit the scheduler places on.

    ``name`` is the operator's name for it (``node1``), ``driver`` the hypervisor driver
    (``kvm``), ``options`` the driver's validated connection keys (``uri``, ``virt_type``, ...).
    Drivers are shared between hosts, so every ``hv_*`` hook receives the host it acts on.
    """

    name: str
    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)
    availability_zone: str = "nova"
    state_dir: str = ""  # a directory the driver may use for this host's local files


@dataclass(frozen=True)
class Backend:
    """A named storage or network backend: ``[volume_backends.NAME]``, ``[image_store]``,
    ``[object_store]`` or ``[network]``. ``name`` != ``driver``: ``fast`` may use ``lvm``."""

    kind: DriverKind
    name: str
    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)
    state_dir: str = ""


# --------------------------------------------------------------------------------------
# Hypervisor (hv_*)
# --------------------------------------------------------------------------------------


class PowerState(str, enum.Enum):
    """What the hypervisor says about a guest (Nova's power_state values, by name)."""

    NOSTATE = "nostate"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class HvCapabilities:
    """What a host's hypervisor can take. The scheduler and the API's errors read these.

    ``image_types`` are Glance ``disk_format`` values the host boots (qcow2, raw, vhd, vhdx,
    vmdk, ...); ``volume_connection_types`` are ``ConnectionInfo.driver_volume_type`` values
    it can attach; ``vif_types`` are ``VifDetails.vif_type`` values it can plug.
    ``hypervisor_type`` is the value matched against an image or flavor's
    ``hypervisor_type`` property (kvm, qemu, xen, hyperv, vmware). ``resize`` says that
    ``hv_migrate_disk_and_power_off`` accepts a new flavor; without it the API refuses a
    resize up front (a plain cold migration still works). ``boot_from_volume``: ``hv_spawn``
    with ``image=None`` boots the guest from the block device whose mountpoint is
    ``/dev/vda`` (the root disk is the volume's connection, no local disk is made); only
    such hosts are chosen for a volume-backed server, and without one the API refuses it;
    their migration hooks also move one (no local root disk to copy: every volume, the root
    included, arrives in ``block_devices`` exported to the destination).
    """

    hypervisor_type: str
    image_types: frozenset[str]
    volume_connection_types: frozenset[str] = frozenset()
    vif_types: frozenset[str] = frozenset()
    live_migration: bool = False
    shared_storage: bool = False  # instance disks survive the host (evacuate can rebuild)
    resize: bool = False  # a cold migration may also change the flavor (Nova's resize)
    boot_from_volume: bool = False  # the root disk may be a volume (issue 18)


@dataclass(frozen=True)
class HostResources:
    """A host's capacity and use, as the hypervisor reports it."""

    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    hypervisor_type: str = ""
    hypervisor_version: int = 0
    hypervisor_hostname: str = ""
    cpu_info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRef:
    """An image as the image service describes it (no data)."""

    id: str
    name: str
    disk_format: str
    container_format: str = "bare"
    size: int = 0
    checksum: str = ""  # md5 hex
    os_hash_algo: str = ""
    os_hash_value: str = ""
    min_disk: int = 0
    min_ram: int = 0
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageFile:
    """An image fetched into a host's image cache, verified and in a format the host takes.

    The core downloads, verifies and (if needed) converts; the driver only reads ``path``.
    """

    image: ImageRef
    path: str
    disk_format: str


@dataclass(frozen=True)
class Instance:
    """A server as the hypervisor driver needs to know it.

    ``name`` is the hypervisor-side name the core chose (unique per cloud, stable, safe:
    ``oc-<uuid>``); ``display_name`` is the user's name and must only ever be used as data.
    """

    uuid: str
    name: str
    display_name: str
    project_id: str
    flavor: Flavor
    image: ImageRef | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    user_data: str | None = None  # base64 as the API received it
    key_data: str | None = None
    host: str = ""
    config_drive: bool = False  # the user asked for a config drive (drivers may also add one for user data)
    # the config drive's files (path -> base64 content) the core built for it: the same
    # content the metadata service serves (issue 17); empty: the driver builds a minimal one
    config_drive_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsoleEndpoint:
    """Where a guest's interactive console listens (``hv_get_console``, issue 17): a TCP
    ``host``/``port`` the controller's console proxy can reach. ``console_type`` is
    ``serial`` (the serial port's raw byte stream) or ``vnc`` (RFB, for noVNC)."""

    console_type: str
    host: str
    port: int


@dataclass(frozen=True)
class InstanceInfo:
    """A guest's state as the hypervisor reports it."""

    state: PowerState
    max_mem_kb: int = 0
    mem_kb: int = 0
    num_cpu: int = 0
    cpu_time_ns: int = 0
    internal_id: str = ""  # the hypervisor's own id or ref (domain UUID, OpaqueRef, moref)


@dataclass(frozen=True)
class CpuDiagnostics:
    """One vCPU of a running guest (``hv_get_diagnostics``): its time used, in ns."""

    id: int
    time_ns: int | None = None
    utilisation: int | None = None  # percent, where the hypervisor reports it


@dataclass(frozen=True)
class DiskDiagnostics:
    """One disk of a running guest, by its target device (``vda``), counted since it started."""

    device: str
    read_bytes: int | None = None
    read_requests: int | None = None
    write_bytes: int | None = None
    write_requests: int | None = None
    errors_count: int | None = None


@dataclass(frozen=True)
class NicDiagnostics:
    """One NIC of a running guest, by its host-side device (``tap...``), since it started."""

    device: str
    mac_address: str | None = None
    rx_octets: int | None = None
    rx_errors: int | None = None
    rx_drop: int | None = None
    rx_packets: int | None = None
    tx_octets: int | None = None
    tx_errors: int | None = None
    tx_drop: int | None = None
    tx_packets: int | None = None


@dataclass(frozen=True)
class InstanceDiagnostics:
    """What the hypervisor measures of a running guest (``hv_get_diagnostics``): Nova's
    server diagnostics. ``driver`` is Nova's name of the driver kind (``libvirt``),
    ``hypervisor`` the virtualization type (``kvm``, ``qemu``); memory is in KiB, and
    ``memory_stats`` holds the balloon's own counters by libvirt's names (``actual``, ``rss``)."""

    state: PowerState
    driver: str
    hypervisor: str | None = None
    hypervisor_os: str | None = None
    uptime_s: int | None = None
    config_drive: bool = False
    max_mem_kb: int | None = None
    mem_kb: int | None = None
    cpus: tuple[CpuDiagnostics, ...] = ()
    disks: tuple[DiskDiagnostics, ...] = ()
    nics: tuple[NicDiagnostics, ...] = ()
    memory_stats: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotResult:
    """The disk image a snapshot produced, for the core to upload to the image service."""

    path: str
    disk_format: str
    size: int = 0
    cleanup: bool = True  # the core deletes ``path`` after the upload


@dataclass(frozen=True)
class MigrationData:
    """Opaque, driver-owned data handed between the steps of a migration."""

    source_host: str
    dest_host: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockDevice:
    """A volume attached (or to attach) to an instance."""

    volume_id: str
    mountpoint: str  # /dev/vdb
    connection_info: ConnectionInfo


# --------------------------------------------------------------------------------------
# Volume (vol_*) and the attach handshake
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connector:
    """What a host tells a volume backend about itself so it can export a volume to it
    (``hv_get_volume_connector``). ``connection_types`` are the types it can attach."""

    host: str
    connection_types: frozenset[str]
    ip: str | None = None
    platform: str = "x86_64"
    os_type: str = "linux"
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionInfo:
    """How to reach an exported volume (``vol_initialize_connection``).

    ``driver_volume_type`` is ``file`` (data: path, format), ``block`` (data: device_path),
    ``vmdk``, ``vhdx``, ... ; ``data`` is type-specific.
    """

    driver_volume_type: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeRef:
    """A volume as a backend driver needs to know it. ``location`` is the driver's own
    string (a path, an LV name) returned by the create hooks and stored by the core."""

    id: str
    name: str
    size_gb: int
    project_id: str = ""
    location: str = ""
    multiattach: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotRef:
    id: str
    volume: VolumeRef
    name: str = ""
    location: str = ""


@dataclass(frozen=True)
class LocalDevice:
    """A volume's (or snapshot's) bytes opened on the calling host as a raw file or block
    device (``vol_open_local``), for the core to read or write at byte offsets (backups).

    ``size`` is the byte count the device holds. ``zeroed``: a writable device that reads as
    zeros everywhere, so a writer may skip ranges of zeros. ``handle`` is the driver's own
    token for ``vol_close_local`` (a scratch file to publish or remove), opaque to the core.
    """

    path: str
    size: int
    writable: bool = False
    zeroed: bool = False
    handle: str = ""


@dataclass(frozen=True)
class VolumeLocation:
    """Where a create/clone/snapshot hook put the data, and how it did it.

    ``copy_on_write`` says honestly whether the operation shared blocks (reflink, qcow2
    backing chain, LVM snapshot) or did a full copy.
    """

    location: str
    size_gb: int
    copy_on_write: bool = False


@dataclass(frozen=True)
class BackendStats:
    """A volume backend's capacity, for the volume scheduler."""

    total_gb: float
    free_gb: float
    thin_provisioning: bool = False
    max_over_subscription_ratio: float = 1.0
    provisioned_gb: float = 0.0
    connection_types: frozenset[str] = frozenset()


# --------------------------------------------------------------------------------------
# Network (net_*)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IpAllocationPool:
    start: str
    end: str


@dataclass(frozen=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    allocation_pools: tuple[IpAllocationPool, ...] = ()


@dataclass(frozen=True)
class Network:
    """A network with its segment: ``network_type`` is ``flat`` or ``vxlan``."""

    id: str
    name: str
    project_id: str
    network_type: str = "vxlan"
    segmentation_id: int | None = None
    physical_network: str | None = None
    mtu: int = 1450
    external: bool = False
    shared: bool = False
    subnets: tuple[Subnet, ...] = ()


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class SecurityGroupRule:
    id: str
    security_group_id: str
    direction: str  # ingress | egress
    ethertype: str = "IPv4"  # IPv4 | IPv6
    protocol: str | None = None  # tcp, udp, icmp, a number, or None for any
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    # addresses of the ports in remote_group_id, filled in by the core for the driver
    remote_group_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    project_id: str = ""
    fixed_ips: tuple[FixedIp, ...] = ()
    device_id: str = ""
    device_owner: str = ""
    binding_host: str = ""
    port_security_enabled: bool = True
    security_group_rules: tuple[SecurityGroupRule, ...] = ()
    allowed_address_pairs: tuple[tuple[str, str], ...] = ()  # (ip_or_cidr, mac)


@dataclass(frozen=True)
class VifDetails:
    """How a bound port is plugged into a guest (``net_bind_port`` -> ``hv_plug_vifs``).

    For ``vif_type="bridge"``: details ``bridge`` (name) and ``devname`` (tap name).
    """

    vif_type: str
    port_id: str
    mac_address: str
    network_id: str = ""
    mtu: int = 1500
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouterInterface:
    subnet: Subnet
    port: Port


@dataclass(frozen=True)
class FloatingIp:
    id: str
    floating_ip_address: str
    fixed_ip_address: str | None = None
    port_id: str | None = None


@dataclass(frozen=True)
class Router:
    """A router with everything its plumbing needs, as the core knows it now."""

    id: str
    project_id: str
    external_network: Network | None = None
    external_gateway_ip: str | None = None  # our address on the external network
    external_port: Port | None = None
    enable_snat: bool = True
    interfaces: tuple[RouterInterface, ...] = ()
    floating_ips: tuple[FloatingIp, ...] = ()
    routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class MetadataProxy:
    """A metadata proxy for one network (in its DHCP namespace) or one router (in its
    namespace): guests' requests to ``169.254.169.254:80`` go to the metadata API at
    ``upstream`` (``host:port``) with headers ``X-Overcast-Network-ID`` (or
    ``X-Overcast-Router-ID``), ``X-Forwarded-For`` (the source address) and
    ``X-Overcast-Metadata-Signature``: the hex HMAC-SHA256, keyed with the base64-decoded
    ``secret_b64``, of ``network:<network id>:<address>`` (or ``router:<router id>:<address>``).
    Exactly one of ``network_id`` and ``router_id`` is set (issue 17)."""

    upstream: str
    secret_b64: str
    network_id: str = ""
    router_id: str = ""


# --------------------------------------------------------------------------------------
# Load balancer (lb_*): an Octavia load balancer as its data plane needs it
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LbHealthMonitor:
    """How a pool's members are checked: ``type`` is ``HTTP``, ``HTTPS``, ``TCP``, ``PING``
    or ``TLS-HELLO``; a member is down after ``max_retries_down`` failures and up again after
    ``max_retries`` successes, one check every ``delay`` seconds, each given ``timeout``."""

    id: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int = 3
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"  # "200", "200,202" or "200-204"
    http_version: float | None = None
    domain_name: str | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class LbMember:
    id: str
    address: str
    protocol_port: int
    weight: int = 1  # 0: no new connections
    admin_state_up: bool = True
    backup: bool = False  # used only when every non-backup member is down
    monitor_address: str | None = None
    monitor_port: int | None = None


@dataclass(frozen=True)
class LbSessionPersistence:
    """``type`` is ``SOURCE_IP``, ``HTTP_COOKIE`` (the balancer's cookie) or ``APP_COOKIE``
    (the members' cookie ``cookie_name``)."""

    type: str
    cookie_name: str | None = None
    persistence_timeout: int | None = None


@dataclass(frozen=True)
class LbPool:
    """``protocol`` is ``HTTP``, ``HTTPS`` (passed through), ``TCP``, ``PROXY`` or ``PROXYV2``
    (TCP to the members with a PROXY protocol header); ``lb_algorithm`` is ``ROUND_ROBIN``,
    ``LEAST_CONNECTIONS`` or ``SOURCE_IP``."""

    id: str
    protocol: str
    lb_algorithm: str
    admin_state_up: bool = True
    session_persistence: LbSessionPersistence | None = None
    members: tuple[LbMember, ...] = ()
    health_monitor: LbHealthMonitor | None = None


@dataclass(frozen=True)
class LbL7Rule:
    """``type``: ``PATH``, ``HEADER`` (``key`` names it), ``HOST_NAME``, ``COOKIE`` (``key``),
    ``FILE_TYPE``; ``compare_type``: ``EQUAL_TO``, ``STARTS_WITH``, ``ENDS_WITH``, ``CONTAINS``,
    ``REGEX``."""

    id: str
    type: str
    compare_type: str
    value: str
    key: str | None = None
    invert: bool = False
    admin_state_up: bool = True


@dataclass(frozen=True)
class LbL7Policy:
    """Applied in ``position`` order; a policy matches when all its (enabled) rules do.
    ``action``: ``REDIRECT_TO_URL`` (``redirect_url``), ``REDIRECT_PREFIX`` (``redirect_prefix``),
    ``REDIRECT_TO_POOL`` (``redirect_pool_id``, one of the load balancer's pools) or ``REJECT``."""

    id: str
    action: str
    position: int
    rules: tuple[LbL7Rule, ...] = ()
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_pool_id: str | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class LbListener:
    """``protocol`` is ``HTTP``, ``HTTPS`` (passed through) or ``TCP``. ``connection_limit``
    -1 is unlimited; timeouts are milliseconds; ``insert_headers`` maps header names
    (``X-Forwarded-For``, ``X-Forwarded-Port``, ``X-Forwarded-Proto``) to ``"true"``."""

    id: str
    protocol: str
    protocol_port: int
    default_pool_id: str | None = None
    admin_state_up: bool = True
    connection_limit: int = -1
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    insert_headers: Mapping[str, str] = field(default_factory=dict)
    allowed_cidrs: tuple[str, ...] = ()
    l7policies: tuple[LbL7Policy, ...] = ()


@dataclass(frozen=True)
class LoadBalancer:
    """A load balancer with everything its data plane needs, as the core knows it now.

    ``vip_port`` is an ordinary Neutron port on ``network`` (device owner ``Octavia``), already
    plugged into ``namespace`` on the host by ``net_plug_namespace``; the data plane serves
    ``vip_address`` there and reaches members through the namespace's routes."""

    id: str
    project_id: str
    vip_address: str
    vip_port: Port
    network: Network
    namespace: str
    admin_state_up: bool = True
    listeners: tuple[LbListener, ...] = ()
    pools: tuple[LbPool, ...] = ()


@dataclass(frozen=True)
class LbMemberHealth:
    """A member as the health checks see it: ``ONLINE``, ``ERROR`` (checks fail),
    ``NO_MONITOR`` (no health monitor), ``OFFLINE`` (disabled) or ``DRAINING`` (weight 0)."""

    pool_id: str
    member_id: str
    operating_status: str


@dataclass(frozen=True)
class LbListenerStats:
    listener_id: str
    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0


@dataclass(frozen=True)
class LbHealth:
    """What ``lb_get_health`` reads back from a running data plane."""

    loadbalancer_id: str
    running: bool
    members: tuple[LbMemberHealth, ...] = ()
    listeners: tuple[LbListenerStats, ...] = ()


# --------------------------------------------------------------------------------------
# Image store (img_*) and object store (obj_*)
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Backup targets (backup_*)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupTarget:
    """Where one project's backups go: ``container`` in the object store of ``project_id``,
    reached at ``endpoint`` (that project's object-store URL, e.g. a Swift
    ``.../v1/AUTH_<project>``) with ``auth_token`` (the requesting user's token).
    Drivers that keep backups elsewhere may ignore ``endpoint`` and ``auth_token``."""

    project_id: str
    container: str
    endpoint: str = ""
    auth_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class BackupJob:
    """One backup or restore as the core's chunker runs it where the volume's data is (the
    volume agent of its backend): objects ``<object_prefix>-00001``... and
    ``<object_prefix>_metadata`` in ``target``; an incremental backup reads its parent's
    chunk index from ``<parent_prefix>_metadata`` and stores only chunks that changed."""

    backup_id: str
    target: BackupTarget
    object_prefix: str
    chunk_size: int = 32 * 1024 * 1024
    compression: str = "zstd"  # zstd | zlib | none
    workers: int = 3
    parent_prefix: str = ""


@dataclass(frozen=True)
class BackupResult:
    """What a backup or restore did: bytes of the volume covered, chunks in the index,
    objects and (compressed) bytes written to the target (a backup) or read (a restore),
    chunks that were all zeros (kept as no object) and chunks reused from the parent."""

    size_bytes: int
    chunks: int
    objects: int
    stored_bytes: int
    zero_chunks: int = 0
    reused_chunks: int = 0


# --------------------------------------------------------------------------------------
# (image and object stores)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    """What ``img_add`` wrote: the location URI (its scheme routes to the store) and size."""

    location: str
    size: int


@dataclass(frozen=True)
class ObjectInfo:
    """An object's metadata as a store reports it. ``etag`` is the md5 hex of the content."""

    name: str
    size: int
    etag: str
    content_type: str = "application/octet-stream"
    last_modified: float = 0.0  # seconds since the epoch
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectSubdir:
    """A pseudo-folder in a listing made with ``delimiter``."""

    subdir: str


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``first..last`` of an object, resolved against its size."""

    first: int
    last: int


# --------------------------------------------------------------------------------------
# Scheduling (overcast_filter_hosts / overcast_weigh_hosts)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostState:
    """A host as the scheduler sees it: configured target, capabilities and free capacity."""

    name: str
    driver: str
    availability_zone: str
    capabilities: HvCapabilities
    resources: HostResources
    enabled: bool = True
    up: bool = True
    instance_count: int = 0


@dataclass(frozen=True)
class ScheduleRequest:
    """One placement request: what to place, and the constraints that come with it."""

    instance_uuid: str
    project_id: str
    flavor: Flavor
    image: ImageRef | None = None
    availability_zone: str | None = None
    hints: Mapping[str, Any] = field(default_factory=dict)
    ignore_hosts: tuple[str, ...] = ()
    force_hosts: tuple[str, ...] = ()
    same_driver_as: str | None = None  # migrations stay on one driver
    # an admin forced the host (evacuate with ``force``, 2.29+): only the host's capacity is
    # checked, not the placement filters (zones, images, server groups...)
    bypass_filters: bool = False


# --------------------------------------------------------------------------------------
# Serialisation for the message bus
# --------------------------------------------------------------------------------------

_DATACLASSES: dict[str, type] = {}


def _register_all() -> None:
    for obj in list(globals().values()):
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            _DATACLASSES[obj.__name__] = obj


_SCALARS = frozenset({str, int, float, bool, type(None)})
_field_names: dict[type, tuple[str, ...]] = {}


def to_dict(value: Any) -> Any:
    """Turn a contract value into JSON-able data, tagging dataclasses with their type name."""
    if type(value) in _SCALARS:  # most values (exact types: an Enum of str is no plain str)
        return value
    cls = type(value)
    names = _field_names.get(cls)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _field_names[cls] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        out = {"__type__": cls.__name__}
        for name in names:
            out[name] = to_dict(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [to_dict(v) for v in value]
        return sorted(items) if isinstance(value, (frozenset, set)) else items
    return value


def from_dict(data: Any) -> Any:
    """Inverse of :func:`to_dict`: rebuilds tagged dataclasses with their field types."""
    if isinstance(data, list):
        return [from_dict(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get("__type__")
    if tag is None:
        return {k: from_dict(v) for k, v in data.items()}
    cls = _DATACLASSES.get(tag)
    if cls is None:  # a contract type this side does not have (a newer peer): plain data
        return {k: from_dict(v) for k, v in data.items() if k != "__type__"}
    hints = _type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:  # fields added by a newer sender are ignored; missing ones default
            kwargs[f.name] = _coerce(hints[f.name], from_dict(data[f.name]))
    return cls(**kwargs)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """Field types of a contract class, resolved once (every bus message decodes with them)."""
    return typing.get_type_hints(cls)


def _coerce(hint: Any, value: Any) -> Any:
    """Restore tuples, frozensets and enums that JSON flattened to lists and strings."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(arg, value)
                except (TypeError, ValueError):
                    continue
        return value
    if origin is frozenset:
        return frozenset(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(_coerce(a, v) for a, v in zip(args, value))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


_register_all()
