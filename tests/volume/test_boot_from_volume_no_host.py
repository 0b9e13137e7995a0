"""A cloud whose hosts cannot boot from a volume refuses a volume-backed server with a 400
before anything is made (issue 18); volumes attached at create still work there."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.testing.fixtures import fake_config_data

from .conftest import Api


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path)
    data["hosts"]["fake1"]["boot_from_volume"] = False  # the fake driver reports HvCapabilities from it
    return parse_config(data, tmp_path / "overcast.toml")


def test_volume_backed_server_refused_without_a_capable_host(cloud: Any, api: Api, settle: Any) -> None:
    from tests.compute.fake_peers import FakeImageService

    images = FakeImageService()
    image_id = str(uuid.uuid4())
    images.add(image_id)
    cloud.runtime._services["image"] = images
    cloud.runtime.compute.start()
    flavor = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        token=cloud.admin_token,
        json={"flavor": {"name": "t1", "ram": 64, "vcpus": 1, "disk": 1, "id": None}},
    ).json()["flavor"]
    body = {
        "name": "bfv",
        "flavorRef": flavor["id"],
        "networks": "none",
        "block_device_mapping_v2": [
            {"boot_index": 0, "uuid": image_id, "source_type": "image", "destination_type": "volume", "volume_size": 1}
        ],
    }
    r = cloud.request(
        "POST",
        "/compute/v2.1/servers",
        token=api.token,
        json={"server": body},
        headers={"OpenStack-API-Version": "compute 2.37"},  # networks "none" from 2.37
    )
    assert r.status_code == 400, r.text
    assert "booting from a volume (a volume as the root disk) is not supported by this cloud" in r.text
    assert cloud.request("GET", "/compute/v2.1/servers", token=api.token).json()["servers"] == []
    settle()
    assert api.get("volumes").json()["volumes"] == []
