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
