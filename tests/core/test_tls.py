"""TLS in process: the CA ``overcast init --tls`` makes, the ``[api]``/``[bus]`` TLS settings
and their errors, the server context and its reload, client certificates, the scheme of
links (and ``X-Forwarded-Proto`` believed only from trusted proxies), the plain-HTTP
listener, kombu's ssl options, PostgreSQL URLs, the clear-text warnings of ``config check``,
and the dashboard's ``Secure`` cookie."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from overcast.config import load_config, parse_config
from overcast.errors import ConfigError
from overcast.pki import TlsFiles, create_ca, init_tls, issue_certificate, tls_files
from overcast.testing.cloud import free_port
from overcast.tls import (
    ServerTLS,
    amqp_ssl_options,
    cleartext_warnings,
    https_only_app,
    load_uvicorn_config,
    uvicorn_options,
)

CONFIG = Path("/srv/overcast/overcast.toml")


def _config(data: dict[str, Any], path: Path = CONFIG) -> Any:
    return parse_config(data, path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return init_tls(tmp_path_factory.mktemp("pki"), ["localhost", "127.0.0.1", "api.example"])


def _tls_config(tmp_path: Path, files: TlsFiles, **api: Any) -> Any:
    return _config({"api": {"tls_cert": str(files.cert), "tls_key": str(files.key), **api}}, tmp_path / "overcast.toml")


# --- the CA ------------------------------------------------------------------------------------


def test_init_tls_makes_a_ca_and_a_server_certificate_with_private_keys(tmp_path: Path) -> None:
    files = init_tls(tmp_path, ["host1.example", "10.0.0.10", "127.0.0.1"])
    assert files == tls_files(tmp_path) and files.cert.parent == tmp_path / "tls"
    for key in (files.ca_key, files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["host1.example"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.10", "127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # again: the CA (which clients trust already) is kept, the server certificate is new
    ca_pem, cert_pem = files.ca_cert.read_bytes(), files.cert.read_bytes()
    init_tls(tmp_path, ["host1.example"])
    assert files.ca_cert.read_bytes() == ca_pem and files.cert.read_bytes() != cert_pem


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"api": {"tls_cert": "server.pem"}}, "[api] tls_key: is required with tls_cert"),
        ({"api": {"tls_key": "server-key.pem"}}, "[api] tls_key: needs tls_cert"),
        ({"api": {"tls_client_ca": "ca.pem"}}, "[api] tls_client_ca: needs tls_cert"),
        ({"api": {"http_port": 8080}}, "[api] http_port: needs tls_cert"),
        ({"api": {"tls_cert": "c", "tls_key": "k", "http_port": 6080}}, "[api] http_port: must differ from port"),
        ({"api": {"tls_cert": "c", "tls_key": "k", "http_action": "ignore"}}, "[api] http_action: String should match"),
        ({"bus": {"url": "amqp://h//", "tls_ca": "ca.pem"}}, "[bus] tls_ca: needs an amqps:// url"),
        ({"bus": {"url": "amqps://h//", "tls_cert": "c.pem"}}, "[bus] tls_key: is required with tls_cert"),
    ],
)
def test_tls_settings_errors_name_file_table_and_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _config(data)
    assert str(exc.value).startswith(f"{CONFIG}: {message}")


def test_tls_paths_are_relative_to_the_data_dir_and_urls_become_https() -> None:
    config = _config(
        {
            "api": {"tls_cert": "tls/server.pem", "tls_key": "/etc/key.pem", "port": 6080},
            "objectstore": {"workers": 2, "port": 6081},
            "bus": {"url": "amqps://u:p@bus.example//", "tls_ca": "tls/ca.pem"},
        }
    )
    assert config.api.tls_cert == "/srv/overcast/tls/server.pem" and config.api.tls_key == "/etc/key.pem"
    assert config.bus.tls_ca == "/srv/overcast/tls/ca.pem"
    assert config.api.base_url() == "https://127.0.0.1:6080"
    assert config.object_store_url() == "https://127.0.0.1:6081"
    assert _config({}).api.base_url() == "http://127.0.0.1:6080"


# --- the server context ---------------------------------------------------------------------------


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str = "localhost") -> bytes:
    """A TLS handshake in memory; the server's certificate (DER) as the client got it."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, end in (("c", cli), ("s", srv)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    cli.write(b"x")  # TLS 1.3 reports a refused client certificate only on the first data
    s_in.write(c_out.read())
    srv.read(1)
    return cli.getpeercert(binary_form=True)


def _client(files: TlsFiles, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)


def test_server_context_errors_name_the_key(tmp_path: Path, pki: TlsFiles) -> None:
    config = _config({"api": {"tls_cert": str(tmp_path / "none.pem"), "tls_key": str(pki.key)}}, tmp_path / "o.toml")
    with pytest.raises(ConfigError, match=r"o\.toml: \[api\] tls_cert: no such file .*none\.pem"):
        ServerTLS(config)
    other = tmp_path / "other-key.pem"
    issue_certificate(pki, ["x"], tmp_path / "other.pem", other)
    with pytest.raises(ConfigError, match=r"\[api\] tls_cert, tls_key: cannot load .* with .*other-key\.pem"):
        ServerTLS(_config({"api": {"tls_cert": str(pki.cert), "tls_key": str(other)}}, tmp_path / "o.toml"))


def test_reload_serves_replaced_files_and_keeps_the_old_pair_when_they_do_not_load(
    tmp_path: Path, pki: TlsFiles
) -> None:
    files = TlsFiles(pki.ca_cert, pki.ca_key, tmp_path / "server.pem", tmp_path / "server-key.pem")
    issue_certificate(files, ["localhost"])
    tls = ServerTLS(_tls_config(tmp_path, files))
    first = _der(files.cert)
    assert _handshake(tls.context, _client(pki)) == first
    issue_certificate(files, ["localhost"])  # rotation: new files in place
    second = _der(files.cert)
    assert _handshake(tls.context, _client(pki)) == first  # nothing changes before the reload
    assert tls.reload()
    assert _handshake(tls.context, _client(pki)) == second
    files.cert.write_text("not a certificate\n")
    assert not tls.reload()
    assert _handshake(tls.context, _client(pki)) == second


def test_client_ca_asks_for_a_certificate_it_signed(tmp_path: Path, pki: TlsFiles) -> None:
    tls = ServerTLS(_tls_config(tmp_path, pki, tls_client_ca=str(pki.ca_cert)))
    with pytest.raises(ssl.SSLError, match="PEER_DID_NOT_RETURN_A_CERTIFICATE"):
        _handshake(tls.context, _client(pki))
    issue_certificate(pki, ["operator"], tmp_path / "client.pem", tmp_path / "client-key.pem", client=True)
    assert _handshake(tls.context, _client(pki, tmp_path / "client.pem", tmp_path / "client-key.pem")) == _der(pki.cert)
    other = TlsFiles(tmp_path / "ca2.pem", tmp_path / "ca2-key.pem", tmp_path / "c2.pem", tmp_path / "k2.pem")
    create_ca(other)
    issue_certificate(other, ["operator"], client=True)
    with pytest.raises(ssl.SSLError):
        _handshake(tls.context, _client(pki, other.cert, other.key))


# --- links follow the scheme the client reached ------------------------------------------------------


async def _echo_base_url(scope: dict[str, Any], receive: Any, send: Any) -> None:
    from starlette.requests import Request

    body = str(Request(scope).base_url).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


class _Serving:
    """uvicorn on a free port in a thread, configured as the API server configures it."""

    def __init__(self, app: Any, config: Any, tls: ServerTLS | None) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            load_uvicorn_config(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=self.port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    **uvicorn_options(config.api),
                ),
                tls,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Serving:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_links_use_the_scheme_the_client_reached_and_ignore_untrusted_forwarded_headers(
    tmp_path: Path, pki: TlsFiles
) -> None:
    config = _tls_config(tmp_path, pki)
    with _Serving(_echo_base_url, config, ServerTLS(config)) as s:
        url = f"https://127.0.0.1:{s.port}/x"
        ca = ssl.create_default_context(cafile=str(pki.ca_cert))
        assert httpx.get(url, verify=ca).text == f"https://127.0.0.1:{s.port}/"
        assert httpx.get(url, verify=ca, headers={"X-Forwarded-Proto": "http"}).text.startswith("https://")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(url)  # the system's CAs do not know this one: no silent downgrade
    plain = _config({})
    with _Serving(_echo_base_url, plain, None) as s:
        r = httpx.get(f"http://127.0.0.1:{s.port}/x", headers={"X-Forwarded-Proto": "https"})
        assert r.text == f"http://127.0.0.1:{s.port}/"  # a loopback client is no proxy
    proxied = _config({"api": {"trusted_proxies": ["127.0.0.1"]}})
    with _Serving(_echo_base_url, proxied, None) as s:
        r = httpx.get(f"http://127.0.0.1:{s.port}/x", headers={"X-Forwarded-Proto": "https"})
        assert r.text.startswith("https://")


@pytest.mark.parametrize(
    ("action", "method", "status"), [("redirect", "GET", 301), ("redirect", "POST", 308), ("refuse", "POST", 403)]
)
def test_plain_http_listener_redirects_or_refuses(
    tmp_path: Path, pki: TlsFiles, action: str, method: str, status: int
) -> None:
    config = _tls_config(tmp_path, pki, host="api.example", port=6443, http_port=6080, http_action=action)
    from starlette.testclient import TestClient

    client = TestClient(https_only_app(config.api), base_url="http://api.example:6080")
    r = client.request(method, "/identity/v3/auth/tokens?nocatalog=1", json={"auth": {}}, follow_redirects=False)
    assert r.status_code == status
    if action == "redirect":
        assert r.headers["location"] == "https://api.example:6443/identity/v3/auth/tokens?nocatalog=1"
    else:
        assert (
            r.json()["error"]["code"] == 403
            and "https://api.example:6443/identity/v3/auth/tokens" in r.json()["error"]["message"]
        )


def test_plain_http_redirect_on_a_wildcard_address_names_the_host_asked_for(tmp_path: Path, pki: TlsFiles) -> None:
    from starlette.testclient import TestClient

    config = _tls_config(tmp_path, pki, host="0.0.0.0", port=6443, http_port=6080)
    client = TestClient(https_only_app(config.api), base_url="http://cloud.example:6080")
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "https://cloud.example:6443/dashboard"


# --- bus, database, warnings -------------------------------------------------------------------------


def test_amqp_ssl_options(tmp_path: Path, pki: TlsFiles) -> None:
    base = {"url": "amqps://u:p@bus.example//", "tls_ca": str(pki.ca_cert)}
    assert amqp_ssl_options(_config({"bus": {"url": "amqp://h//"}}).bus) is None
    verified = amqp_ssl_options(_config({"bus": base}).bus)
    assert verified == {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None, "ca_certs": str(pki.ca_cert)}
    client = amqp_ssl_options(_config({"bus": {**base, "tls_cert": str(pki.cert), "tls_key": str(pki.key)}}).bus)
    assert client["certfile"] == str(pki.cert) and client["keyfile"] == str(pki.key)
    assert amqp_ssl_options(_config({"bus": {**base, "tls_verify": False}}).bus) == {"cert_reqs": ssl.CERT_NONE}
    with pytest.raises(ConfigError, match=r"\[bus\] tls_ca: no such file /nonexistent/ca.pem"):
        amqp_ssl_options(_config({"bus": {**base, "tls_ca": "/nonexistent/ca.pem"}}).bus)


def test_postgresql_tls_parameters_reach_psycopg_untouched() -> None:
    from overcast.db import Database

    url = "postgresql://overcast:secret@db.example:5432/overcast?sslmode=verify-full&sslrootcert=/srv/overcast/tls/db-ca.pem"
    db = Database(url)  # connects lazily
    try:
        _, params = db.engine.dialect.create_connect_args(db.engine.url)
        assert db.engine.dialect.driver == "psycopg"
        assert params["sslmode"] == "verify-full" and params["sslrootcert"] == "/srv/overcast/tls/db-ca.pem"
        assert params["host"] == "db.example" and params["password"] == "secret"
    finally:
        db.engine.dispose()


def test_config_check_warns_about_credentials_in_clear() -> None:
    clear = _config(
        {
            "api": {"host": "10.0.0.10"},
            "bus": {"url": "amqp://overcast:secret@10.0.0.10:5672//"},
            "database": {"url": "postgresql://overcast:secret@10.0.0.10/overcast"},
        }
    )
    warnings = cleartext_warnings(clear)
    assert [w.split(": ")[1] for w in warnings] == ["[api] host", "[bus] url", "[database] url"]
    assert "plain HTTP" in warnings[0] and "amqp://" in warnings[1] and "sslmode=verify-full" in warnings[2]
    weak = _config(
        {
            "api": {"host": "0.0.0.0", "tls_cert": "c", "tls_key": "k"},
            "bus": {"url": "amqps://h//", "tls_verify": False},
            "database": {"url": "postgresql://o:s@db.example/oc?sslmode=require"},
        }
    )
    assert [w.split(": ")[1] for w in cleartext_warnings(weak)] == ["[bus] tls_verify", "[database] url"]
    safe = _config(
        {
            "api": {"host": "10.0.0.10", "tls_cert": "c", "tls_key": "k"},
            "bus": {"url": "amqps://h//"},
            "database": {"url": "postgresql://o:s@db.example/oc?sslmode=verify-full&sslrootcert=/ca.pem"},
        }
    )
    assert cleartext_warnings(safe) == []
    local = _config(
        {
            "bus": {"url": "amqp://guest:guest@127.0.0.1:5672//"},
            "database": {"url": "postgresql://postgres@/oc?host=/var/run/postgresql"},
        }
    )
    assert cleartext_warnings(local) == []


# --- the CLI ---------------------------------------------------------------------------------------


def test_init_tls_writes_the_ca_into_clouds_yaml_and_openrc(tmp_path: Path) -> None:
    from overcast.cli import build_cli

    cli = build_cli(load_plugins=False)
    result = CliRunner().invoke(
        cli,
        [
            "init",
            "--data-dir",
            str(tmp_path),
            "--fake-drivers",
            "--tls",
            "--tls-name",
            "api.example",
            "--admin-password",
            "pw",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "overcast.toml")
    files = tls_files(tmp_path)
    assert config.api.tls_cert == str(files.cert) and config.api.tls_key == str(files.key)
    assert 'tls_cert = "tls/server.pem"' in (tmp_path / "overcast.toml").read_text()  # the data dir can move
    cloud = yaml.safe_load((tmp_path / "clouds.yaml").read_text())["clouds"]["overcast"]
    assert cloud["cacert"] == str(files.ca_cert) and cloud["auth"]["auth_url"] == "https://127.0.0.1:6080/identity"
    openrc = (tmp_path / "openrc").read_text()
    assert (
        f"export OS_CACERT={files.ca_cert}\n" in openrc
        and "export OS_AUTH_URL=https://127.0.0.1:6080/identity\n" in openrc
    )
    for private in (tmp_path / "openrc", tmp_path / "clouds.yaml", files.key, files.ca_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    san = x509.load_pem_x509_certificate(files.cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "api.example" in san.value.get_values_for_type(x509.DNSName)


def test_init_tls_on_a_plain_config_says_what_to_add(tmp_path: Path) -> None:
    from overcast.cli import build_cli

    cli = build_cli(load_plugins=False)
    assert (
        CliRunner()
        .invoke(cli, ["init", "--data-dir", str(tmp_path), "--fake-drivers", "--admin-password", "pw"])
        .exit_code
        == 0
    )
    assert "OS_CACERT" not in (tmp_path / "openrc").read_text()
    result = CliRunner().invoke(cli, ["init", "--data-dir", str(tmp_path), "--fake-drivers", "--tls", "--force"])
    assert result.exit_code == 1
    assert '[api] has no tls_cert; add tls_cert = "tls/server.pem" and tls_key = "tls/server-key.pem"' in result.output
    assert not (tmp_path / "tls").exists()


# --- the dashboard's cookie ----------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_dashboard_session_cookie_is_secure_over_https(cloud, scheme: str, secure: bool) -> None:
    from starlette.testclient import TestClient

    client = TestClient(cloud.app, base_url=f"{scheme}://testserver")
    r = client.post(
        "/login",
        data={"username": "admin", "password": cloud.admin_password, "project": "admin", "next": "/overview"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure and "httponly" in cookie


def test_config_check_prints_the_warnings(tmp_path: Path) -> None:
    from overcast.cli import build_cli

    path = tmp_path / "overcast.toml"
    path.write_text('[api]\nhost = "10.0.0.10"\n[bus]\nurl = "amqp://overcast:secret@10.0.0.10:5672//"\n')
    result = CliRunner().invoke(
        build_cli(load_plugins=False), ["config", "check", "--config", str(path), "--role", "controller"]
    )
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.stdout
    assert (
        f"warning: {path}: [api] host:" in result.stderr
        and f"warning: {path}: [bus] url: amqp:// to 10.0.0.10" in result.stderr
    )


def test_an_idle_keep_alive_connection_outlives_a_clients_five_second_poll() -> None:
    """``openstack stack update --wait`` sleeps 5 s between requests on one pooled connection;
    uvicorn's default (5 s) closed it just as the next request went out."""
    with _Serving(_echo_base_url, _config({}), None) as s, socket.create_connection(("127.0.0.1", s.port)) as conn:
        request = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"
        conn.sendall(request)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(5.5)
        conn.sendall(request)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
