"""The bus over ``amqps://`` against a private RabbitMQ node that listens only for TLS and
asks for a client certificate (:class:`tests.e2e.multihost.RabbitNode` with ``tls``): RPC
works when the broker's certificate chains to ``[bus] tls_ca`` and names the URL's host;
a broker that cannot be verified (another CA, another name) is refused unless ``tls_verify =
false``; without a client certificate the broker refuses us."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.bus import make_bus
from overcast.config import BusSection
from overcast.errors import ServiceUnavailable
from overcast.pki import TlsFiles, create_ca, init_tls, issue_certificate
from tests.e2e.multihost import BrokerTls, RabbitNode

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


class Echo:
    def echo(self, text: str) -> str:
        return f"echo {text}"


def _port() -> int:
    """A free port below 45536 (the node's Erlang distribution listens on port + 20000)."""
    for candidate in range(25000 + (hash(__file__) % 1000) * 7, 45536, 13):
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", candidate))
                b.bind(("127.0.0.1", candidate + 20000))
            except OSError:
                continue
        return candidate
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bus-pki")
    ours = init_tls(root / "ours", ["localhost", "127.0.0.1"])
    client = (root / "client.pem", root / "client-key.pem")
    issue_certificate(ours, ["agent-node1"], *client, client=True)
    other = TlsFiles(root / "other-ca.pem", root / "other-ca-key.pem", root / "o.pem", root / "o-key.pem")
    create_ca(other)
    return {"ours": ours, "client": client, "other_ca": other.ca_cert}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Any]) -> Iterator[RabbitNode]:
    ours = pki["ours"]
    node = RabbitNode(
        tmp_path_factory.mktemp("rabbit-tls"),
        netns=None,
        port=_port(),
        tls=BrokerTls(ours.ca_cert, ours.cert, ours.key, require_client_cert=True),
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()


def _bus(broker: RabbitNode, pki: dict[str, Any], host: str = "localhost", client_cert: bool = True, **tls: Any) -> Any:
    settings: dict[str, Any] = {
        "url": f"amqps://guest:guest@{host}:{broker.port}//",
        "tls_ca": str(pki["ours"].ca_cert),
        "rpc_timeout": 4.0,
        "prefix": "tlstest",
    }
    if client_cert:
        settings.update(tls_cert=str(pki["client"][0]), tls_key=str(pki["client"][1]))
    settings.update(tls)
    return make_bus(BusSection(**settings))


@pytest.fixture
def server(broker: RabbitNode, pki: dict[str, Any]) -> Iterator[Any]:
    bus = _bus(broker, pki)
    bus.serve("echo", Echo())
    try:
        assert bus.wait_ready(30), "the serving bus did not connect over TLS"
        yield bus
    finally:
        bus.close()


def test_rpc_over_a_verified_tls_broker(server: Any, broker: RabbitNode, pki: dict[str, Any]) -> None:
    client = _bus(broker, pki)
    try:
        assert client.call("echo", "echo", text="hi") == "echo hi"
    finally:
        client.close()


def _refused(bus: Any, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    try:
        with caplog.at_level(logging.WARNING, logger="overcast.bus.amqp"):
            with pytest.raises(ServiceUnavailable, match="message broker unreachable"):
                bus.call("echo", "echo", text="hi")
    finally:
        bus.close()
    assert reason in caplog.text, caplog.text


def test_a_broker_signed_by_another_ca_is_refused(
    server: Any, broker: RabbitNode, pki: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _refused(_bus(broker, pki, tls_ca=str(pki["other_ca"])), caplog, "CERTIFICATE_VERIFY_FAILED")


def test_a_broker_under_another_name_is_refused(
    server: Any, broker: RabbitNode, pki: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # 127.0.0.2 reaches the same listener, but the certificate names localhost and 127.0.0.1
    _refused(_bus(broker, pki, host="127.0.0.2"), caplog, "IP address mismatch")


def test_tls_verify_false_accepts_an_unverifiable_broker(server: Any, broker: RabbitNode, pki: dict[str, Any]) -> None:
    client = _bus(broker, pki, host="127.0.0.2", tls_ca=str(pki["other_ca"]), tls_verify=False)
    try:
        assert client.call("echo", "echo", text="anyway") == "echo anyway"
    finally:
        client.close()


def test_the_broker_refuses_a_client_without_a_certificate(
    server: Any, broker: RabbitNode, pki: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bus = _bus(broker, pki, client_cert=False)
    try:
        with caplog.at_level(logging.WARNING, logger="overcast.bus.amqp"):
            with pytest.raises(ServiceUnavailable):
                bus.call("echo", "echo", text="hi")
    finally:
        bus.close()
    assert "certificate" in caplog.text.lower() or "Connection reset" in caplog.text, caplog.text
