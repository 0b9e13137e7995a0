"""The agent's image cache directory is set up once, and again if it has gone."""

from __future__ import annotations

import os
import shutil
import stat

from overcast.agent.compute import ComputeAgent


def test_the_cache_directory_is_made_once_and_again_when_removed(overcast_runtime, monkeypatch) -> None:
    host = next(iter(overcast_runtime.drivers.hosts))
    agent = ComputeAgent(overcast_runtime, host)
    calls: list[int] = []
    import overcast.agent.compute as module

    real = module.qemu_group
    monkeypatch.setattr(module, "qemu_group", lambda: calls.append(1) or real())
    path = agent._cache_dir()
    assert os.path.isdir(path) and path.endswith(host)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o007 == 0  # private
    assert agent._cache_dir() == path and len(calls) == 1  # not set up again
    shutil.rmtree(path)
    assert agent._cache_dir() == path and os.path.isdir(path) and len(calls) == 2
