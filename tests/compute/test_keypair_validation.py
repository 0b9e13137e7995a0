"""Key pairs are checked as Nova checks them: an SSH public key must load, an x509 one must
be a PEM certificate (SHA-1 fingerprint), and a generated x509 pair is a certificate."""

import pytest

from overcast.compute.keypairs import fingerprint, generate, generate_x509, x509_fingerprint
from overcast.errors import BadRequest


def test_a_key_that_does_not_load_is_refused() -> None:
    for bad in ("ssh-rsa JUNK nova@ubuntu", "ssh-rsa " + "A" * 2048 + " openstack@ubuntu", " ", "junk"):
        with pytest.raises(BadRequest, match="Keypair data is invalid: failed to generate fingerprint"):
            fingerprint(bad)


def test_a_generated_key_has_an_md5_fingerprint() -> None:
    public, _private = generate()
    fp = fingerprint(public)
    assert len(fp.split(":")) == 16


def test_x509_pairs() -> None:
    cert, private = generate_x509("user", "project")
    assert cert.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" in private
    assert len(x509_fingerprint(cert).split(":")) == 20
    with pytest.raises(BadRequest, match="failed to generate X509 fingerprint"):
        x509_fingerprint("not a certificate")
