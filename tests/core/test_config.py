"""Config validation: every error is one line naming the file, the table and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.config import load_config, resolve_drivers
from overcast.errors import ConfigError, DriverNotInstalled
from overcast.plugins import PluginManager


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overcast.toml"
    path.write_text(text)
    return path


def error_of(path: Path, pm: PluginManager | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        config = load_config(path)
        if pm is not None:
            resolve_drivers(config, pm)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[api]\nport = 7000\n"))
    assert config.api.port == 7000 and config.bus.url == "memory://"
    assert config.data_dir == tmp_path
    assert config.database_url == f"sqlite:///{tmp_path}/overcast.db"
    assert config.resolve_path("", "image-cache") == tmp_path / "image-cache"


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERCAST_CONFIG", str(write(tmp_path, "[api]\nport = 7001\n")))
    assert load_config().api.port == 7001


def test_missing_file(tmp_path: Path) -> None:
    assert (
        error_of(tmp_path / "nope.toml")
        == f"{tmp_path}/nope.toml: no such config file (run 'overcast init' or set OVERCAST_CONFIG)"
    )


def test_bad_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[api\nport = 1\n")
    assert error_of(path).startswith(f"{path}: not valid TOML: ")


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nprot = 6080\n")
    assert error_of(path) == f"{path}: [api] prot: unknown key"


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nport = "high"\n')
    assert (
        error_of(path) == f"{path}: [api] port: Input should be a valid integer, unable to parse string as an integer"
    )


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 70000\n")
    assert error_of(path) == f"{path}: [api] port: Input should be less than or equal to 65535"


def test_host_without_driver(tmp_path: Path) -> None:
    path = write(tmp_path, "[hosts.node1]\nuri = 'qemu:///system'\n")
    assert error_of(path) == f"{path}: [hosts.node1] driver: is required"


def test_driver_not_installed_names_the_package(tmp_path: Path, overcast_pm: PluginManager) -> None:
    path = write(tmp_path, '[hosts.node7]\ndriver = "xen"\n')
    with pytest.raises(DriverNotInstalled) as err:
        resolve_drivers(load_config(path), overcast_pm)
    assert str(err.value) == (
        f"{path}: [hosts.node7] driver: hypervisor driver 'xen' is not installed: pip install overcast-hv-xen"
    )


def test_driver_options_are_validated(tmp_path: Path, overcast_pm: PluginManager) -> None:
    path = write(tmp_path, '[hosts.node1]\ndriver = "fake"\nvcpus = "many"\n')
    assert error_of(path, overcast_pm) == f"{path}: [hosts.node1] vcpus: must be an integer, got 'many'"
    path = write(tmp_path, '[hosts.node1]\ndriver = "fake"\ncolour = "red"\n')
    assert error_of(path, overcast_pm) == (
        f"{path}: [hosts.node1] colour: unknown option for hypervisor driver 'fake' "
        "(known: boot_from_volume, hypervisor_type, image_types, local_gb, memory_mb, shared_storage, vcpus)"
    )
    path = write(tmp_path, '[volume_backends.files]\ndriver = "fake"\ncapacity_gb = true\n')
    assert error_of(path, overcast_pm) == f"{path}: [volume_backends.files] capacity_gb: must be an integer, got True"


def test_resolved_targets_carry_defaults(tmp_path: Path, overcast_pm: PluginManager) -> None:
    path = write(
        tmp_path,
        '[hosts.node1]\ndriver = "fake"\nvcpus = 8\navailability_zone = "az1"\n'
        '[volume_backends.fast]\ndriver = "fake"\n[image_store]\ndriver = "fake"\n',
    )
    resolved = resolve_drivers(load_config(path), overcast_pm)
    node1 = resolved.hosts["node1"]
    assert (node1.driver, node1.availability_zone, node1.options["vcpus"], node1.options["memory_mb"]) == (
        "fake",
        "az1",
        8,
        65536,
    )
    assert resolved.volume_backends["fast"].driver == "fake"
    assert resolved.image_store is not None and resolved.object_store is None


def test_object_store_url_follows_the_object_workers(tmp_path: Path) -> None:
    from overcast.identity.catalog import build_catalog, endpoint_records

    one = load_config(write(tmp_path, '[api]\nport = 7000\npublic_url = "http://cloud.example:7000"\n'))
    assert one.object_store_url() == "http://cloud.example:7000"
    workers = load_config(
        write(
            tmp_path,
            '[api]\nport = 7000\npublic_url = "http://cloud.example:7000"\n[objectstore]\nworkers = 2\nport = 7001\n',
        )
    )
    assert workers.object_store_url() == "http://cloud.example:7001"
    urls = {
        s["type"]: s["endpoints"][0]["url"]
        for s in build_catalog("http://cloud.example:7000", "RegionOne", "p1", workers.object_store_url())
    }
    assert urls["object-store"] == "http://cloud.example:7001/object/v1/AUTH_p1"
    assert urls["compute"] == "http://cloud.example:7000/compute/v2.1"
    records = endpoint_records("http://cloud.example:7000", "RegionOne", workers.object_store_url())
    assert {r["url"] for r in records if "/object/" in r["url"]} == {
        "http://cloud.example:7001/object/v1/AUTH_$(project_id)s"
    }
    public = load_config(
        write(tmp_path, '[objectstore]\nworkers = 1\nport = 7001\npublic_url = "https://swift.example/"\n')
    )
    assert public.object_store_url() == "https://swift.example"
