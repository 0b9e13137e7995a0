"""``overcast reload`` (serve replaced certificate files) and ``overcast tls issue`` (a new
server certificate from the CA ``overcast init --tls`` made)."""

from __future__ import annotations

import signal
import ssl
import time
from pathlib import Path

import click

from overcast.cli.output import config_option
from overcast.config import Config, load_config


def _served_certificate(config: Config) -> bytes | None:
    """The DER certificate the API serves now (``None`` if it cannot be fetched)."""
    from overcast.cli.server import _connect_host

    try:
        pem = ssl.get_server_certificate((_connect_host(config.api.host).strip("[]"), config.api.port), timeout=5)
    except (OSError, ssl.SSLError):
        return None
    return ssl.PEM_cert_to_DER_cert(pem)


def _file_certificate(path: Path) -> bytes | None:
    """The first (leaf) certificate of a PEM file, DER-encoded."""
    try:
        text = path.read_text()
    except OSError:
        return None
    end = text.find("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[: end + len("-----END CERTIFICATE-----")]) if end >= 0 else None


@click.command("reload")
@config_option
@click.option(
    "--pid-file", type=click.Path(dir_okay=False), default=None, help="Pid file (default: <data dir>/overcast.pid)."
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the new certificate.")
def reload_command(config_path: str | None, pid_file: str | None, timeout: float) -> None:
    """Serve the current [api] tls_cert and tls_key files (after replacing them) to new connections,
    in the API server and its object-API workers, without a restart (SIGHUP)."""
    import os

    from overcast.cli.server import _pid_file
    from overcast.pidfile import read_holder

    config = load_config(config_path)
    if not config.api.tls_cert:
        raise click.ClickException(f"{config.path}: [api] tls_cert is not set: there is no certificate to reload")
    pid_path = _pid_file(config, pid_file)
    holder = read_holder(pid_path)
    if holder is None:
        raise click.ClickException(f"not running ({pid_path})")
    pid = holder.pid
    wanted = _file_certificate(config.resolve_path(config.api.tls_cert, ""))
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted is not None and _served_certificate(config) == wanted:
            click.echo(f"pid {pid} serves {config.api.tls_cert} now")
            return
        time.sleep(0.2)
    raise click.ClickException(
        f"pid {pid} was asked to reload but does not serve {config.api.tls_cert} "
        f"(a key that does not match, or a file that does not load? see its log)"
    )


@click.group("tls")
def tls_group() -> None:
    """Certificates of the API (the CA 'overcast init --tls' made)."""


@tls_group.command("issue")
@config_option
@click.option("--name", "names", multiple=True, help="A DNS name or address (repeatable; default: this host's).")
def tls_issue(config_path: str | None, names: tuple[str, ...]) -> None:
    """Replace [api] tls_cert and tls_key with a new certificate signed by DATA_DIR/tls/ca.pem
    (then 'overcast reload')."""
    from overcast.pki import host_names, issue_certificate, tls_files

    config = load_config(config_path)
    files = tls_files(config.data_dir)
    if not config.api.tls_cert:
        raise click.ClickException(f"{config.path}: [api] tls_cert is not set (overcast init --tls sets it)")
    if not files.ca_key.exists():
        raise click.ClickException(
            f"{files.ca_key}: no CA key here (the certificate is not from 'overcast init --tls')"
        )
    cert = config.resolve_path(config.api.tls_cert, "")
    key = config.resolve_path(config.api.tls_key, "")
    chosen = list(names) or host_names([config.api.host])
    issue_certificate(files, chosen, cert, key)
    click.echo(f"issued {cert} for {', '.join(chosen)} (key {key}); serve it with: overcast reload")


COMMANDS = [reload_command, tls_group]
