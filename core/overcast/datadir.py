"""The data directory is private to the service.

It holds the database (password hashes, TempURL keys, user data), Fernet keys, object and
volume data, instance disks and cached images. Everything under it is for the service's
user only: files 0600, directories 0700 — except that QEMU, which the system libvirt runs
as its own user, must pass through the directories to the disks libvirt hands it (libvirt
gives each disk to that user while the guest runs: ``dynamic_ownership``). So when running
as root with such a user, directories are 0750 with QEMU's group: it can reach its disks,
and read nothing else. Modes are set at creation (the process umask) and repaired by
``overcast up`` (:func:`make_private`).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: the umask of every overcast process that writes the data dir: new files 0600, dirs 0700
PRIVATE_UMASK = 0o077
#: the users the system libvirt runs QEMU as (Debian's, then Fedora's)
QEMU_USERS = ("libvirt-qemu", "qemu")


def qemu_group() -> int | None:
    """The group a directory needs for the system libvirt's QEMU to pass through it: the
    QEMU user's own group (no one else's) when running as root, else ``None`` (a non-root
    service's QEMU runs as that same user)."""
    if os.geteuid() != 0:
        return None
    for name in QEMU_USERS:
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return user.pw_gid
    return None


def private_dir(path: Path | str, group: int | None = None) -> None:
    """Create ``path`` (and parents) if needed and make it private: 0750 with ``group``, or 0700.
    The parents it creates get the same mode, so that ``group`` (QEMU's) can pass through them."""
    created = []
    parent = os.path.abspath(path)
    while not os.path.isdir(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    os.makedirs(path, mode=0o700, exist_ok=True)
    for directory in created[1:]:
        _fix_dir(directory, group)
    _fix_dir(str(path), group)


def make_private(root: Path | str, group: int | None = None) -> int:
    """Repair the modes under ``root``: directories 0750 with ``group`` (``root`` itself, so
    QEMU passes through it, and every one open to more than its owner), or 0700; files
    without group or other access. Symlinks are not followed. Returns how many changed."""
    changed = 0
    root = str(root)
    if not os.path.isdir(root):
        return 0
    changed += _fix_dir(root, group)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path) and stat.S_IMODE(os.lstat(path).st_mode) != 0o700:
                changed += _fix_dir(path, group)  # (a 0700 one, like the keys', stays so)
        for name in filenames:
            changed += _fix_file(os.path.join(dirpath, name))
    if changed:
        log.info("data dir made private", extra={"path": root, "changed": changed})
    return changed


def _fix_dir(path: str, group: int | None) -> int:
    st = os.lstat(path)
    want = 0o750 if group is not None else 0o700
    changed = 0
    if group is not None and st.st_gid != group:
        os.chown(path, -1, group)
        changed = 1
    if stat.S_IMODE(st.st_mode) != want:
        os.chmod(path, want)
        changed = 1
    return changed


def _fix_file(path: str) -> int:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return 0
    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return 1
