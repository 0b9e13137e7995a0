"""The unmodified clients against ``overcast up`` over HTTPS (``running_cloud`` with
``running_cloud_tls``, certificates as ``overcast init --tls`` makes them): the ``openstack``
CLI, openstacksdk and the ``swift`` CLI verify the server through ``cacert`` and get a
certificate error without it (no downgrade); links and ``Location`` are ``https://``; the
object-API workers serve HTTPS too; plain HTTP is redirected on ``http_port``; the
dashboard's cookie is ``Secure``; a new certificate is served after ``overcast reload``."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import shlex
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from overcast.testing.cloud import RunningCloud, free_port

pytestmark = [pytest.mark.clients, pytest.mark.slow]

BIN = Path(sys.executable).parent
HTTP_PORT = free_port()
OBJECT_PORT = free_port()


@pytest.fixture(scope="module")
def running_cloud_tls() -> bool:
    return True


@pytest.fixture(scope="module")
def running_cloud_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "api": {"http_port": HTTP_PORT},
        "object_store": {"driver": "fs", "path": str(tmp_path_factory.mktemp("objects"))},
        "objectstore": {"workers": 1, "port": OBJECT_PORT},
    }


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install .[clients])")
    return path


def _without_cacert(cloud: RunningCloud) -> dict[str, str]:
    """The CLI's environment with a clouds.yaml that names no CA (and no CA bundle override)."""
    data = yaml.safe_load(Path(cloud.env["OS_CLIENT_CONFIG_FILE"]).read_text())
    del data["clouds"]["overcast"]["cacert"]
    path = cloud.data_dir / "clouds-no-cacert.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in cloud.env.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    return {**env, "OS_CLIENT_CONFIG_FILE": str(path)}


def _token(cloud: RunningCloud) -> tuple[str, dict[str, Any]]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}},
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    r = httpx.post(cloud.auth_url + "/v3/auth/tokens", json=body, verify=cloud.verify, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]


def test_openstack_cli_verifies_through_cacert(running_cloud: RunningCloud) -> None:
    assert running_cloud.url.startswith("https://")
    token = running_cloud.openstack("token", "issue", "-f", "json")
    assert token["project_id"]
    urls = {e["url"] for s in running_cloud.openstack("catalog", "list", "-f", "json") for e in s["Endpoints"]}
    assert urls and all(u.startswith("https://") for u in urls), urls
    assert running_cloud.openstack("server", "list", "-f", "json") == []


def test_openstack_cli_without_cacert_gets_a_certificate_error(running_cloud: RunningCloud) -> None:
    done = running_cloud.openstack("token", "issue", "-f", "json", check=False, env=_without_cacert(running_cloud))
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr or "certificate verify failed" in done.stderr, done.stderr


def _sdk(cloud: RunningCloud, config_file: str) -> Any:
    import openstack
    from openstack.config import loader

    region = loader.OpenStackConfig(config_files=[config_file]).get_one(cloud="overcast")
    return openstack.connection.Connection(config=region)


def test_openstacksdk_verifies_through_cacert(running_cloud: RunningCloud) -> None:
    from keystoneauth1 import exceptions

    conn = _sdk(running_cloud, running_cloud.env["OS_CLIENT_CONFIG_FILE"])
    assert conn.identity.find_project("admin") is not None
    assert list(conn.compute.servers()) == []
    bare = _sdk(running_cloud, _without_cacert(running_cloud)["OS_CLIENT_CONFIG_FILE"])
    # keystoneauth reports the failed version discovery, naming the certificate error
    with pytest.raises((exceptions.SSLError, exceptions.DiscoveryFailure), match="CERTIFICATE_VERIFY_FAILED"):
        bare.identity.find_project("admin")


def _swift(
    cloud: RunningCloud, *args: str, cacert: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    auth = [
        "--auth-version",
        "3",
        "--os-auth-url",
        cloud.auth_url + "/v3",
        "--os-username",
        "admin",
        "--os-password",
        cloud.admin_password,
        "--os-project-name",
        "admin",
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
    ]
    if cacert:
        auth += ["--os-cacert", str(cloud.cacert)]
    return subprocess.run(
        [_tool("swift"), *auth, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=_without_cacert(cloud)
    )


def test_swift_cli_through_the_https_object_workers(running_cloud: RunningCloud, tmp_path: Path) -> None:
    _, token = _token(running_cloud)
    store = next(s for s in token["catalog"] if s["type"] == "object-store")
    assert all(e["url"].startswith(f"https://127.0.0.1:{OBJECT_PORT}/") for e in store["endpoints"])
    (tmp_path / "hello.txt").write_bytes(b"over TLS\n" * 1000)
    up = _swift(running_cloud, "upload", "tls-box", "hello.txt", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert _swift(running_cloud, "list", "tls-box").stdout.split() == ["hello.txt"]
    down = _swift(running_cloud, "download", "tls-box", "hello.txt", "-o", "-")
    assert down.returncode == 0 and down.stdout == "over TLS\n" * 1000
    bare = _swift(running_cloud, "list", "tls-box", cacert=False)
    assert bare.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in bare.stderr or "certificate verify failed" in bare.stderr, bare.stderr


def test_links_and_location_use_https(running_cloud: RunningCloud) -> None:
    subject, _ = _token(running_cloud)
    headers = {"X-Auth-Token": subject}
    with httpx.Client(base_url=running_cloud.url, verify=running_cloud.verify, headers=headers, timeout=30) as client:
        r = client.post("/image/v2/images", json={"name": "tls", "disk_format": "raw", "container_format": "bare"})
        assert r.status_code == 201 and r.headers["location"].startswith(f"{running_cloud.url}/image/v2/images/")
        versions = client.get("/compute/v2.1/").json()["version"]["links"]
        assert versions[0]["href"] == f"{running_cloud.url}/compute/v2.1/"
        r = client.get("/compute/v2.1/", headers={"X-Forwarded-Proto": "http"})  # not a trusted proxy
        assert r.json()["version"]["links"][0]["href"].startswith("https://")


def test_plain_http_is_refused_on_the_tls_port_and_redirected_on_http_port(running_cloud: RunningCloud) -> None:
    port = running_cloud.url.rsplit(":", 1)[1]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/identity", timeout=10)
    r = httpx.get(f"http://127.0.0.1:{HTTP_PORT}/identity/v3?x=1", timeout=10)
    assert r.status_code == 301 and r.headers["location"] == f"{running_cloud.url}/identity/v3?x=1"
    r = httpx.post(f"http://127.0.0.1:{HTTP_PORT}/identity/v3/auth/tokens", json={}, timeout=10)
    assert r.status_code == 308 and r.headers["location"] == f"{running_cloud.url}/identity/v3/auth/tokens"


def test_dashboard_cookie_is_secure(running_cloud: RunningCloud) -> None:
    r = httpx.post(
        running_cloud.url + "/login",
        verify=running_cloud.verify,
        timeout=30,
        data={"username": "admin", "password": running_cloud.admin_password, "project": "admin", "next": "/overview"},
    )
    assert r.status_code == 303
    assert "; secure" in r.headers["set-cookie"].lower()


def test_overcast_image_upload_verifies_through_os_cacert(running_cloud: RunningCloud, tmp_path: Path) -> None:
    from overcast.cli.server import openrc

    rc = openrc(running_cloud.auth_url, running_cloud.admin_password, "RegionOne", running_cloud.cacert)
    env = {k: v for k, v in _without_cacert(running_cloud).items() if not k.startswith("OS_")}
    exports = [line.removeprefix("export ").split("=", 1) for line in rc.splitlines() if line.startswith("export ")]
    env.update((name, shlex.split(value)[0]) for name, value in exports)  # as `source openrc` reads them
    (tmp_path / "disk.raw").write_bytes(b"\0" * 65536)
    upload = [
        sys.executable,
        "-c",
        "from overcast.cli import main; main()",
        "image",
        "upload",
        str(tmp_path / "disk.raw"),
        "--name",
        "tls-upload",
        "--disk-format",
        "raw",
    ]
    done = subprocess.run(upload, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    del env["OS_CACERT"]
    done = subprocess.run(upload, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in done.stderr + done.stdout


def _served(port: int) -> bytes:
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=10))


def _file(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_rotation_with_overcast_reload(running_cloud: RunningCloud) -> None:
    """The served certificate changes (last in the module; with xdist, in whichever process runs it)."""
    port = int(running_cloud.url.rsplit(":", 1)[1])
    cert = running_cloud.data_dir / "tls" / "server.pem"
    old = _file(cert)
    assert _served(port) == old and _served(OBJECT_PORT) == old
    overcast = [sys.executable, "-c", "from overcast.cli import main; main()"]
    done = subprocess.run(
        [*overcast, "tls", "issue", "--name", "127.0.0.1", "--name", "localhost"],
        env=running_cloud.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    new = _file(cert)
    assert new != old and _served(port) == old  # nothing changes until the reload
    done = subprocess.run([*overcast, "reload"], env=running_cloud.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "serves" in done.stdout, done.stderr
    assert _served(port) == new
    import time

    deadline = time.monotonic() + 10
    while _served(OBJECT_PORT) != new:  # the worker got the SIGHUP from the server
        assert time.monotonic() < deadline, "the object worker still serves the old certificate"
        time.sleep(0.2)
    assert running_cloud.openstack("token", "issue", "-f", "json")["project_id"]  # a new connection verifies
    stat = _swift(running_cloud, "stat")  # through the object worker's new certificate
    assert stat.returncode == 0 and "Account: AUTH_" in stat.stdout, stat.stderr
