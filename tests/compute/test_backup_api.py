"""Nova's createBackup (issue 18): a backup image of the server with image_type=backup and
its backup_type; after each upload the oldest backups of that type beyond ``rotation`` go."""

from .conftest import IMAGE_ID, api_wait


def test_create_backup_with_rotation(api, api_flavor, compute):
    body = {"server": {"name": "b1", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    server_id = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    images = compute.runtime.service("image").images
    act = f"/servers/{server_id}/action"

    def backups(kind: str) -> list[str]:
        return [
            i["ref"].name
            for i in images.values()
            if i["ref"].properties.get("image_type") == "backup" and i["ref"].properties.get("backup_type") == kind
        ]

    made = []
    for n in range(1, 4):
        r = api("POST", act, "p1", {"createBackup": {"name": f"daily-{n}", "backup_type": "daily", "rotation": 2}})
        assert r.status_code == 202 and r.headers["Location"].endswith(r.headers["Location"].rsplit("/", 1)[-1])
        made.append(r.headers["Location"].rsplit("/", 1)[-1])
        api_wait(api, compute, server_id, "ACTIVE")
    assert backups("daily") == ["daily-2", "daily-3"]  # rotation 2: the oldest went
    assert made[0] not in images and images[made[2]]["status"] == "active"
    assert images[made[2]]["ref"].properties["instance_uuid"] == server_id
    # another type rotates on its own
    r = api("POST", act, "p1", {"createBackup": {"name": "w", "backup_type": "weekly", "rotation": "1"}})
    assert r.status_code == 202 and r.headers["Location"].rsplit("/", 1)[-1] in images
    api_wait(api, compute, server_id, "ACTIVE")
    assert backups("weekly") == ["w"] and backups("daily") == ["daily-2", "daily-3"]
    # rotation 0 keeps none (Nova's _rotate_backups), and no Location is given
    r = api("POST", act, "p1", {"createBackup": {"name": "z", "backup_type": "daily", "rotation": 0}})
    assert r.status_code == 202 and "Location" not in r.headers
    api_wait(api, compute, server_id, "ACTIVE")
    assert backups("daily") == []
    actions = [a["action"] for a in api("GET", f"{act[:-7]}/os-instance-actions", "p1").json()["instanceActions"]]
    assert actions[0] == "createBackup"


def test_create_backup_refusals(api, api_flavor, compute):
    body = {"server": {"name": "b2", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    server_id = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    act = f"/servers/{server_id}/action"
    for args, words in [
        ({"name": "x", "backup_type": "daily"}, "'rotation' is a required property"),
        ({"name": "x", "backup_type": "daily", "rotation": -1}, "less than the minimum of 0"),
        ({"name": "x", "backup_type": "daily", "rotation": 1, "bogus": 1}, "'bogus'"),
        ({"name": "", "backup_type": "daily", "rotation": 1}, "name"),
    ]:
        r = api("POST", act, "p1", {"createBackup": args})
        assert r.status_code == 400 and words in r.json()["badRequest"]["message"], (args, r.text)
    assert api("POST", act, "p1", {"os-stop": None}).status_code == 202
    api_wait(api, compute, server_id, "SHUTOFF")
    assert api("POST", act, "p1", {"shelve": None}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    r = api("POST", act, "p1", {"createBackup": {"name": "x", "backup_type": "daily", "rotation": 1}})
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Cannot 'createBackup' instance {server_id} while it is in vm_state shelved_offloaded"
    )
