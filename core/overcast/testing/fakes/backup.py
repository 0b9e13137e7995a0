"""A backup target that keeps objects in memory (``backup_*``), per project and container,
with the rules an object store has: a container must be prepared before it takes objects,
a missing object is ``NotFound``."""

from __future__ import annotations

from collections.abc import Sequence

from overcast.errors import DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import Backend, BackupTarget


class FakeBackupTarget:
    def __init__(self) -> None:
        self.containers: dict[tuple[str, str], dict[str, bytes]] = {}  # (project, container) -> objects

    def _objects(self, target: BackupTarget) -> dict[str, bytes]:
        try:
            return self.containers[(target.project_id, target.container)]
        except KeyError:
            raise NotFound(f"container {target.container} does not exist in project {target.project_id}") from None

    @hookimpl
    def backup_prepare(self, backend: Backend, target: BackupTarget) -> bool:
        self.containers.setdefault((target.project_id, target.container), {})
        return True

    @hookimpl
    def backup_put(self, backend: Backend, target: BackupTarget, name: str, data: bytes | memoryview) -> bool:
        self._objects(target)[name] = bytes(data)
        return True

    @hookimpl
    def backup_get(self, backend: Backend, target: BackupTarget, name: str) -> bytes:
        try:
            return self._objects(target)[name]
        except KeyError:
            raise NotFound(f"object {name} does not exist in {target.container}") from None

    @hookimpl
    def backup_get_into(self, backend: Backend, target: BackupTarget, name: str, buffer: memoryview) -> int:
        data = self.backup_get(backend, target, name)
        if len(data) > len(buffer):
            raise DriverError(f"object {name} holds {len(data)} bytes, more than the {len(buffer)} expected")
        buffer[: len(data)] = data
        return len(data)

    @hookimpl
    def backup_delete(self, backend: Backend, target: BackupTarget, name: str) -> bool:
        self.containers.get((target.project_id, target.container), {}).pop(name, None)
        return True

    @hookimpl
    def backup_list(self, backend: Backend, target: BackupTarget, prefix: str) -> Sequence[str]:
        objects = self.containers.get((target.project_id, target.container), {})
        return sorted(n for n in objects if n.startswith(prefix))
