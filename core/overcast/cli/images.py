"""``overcast image upload`` / ``overcast image download``: image data over the Glance API,
streamed, with a progress bar (rich) and checksum verification.

Authentication is the usual OpenStack environment (``OS_AUTH_URL``, ``OS_USERNAME``,
``OS_PASSWORD``, ``OS_PROJECT_NAME``, ``OS_USER_DOMAIN_NAME``, ``OS_PROJECT_DOMAIN_NAME``),
or ``--token`` with ``--image-url`` (the image endpoint, e.g. ``http://H:6080/image``).
Over HTTPS the server is verified against ``OS_CACERT`` (as ``openrc`` sets it), else the
system's CAs.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

CHUNK = 1024 * 1024
TIMEOUT = httpx.Timeout(30.0, read=600.0, write=600.0)


def _verify() -> ssl.SSLContext | bool:
    """How HTTPS servers are verified: ``OS_CACERT`` (the CA in ``openrc``) or the system's CAs."""
    cacert = os.environ.get("OS_CACERT")
    return ssl.create_default_context(cafile=cacert) if cacert else True


class Session:
    """A token and the image endpoint."""

    def __init__(self, token: str, image_url: str) -> None:
        self.token = token
        self.image_url = image_url.rstrip("/")
        # JSON errors ({"message": ...}), as Glance's webob answers when JSON is preferred
        self.client = httpx.Client(
            timeout=TIMEOUT, headers={"X-Auth-Token": token, "Accept": "application/json"}, verify=_verify()
        )

    def url(self, path: str) -> str:
        return f"{self.image_url}/v2{path}"

    def check(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 400:
            text = response.read().decode(errors="replace").strip()
            try:
                message = str(json.loads(text)["message"])
            except (ValueError, KeyError, TypeError):
                message = text.splitlines()[-1] if text else ""
            raise click.ClickException(f"{what} failed: HTTP {response.status_code}: {message}")
        return response


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise click.ClickException(f"{name} is not set (or pass --token and --image-url)")
    return value


def authenticate(token: str | None, image_url: str | None) -> Session:
    """A session from ``--token``/``--image-url`` or a Keystone v3 password login."""
    if token and image_url:
        return Session(token, image_url)
    auth_url = _env("OS_AUTH_URL").rstrip("/")
    if not auth_url.endswith("/v3"):
        auth_url += "/v3"
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": _env("OS_USERNAME"),
                        "password": _env("OS_PASSWORD"),
                        "domain": {"name": os.environ.get("OS_USER_DOMAIN_NAME", "Default")},
                    }
                },
            },
            "scope": {
                "project": {
                    "name": _env("OS_PROJECT_NAME"),
                    "domain": {"name": os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")},
                }
            },
        }
    }
    try:
        r = httpx.post(f"{auth_url}/auth/tokens", json=body, timeout=TIMEOUT, verify=_verify())
    except httpx.ConnectError as exc:  # a refused connection, or a certificate that does not verify
        raise click.ClickException(f"cannot reach {auth_url}: {exc}") from None
    if r.status_code != 201:
        raise click.ClickException(f"authentication failed: HTTP {r.status_code}: {r.text.strip()}")
    token = r.headers["X-Subject-Token"]
    if image_url is None:
        interface = os.environ.get("OS_INTERFACE", "public")
        for service in r.json()["token"].get("catalog", []):
            if service.get("type") == "image":
                urls = [e["url"] for e in service["endpoints"] if e.get("interface") == interface]
                if urls:
                    image_url = urls[0]
                    break
        if image_url is None:
            raise click.ClickException("the service catalog has no image endpoint")
    return Session(token, image_url)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def _file_chunks(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            progress.update(task, advance=len(chunk))
            yield chunk


auth_options = [
    click.option("--token", envvar="OS_TOKEN", default=None, help="A Keystone token (with --image-url)."),
    click.option("--image-url", envvar="OVERCAST_IMAGE_URL", default=None, help="The image endpoint URL."),
]


def with_auth(func: Any) -> Any:
    for option in reversed(auth_options):
        func = option(func)
    return func


@click.group("image")
def image_group() -> None:
    """Upload and download image data (with progress bars)."""


@image_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Image name.")
@click.option(
    "--disk-format",
    required=True,
    type=click.Choice(["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "ari", "aki", "ploop"]),
)
@click.option("--container-format", default="bare", show_default=True)
@click.option("--visibility", type=click.Choice(["private", "shared", "public", "community"]), default=None)
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE", help="A custom property (repeatable).")
@click.option("--min-disk", type=int, default=None)
@click.option("--min-ram", type=int, default=None)
@with_auth
def upload(
    file: Path,
    name: str,
    disk_format: str,
    container_format: str,
    visibility: str | None,
    properties: tuple[str, ...],
    min_disk: int | None,
    min_ram: int | None,
    token: str | None,
    image_url: str | None,
) -> None:
    """Create an image from FILE and upload its data, showing progress."""
    body: dict[str, Any] = {"name": name, "disk_format": disk_format, "container_format": container_format}
    for item in properties:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--property")
        body[key] = value
    if visibility:
        body["visibility"] = visibility
    if min_disk is not None:
        body["min_disk"] = min_disk
    if min_ram is not None:
        body["min_ram"] = min_ram
    session = authenticate(token, image_url)
    image = session.check(session.client.post(session.url("/images"), json=body), "create").json()
    size = file.stat().st_size
    try:
        with _progress() as progress:
            task = progress.add_task(f"upload {name}", total=size)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            r = session.client.put(
                session.url(f"/images/{image['id']}/file"), content=_file_chunks(file, progress, task), headers=headers
            )
        session.check(r, "upload")
    except BaseException:
        session.client.delete(session.url(f"/images/{image['id']}"))
        raise
    shown = session.check(session.client.get(session.url(f"/images/{image['id']}")), "show").json()
    click.echo(json.dumps({k: shown.get(k) for k in ("id", "name", "status", "size", "checksum", "disk_format")}))


@image_group.command("download")
@click.argument("image_id")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the data.",
)
@with_auth
def download(image_id: str, output: Path, token: str | None, image_url: str | None) -> None:
    """Download IMAGE_ID's data to a file, showing progress, and verify its checksums."""
    session = authenticate(token, image_url)
    image = session.check(session.client.get(session.url(f"/images/{image_id}")), "show").json()
    part = output.with_name(f".{output.name}.part")
    md5, other = hashlib.md5(usedforsecurity=False), None
    if image.get("os_hash_algo") and image.get("os_hash_value"):
        other = hashlib.new(image["os_hash_algo"])
    try:
        with session.client.stream("GET", session.url(f"/images/{image_id}/file")) as r, _progress() as progress:
            session.check(r, "download")
            if r.status_code == 204:
                raise click.ClickException(f"image {image_id} has no data (status {image.get('status')})")
            task = progress.add_task(
                f"download {image.get('name') or image_id}", total=int(r.headers.get("content-length", 0)) or None
            )
            with open(part, "wb") as out:
                for chunk in r.iter_bytes(CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    if other is not None:
                        other.update(chunk)
                    progress.update(task, advance=len(chunk))
            expected_md5 = r.headers.get("content-md5") or image.get("checksum")
        if expected_md5 and md5.hexdigest() != expected_md5:
            raise click.ClickException("downloaded data does not match the image's md5 checksum")
        if other is not None and other.hexdigest() != image["os_hash_value"]:
            raise click.ClickException(f"downloaded data does not match the image's {image['os_hash_algo']}")
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
    click.echo(f"{output}: {output.stat().st_size} bytes, checksum verified")


COMMANDS = [image_group]
