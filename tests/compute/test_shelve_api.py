"""Nova's shelve / shelveOffload / unshelve (issue 18) over two fake hosts: the root disk is
snapshotted into '<name>-shelved', an offloaded server frees its host (no host, the claim given
back, the guest gone) and comes back from the shelved image on a fitting host; the image is
deleted once it runs. Nova's 409 in other states."""

from .conftest import IMAGE_ID, api_wait


def _boot(api, compute, flavor_id, name="s1") -> str:
    body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", "p1", body)
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    return server_id


def _guests(fake_drivers, server_id) -> list:
    return [g for guests in fake_drivers.hypervisor.guests.values() for g in guests.values() if g["id"] == server_id]


def _vcpus_used(api) -> int:
    return sum(h["vcpus_used"] for h in api("GET", "/os-hypervisors/detail", "admin").json()["hypervisors"])


def test_shelve_offloads_and_unshelve_comes_back(api, api_flavor, compute, fake_drivers):
    server_id = _boot(api, compute, api_flavor["id"])
    images = compute.runtime.service("image")
    act = f"/servers/{server_id}/action"
    assert api("POST", act, "p1", {"unshelve": None}).status_code == 409  # not shelved
    assert api("POST", act, "p1", {"shelveOffload": None}).status_code == 409
    assert _vcpus_used(api) == 1
    assert api("POST", act, "p1", {"shelve": None}).status_code == 202
    shown = api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    assert shown["OS-EXT-STS:vm_state"] == "shelved_offloaded" and shown["OS-EXT-STS:task_state"] is None
    assert api("GET", f"/servers/{server_id}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"] is None
    assert _guests(fake_drivers, server_id) == [] and _vcpus_used(api) == 0  # the host is free
    shelved = [i for i in images.images.values() if i["ref"].name == "s1-shelved"]
    assert len(shelved) == 1 and shelved[0]["status"] == "active"
    assert shelved[0]["ref"].properties["instance_uuid"] == server_id
    shelved_id = shelved[0]["ref"].id
    limits = api("GET", "/limits", "p1").json()["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == 1  # still the project's server
    assert api("POST", act, "p1", {"unshelve": {"availability_zone": "nova"}}).status_code == 400
    assert api("POST", act, "p1", {"os-start": None}).status_code == 409
    assert api("POST", act, "p1", {"unshelve": None}).status_code == 202
    shown = api_wait(api, compute, server_id, "ACTIVE")
    assert shown["image"]["id"] == IMAGE_ID  # the server keeps its image
    (guest,) = _guests(fake_drivers, server_id)
    assert guest["instance"].image.id == shelved_id  # spawned from the shelved snapshot
    assert shelved_id not in images.images and _vcpus_used(api) == 1
    actions = [
        a["action"] for a in api("GET", f"/servers/{server_id}/os-instance-actions", "p1").json()["instanceActions"]
    ]
    assert actions[:2] == ["unshelve", "shelve"]
    # shelved and deleted: the shelved image goes with it
    assert api("POST", act, "p1", {"shelve": None}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    assert [i for i in images.images.values() if i["ref"].name == "s1-shelved"]
    assert api("DELETE", f"/servers/{server_id}", "p1").status_code == 204
    compute.runner.wait_idle()
    assert not [i for i in images.images.values() if i["ref"].name == "s1-shelved"]


def test_volumes_attach_and_detach_while_offloaded_from_2_20(api, api_flavor, compute, fake_drivers):
    """Issue 16: from 2.20 an offloaded server takes a volume (reserved and attached, no
    connection), which its unshelve exports to the new host; or gives it back at once."""
    import uuid

    server_id = _boot(api, compute, api_flavor["id"])
    volumes = compute.runtime._services["volume"]
    kept, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    for vid in (kept, dropped):
        volumes.add(vid, api.projects["p1"])
    assert api("POST", f"/servers/{server_id}/action", "p1", {"shelve": None}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    path = f"/servers/{server_id}/os-volume_attachments"
    r = api("POST", path, "p1", {"volumeAttachment": {"volumeId": kept}}, version="2.19")
    assert r.status_code == 409
    for vid in (kept, dropped):
        r = api("POST", path, "p1", {"volumeAttachment": {"volumeId": vid}}, version="2.20")
        assert r.status_code == 200, r.text
        assert volumes.volumes[vid]["status"] == "in-use"
    assert api("DELETE", f"{path}/{dropped}", "p1", version="2.20").status_code == 202
    compute.runner.wait_idle(timeout=10)
    assert volumes.volumes[dropped]["status"] == "available"
    assert api("POST", f"/servers/{server_id}/action", "p1", {"unshelve": None}).status_code == 202
    api_wait(api, compute, server_id, "ACTIVE")
    (guest,) = _guests(fake_drivers, server_id)
    listed = api("GET", path, "p1").json()["volumeAttachments"]
    assert [a["volumeId"] for a in listed] == [kept] and list(guest["volumes"]) == [listed[0]["device"]]


def test_actions_without_arguments_take_an_empty_object(api, api_flavor, compute):
    """Tempest and the clients send ``{"shelve": {}}``: an empty object is no argument
    (issue 16); anything in it is still refused."""
    server_id = _boot(api, compute, api_flavor["id"])
    act = f"/servers/{server_id}/action"
    assert api("POST", act, "p1", {"shelve": {"x": 1}}).status_code == 400
    assert api("POST", act, "p1", {"shelve": {}}).status_code == 202
    api_wait(api, compute, server_id, "SHELVED_OFFLOADED")
    assert api("POST", act, "p1", {"shelve": {}}).status_code == 409
    assert api("POST", act, "p1", {"unshelve": {}}).status_code == 202
    api_wait(api, compute, server_id, "ACTIVE")
    r = api("POST", act, "p1", {"restore": {}})
    assert r.status_code == 409
    assert api("POST", act, "p1", {"forceDelete": {}}).status_code == 202
