"""Start and stop govmomi's vCenter simulator (vcsim) for tests.

The binary is Overcast's own small launcher (``vcsim/main.go``) around the ``simulator``
package of Debian's ``golang-github-vmware-govmomi-dev`` (0.24.2 on bookworm), built by
``vcsim/build-vcsim.sh`` in GOPATH mode with no network, cached outside the repository.
"""

from __future__ import annotations

import os
import signal
import subprocess
from urllib.parse import urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_SCRIPT = os.path.join(HERE, "vcsim", "build-vcsim.sh")


class VcsimUnavailable(RuntimeError):
    pass


def build(timeout: float = 900) -> str:
    """Build (or find in the cache) the launcher; returns the binary's path."""
    if os.environ.get("OVERCAST_VCSIM"):
        return os.environ["OVERCAST_VCSIM"]
    try:
        p = subprocess.run(["sh", BUILD_SCRIPT], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VcsimUnavailable("building vcsim failed: %s" % e) from None
    if p.returncode != 0:
        raise VcsimUnavailable("building vcsim failed (rc %d): %s" % (p.returncode, p.stderr.strip()[-800:]))
    return p.stdout.strip().splitlines()[-1]


class Vcsim:
    """``with Vcsim(binary) as sim: sim.url, sim.host, sim.port`` on 127.0.0.1, a port the OS picks."""

    def __init__(
        self,
        binary: str,
        *,
        username: str = "user",
        password: str = "pass",
        esx: bool = False,
        hosts: int = 3,
        vms: int = 1,
        tls: bool = True,
    ):
        self.binary = binary
        self.username, self.password = username, password
        self.args = [
            binary,
            "-l",
            "127.0.0.1:0",
            "-username",
            username,
            "-password",
            password,
            "-host",
            str(hosts),
            "-vm",
            str(vms),
            "-tls=%s" % ("true" if tls else "false"),
        ]
        if esx:
            self.args.append("-esx")
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "Vcsim":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.stop()
            raise VcsimUnavailable("vcsim did not start (printed %r)" % line)
        u = urlparse(line)
        self.host, self.port, self.scheme = u.hostname, u.port, u.scheme
        self.url = "%s://%s:%d/sdk" % (u.scheme, u.hostname, u.port)
        return self

    def host_table(self, esx_host: str = "DC0_C0_H0") -> dict:
        """The ``[hosts.NAME]`` table for an Overcast host standing for ``esx_host``."""
        return {
            "driver": "esx",
            "url": self.url,
            "username": self.username,
            "password": self.password,
            "esx_host": esx_host,
            "verify_tls": False,
        }

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    """``python -m overcast_hv_esx_sim.vcsim [-esx] [-username U -password P]``: build if needed,
    run vcsim in the foreground on a free loopback port and print its SDK URL."""
    import argparse
    import threading

    p = argparse.ArgumentParser(description="Overcast's vcsim launcher (test infrastructure)")
    p.add_argument("-esx", action="store_true")
    p.add_argument("-username", default="user")
    p.add_argument("-password", default="pass")
    p.add_argument("-host", type=int, default=3)
    a = p.parse_args(argv)
    sim = Vcsim(build(), username=a.username, password=a.password, esx=a.esx, hosts=a.host).start()
    print(sim.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
