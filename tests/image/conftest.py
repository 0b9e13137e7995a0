"""Fixtures of the image tests: contexts of two projects and an admin, runtimes over the
fake store and over the real ``fs`` store."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.context import RequestContext
from overcast.plugins import PluginManager
from overcast.testing.fixtures import fake_config_data


def make_ctx(project: str, *roles: str) -> RequestContext:
    return RequestContext(user_id=f"user-{project}", project_id=project, roles=frozenset(roles or ("reader", "member")))


@pytest.fixture
def ctx_a() -> RequestContext:
    return make_ctx("project-a")


@pytest.fixture
def ctx_b() -> RequestContext:
    return make_ctx("project-b")


@pytest.fixture
def admin_ctx() -> RequestContext:
    return make_ctx("project-admin", "reader", "member", "admin")


@pytest.fixture
def images(overcast_runtime: Any) -> Any:
    """The image service over the fake (in-memory) store."""
    return overcast_runtime.image


@pytest.fixture
def fs_runtime(tmp_path: Path, overcast_pm: PluginManager) -> Iterator[Any]:
    """A runtime whose image store is the real ``fs`` driver in ``tmp_path/images``."""
    from overcast_storage_fs import plugin as fs_plugin

    from overcast.runtime import build_runtime

    overcast_pm.register_plugin(fs_plugin, name="storage_fs")
    data = fake_config_data(tmp_path)
    data["image_store"] = {"driver": "fs", "path": str(tmp_path / "images")}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def fs_images(fs_runtime: Any) -> Any:
    return fs_runtime.image


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def stored_files(root: Path) -> list[str]:
    """Every file under the fs store's directory, temp files included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


__all__ = ["make_ctx", "qemu_img", "chunks_of", "stored_files", "os"]
