"""How the LVM driver runs commands: one small seam, so tests can record them.

:class:`SubprocessRunner` runs real programs (lvm2, qemu-img, dd) with the process's own
environment, so an operator's (or a test's) ``LVM_SYSTEM_DIR`` applies as it would to any
other lvm2 command. :class:`RecordingRunner` records argv lists and answers from a script,
for the paths that need device-mapper (activation, snapshots, thin pools, data copies).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run ``argv`` and return its result; never raises for a non-zero exit."""


class SubprocessRunner:
    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            return CommandResult(tuple(argv), 124, "", f"{argv[0]} timed out after {timeout} s")
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


Responder = Callable[[tuple[str, ...]], CommandResult | None]


@dataclass
class RecordingRunner:
    """Records every command; answers with the first responder that returns a result,
    else success with empty output. ``commands`` is what a test asserts on."""

    responders: list[Responder] = field(default_factory=list)
    commands: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        cmd = tuple(argv)
        self.commands.append(cmd)
        for responder in self.responders:
            result = responder(cmd)
            if result is not None:
                return result
        return CommandResult(cmd, 0)

    def programs(self) -> list[str]:
        return [c[0] for c in self.commands]
