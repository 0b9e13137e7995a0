"""The one settings loader: ``overcast.toml``, validated, with errors that say where.

The file has core sections (``[database]``, ``[bus]``, ``[api]``, and one per service) and
driver tables: named ``[hosts.NAME]`` and ``[volume_backends.NAME]``, plus ``[image_store]``,
``[object_store]`` and ``[network]``. A driver table names its ``driver``; its other keys
are that driver's options, declared by the plugin (``overcast_add_config_options``) and
validated by :func:`resolve_drivers` once plugins are loaded.

Every error is one line: ``<file>: [table] key: what is wrong``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from overcast.errors import ConfigError, DriverNotInstalled
from overcast.types import Backend, ConfigOption, DriverKind, Host

CONFIG_ENV = "OVERCAST_CONFIG"
CONFIG_NAME = "overcast.toml"


def default_data_dir() -> Path:
    return Path("/var/lib/overcast") if os.geteuid() == 0 else Path.home() / ".overcast"


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else default_data_dir() / CONFIG_NAME


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSection(_Section):
    url: str = ""  # empty: SQLite file overcast.db in the data dir
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)  # connections each process keeps open
    # more opened in a burst and closed after it: each process holds at most pool_size +
    # max_overflow (on PostgreSQL every process's share counts against its max_connections)
    max_overflow: int = Field(default=20, ge=0)
    # seconds a new PostgreSQL connection waits while the server is full or starting up
    connect_wait: float = Field(default=30.0, ge=0)


def _needs(info: ValidationInfo, value: Any, other: str, why: str = "") -> None:
    """A key is set but ``other`` (declared, so validated, before it) is not."""
    if value and not info.data.get(other):
        raise ValueError(f"needs {other}{why}")


def _key_with_cert(cls: type, value: str, info: ValidationInfo) -> str:
    """``tls_key`` and ``tls_cert`` go together."""
    if info.data.get("tls_cert") and not value:
        raise ValueError("is required with tls_cert")
    _needs(info, value, "tls_cert")
    return value


class BusSection(_Section):
    url: str = "memory://"  # or amqp:// (plain) or amqps:// (TLS) to RabbitMQ
    # amqps:// only: the CA the broker's certificate must chain to (empty: the system's CAs),
    # and this process's client certificate for a broker that asks for one
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = Field(default="", validate_default=True)
    tls_verify: bool = True  # false: encrypted, but any certificate is accepted (no authentication)
    rpc_timeout: float = Field(default=60.0, gt=0)
    heartbeat_interval: float = Field(default=10.0, gt=0)  # how often the controller asks each agent
    host_down_after: float = Field(default=30.0, gt=0)  # no answer for this long: the host is down
    # namespace for queue, routing-key and exchange names on a broker shared by several clouds
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")

    @field_validator("tls_ca", "tls_cert")
    @classmethod
    def _tls_needs_amqps(cls, value: str, info: ValidationInfo) -> str:
        if value and not str(info.data.get("url", "")).startswith("amqps://"):
            raise ValueError(f"needs an amqps:// url (url is {info.data.get('url')!r})")
        return value

    _key_pair: ClassVar[Any] = field_validator("tls_key")(classmethod(_key_with_cert))

    @property
    def probe_timeout(self) -> float:
        """How long to wait for an agent that may be gone (heartbeats, start-up pushes): a
        fraction of ``host_down_after``, so one dead host never delays the others' verdicts."""
        return min(self.rpc_timeout, max(1.0, self.host_down_after / 3))


class ApiSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=6080, ge=0, le=65535)
    public_url: str = ""  # empty: http(s)://host:port
    region: str = "RegionOne"
    # every request body, whatever its type; image and object data have their services' limits
    max_request_body: int = Field(default=1024 * 1024, ge=1024)
    workers: int = Field(default=1, ge=1)
    # requests each API process runs at once, the others queued in arrival order
    # (overcast.api.admission); 0: no queue
    request_slots: int = Field(default=8, ge=0)
    # HTTPS: the server's certificate (chain) and key files, relative to the data dir or absolute;
    # ``overcast reload`` serves replaced files to new connections
    tls_cert: str = ""
    tls_key: str = Field(default="", validate_default=True)
    tls_client_ca: str = ""  # set: clients must present a certificate this CA signed
    # a plain-HTTP listener beside HTTPS (0: none; plain HTTP to ``port`` fails its handshake)
    http_port: int = Field(default=0, ge=0, le=65535)
    http_action: str = Field(default="redirect", pattern="^(redirect|refuse)$")  # on http_port
    # peers whose X-Forwarded-Proto/-For are believed (a TLS-terminating proxy); empty: nobody's
    trusted_proxies: list[str] = []
    # who may scrape ``GET /metrics`` (Prometheus, no token): addresses or CIDRs
    metrics_allowed: list[str] = ["127.0.0.0/8", "::1/128"]

    _key_pair: ClassVar[Any] = field_validator("tls_key")(classmethod(_key_with_cert))

    @field_validator("tls_client_ca")
    @classmethod
    def _client_ca_with_cert(cls, value: str, info: ValidationInfo) -> str:
        _needs(info, value, "tls_cert", " (client certificates are asked for over HTTPS)")
        return value

    @field_validator("http_port")
    @classmethod
    def _http_port_with_tls(cls, value: int, info: ValidationInfo) -> int:
        _needs(info, value, "tls_cert", " (without TLS, port itself serves plain HTTP)")
        if value and value == info.data.get("port"):
            raise ValueError("must differ from port")
        return value

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def base_url(self) -> str:
        return (self.public_url or f"{self.scheme}://{self.host}:{self.port}").rstrip("/")


class IdentitySection(_Section):
    token_ttl: int = Field(default=3600, ge=60)
    keys_dir: str = ""  # empty: <data_dir>/fernet-keys
    # the project (in the default domain) whose admins administer the cloud (Keystone's
    # admin_project_name): the admin role on any other project is admin of that project only.
    # Empty: none is set, and the admin role on any project administers the cloud (Keystone's
    # default, which Tempest's dynamic credentials assume)
    admin_project: str = "admin"
    max_active_keys: int = Field(default=3, ge=2)
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19456, ge=1024)
    # Keystone's [security_compliance] lockout: this many failed password logins in a row lock
    # the user for lockout_duration seconds (0: no lockout); each failure also makes the
    # user's next attempt wait (login_backoff seconds, doubling per failure, up to 30 s)
    lockout_failure_attempts: int = Field(default=6, ge=0)
    lockout_duration: int = Field(default=1800, ge=1)
    login_backoff: float = Field(default=0.5, ge=0)
    # failed password logins from one source address within source_failure_window seconds
    source_failure_limit: int = Field(default=30, ge=0)
    source_failure_window: int = Field(default=60, ge=1)
    # password rules for new and changed passwords (Keystone's password_regex and its
    # description, shown to the user who breaks it), and a minimum length
    password_regex: str = ""
    password_regex_description: str = ""
    password_min_length: int = Field(default=0, ge=0)

    @field_validator("password_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class ComputeSection(_Section):
    cpu_allocation_ratio: float = Field(default=4.0, gt=0)
    ram_allocation_ratio: float = Field(default=1.0, gt=0)
    disk_allocation_ratio: float = Field(default=1.0, gt=0)
    weigher: str = Field(default="spread", pattern="^(spread|pack)$")
    image_cache_dir: str = ""  # empty: <data_dir>/image-cache
    instances_dir: str = ""  # empty: <data_dir>/instances
    shutdown_timeout: int = Field(default=60, ge=0)
    task_workers: int = Field(default=8, ge=1)  # background threads running server tasks
    quota_instances: int = Field(default=10, ge=-1)  # per-project defaults; -1 is unlimited
    quota_cores: int = Field(default=20, ge=-1)
    quota_ram: int = Field(default=51200, ge=-1)
    quota_key_pairs: int = Field(default=100, ge=-1)
    quota_server_groups: int = Field(default=10, ge=-1)
    scheduler_cache_seconds: float = Field(default=1.0, ge=0)  # how stale host states may be
    # Nova's option: a resize may land on the server's current host (the all-in-one has one host)
    allow_resize_to_same_host: bool = True
    # Nova's option: every server gets a config drive (issue 17)
    force_config_drive: bool = False
    # Nova's option (issue 18): 0 offloads a shelved server at once (frees its host), -1 never
    # (shelveOffload does it); a delay is not offered
    shelved_offload_time: int = Field(default=0, ge=-1, le=0)


class MetadataSection(_Section):
    """Nova's metadata API (issue 17): guests reach it at 169.254.169.254 through the network
    driver's proxies, which sign the network (or router) and source address they vouch for.
    ``port`` 0 serves no metadata API (``overcast init`` writes Nova's 8775); ``shared_secret``
    empty: one is made in the data dir (one machine; set it on every host of a multi-host
    cloud). ``vendor_data`` is ``vendor_data.json`` (Nova's StaticJSON), ``vendor_data2`` is
    ``vendor_data2.json``."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    shared_secret: str = ""
    vendor_data: dict[str, Any] = {}
    vendor_data2: dict[str, Any] = {}

    def url(self) -> str:
        """Where proxies reach the API (host:port)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class ImageSection(_Section):
    max_image_size: int = Field(default=1024**4, ge=1)  # bytes; larger uploads are refused (413)
    # os_hash_algo of new uploads (Glance's hashing_algorithm); clients verify with whatever it is
    hashing_algorithm: str = Field(default="sha512", pattern="^(sha512|sha384|sha256|sha3_512|blake2b)$")
    # Glance's [image_format] require_image_format_match: refuse uploads whose content is not
    # their disk_format. Off, a mismatch is stored as declared (QEMU then fails to boot it);
    # unsafe content (qcow2 backing or data files, VMDK descriptors) is refused either way.
    require_format_match: bool = True
    # interoperable image import (issue 18): the methods offered; web-download is offered only
    # when web_download_allowed lists URL prefixes (scheme://host[:port]/path) it may fetch from;
    # glance-download copies an image the caller sees from this cloud's image service (its region)
    import_methods: list[str] = ["glance-direct", "web-download", "glance-download"]
    web_download_allowed: list[str] = []
    # whether web-download may reach loopback, link-local or unspecified addresses (never by default)
    web_download_allow_local: bool = False
    web_download_timeout: float = Field(default=60.0, gt=0)  # seconds without data before giving up
    staging_dir: str = ""  # empty: <data_dir>/image-staging (glance-direct's staged data)
    # glance-download copies these properties (shell patterns) of the source image, as Glance
    glance_download_properties: list[str] = ["hw_*", "trait:*", "os_distro", "os_secure_boot", "os_type"]

    @field_validator("import_methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"glance-direct", "web-download", "glance-download"})
        if unknown:
            raise ValueError(f"unknown import method(s) {unknown}: use glance-direct, web-download, glance-download")
        return value


class NetworkingSection(_Section):
    """Settings of the network service (the ``[network]`` table names its driver)."""

    vni_min: int = Field(default=1001, ge=1, le=16777215)
    vni_max: int = Field(default=65000, ge=1, le=16777215)
    default_network_type: str = Field(default="vxlan", pattern="^(vxlan|flat)$")
    vxlan_mtu: int = Field(default=1450, ge=576)
    flat_mtu: int = Field(default=1500, ge=576)
    network_host: str = ""  # the host that runs DHCP and routers; empty: the first configured host
    mac_prefix: str = Field(default="fa:16:3e", pattern="^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")
    quota_network: int = Field(default=100, ge=-1)
    quota_subnet: int = Field(default=100, ge=-1)
    quota_port: int = Field(default=500, ge=-1)
    quota_router: int = Field(default=10, ge=-1)
    quota_floatingip: int = Field(default=50, ge=-1)
    quota_security_group: int = Field(default=10, ge=-1)
    quota_security_group_rule: int = Field(default=100, ge=-1)


class VolumeSection(_Section):
    """The volume service. ``backend_hosts`` maps a backend to the host whose agent runs its
    driver (storage local to that host, e.g. an LVM group); other backends are driven by
    the controller itself."""

    backend_hosts: dict[str, str] = {}
    quota_volumes: int = Field(default=10, ge=-1)
    quota_gigabytes: int = Field(default=1000, ge=-1)
    quota_snapshots: int = Field(default=10, ge=-1)
    workers: int = Field(default=4, ge=1)  # background threads for slow volume work
    work_dir: str = ""  # empty: <data_dir>/volume-work (image downloads and uploads)
    # volume backups (issue 18): chunking and compression are the core's; [backup] names the target driver
    quota_backups: int = Field(default=10, ge=-1)
    quota_backup_gigabytes: int = Field(default=1000, ge=-1)
    backup_container: str = "volumebackups"  # Cinder's default container name
    backup_chunk_mb: int = Field(default=32, ge=1, le=1024)
    backup_compression: Literal["zstd", "zlib", "none"] = "zstd"
    backup_workers: int = Field(default=3, ge=1, le=16)  # chunks hashed, compressed and sent at once


class ObjectStoreSection(_Section):
    """Swift service settings. ``[object_store]`` is the default storage policy, named
    ``default_policy``; ``[objectstore.policies.NAME]`` tables add more (each names a driver)."""

    default_policy: str = "Policy-0"
    policies: dict[str, "DriverTable"] = {}
    container_cache_ttl: float = Field(default=2.0, ge=0)  # seconds a container record is reused
    expirer_interval: float = Field(default=30.0, gt=0)
    max_manifest_segments: int = Field(default=1000, ge=1)
    min_segment_size: int = Field(default=1, ge=1)
    container_listing_limit: int = Field(default=10000, ge=1)
    max_file_size: int = Field(default=5 * 1024**3, ge=1)  # one object (not a manifest)
    max_meta_overall_size: int = Field(default=4096, ge=256)
    # a holder of this role on any project administers every account, sets account quotas
    # (Swift keystoneauth's ``reseller_admin_role``); cloud admins always may
    reseller_admin_role: str = "ResellerAdmin"
    # Swift's crossdomain middleware: the ``<cross-domain-policy>`` elements served at
    # ``/object/crossdomain.xml`` for Flash/Silverlight clients, e.g.
    # '<allow-access-from domain="*" secure="false" />'; empty: not served (404) nor advertised
    cross_domain_policy: str = ""
    # ``workers`` > 0: that many extra processes serve the Swift API (``/object/...`` only) on
    # ``port`` of the API's host, sharing one listening socket, and the catalog's object-store
    # endpoint moves there (like swift-proxy's workers). 0: the API process serves it.
    workers: int = Field(default=0, ge=0)
    port: int = Field(default=0, ge=0, le=65535)
    public_url: str = ""  # empty: the API's public URL with this port


class LoadBalancingSection(_Section):
    """Settings of the load-balancer service (the ``[loadbalancer]`` table names its driver)."""

    health_interval: float = Field(default=2.0, gt=0)  # seconds between reads of member health
    quota_load_balancer: int = Field(default=-1, ge=-1)  # -1: unlimited (Octavia's default)
    quota_listener: int = Field(default=-1, ge=-1)
    quota_pool: int = Field(default=-1, ge=-1)
    quota_member: int = Field(default=-1, ge=-1)
    quota_health_monitor: int = Field(default=-1, ge=-1)
    quota_l7policy: int = Field(default=-1, ge=-1)
    quota_l7rule: int = Field(default=-1, ge=-1)


class DriverTable(BaseModel):
    """A table that names a driver; every other key is a driver option."""

    model_config = ConfigDict(extra="allow")
    driver: str


ObjectStoreSection.model_rebuild()


class NotificationsSection(_Section):
    """OpenStack-style notifications (:mod:`overcast.notifications`)."""

    # messaging: on the bus as event <topic>.<priority>; log: to the log; noop: not sent
    driver: str = Field(default="messaging", pattern="^(messaging|log|noop)$")
    topics: list[str] = Field(default=["notifications"], min_length=1)


class HostTable(DriverTable):
    availability_zone: str = "nova"


class Config(_Section):
    """The whole validated file. ``path`` and ``data_dir`` are absolute."""

    path: Path = Path(CONFIG_NAME)
    data_dir: Path = Path(".")
    database: DatabaseSection = DatabaseSection()
    bus: BusSection = BusSection()
    api: ApiSection = ApiSection()
    identity: IdentitySection = IdentitySection()
    compute: ComputeSection = ComputeSection()
    image: ImageSection = ImageSection()
    networking: NetworkingSection = NetworkingSection()
    volume: VolumeSection = VolumeSection()
    objectstore: ObjectStoreSection = ObjectStoreSection()
    notifications: NotificationsSection = NotificationsSection()
    metadata: MetadataSection = MetadataSection()  # issue 17
    hosts: dict[str, HostTable] = {}
    volume_backends: dict[str, DriverTable] = {}
    image_store: DriverTable | None = None
    object_store: DriverTable | None = None
    network: DriverTable | None = None
    backup: DriverTable | None = None  # the volume backup target (issue 18)
    # the load-balancer service: [loadbalancing] settings, [loadbalancer] its driver
    loadbalancing: LoadBalancingSection = LoadBalancingSection()
    loadbalancer: DriverTable | None = None

    @model_validator(mode="after")
    def _absolute_tls_paths(self) -> "Config":
        """Certificate and key files may be named relative to the data dir; every reader
        (server, bus, ``overcast reload``) gets them absolute."""
        for section, keys in (
            (self.api, ("tls_cert", "tls_key", "tls_client_ca")),
            (self.bus, ("tls_ca", "tls_cert", "tls_key")),
        ):
            for key in keys:
                value = getattr(section, key)
                if value:
                    setattr(section, key, str(self.resolve_path(value, "")))
        return self

    # --- derived paths ------------------------------------------------------------------

    def resolve_path(self, value: str | os.PathLike[str], default: str) -> Path:
        """A path option: relative paths are relative to the data dir; empty gives ``default``."""
        path = Path(value) if str(value) else Path(default)
        return path if path.is_absolute() else self.data_dir / path

    def object_store_url(self) -> str:
        """Base URL of the Swift API: the API's own, or with ``[objectstore] workers`` the
        API's with the object-API workers' port (unless ``[objectstore] public_url``)."""
        section = self.objectstore
        if not section.workers:
            return self.api.base_url()
        if section.public_url:
            return section.public_url.rstrip("/")
        api = urlsplit(self.api.base_url())
        host = api.hostname or self.api.host
        host = f"[{host}]" if ":" in host else host
        return f"{api.scheme}://{host}:{section.port}{api.path}"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'overcast.db'}"


def _format_location(loc: Sequence[Any]) -> str:
    """``('hosts', 'node1', 'driver')`` -> ``[hosts.node1] driver``."""
    parts = [str(p) for p in loc]
    if len(parts) == 1:
        return parts[0]
    return f"[{'.'.join(parts[:-1])}] {parts[-1]}"


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validate already-parsed TOML data. Raises ``ConfigError`` naming file and key."""
    data = dict(data)
    data_dir = Path(data.pop("data_dir", "") or path.parent)
    if not data_dir.is_absolute():
        data_dir = (path.parent / data_dir).resolve()
    try:
        return Config(path=path, data_dir=data_dir, **data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _format_location(err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "value_error":  # our validators' own words, without pydantic's prefix
            msg = str(err.get("ctx", {}).get("error", msg))
        if err["type"] == "missing":
            msg = "is required"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{path}: {where}: {msg}{more}") from None
    except TypeError as exc:  # a key that is a table where a value was expected, etc.
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file (``path``, ``$OVERCAST_CONFIG``, or the default)."""
    file = Path(path) if path else default_config_path()
    file = file.expanduser().absolute()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file (run 'overcast init' or set {CONFIG_ENV})") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, file)


# --------------------------------------------------------------------------------------
# Driver tables, validated against the options the plugins declare
# --------------------------------------------------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}


def _check_option(opt: ConfigOption, value: Any, where: str) -> Any:
    expected = opt.type
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{where} {opt.name}: must be {_TYPE_NAMES.get(expected, expected.__name__)}, got {value!r}")
    if opt.choices is not None and value not in opt.choices:
        choices = ", ".join(repr(c) for c in opt.choices)
        raise ConfigError(f"{where} {opt.name}: must be one of {choices}, got {value!r}")
    return value


def validate_driver_options(
    kind: DriverKind,
    driver: str,
    values: Mapping[str, Any],
    options: Sequence[ConfigOption],
    where: str,
) -> dict[str, Any]:
    """Check one table's options against the driver's declared ones; apply defaults."""
    declared = {o.name: o for o in options if o.kind == kind and o.driver == driver}
    out: dict[str, Any] = {}
    for key, value in values.items():
        opt = declared.get(key)
        if opt is None:
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(f"{where} {key}: unknown option for {kind.value} driver '{driver}' (known: {known})")
        out[key] = _check_option(opt, value, where)
    for name, opt in declared.items():
        if name not in out:
            if opt.required:
                raise ConfigError(f"{where} {name}: is required by {kind.value} driver '{driver}'")
            out[name] = opt.default
    return out


@dataclass(frozen=True)
class ResolvedDrivers:
    """Every configured target with validated options, ready to route to."""

    hosts: Mapping[str, Host]
    volume_backends: Mapping[str, Backend]
    image_store: Backend | None
    object_store: Backend | None
    network: Backend | None
    backup: Backend | None = None
    loadbalancer: Backend | None = None


#: process roles: ``all`` (all-in-one), ``controller`` (API and scheduler, no local drivers of
#: hosts), ``agent`` (one host's drivers, no database)
ROLES = ("all", "controller", "agent")


def resolve_drivers(
    config: Config, pm: Any, role: str = "all", host: str | Sequence[str] | None = None
) -> ResolvedDrivers:
    """Check that every named driver is installed and its options are valid.

    ``pm`` is an :class:`overcast.plugins.PluginManager` (not imported, to keep this module
    free of plugin loading).

    ``role`` says which drivers this process will run, so only those must be installed:

    * ``all``: every table (the all-in-one process runs them all);
    * ``controller``: the image and object stores and the volume backends it drives itself;
      hosts, host-local volume backends (``[volume] backend_hosts``) and ``[network]`` are
      driven by agents over the bus, so their drivers need not be installed here (their
      options are validated when they are);
    * ``agent`` (with ``host``: one name, or the names of every host one agent process
      serves): those hosts, the other hosts of the same drivers (migration peers: the driver
      needs their options), ``[network]``, ``[image_store]`` (images are fetched straight
      from the store) and the backends ``backend_hosts`` puts on them.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown process role {role!r}; use one of {', '.join(ROLES)}")
    options = pm.config_options()
    file = config.path
    own = (host,) if isinstance(host, str) else tuple(host or ())
    if role == "agent":
        missing = [name for name in own if name not in config.hosts] if own else [None]
        if missing:
            known = ", ".join(sorted(config.hosts)) or "none"
            raise ConfigError(
                f"{file}: no [hosts.{missing[0]}] table: this agent's host must be configured (hosts: {known})"
            )

    def installed(kind: DriverKind, table: DriverTable) -> bool:
        try:
            pm.registry.get(kind, table.driver)
        except DriverNotInstalled:
            return False
        return True

    def target(
        kind: DriverKind, table: DriverTable, where: str, state: str, lenient: bool = False
    ) -> tuple[str, dict[str, Any], str]:
        extra = dict(table.model_extra or {})
        state_dir = str(config.data_dir / state)
        if lenient and not installed(kind, table):
            return table.driver, extra, state_dir  # run elsewhere: kept as configured
        try:
            pm.registry.get(kind, table.driver)
        except DriverNotInstalled as exc:
            raise DriverNotInstalled(f"{file}: {where} driver: {exc}") from None
        opts = validate_driver_options(kind, table.driver, extra, options, f"{file}: {where}")
        return table.driver, opts, state_dir

    remote = role == "controller"
    own_drivers = {config.hosts[name].driver for name in own} if role == "agent" else None
    hosts = {}
    for name, host_table in config.hosts.items():
        if own_drivers is not None and host_table.driver not in own_drivers:
            continue
        driver, opts, state_dir = target(
            DriverKind.HYPERVISOR, host_table, f"[hosts.{name}]", f"hosts/{name}", lenient=remote
        )
        hosts[name] = Host(name, driver, opts, host_table.availability_zone, state_dir)
    backends = {}
    for name, table in config.volume_backends.items():
        on_host = config.volume.backend_hosts.get(name)
        if role == "agent" and on_host not in own:
            continue
        driver, opts, state_dir = target(
            DriverKind.VOLUME, table, f"[volume_backends.{name}]", f"volumes/{name}", lenient=remote and bool(on_host)
        )
        backends[name] = Backend(DriverKind.VOLUME, name, driver, opts, state_dir)

    def single(kind: DriverKind, table: DriverTable | None, section: str, lenient: bool = False) -> Backend | None:
        if table is None:
            return None
        driver, opts, state_dir = target(kind, table, f"[{section}]", section, lenient=lenient)
        return Backend(kind, section, driver, opts, state_dir)

    return ResolvedDrivers(
        hosts=hosts,
        volume_backends=backends,
        image_store=single(DriverKind.IMAGE_STORE, config.image_store, "image_store"),
        object_store=None if role == "agent" else single(DriverKind.OBJECT_STORE, config.object_store, "object_store"),
        network=single(DriverKind.NETWORK, config.network, "network", lenient=remote),
        backup=single(DriverKind.BACKUP, config.backup, "backup"),
        # run by the network host's agent, like DHCP
        loadbalancer=single(DriverKind.LOADBALANCER, config.loadbalancer, "loadbalancer", lenient=remote),
    )
