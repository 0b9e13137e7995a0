"""Unmodified python-swiftclient (the ``swift`` CLI and its library) and the ``openstack``
CLI against a real Overcast server process.

Tokens come from the server's static-token stand-in for Keystone (``serve.py``): the swift
CLI takes ``--os-auth-token``/``--os-storage-url`` and the openstack CLI ``admin_token``
auth with ``--os-endpoint``, so nothing in the clients is changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.clients

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install .[clients])")
    return path


def swift(server, *args: str, cwd: Path | None = None, token: str = "tok-alice", account: str = "p1") -> str:
    cmd = [_tool("swift"), "--os-auth-token", token, "--os-storage-url", f"{server.url}/object/v1/AUTH_{account}", *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def openstack(server, *args: str, cwd: Path | None = None) -> str:
    cmd = [_tool("openstack"), "--os-auth-type", "admin_token", "--os-token", "tok-alice",
           "--os-endpoint", f"{server.url}/object/v1/AUTH_p1", *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _tree(root: Path) -> dict[str, bytes]:
    files = {"docs/readme.txt": b"read me\n", "docs/guide/intro.md": b"# intro\n", "img/logo.png": os.urandom(3000),
             "top.bin": os.urandom(70_000)}
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return files


def test_swift_cli_tree_slo_ranges_copy_metadata_expiry(os_server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = _tree(src)
    swift(os_server, "upload", "c1", ".", cwd=src)
    names = swift(os_server, "list", "c1").split()
    assert sorted(names) == sorted(files)
    assert swift(os_server, "list", "c1", "--delimiter", "/").split() == ["docs/", "img/", "top.bin"]
    assert swift(os_server, "list", "c1", "--prefix", "docs/", "--delimiter", "/").split() == ["docs/guide/", "docs/readme.txt"]

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

    ranged = subprocess.run([_tool("swift"), "--os-auth-token", "tok-alice", "--os-storage-url",
                             f"{os_server.url}/object/v1/AUTH_p1", "download", "c1", "big.bin", "-o", "-",
                             "--header", "Range: bytes=1048570-1048580"], capture_output=True, timeout=60)
    assert ranged.stdout == big.read_bytes()[1048570:1048581]  # across two segments

    swift(os_server, "copy", "c1", "top.bin", "--destination", "/c2/copied.bin")
    swift(os_server, "download", "c2", "copied.bin", "-o", str(tmp_path / "copied.bin"))
    assert (tmp_path / "copied.bin").read_bytes() == files["top.bin"]

    swift(os_server, "post", "c1", "docs/readme.txt", "-m", "color:blue")
    assert "Meta Color: blue" in swift(os_server, "stat", "c1", "docs/readme.txt")

    swift(os_server, "post", "c1", "img/logo.png", "-H", "X-Delete-After: 1")
    time.sleep(2.2)
    assert "img/logo.png" not in swift(os_server, "list", "c1").split()
    done = subprocess.run([_tool("swift"), "--os-auth-token", "tok-alice", "--os-storage-url",
                           f"{os_server.url}/object/v1/AUTH_p1", "stat", "c1", "img/logo.png"], capture_output=True, text=True)
    assert done.returncode != 0 and "404" in done.stderr

    swift(os_server, "delete", "c1", "big.bin")
    assert swift(os_server, "list", "c1_segments").split() == []
    account = swift(os_server, "stat")
    assert "Containers: 3" in account


def test_swiftclient_library(os_server) -> None:
    from swiftclient.client import Connection

    conn = Connection(preauthurl=f"{os_server.url}/object/v1/AUTH_p1", preauthtoken="tok-alice", retries=0)
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

    other = Connection(preauthurl=f"{os_server.url}/object/v1/AUTH_p1", preauthtoken="tok-bob", retries=0)
    from swiftclient.exceptions import ClientException

    with pytest.raises(ClientException) as err:
        other.get_object("lib", "copy.bin")
    assert err.value.http_status == 403
    conn.post_container("lib", headers={"X-Container-Read": "p2:*"})
    time.sleep(2.1)  # the server caches container records for up to container_cache_ttl
    assert other.get_object("lib", "copy.bin")[1] == data


def test_openstack_cli_container_and_object_commands(os_server, tmp_path: Path) -> None:
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "file").write_bytes(b"through the openstack CLI\n")
    openstack(os_server, "container", "create", "oc")
    openstack(os_server, "object", "create", "oc", str(tmp_path / "path" / "file"))
    listing = openstack(os_server, "object", "list", "oc", "-f", "value")
    assert listing.strip() == str(tmp_path / "path" / "file")
    openstack(os_server, "object", "save", "--file", str(tmp_path / "back"), "oc", str(tmp_path / "path" / "file"))
    assert (tmp_path / "back").read_bytes() == b"through the openstack CLI\n"
    openstack(os_server, "object", "set", "--property", "k=v", "oc", str(tmp_path / "path" / "file"))
    shown = openstack(os_server, "object", "show", "oc", str(tmp_path / "path" / "file"), "-f", "json")
    assert '"k": "v"' in shown or "k='v'" in shown
    openstack(os_server, "object", "delete", "oc", str(tmp_path / "path" / "file"))
    openstack(os_server, "container", "delete", "oc")
    assert "oc" not in openstack(os_server, "container", "list", "-f", "value").split()
