"""A small certificate authority for ``overcast init --tls``: one CA, and server certificates
it signs for the host's names and addresses (``cryptography``; ECDSA P-256 keys).

Files go to ``<data dir>/tls/``: ``ca.pem`` (give it to clients: ``cacert`` in
``clouds.yaml``, ``OS_CACERT`` in ``openrc``), ``ca-key.pem``, ``server.pem`` and
``server-key.pem``. Keys are written 0600 and replaced atomically, so a server reading them
at ``overcast reload`` sees either the old pair or the new one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity Apple's and browsers' rules accept for a server certificate


@dataclass(frozen=True)
class TlsFiles:
    """Where ``init_tls`` put the CA and the server's certificate and key."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    tls = directory / "tls"
    return TlsFiles(tls / "ca.pem", tls / "ca-key.pem", tls / "server.pem", tls / "server-key.pem")


def host_names(extra: Iterable[str] = ()) -> list[str]:
    """This host's names and addresses (hostname, FQDN, what they resolve to, loopback), plus
    ``extra`` (an API address such as ``10.0.0.10``; wildcard addresses are left out)."""
    names = ["localhost", "127.0.0.1", "::1"]
    hostname = socket.gethostname()
    for name in (hostname, socket.getfqdn()):
        if name:
            names.append(name)
            try:
                names.extend(str(info[4][0]) for info in socket.getaddrinfo(name, None))
            except OSError:
                pass
    names.extend(extra)
    out: list[str] = []
    for name in names:
        if name and name not in ("0.0.0.0", "::") and name not in out:
            out.append(name)
    return out


def _subject_alt_names(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name.split("%")[0])))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` with ``mode`` from the start (a key is never readable by others), then
    move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)  # clock skew


def create_ca(files: TlsFiles, common_name: str = "Overcast CA") -> None:
    """A new self-signed CA (key 0600, certificate 0644)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(files.ca_key, _key_pem(key), 0o600)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def issue_certificate(
    files: TlsFiles,
    names: Iterable[str],
    cert_path: Path | None = None,
    key_path: Path | None = None,
    days: int = SERVER_DAYS,
    client: bool = False,
) -> None:
    """Sign a certificate for ``names`` (DNS names or IP addresses) with the CA in ``files``;
    written to ``cert_path``/``key_path`` (default: the server's). ``client`` makes it a
    client certificate (for a broker or an API that asks for one)."""
    names = list(names)
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key}: not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(_subject_alt_names(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # key first: a reload between the two writes fails its key/certificate check and keeps
    # serving the old pair, rather than pairing an old key with a new certificate
    _write(key_path or files.key, _key_pem(key), 0o600)
    _write(cert_path or files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def init_tls(directory: Path, names: Iterable[str]) -> TlsFiles:
    """The CA (made if missing, kept otherwise: clients already trust it) and a new server
    certificate for ``names``."""
    files = tls_files(directory)
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        create_ca(files)
    issue_certificate(files, names)
    return files
