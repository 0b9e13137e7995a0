"""The real ``openstack`` CLI and openstacksdk against the image API: the in-process cloud
served by uvicorn (fs store). The clients send a Keystone token with the ``admin_token``
auth plugin and the image endpoint, which keeps these quick; the commands that resolve
projects through Keystone (``image add project``, ``image set --accept``) run against a
real ``overcast up`` in ``test_cloud_e2e.py``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import use_fs_store

overcast_pm, overcast_config = use_fs_store()
pytestmark = pytest.mark.clients


def _openstack(endpoint: str, token: str, *args: str) -> str:
    exe = shutil.which("openstack") or str(Path(os.sys.executable).parent / "openstack")
    cmd = [exe, "--os-auth-type", "admin_token", "--os-endpoint", f"{endpoint}/v2", "--os-token", token, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_openstack_cli_image_lifecycle(live_api, api, tmp_path):
    src = tmp_path / "cirros.raw"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 11))
    created = json.loads(
        _openstack(
            live_api,
            api.a.token,
            "image",
            "create",
            "--file",
            str(src),
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--property",
            "hw_rng_model=virtio",
            "cirros",
            "-f",
            "json",
        )
    )
    assert created["status"] == "active" and created["size"] == src.stat().st_size
    assert created["checksum"] == hashlib.md5(src.read_bytes()).hexdigest()
    listed = json.loads(_openstack(live_api, api.a.token, "image", "list", "-f", "json"))
    assert [i["Name"] for i in listed] == ["cirros"]
    _openstack(
        live_api,
        api.a.token,
        "image",
        "set",
        "--property",
        "os_distro=debian",
        "--min-ram",
        "64",
        "--tag",
        "blue",
        "--name",
        "cirros2",
        "cirros",
    )
    _openstack(live_api, api.a.token, "image", "unset", "--property", "hw_rng_model", "--tag", "blue", "cirros2")
    shown = json.loads(_openstack(live_api, api.a.token, "image", "show", "cirros2", "-f", "json"))
    props = shown["properties"]
    assert props["os_distro"] == "debian" and "hw_rng_model" not in props
    assert shown["min_ram"] == 64 and shown["tags"] == []
    out = tmp_path / "saved.raw"
    _openstack(live_api, api.a.token, "image", "save", "--file", str(out), "cirros2")  # the SDK verifies sha512
    assert out.read_bytes() == src.read_bytes()
    _openstack(live_api, api.a.token, "image", "set", "--deactivate", "cirros2")
    shown = json.loads(_openstack(live_api, api.a.token, "image", "show", "cirros2", "-f", "json"))
    assert shown["status"] == "deactivated"
    _openstack(live_api, api.a.token, "image", "set", "--activate", "cirros2")
    _openstack(live_api, api.a.token, "image", "delete", "cirros2")
    assert json.loads(_openstack(live_api, api.a.token, "image", "list", "-f", "json")) == []


def test_openstacksdk_members_and_verified_download(live_api, api, tmp_path):
    import openstack

    def connect(token: str):  # noqa: ANN202
        return openstack.connect(auth_type="admin_token", auth={"endpoint": f"{live_api}/v2", "token": token})

    a, b = connect(api.a.token), connect(api.b.token)
    data = os.urandom(1024 * 1024 + 3)
    image = a.image.create_image(
        name="shared-img",
        data=data,
        disk_format="raw",
        container_format="bare",
        visibility="shared",
        validate_checksum=True,
    )
    image = a.image.get_image(image.id)
    assert image.status == "active" and image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.id not in [i.id for i in b.image.images()]
    member = a.image.add_member(image.id, member_id=api.b_project)
    assert member.status == "pending"
    b.image.update_member(member, image.id, status="accepted")
    assert image.id in [i.id for i in b.image.images()]
    assert b.image.download_image(image.id).content == data  # checksum verified by the SDK
    with pytest.raises(openstack.exceptions.ForbiddenException):
        b.image.update_image(image.id, name="mine")
    a.image.remove_member(api.b_project, image.id)
    with pytest.raises(openstack.exceptions.NotFoundException):
        b.image.get_image(image.id)


def test_openstacksdk_private_invisible_public_unmodifiable(live_api, api):
    """Through openstacksdk: another project neither sees a private image nor changes a
    public one (admin-published)."""
    import openstack

    def connect(token: str):  # noqa: ANN202
        return openstack.connect(auth_type="admin_token", auth={"endpoint": f"{live_api}/v2", "token": token})

    a, b, admin = connect(api.a.token), connect(api.b.token), connect(api.admin.token)
    private = a.image.create_image(
        name="mine", data=b"private data", disk_format="raw", container_format="bare", visibility="private"
    )
    public = admin.image.create_image(
        name="pub", data=b"public data", disk_format="raw", container_format="bare", visibility="public"
    )
    assert [i.id for i in b.image.images()] == [public.id]
    with pytest.raises(openstack.exceptions.NotFoundException):
        b.image.get_image(private.id)
    with pytest.raises(openstack.exceptions.NotFoundException):
        b.image.download_image(private.id)
    assert b.image.download_image(public.id).content == b"public data"
    for what, change in (
        ("update", lambda: b.image.update_image(public.id, name="mine now")),
        ("tag", lambda: b.image.add_tag(public, "mine")),
        ("delete", lambda: b.image.delete_image(public.id)),
    ):
        with pytest.raises(openstack.exceptions.ForbiddenException):
            change()
            pytest.fail(f"{what} of another project's public image was allowed")
    # the SDK does not raise on image actions: the answer is checked, and the status below
    assert b.image.post(f"/images/{public.id}/actions/deactivate").status_code == 403
    shown = admin.image.get_image(public.id)
    assert shown.name == "pub" and shown.tags == [] and shown.status == "active"


def test_openstack_cli_refuses_qcow2_backed_by_etc_passwd(live_api, api, tmp_path):
    """``openstack image create --file`` of a qcow2 whose backing file is /etc/passwd fails
    with the server's message, and the store holds nothing."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    bad = tmp_path / "evil.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(bad)],
        check=True,
        capture_output=True,
    )
    exe = shutil.which("openstack") or str(Path(os.sys.executable).parent / "openstack")
    proc = subprocess.run(
        [
            exe,
            "--os-auth-type",
            "admin_token",
            "--os-endpoint",
            f"{live_api}/v2",
            "--os-token",
            api.a.token,
            "image",
            "create",
            "--file",
            str(bad),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "evil",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "backing file" in proc.stderr, proc.stderr
    # the SDK deletes the record it created when the upload fails; either way nothing is active
    listed = json.loads(_openstack(live_api, api.a.token, "image", "list", "--long", "-f", "json"))
    assert [i["Status"] for i in listed if i["Name"] == "evil"] in ([], ["queued"])
    store = Path(api.runtime.drivers.image_store.options["path"])
    assert [p for p in store.rglob("*") if p.is_file()] == []
