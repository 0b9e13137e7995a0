"""Run work over a dependency graph: each node once all it needs is done, independent nodes
at the same time (a bounded thread pool). The first failure stops new work; what is running
finishes; the failure is returned."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping

#: worker threads per stack action (the work is mostly waiting on API calls)
WORKERS = 8


class Failed(Exception):
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.name = name
        self.error = error


def run_graph(
    deps: Mapping[str, set[str]],
    work: Callable[[str], None],
    reverse: bool = False,
    workers: int = WORKERS,
) -> Failed | None:
    """Call ``work(name)`` for every node after the nodes it depends on (``reverse``: after
    the nodes that depend on it, the order deletion needs)."""
    if reverse:
        flipped: dict[str, set[str]] = {name: set() for name in deps}
        for name, needs in deps.items():
            for need in needs:
                if need in flipped:
                    flipped[need].add(name)
        graph = flipped
    else:
        graph = {name: {d for d in needs if d in deps} for name, needs in deps.items()}
    done: set[str] = set()
    started: set[str] = set()
    failure: Failed | None = None
    with cf.ThreadPoolExecutor(max_workers=max(1, min(workers, len(graph) or 1)), thread_name_prefix="stack") as pool:
        running: dict[cf.Future[None], str] = {}
        while True:
            if failure is None:
                for name, needs in graph.items():
                    if name not in started and needs <= done:
                        started.add(name)
                        running[pool.submit(work, name)] = name
            if not running:
                break
            finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                name = running.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    if failure is None:
                        failure = Failed(name, exc)
                else:
                    done.add(name)
    return failure
