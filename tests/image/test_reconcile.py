"""A restart puts images whose uploading process died back to ``queued``."""

from __future__ import annotations

from sqlalchemy import update

from overcast.db.models.image import Image


def test_dead_uploads_are_reset_live_ones_kept(images, ctx_a, overcast_runtime):
    dead = images.create(ctx_a, {"name": "dead", "disk_format": "raw", "container_format": "bare"})["id"]
    live = images.create(ctx_a, {"name": "live", "disk_format": "raw", "container_format": "bare"})["id"]
    import socket

    from overcast.image.process import process_id

    with overcast_runtime.db.session() as s:
        s.execute(
            update(Image)
            .where(Image.id == dead)
            .values(status="saving", saving_by=f"{socket.gethostname()}:999999999:1")
        )
        s.execute(update(Image).where(Image.id == live).values(status="saving", saving_by=process_id()))
    images.start()
    assert images.show(ctx_a, dead)["status"] == "queued"
    assert images.show(ctx_a, live)["status"] == "saving"
    assert images.open_download(ctx_a, dead).chunks is None


def test_start_sweeps_temp_files_of_dead_uploads(fs_images, tmp_path):
    """A restart removes what a dead upload left in the fs store (named temp files, whose
    writer's flock is gone), so nothing of it survives."""
    import os
    import time

    tmp_dir = tmp_path / "images" / ".tmp"
    tmp_dir.mkdir(parents=True)
    stale = tmp_dir / "0b9c7e0e-4a8e-4c1e-9a51-1f2d3c4b5a69.5f3a"
    stale.write_bytes(b"half an image")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fs_images.start()
    try:
        assert list(tmp_dir.iterdir()) == []
    finally:
        fs_images.close()


def test_dead_imports_and_stagings_are_reset(images, ctx_a, overcast_runtime):
    """An import whose process died: the image is ``queued`` again, its staged data and
    import lock are gone, and its task failed; a completed staging is kept."""
    import socket

    from overcast.db.models.image_metadefs import ImageTask

    dead_owner = f"{socket.gethostname()}:999999999:1"
    importing = images.create(ctx_a, {"name": "imp", "disk_format": "raw", "container_format": "bare"})["id"]
    staged = images.create(ctx_a, {"name": "stg", "disk_format": "raw", "container_format": "bare"})["id"]
    images.stage(ctx_a, staged, [b"staged data"])
    importer = images.importer
    importer.staged_path(importing).write_bytes(b"half")
    with overcast_runtime.db.session() as s:
        s.execute(update(Image).where(Image.id == importing).values(status="importing", saving_by=dead_owner))
        task = ImageTask(type="api_image_import", status="processing", owner=ctx_a.project_id, image_id=importing)
        task.input, task.message = {}, ""
        s.add(task)
        s.flush()
        task_id = task.id
    images.start()
    assert images.show(ctx_a, importing)["status"] == "queued"
    assert not importer.staged_path(importing).exists()
    assert images.image_tasks(ctx_a, importing)[0]["status"] == "failure"
    assert images.image_tasks(ctx_a, importing)[0]["id"] == task_id
    assert images.show(ctx_a, staged)["status"] == "uploading"
    assert importer.staged_path(staged).read_bytes() == b"staged data"
