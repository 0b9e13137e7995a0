"""Structured logging: one JSON object per line, with any ``extra=`` fields included.

Lines are written in batches (:class:`BatchingStreamHandler`): the server logs one line per
request, and a write (and flush) per line cost more CPU than validating a token.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import weakref
from datetime import datetime, timezone
from typing import TextIO

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,  # which process of several (API workers) wrote it
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class BatchingStreamHandler(logging.StreamHandler):
    """A ``StreamHandler`` that writes the lines of up to ``interval`` seconds (or
    ``max_lines`` lines) in one write. A WARNING or worse is written at once, after the
    lines before it; a background thread writes the rest, and ``flush``/``close`` (which
    :func:`logging.shutdown` calls at exit) write what is pending."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.2, max_lines: int = 256) -> None:
        super().__init__(stream)
        self.interval = interval
        self.max_lines = max_lines
        self._pending: list[str] = []
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            urgent = record.levelno >= logging.WARNING or len(self._pending) >= self.max_lines
            if self._flusher is None and not urgent:
                self._flusher = threading.Thread(target=self._run, name=FLUSHER_NAME, daemon=True)
                self._flusher.start()
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            pending, self._pending = self._pending, []
            try:
                if pending:
                    self.stream.write("\n".join(pending) + self.terminator)
                if self.stream and hasattr(self.stream, "flush"):
                    self.stream.flush()
            except Exception:
                pass  # a closed or broken log stream must not break the caller

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            if self._pending:
                self.flush()


#: a forked child (the workers' zygotes) has no flusher thread: the next line starts its own
_HANDLERS: weakref.WeakSet[BatchingStreamHandler] = weakref.WeakSet()
FLUSHER_NAME = "log-flusher"


def _after_fork_in_child() -> None:
    for handler in list(_HANDLERS):
        handler._flusher = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def setup_logging(level: str = "INFO", json_lines: bool = True, stream=sys.stderr) -> None:
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, BatchingStreamHandler):
            old.close()  # stops its flusher thread (the stream stays open)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
