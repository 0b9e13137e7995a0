"""Unmodified python-swiftclient (the ``swift`` CLI and its library) and the ``openstack``
CLI against a real ``overcast up`` (``running_cloud``) whose object store is the fs driver,
authenticating against Overcast's Keystone."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.clients

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def running_cloud_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "object_store": {"driver": "fs", "path": str(tmp_path_factory.mktemp("objects"))},
        "objectstore": {"expirer_interval": 1.0},
    }


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install .[clients])")
    return path


def _auth_args(cloud: Any, user: str = "admin", password: str | None = None, project: str = "admin") -> list[str]:
    return [
        "--auth-version",
        "3",
        "--os-auth-url",
        cloud.auth_url + "/v3",
        "--os-username",
        user,
        "--os-password",
        password or cloud.admin_password,
        "--os-project-name",
        project,
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
    ]


def swift(cloud: Any, *args: str, cwd: Path | None = None, check: bool = True, text: bool = True) -> Any:
    done = subprocess.run(
        [_tool("swift"), *_auth_args(cloud), *args], cwd=cwd, capture_output=True, text=text, timeout=120, env=cloud.env
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout
    return done


def _new_project_user(cloud: Any, name: str) -> None:
    """A project and a member user of it, both called ``name`` (password ``name``)."""
    token = httpx.post(
        cloud.auth_url + "/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    ).headers["X-Subject-Token"]
    h = {"X-Auth-Token": token}
    project = httpx.post(cloud.auth_url + "/v3/projects", headers=h, json={"project": {"name": name}}).json()["project"]
    user = httpx.post(cloud.auth_url + "/v3/users", headers=h, json={"user": {"name": name, "password": name}}).json()[
        "user"
    ]
    role = httpx.get(cloud.auth_url + "/v3/roles?name=member", headers=h).json()["roles"][0]
    r = httpx.put(f"{cloud.auth_url}/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", headers=h)
    assert r.status_code == 204


def _connection(cloud: Any, user: str, password: str, project: str) -> Any:
    from swiftclient.client import Connection

    return Connection(
        authurl=cloud.auth_url + "/v3",
        user=user,
        key=password,
        auth_version="3",
        retries=0,
        os_options={"project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
    )


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "docs/readme.txt": b"read me\n",
        "docs/guide/intro.md": b"# intro\n",
        "img/logo.png": os.urandom(3000),
        "top.bin": os.urandom(70_000),
    }
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return files


def test_swift_cli_tree_slo_ranges_copy_metadata_expiry(running_cloud, tmp_path: Path) -> None:
    os_server = running_cloud
    src = tmp_path / "src"
    files = _tree(src)
    swift(os_server, "upload", "c1", ".", cwd=src)
    names = swift(os_server, "list", "c1").split()
    assert sorted(names) == sorted(files)
    assert swift(os_server, "list", "c1", "--delimiter", "/").split() == ["docs/", "img/", "top.bin"]
    assert swift(os_server, "list", "c1", "--prefix", "docs/", "--delimiter", "/").split() == [
        "docs/guide/",
        "docs/readme.txt",
    ]

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    swift(os_server, "upload", "c1", "big.bin", "--segment-size", str(1024 * 1024), cwd=tmp_path)
    stat = swift(os_server, "stat", "c1", "big.bin")
    assert "X-Static-Large-Object: True" in stat and f"Content Length: {big.stat().st_size}" in stat
    assert len(swift(os_server, "list", "c1_segments").split()) == 6

    out = tmp_path / "out"
    out.mkdir()
    swift(os_server, "download", "c1", cwd=out)
    for rel, content in files.items():
        assert (out / rel).read_bytes() == content, rel
    assert hashlib.md5((out / "big.bin").read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()

    ranged = swift(
        os_server, "download", "c1", "big.bin", "-o", "-", "--header", "Range: bytes=1048570-1048580", text=False
    )
    assert ranged == big.read_bytes()[1048570:1048581]  # across two segments

    swift(os_server, "copy", "c1", "top.bin", "--destination", "/c2/copied.bin")
    swift(os_server, "download", "c2", "copied.bin", "-o", str(tmp_path / "copied.bin"))
    assert (tmp_path / "copied.bin").read_bytes() == files["top.bin"]

    swift(os_server, "post", "c1", "docs/readme.txt", "-m", "color:blue")
    assert "Meta Color: blue" in swift(os_server, "stat", "c1", "docs/readme.txt")

    swift(os_server, "post", "c1", "img/logo.png", "-H", "X-Delete-After: 1")
    time.sleep(2.2)
    assert "img/logo.png" not in swift(os_server, "list", "c1").split()
    done = swift(os_server, "stat", "c1", "img/logo.png", check=False)
    assert done.returncode != 0 and "404" in done.stderr

    swift(os_server, "delete", "c1", "big.bin")
    assert swift(os_server, "list", "c1_segments").split() == []
    account = swift(os_server, "stat")
    assert "Containers: 3" in account and "Account: AUTH_" in account


def test_swiftclient_library_and_sharing_between_projects(running_cloud) -> None:
    from swiftclient.exceptions import ClientException

    conn = _connection(running_cloud, "admin", running_cloud.admin_password, "admin")
    conn.put_container("lib")
    data = os.urandom(200_000)
    etag = conn.put_object("lib", "/leading/slash.bin", data, headers={"X-Object-Meta-K": "v"})
    assert etag == hashlib.md5(data).hexdigest()
    headers, body = conn.get_object("lib", "/leading/slash.bin")
    assert body == data and headers["x-object-meta-k"] == "v"
    headers, body = conn.get_object("lib", "/leading/slash.bin", headers={"Range": "bytes=100-199"})
    assert body == data[100:200]
    for i in range(25):
        conn.put_object("lib", f"many/{i:03d}", b"x")
    _, listing = conn.get_container("lib", limit=10, full_listing=True)
    assert len(listing) == 26
    conn.copy_object("lib", "/leading/slash.bin", destination="/lib/copy.bin")
    assert conn.get_object("lib", "copy.bin")[1] == data
    conn.post_object("lib", "copy.bin", headers={"X-Object-Meta-New": "1"})
    assert conn.head_object("lib", "copy.bin")["x-object-meta-new"] == "1"
    assert "slo" in conn.get_capabilities()

    _new_project_user(running_cloud, "bob")
    bob = _connection(running_cloud, "bob", "bob", "bob")
    assert bob.get_account()[1] == []  # bob's own account is empty
    admin_url = conn.get_auth()[0]
    with pytest.raises(ClientException) as err:
        bob.get_object(
            "lib",
            "copy.bin",
        )
    assert err.value.http_status == 404  # in bob's own account there is no such container
    from swiftclient.client import get_object

    bob_token = bob.get_auth()[1]
    with pytest.raises(ClientException) as err:
        get_object(admin_url, bob_token, "lib", "copy.bin")
    assert err.value.http_status == 403
    bob_project = httpx.get(
        running_cloud.auth_url + "/v3/auth/tokens", headers={"X-Auth-Token": bob_token, "X-Subject-Token": bob_token}
    ).json()["token"]["project"]["id"]
    conn.post_container("lib", headers={"X-Container-Read": f"{bob_project}:*"})
    time.sleep(2.1)  # the server may reuse a container record for container_cache_ttl seconds
    assert get_object(admin_url, bob_token, "lib", "copy.bin")[1] == data


def test_openstack_cli_container_and_object_commands(running_cloud, tmp_path: Path) -> None:
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "file").write_bytes(b"through the openstack CLI\n")
    name = str(tmp_path / "path" / "file")
    oc = running_cloud.openstack
    oc("container", "create", "oc")
    oc("object", "create", "oc", name)
    assert [o["Name"] for o in oc("object", "list", "oc", "-f", "json")] == [name]
    oc("object", "save", "--file", str(tmp_path / "back"), "oc", name)
    assert (tmp_path / "back").read_bytes() == b"through the openstack CLI\n"
    oc("object", "set", "--property", "k=v", "oc", name)
    shown = oc("object", "show", "oc", name, "-f", "json")
    assert "k" in str(shown["properties"]) and shown["content-length"] == "26"
    oc("object", "delete", "oc", name)
    oc("container", "delete", "oc")
    assert "oc" not in [c["Name"] for c in oc("container", "list", "-f", "json")]


@pytest.mark.slow
def test_swift_cli_one_gib_slo_round_trip(running_cloud, tmp_path: Path) -> None:
    """The issue's acceptance case: a 1 GiB file as a segmented SLO, downloaded byte-identical."""
    big = tmp_path / "gib.bin"
    block = os.urandom(1024 * 1024)
    md5 = hashlib.md5()
    with open(big, "wb") as f:
        for i in range(1024):
            chunk = block[i:] + block[:i]  # every MiB differs
            f.write(chunk)
            md5.update(chunk)
    swift(running_cloud, "upload", "huge", "gib.bin", "--segment-size", str(100 * 1024 * 1024), cwd=tmp_path)
    stat = swift(running_cloud, "stat", "huge", "gib.bin")
    assert "X-Static-Large-Object: True" in stat and "Content Length: 1073741824" in stat
    assert len(swift(running_cloud, "list", "huge_segments").split()) == 11
    big.unlink()
    swift(running_cloud, "download", "huge", "gib.bin", "-o", str(tmp_path / "back.bin"))
    got = hashlib.md5()
    with open(tmp_path / "back.bin", "rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            got.update(chunk)
    assert got.hexdigest() == md5.hexdigest()
    swift(running_cloud, "delete", "huge", "gib.bin")
    assert swift(running_cloud, "list", "huge_segments").split() == []
