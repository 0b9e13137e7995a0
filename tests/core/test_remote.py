"""overcast.remote: what the remote-endpoint hypervisor drivers (xen, esx, hyperv) share."""

from __future__ import annotations

import pytest

from overcast.errors import BackendUnavailable, NotFound
from overcast.remote import EndpointSessions, host_option, translate_errors
from overcast.types import ConfigOption, DriverKind, Host

OPTIONS = [
    ConfigOption(DriverKind.HYPERVISOR, "demo", "url", str, required=True),
    ConfigOption(DriverKind.HYPERVISOR, "demo", "username", str, "root"),
]


def _host(name: str = "h1", **options) -> Host:
    return Host(name=name, driver="demo", options=options)


def test_host_option_falls_back_to_the_declared_default_for_unset_and_empty_values() -> None:
    assert host_option(_host(url="https://a", username="ops"), OPTIONS, "username") == "ops"
    assert host_option(_host(url="https://a"), OPTIONS, "username") == "root"
    assert host_option(_host(url="https://a", username=""), OPTIONS, "username") == "root"


class _Session:
    def __init__(self, url: str, password: str) -> None:
        self.url, self.password, self.closed = url, password, False

    def close(self) -> None:
        self.closed = True


def test_one_session_per_endpoint_and_user_remade_when_the_password_changes() -> None:
    made: list[_Session] = []

    def connect(host, url, user, password):
        made.append(_Session(url, password))
        return made[-1]

    sessions = EndpointSessions(connect)
    a = sessions.get(_host("h1"), "https://pool", "root", "pw")
    assert sessions.get(_host("h2"), "https://pool", "root", "pw") is a  # two hosts of one pool share it
    assert sessions.get(_host("h1"), "https://pool", "admin", "pw") is not a
    b = sessions.get(_host("h1"), "https://pool", "root", "new-pw")
    assert b is not a and b.password == "new-pw" and len(made) == 3
    sessions.close()
    assert all(s.closed for s in made[1:]) and not a.closed  # the replaced one is no longer held
    assert sessions.get(_host("h1"), "https://pool", "root", "new-pw") is not b


class _LibraryFault(Exception):
    pass


def _translate(exc: Exception, where: str) -> Exception | None:
    if isinstance(exc, _LibraryFault):
        return NotFound(f"{where}: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return BackendUnavailable(f"{where}: endpoint down")
    return None


class _Driver:
    @translate_errors("demo", _translate)
    def op(self, host, fail: Exception | None = None):
        if fail is not None:
            raise fail
        return "ok"


def test_translated_errors_name_the_host_and_others_propagate_unchanged() -> None:
    driver = _Driver()
    assert driver.op(_host("node1")) == "ok"
    with pytest.raises(NotFound, match="demo host 'node1': no VM"):
        driver.op(_host("node1"), _LibraryFault("no VM"))
    with pytest.raises(BackendUnavailable, match="^demo: endpoint down"):
        driver.op(None, ConnectionRefusedError())
    with pytest.raises(KeyError):
        driver.op(host=_host("node1"), fail=KeyError("x"))


def test_foreign_images_and_vifs_are_refused_naming_the_host_and_what_it_takes() -> None:
    from overcast.errors import UnsupportedOperation
    from overcast.remote import refuse_foreign_inputs
    from overcast.types import ImageFile, ImageRef, VifDetails

    host = _host("hv1", url="https://a")
    vif = VifDetails(vif_type="bridge", port_id="p1", mac_address="fa:16:3e:00:00:01")
    image = ImageFile(image=ImageRef(id="i", name="i", disk_format="qcow2"), path="/x", disk_format="qcow2")
    refuse_foreign_inputs("demo", host, None, ("vhd", "raw"), [], "xenapi")
    with pytest.raises(UnsupportedOperation, match=r"^demo host 'hv1' cannot boot qcow2 images \(it takes vhd, raw\)$"):
        refuse_foreign_inputs("demo", host, image, ("vhd", "raw"), [], "xenapi")
    with pytest.raises(
        UnsupportedOperation, match=r"^demo host 'hv1' cannot plug vif type 'bridge' \(it takes xenapi\)$"
    ):
        refuse_foreign_inputs("demo", host, None, ("vhd",), [vif], "xenapi")
