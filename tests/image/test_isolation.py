"""Visibility and membership: what another project sees and may change."""

from __future__ import annotations

import pytest

from overcast.errors import BadRequest, Conflict, Forbidden, NotFound


def _ids(images, ctx, **params):
    return {v["id"] for v in images.list(ctx, params)[0]}


def _active(images, ctx, **extra):
    view = images.create(ctx, {"name": "img", "disk_format": "raw", "container_format": "bare", **extra})
    images.upload(ctx, view["id"], [b"data"])
    return view["id"]


def test_private_image_is_invisible_to_another_project(images, ctx_a, ctx_b):
    image_id = _active(images, ctx_a, visibility="private")
    assert image_id not in _ids(images, ctx_b)
    assert image_id not in _ids(images, ctx_b, visibility="all")
    for call in (
        lambda: images.show(ctx_b, image_id),
        lambda: images.open_download(ctx_b, image_id),
        lambda: images.update(ctx_b, image_id, [{"op": "replace", "path": "/name", "value": "x"}]),
        lambda: images.delete(ctx_b, image_id),
        lambda: images.image_ref(ctx_b, image_id),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(BadRequest):  # not even usable as a paging marker
        images.list(ctx_b, {"marker": image_id})


def test_shared_image_is_listed_only_after_accepting(images, ctx_a, ctx_b):
    image_id = _active(images, ctx_a, visibility="shared")
    assert image_id not in _ids(images, ctx_b)
    member = images.add_member(ctx_a, image_id, "project-b")
    assert member["status"] == "pending" and member["member_id"] == "project-b"
    # pending: visible by id (so it can be accepted) but not listed
    assert images.show(ctx_b, image_id)["id"] == image_id
    assert image_id not in _ids(images, ctx_b)
    assert image_id in _ids(images, ctx_b, member_status="pending")
    with pytest.raises(Forbidden):
        images.update_member(ctx_a, image_id, "project-b", "accepted")  # only the member answers
    images.update_member(ctx_b, image_id, "project-b", "accepted")
    assert image_id in _ids(images, ctx_b)
    assert b"".join(images.open_download(ctx_b, image_id).chunks) == b"data"
    with pytest.raises(Forbidden):  # a member may use it, not change it
        images.update(ctx_b, image_id, [{"op": "replace", "path": "/name", "value": "x"}])
    images.update_member(ctx_b, image_id, "project-b", "rejected")
    assert image_id not in _ids(images, ctx_b)
    images.remove_member(ctx_a, image_id, "project-b")
    with pytest.raises(NotFound):
        images.show(ctx_b, image_id)


def test_members_rules(images, ctx_a, ctx_b):
    private_id = _active(images, ctx_a, visibility="private")
    with pytest.raises(Forbidden):
        images.add_member(ctx_a, private_id, "project-b")
    image_id = _active(images, ctx_a)
    images.add_member(ctx_a, image_id, "project-b")
    images.add_member(ctx_a, image_id, "project-c")
    with pytest.raises(Conflict):
        images.add_member(ctx_a, image_id, "project-b")
    with pytest.raises(Forbidden):
        images.add_member(ctx_b, image_id, "project-d")
    assert {m["member_id"] for m in images.list_members(ctx_a, image_id)} == {"project-b", "project-c"}
    assert [m["member_id"] for m in images.list_members(ctx_b, image_id)] == ["project-b"]
    with pytest.raises(NotFound):
        images.show_member(ctx_b, image_id, "project-c")
    with pytest.raises(BadRequest):
        images.update_member(ctx_b, image_id, "project-b", "maybe")


def test_public_image_cannot_be_modified_by_another_project(images, ctx_a, admin_ctx):
    image_id = _active(images, admin_ctx, visibility="public")
    assert image_id in _ids(images, ctx_a)
    assert images.show(ctx_a, image_id)["visibility"] == "public"
    for call in (
        lambda: images.update(ctx_a, image_id, [{"op": "replace", "path": "/name", "value": "x"}]),
        lambda: images.delete(ctx_a, image_id),
        lambda: images.deactivate(ctx_a, image_id),
        lambda: images.add_tag(ctx_a, image_id, "mine"),
    ):
        with pytest.raises(Forbidden):
            call()
    assert images.show(ctx_a, image_id)["name"] == "img"


def test_community_images_listed_on_request(images, ctx_a, ctx_b):
    image_id = _active(images, ctx_a, visibility="community")
    assert image_id not in _ids(images, ctx_b)
    assert image_id in _ids(images, ctx_b, visibility="community")
    assert images.show(ctx_b, image_id)["id"] == image_id
    assert image_id in _ids(images, ctx_a)


def test_listing_filters_sort_and_paging(images, ctx_a):
    made = []
    for i in range(7):
        view = images.create(
            ctx_a,
            {
                "name": f"n{i % 3}",
                "disk_format": "qcow2" if i % 2 else "raw",
                "container_format": "bare",
                "tags": ["even"] if i % 2 == 0 else [],
                "os_distro": "debian" if i < 3 else "alpine",
            },
        )
        made.append(view["id"])
    pages, marker = [], None
    while True:
        params = {"limit": "3", "sort": "name:asc,id:asc"}
        if marker:
            params["marker"] = marker
        page, marker = images.list(ctx_a, params)
        pages.append(page)
        if marker is None:
            break
    flat = [v for p in pages for v in p]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(v["id"] for v in flat) == sorted(made)
    assert [(v["name"], v["id"]) for v in flat] == sorted((v["name"], v["id"]) for v in flat)
    assert len(images.list(ctx_a, {"disk_format": "qcow2"})[0]) == 3
    assert len(images.list(ctx_a, {"name": "n1"})[0]) == 2
    assert len(images.list(ctx_a, {"name": 'in:"n1","n2"'})[0]) == 4
    assert len(images.list(ctx_a, {"os_distro": "debian"})[0]) == 3
    assert len(images.list(ctx_a, {"tag": "even"}, {"tag": ["even"]})[0]) == 4
    desc = images.list(ctx_a, {"sort_key": "name", "sort_dir": "desc"})[0]
    assert [v["name"] for v in desc] == sorted((v["name"] for v in desc), reverse=True)
    for bad in ({"sort_key": "bogus"}, {"limit": "-1"}, {"visibility": "x"}, {"marker": "nope"}):
        with pytest.raises(BadRequest):
            images.list(ctx_a, bad)


def test_hidden_images_are_listed_only_on_request(images, ctx_a):
    view = images.create(ctx_a, {"name": "h", "os_hidden": True})
    assert view["id"] not in _ids(images, ctx_a)
    assert view["id"] in _ids(images, ctx_a, os_hidden="true")
