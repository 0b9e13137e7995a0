"""shelve with ``[compute] shelved_offload_time = -1`` (issue 18): the shelved server stays on
its host, stopped, until shelveOffload; unshelve powers it on again there."""

import shutil

import pytest

from overcast.config import parse_config
from overcast.testing.fixtures import fake_config_data

from .conftest import api_wait
from .test_shelve_api import _boot, _guests


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path, hosts=2)
    data["compute"] = {"scheduler_cache_seconds": 0, "shelved_offload_time": -1}
    data["bus"] = {"heartbeat_interval": 3600}
    return parse_config(data, tmp_path / "overcast.toml")


def test_shelved_without_offload_stays_on_its_host(api, api_flavor, compute, fake_drivers):
    from overcast.types import PowerState

    server_id = _boot(api, compute, api_flavor["id"])
    act = f"/servers/{server_id}/action"
    assert api("POST", act, "p1", {"shelve": None}).status_code == 202
    shown = api_wait(api, compute, server_id, "SHELVED")
    host = api("GET", f"/servers/{server_id}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    assert host and _guests(fake_drivers, server_id)[0]["state"] == PowerState.SHUTDOWN
    assert shown["OS-EXT-STS:power_state"] == 4
    assert api("POST", act, "p1", {"unshelve": None}).status_code == 202
    api_wait(api, compute, server_id, "ACTIVE")
    assert _guests(fake_drivers, server_id)[0]["state"] == PowerState.RUNNING
    assert not [i for i in compute.runtime.service("image").images.values() if i["ref"].name.endswith("-shelved")]
    assert api("POST", act, "p1", {"shelve": None}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED")
    assert api("POST", act, "p1", {"shelveOffload": None}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    assert _guests(fake_drivers, server_id) == []
