"""Private data on disk and a pid file that is trusted only while its process holds it
(issue 22, parts 4 and 7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from overcast.cli.server import down_command, init_command
from overcast.datadir import make_private, qemu_group
from overcast.errors import ConfigError
from overcast.pidfile import PidFile, read_holder
from overcast.testing.cloud import start_running_cloud, stop_running_cloud


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def exposed(root: Path, group: int | None) -> list[str]:
    """Paths under ``root`` that someone other than the owner (and, for directories,
    ``group``) can use."""
    bad = []
    for path in [root, *root.rglob("*")]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            continue
        m = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            ok = m == 0o700 or (group is not None and m == 0o750 and st.st_gid == group)
        else:
            ok = not m & 0o077
        if not ok:
            bad.append(f"{path} {oct(m)} gid {st.st_gid}")
    return bad


def test_make_private_repairs_a_world_readable_tree(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "instances" / "i1").mkdir(parents=True)
    (root / "overcast.db").write_bytes(b"x")
    (root / "instances" / "i1" / "disk").write_bytes(b"x")
    (root / "link").symlink_to("/etc/passwd")
    for p in (root, root / "instances", root / "instances" / "i1"):
        p.chmod(0o755)
    for p in (root / "overcast.db", root / "instances" / "i1" / "disk"):
        p.chmod(0o644)
    etc_mode = mode(Path("/etc/passwd"))
    assert make_private(root) == 5
    assert exposed(root, None) == []
    assert mode(Path("/etc/passwd")) == etc_mode  # symlinks are not followed
    assert make_private(root) == 0
    group = os.getgid()
    (root / "keys").mkdir(mode=0o700)
    (root / "cache").mkdir()
    (root / "cache").chmod(0o755)  # whatever the process umask is
    make_private(root, group)
    assert mode(root) == 0o750 and mode(root / "cache") == 0o750 and exposed(root, group) == []
    assert mode(root / "keys") == 0o700  # already private: not opened to the group


def test_init_writes_a_private_data_dir(tmp_path: Path) -> None:
    directory = tmp_path / "cloud"
    result = CliRunner().invoke(init_command, ["--data-dir", str(directory), "--fake-drivers", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert (directory / "overcast.db").exists() and (directory / "clouds.yaml").exists()
    assert exposed(directory, qemu_group()) == []


@pytest.mark.slow
def test_up_repairs_the_data_dir_and_keeps_new_files_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "cloud"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    cloud = start_running_cloud(data_dir)  # bootstrapped by this process (umask 022), then 'overcast up'
    try:
        token, _ = cloud.admin_token()
        h = {"X-Auth-Token": token}
        r = httpx.post(cloud.url + "/identity/v3/projects", json={"project": {"name": "after-up"}}, headers=h)
        assert r.status_code == 201
        assert exposed(data_dir, qemu_group()) == []
        assert mode(data_dir / "overcast.db") == 0o600
        wal = data_dir / "overcast.db-wal"
        assert not wal.exists() or mode(wal) == 0o600
    finally:
        stop_running_cloud(cloud)


def test_pid_file_is_locked_while_held_and_stale_once_released(tmp_path: Path) -> None:
    path = tmp_path / "overcast.pid"
    held = PidFile(path).acquire()
    holder = read_holder(path)
    assert holder is not None and holder.pid == os.getpid()
    with pytest.raises(ConfigError, match="already running"):
        PidFile(path).acquire()
    held.release()
    assert not path.exists() and read_holder(path) is None


def test_down_never_signals_the_pid_of_a_stale_pid_file(tmp_path: Path) -> None:
    """After a crash the pid in the file may belong to another process by now: ``overcast
    down`` reports and removes the file and leaves that process alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = tmp_path / "overcast.pid"
        path.write_text(f"{bystander.pid}\n")  # an old-style file, or one whose holder died
        result = CliRunner().invoke(down_command, ["--pid-file", str(path), "--config", str(tmp_path / "none.toml")])
        assert result.exit_code == 0, result.output
        assert "stale pid file removed, nothing signalled" in result.output
        time.sleep(0.2)
        assert bystander.poll() is None and not path.exists()
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_up_holds_its_pid_file_and_down_stops_it(tmp_path: Path) -> None:
    cloud = start_running_cloud(tmp_path / "cloud")
    try:
        pid_path = cloud.data_dir / "overcast.pid"
        holder = read_holder(pid_path)
        assert holder is not None and holder.pid == cloud.process.pid
        result = CliRunner().invoke(down_command, ["--config", str(cloud.config_path)])
        assert result.exit_code == 0 and f"stopped pid {cloud.process.pid}" in result.output, result.output
        cloud.process.wait(10)
        assert not pid_path.exists()
    finally:
        stop_running_cloud(cloud)


def test_a_locked_pid_file_naming_a_younger_process_is_not_trusted(tmp_path: Path) -> None:
    """A child that inherited the lock may outlive the server, whose number is then reused:
    the process now holding that number started after the file was written, so it is not
    the server and is never signalled."""
    path = tmp_path / "overcast.pid"
    held = PidFile(path).acquire()
    written = path.stat().st_mtime
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(f"{bystander.pid}\n")
        os.utime(path, (written - 10, written - 10))
        assert read_holder(path) is None
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        held.release()


def test_sealing_a_secret_keeps_the_data_dirs_mode(tmp_path: Path) -> None:
    """The first TempURL key made the secret key file, and that made the data dir 0700: QEMU's
    group could no longer pass through it, and every later server failed to build."""
    from overcast.sealing import KEY_FILE, Sealer

    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o750)
    sealed = Sealer(data / KEY_FILE).seal("k")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(data / KEY_FILE).st_mode) == 0o600
    assert Sealer(data / KEY_FILE).open(sealed) == "k"
    fresh = tmp_path / "new" / "keys"
    Sealer(fresh / KEY_FILE).seal("k")  # a directory it makes itself is private
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700
