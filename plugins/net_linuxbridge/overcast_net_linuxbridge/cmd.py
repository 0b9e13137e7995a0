"""Running the host's tools (ip, bridge, iptables, dnsmasq), failures as ``DriverError``."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

from overcast.errors import DriverError

log = logging.getLogger(__name__)


def run(
    args: Sequence[str], check: bool = True, input: str | None = None, namespace: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (inside ``namespace`` if given); ``check`` raises ``DriverError`` with its stderr."""
    argv = ["ip", "netns", "exec", namespace, *args] if namespace else list(args)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=60)
    except FileNotFoundError:
        raise DriverError(f"linuxbridge: '{argv[0]}' is not installed (run scripts/install-host-deps.sh)") from None
    except subprocess.TimeoutExpired:
        raise DriverError(f"linuxbridge: '{' '.join(argv)}' did not finish in 60 s") from None
    if check and done.returncode != 0:
        raise DriverError(
            f"linuxbridge: '{' '.join(argv)}' failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    log.debug("ran %s -> %s", argv, done.returncode)
    return done


def ok(args: Sequence[str], namespace: str | None = None) -> bool:
    """Whether a command succeeds (for existence checks)."""
    return run(args, check=False, namespace=namespace).returncode == 0
