"""``overcast init``, ``overcast up`` and ``overcast down``: set up and run the all-in-one cloud."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from overcast.cli.output import config_option
from overcast.config import CONFIG_NAME, default_data_dir, load_config, parse_config, resolve_drivers
from overcast.datadir import PRIVATE_UMASK, make_private, qemu_group
from overcast.errors import ConfigError, OvercastError
from overcast.passwords import new_password
from overcast.pidfile import PidFile, read_holder, stop

FAKE_HELP = "Also load the in-memory fake drivers (named 'fake'): for tests and demos."


# --- init --------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(data: dict[str, Any], comment: str = "") -> str:
    """Enough TOML for a config: top-level scalars, then tables and tables of tables."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]

    def table(prefix: str, values: dict[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        if scalars or not tables:
            lines.append(f"\n[{prefix}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for key, sub in tables.items():
            table(f"{prefix}.{key}", sub)

    for key, value in data.items():
        if isinstance(value, dict):
            table(key, value)
    return "\n".join(lines) + "\n"


def _driver_tables(pm: Any, fake: bool, directory: Path) -> dict[str, Any]:
    """Driver tables for an all-in-one cloud: the fake drivers, or the installed real ones
    that validate with their defaults (others are left out; add them by hand)."""
    if fake:
        return {
            "hosts": {"fake1": {"driver": "fake"}},
            "volume_backends": {"fake": {"driver": "fake"}},
            "image_store": {"driver": "fake"},
            "object_store": {"driver": "fake"},
            "network": {"driver": "fake"},
            "backup": {"driver": "fake"},
        }
    host = socket.gethostname().split(".")[0] or "local"
    candidates = [
        ("hosts", {host: {"driver": "kvm"}}),
        ("volume_backends", {"fs": {"driver": "fs", "path": str(directory / "volumes")}}),
        ("image_store", {"driver": "fs", "path": str(directory / "images")}),
        ("object_store", {"driver": "fs", "path": str(directory / "objects")}),
        # issue 17: DevStack's external bridge, which the `public` network (made below) joins
        ("network", {"driver": "linuxbridge", **EXTERNAL_BRIDGE_OPTIONS}),
        ("backup", {"driver": "objectstore"}),  # volume backups in the project's object store (issue 18)
    ]
    chosen: dict[str, Any] = {}
    for key, table in candidates:
        try:
            resolve_drivers(parse_config({key: table}, Path("/nonexistent") / CONFIG_NAME), pm)
        except OvercastError:
            continue
        chosen[key] = table
    return chosen


#: issue 17: the all-in-one's external network, as DevStack makes it: a flat network on the
#: host bridge br-ex, which carries the subnet's gateway address, so floating IPs answer from
#: the host itself
EXTERNAL_BRIDGE_OPTIONS = {"host_bridges": ["br-ex=172.24.4.1/24"], "physical_interface_mappings": ["public:br-ex"]}
PUBLIC_NETWORK = {
    "name": "public",
    "router:external": True,
    "provider:network_type": "flat",
    "provider:physical_network": "public",
}
PUBLIC_SUBNET = {
    "name": "public-subnet",
    "cidr": "172.24.4.0/24",
    "ip_version": 4,
    "gateway_ip": "172.24.4.1",
    "enable_dhcp": False,
    "allocation_pools": [{"start": "172.24.4.2", "end": "172.24.4.254"}],
}


def _public_network(runtime: Any, project_id: str) -> str | None:
    """Make the ``public`` external network and its subnet unless one by that name exists;
    returns its id (``None`` without a network driver that has host bridges)."""
    from overcast.context import RequestContext

    table = runtime.config.network
    if table is None or not getattr(table, "host_bridges", None):
        return None
    ctx = RequestContext(user_id="overcast-init", project_id=project_id, roles=frozenset({"admin", "member", "reader"}))
    svc = runtime.network
    existing = [n for n in svc.networks.list(ctx) if n["name"] == PUBLIC_NETWORK["name"]]
    if existing:
        return str(existing[0]["id"])
    net = svc.networks.create(ctx, {"network": PUBLIC_NETWORK})
    svc.subnets.create(ctx, {"subnet": {"network_id": net["id"], **PUBLIC_SUBNET}})
    return str(net["id"])


def api_workers() -> int:
    """``[api] workers`` for a new all-in-one cloud: one process per CPU (one Python process
    uses at most one core), at most 4."""
    return min(os.cpu_count() or 1, 4)


def _objectstore_table(tables: dict[str, Any], port: int) -> dict[str, Any]:
    """``[objectstore]`` for an all-in-one cloud with a real object store: the Swift API served
    by one process per CPU on the next port (swift-proxy's ``workers = auto``: one process
    cannot use more than one core, and each waits on the disk in its own threads; a second per
    CPU costs ~30 MiB each against issue 23's 300 MiB), which the catalog names. Nothing for
    the fake store."""
    if tables.get("object_store", {}).get("driver") in (None, "fake"):
        return {}
    return {"objectstore": {"workers": os.cpu_count() or 1, "port": port + 1}}


def clouds_yaml(auth_url: str, password: str, region: str, cacert: Path | None = None) -> str:
    """``clouds.yaml`` with cloud ``overcast``; ``cacert``: the CA clients verify HTTPS with."""
    import yaml

    cloud = {
        "auth": {
            "auth_url": auth_url,
            "username": "admin",
            "password": password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": region,
        "interface": "public",
        "identity_api_version": 3,
    }
    if cacert is not None:
        cloud["cacert"] = str(cacert)
    return yaml.safe_dump({"clouds": {"overcast": cloud}}, sort_keys=False)


def openrc(auth_url: str, password: str, region: str, cacert: Path | None = None) -> str:
    """The same credentials as ``clouds.yaml`` in DevStack's ``openrc`` form, for clients that
    read only ``OS_*`` variables (the ``swift`` CLI): ``source DIR/openrc``; ``OS_CACERT`` with HTTPS."""
    env = {
        "OS_AUTH_URL": auth_url,
        "OS_AUTH_TYPE": "password",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": region,
        "OS_INTERFACE": "public",
    }
    if cacert is not None:
        env["OS_CACERT"] = str(cacert)
    lines = ["# Overcast admin credentials, written by 'overcast init': source this file"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@click.command("init")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where config, database and keys go (default: ~/.overcast, or /var/lib/overcast as root).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option("--port", type=int, default=6080, show_default=True, help="Port the API listens on.")
@click.option("--admin-password", default=None, help="The admin password (default: generated and printed).")
@click.option("--fake-drivers", is_flag=True, help="Configure the in-memory fake drivers only: " + FAKE_HELP)
@click.option(
    "--force", is_flag=True, help="Re-initialise an existing data dir: keeps data, resets the admin password."
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS: create a CA (kept if it exists) and a server certificate for this "
    "host's names and addresses in DATA_DIR/tls; clouds.yaml and openrc name the CA.",
)
@click.option(
    "--tls-name", multiple=True, help="With --tls: one more DNS name or address for the certificate (repeatable)."
)
def init_command(
    data_dir: str | None,
    host: str,
    port: int,
    admin_password: str | None,
    fake_drivers: bool,
    force: bool,
    tls: bool,
    tls_name: tuple[str, ...],
) -> None:
    """Create a cloud: config, database, Fernet keys, the admin project and user, clouds.yaml and openrc."""
    from overcast.pki import host_names, init_tls, tls_files
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.testing.fakes import FakeDriversPlugin

    directory = Path(data_dir).expanduser().absolute() if data_dir else default_data_dir()
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise click.ClickException(
            f"{config_path} exists: this data dir is initialised (use --force to reset the admin password)"
        )
    if tls and config_path.exists() and not load_config(config_path).api.tls_cert:
        files = tls_files(directory)
        raise click.ClickException(
            f'{config_path}: [api] has no tls_cert; add tls_cert = "{files.cert.relative_to(directory)}" and '
            f'tls_key = "{files.key.relative_to(directory)}" to [api], then run this again'
        )
    os.umask(PRIVATE_UMASK)  # the database, keys and clouds.yaml are the service's alone
    directory.mkdir(parents=True, exist_ok=True)
    extra = [("fake", FakeDriversPlugin())] if fake_drivers else []
    pm = load_plugin_manager(extra_plugins=extra, strict=False)
    if not config_path.exists():
        data: dict[str, Any] = {
            "api": {"host": host, "port": port, "region": "RegionOne", "workers": api_workers()},
            "identity": {"token_ttl": 3600},
        }
        if tls:
            files = tls_files(directory)
            data["api"].update(
                tls_cert=str(files.cert.relative_to(directory)), tls_key=str(files.key.relative_to(directory))
            )
        data.update(_driver_tables(pm, fake_drivers, directory))
        if not fake_drivers:
            data["metadata"] = {"port": 8775}  # issue 17: Nova's metadata API port
        data.update(_objectstore_table(data, port))
        _write_private(
            config_path,
            to_toml(
                data,
                "Overcast all-in-one config written by 'overcast init'.\nSee the README for every section and driver option.",
            ),
        )
    config = load_config(config_path)
    if tls:
        init_tls(directory, host_names([host, *tls_name]))
    cacert = tls_files(directory).ca_cert if config.api.tls_cert else None
    if cacert is not None and not cacert.exists():
        cacert = None  # the operator's own certificate: clients use the system's CAs or their own cacert
    password = admin_password or new_password()
    runtime = build_runtime(config, pm=pm)
    try:
        result = runtime.identity.bootstrap(password)
        public = _public_network(runtime, result.project_id)
    finally:
        runtime.close()
    auth_url = config.api.base_url() + "/identity"
    _write_private(directory / "clouds.yaml", clouds_yaml(auth_url, password, config.api.region, cacert))
    _write_private(directory / "openrc", openrc(auth_url, password, config.api.region, cacert))
    make_private(directory, qemu_group())
    click.echo(f"initialised {directory}")
    click.echo(f"  config:       {config_path}")
    click.echo(f"  clouds.yaml:  {directory / 'clouds.yaml'} (cloud 'overcast')")
    click.echo(f"  openrc:       {directory / 'openrc'} (source it for clients that read OS_* only, e.g. swift)")
    if cacert is not None:
        click.echo(f"  CA:           {cacert} (copy it to clients: cacert in clouds.yaml, OS_CACERT)")
    click.echo(f"  auth url:     {auth_url}")
    click.echo(f"  admin project {result.project_id}, user {result.user_id}")
    if public:
        click.echo(f"  external net: public ({public}), 172.24.4.0/24 on host bridge br-ex (172.24.4.1)")
    click.echo(f"admin password: {password}")
    click.echo(f"next: overcast up --config {config_path}")


# --- up / down ---------------------------------------------------------------------------


def _pid_file(config: Any, pid_file: str | None) -> Path:
    return Path(pid_file).absolute() if pid_file else config.data_dir / "overcast.pid"


def _serving(config: Any) -> bool:
    """Whether the API answers. Over HTTPS a TCP connect is enough (uvicorn listens only once
    start-up is done) and presents no client certificate, which [api] tls_client_ca may ask for."""
    import httpx

    host, port = _connect_host(config.api.host), config.api.port
    if config.api.tls_cert:
        try:
            socket.create_connection((host.strip("[]"), port), timeout=1.0).close()
            return True
        except OSError:
            return False
    try:
        return httpx.get(f"http://{host}:{port}/identity", timeout=1.0).status_code == 300
    except httpx.HTTPError:
        return False


def _wait_until_serving(config: Any, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the server exited with status {proc.returncode}; see its log")
        if _serving(config):
            return
        time.sleep(0.1)
    raise click.ClickException(
        f"the server did not answer on {config.api.host}:{config.api.port} within {timeout:.0f}s"
    )


@click.command("up")
@config_option
@click.option("--detach", is_flag=True, help="Run in the background; write the pid file and return once it serves.")
@click.option(
    "--pid-file", type=click.Path(dir_okay=False), default=None, help="Pid file (default: <data dir>/overcast.pid)."
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --detach: where its log goes (default: <data dir>/overcast.log).",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option("--fake-drivers", is_flag=True, help=FAKE_HELP)
@click.option(
    "--role",
    type=click.Choice(["all", "controller"]),
    default="all",
    show_default=True,
    help="all: API, services and every configured host's agent in one process. controller: API, scheduler "
    "and services only; each host runs 'overcast agent --host NAME' (needs an amqp:// [bus] url).",
)
def up_command(
    config_path: str | None,
    detach: bool,
    pid_file: str | None,
    log_file: str | None,
    log_level: str,
    fake_drivers: bool,
    role: str,
) -> None:
    """Run the server (API, services, and with --role all the local host agents) until SIGTERM."""
    config = load_config(config_path)
    pid_path = _pid_file(config, pid_file)
    running = read_holder(pid_path)  # a stale pid file is reported and removed here
    if running is not None:
        raise click.ClickException(f"already running as pid {running.pid} ({pid_path})")
    if detach:
        log_path = Path(log_file).absolute() if log_file else config.data_dir / "overcast.log"
        args = [
            sys.executable,
            "-c",
            "from overcast.cli import main; main()",
            "up",
            "--config",
            str(config.path),
            "--pid-file",
            str(pid_path),
            "--log-level",
            log_level,
        ]
        if fake_drivers:
            args.append("--fake-drivers")
        args += ["--role", role]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        _wait_until_serving(config, proc, timeout=60)
        click.echo(f"overcast is up: pid {proc.pid}, {config.api.base_url()} (log {log_path})")
        return
    from overcast import malloc
    from overcast.logs import setup_logging
    from overcast.server import serve

    setup_logging(log_level)
    malloc.tune()  # before any thread: its workers inherit it
    os.umask(PRIVATE_UMASK)  # whatever this process creates is private to the service
    make_private(config.data_dir, qemu_group())  # and what is there already is made so
    try:
        lock = PidFile(pid_path).acquire()  # held, and the pid file trusted, while we live
        try:
            serve(config, fake_drivers=fake_drivers, role=role)
        finally:
            lock.release()
    except OvercastError as exc:
        raise click.ClickException(str(exc)) from None


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)


@click.command("down")
@config_option
@click.option(
    "--pid-file", type=click.Path(dir_okay=False), default=None, help="Pid file (default: <data dir>/overcast.pid)."
)
def down_command(config_path: str | None, pid_file: str | None) -> None:
    """Stop a server started with 'overcast up --detach'. Only a process that holds the pid
    file's lock and started when the file says is signalled; a stale pid file is removed."""
    try:
        config = load_config(config_path)
        pid_path = _pid_file(config, pid_file)
    except ConfigError:
        if not pid_file:
            raise
        pid_path = Path(pid_file).absolute()
    stale = pid_path.exists()
    holder = read_holder(pid_path)
    if holder is None:
        click.echo(f"not running ({pid_path}{': stale pid file removed, nothing signalled' if stale else ''})")
        return
    if stop(holder):
        click.echo(f"stopped pid {holder.pid}")
    else:
        raise click.ClickException(f"pid {holder.pid} did not stop on SIGTERM and was killed")


@click.command("cleanup")
@config_option
@click.option("--yes", is_flag=True, help="Remove what is listed (default: only list it).")
@click.option("--fake-drivers", is_flag=True, help=FAKE_HELP)
def cleanup_command(config_path: str | None, yes: bool, fake_drivers: bool) -> None:
    """List, and with --yes remove, the data plane a stopped cloud left on its hosts: guests
    (libvirt domains; disks are kept), routers, ports, DHCP and networks (bridges, VXLAN
    devices, namespaces, dnsmasq, firewall chains). Only what this cloud's database says it
    made is touched, never another cloud's on the same host."""
    from overcast.agent import start_local_agents
    from overcast.cleanup import leftovers, remove
    from overcast.cli.output import emit
    from overcast.network.plumbing import Plumbing
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.server import uses_fake_drivers

    config = load_config(config_path)
    holder = read_holder(_pid_file(config, None))
    if holder is not None:
        raise click.ClickException(f"the cloud is running (pid {holder.pid}): stop it with 'overcast down' first")
    extra: list[tuple[str, object]] = []
    if fake_drivers or uses_fake_drivers(config):
        from overcast.testing.fakes import FakeDriversPlugin

        extra.append(("fake", FakeDriversPlugin()))
    runtime = build_runtime(config, pm=load_plugin_manager(extra_plugins=extra))
    try:
        found = leftovers(runtime)
        network_host = Plumbing(runtime).network_host()
        rows = found.rows(network_host)
        emit(rows, ["kind", "host", "name", "id"], False, title="Left on the hosts by this cloud")
        if not yes or not rows:
            if rows:
                click.echo("run again with --yes to remove these")
            return
        if config.bus.url.startswith("memory://"):
            start_local_agents(runtime)  # all-in-one: this process drives the hosts' drivers
        # (multi-host: each host's running 'overcast agent' does it, over the broker)
        for line in remove(runtime, found, network_host):
            click.echo(line)
    finally:
        runtime.close()


COMMANDS = [init_command, up_command, down_command, cleanup_command]
