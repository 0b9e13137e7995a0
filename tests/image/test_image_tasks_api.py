"""``GET /v2/images/{id}/tasks`` (issue 16): no task works on an image here (no import), so the
list is empty; an image the caller cannot see is a 404."""

from __future__ import annotations


def test_an_images_tasks(api):
    r = api.a.post("/image/v2/images", json={"name": "t", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    r = api.a.get(f"/image/v2/images/{image_id}/tasks")
    assert r.status_code == 200 and r.json() == {"tasks": []}
    assert api.b.get(f"/image/v2/images/{image_id}/tasks").status_code == 404  # private to project a
    assert api.a.get("/image/v2/images/00000000-0000-0000-0000-000000000000/tasks").status_code == 404
