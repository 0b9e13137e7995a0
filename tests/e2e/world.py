"""The outside world for end-to-end tests: a namespace on an external network's bridge, with
the external subnet's gateway address, that fetches URLs as a client on the internet would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

WORLD = "172.24.61.1"  # the external subnet's gateway: give the test's external subnet this /24


class World:
    """A namespace on the external network's bridge, with the external subnet's gateway address."""

    def __init__(self, bridge: str) -> None:
        self.ns = f"oce2e-world-{os.getpid()}"
        self.veth = f"ocew{os.getpid() % 100000}"
        run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True)  # noqa: E731
        run("netns", "add", self.ns)
        run("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("link", "set", self.veth, "master", bridge, "up")
        run("-n", self.ns, "link", "set", "lo", "up")
        run("-n", self.ns, "link", "set", "eth0", "up")
        run("-n", self.ns, "addr", "add", f"{WORLD}/24", "dev", "eth0")

    def get(self, url_host: str, path: str = "/") -> tuple[int, str, str]:
        """(status, Location header, body) of one GET from outside; (0, "", error) on failure."""
        code = (
            "import http.client, json, sys\n"
            f"c = http.client.HTTPConnection({url_host!r}, 80, timeout=5)\n"
            "try:\n"
            f"    c.request('GET', {path!r}); r = c.getresponse()\n"
            "    print(json.dumps([r.status, r.getheader('Location') or '', r.read().decode(errors='replace')]))\n"
            "except Exception as e:\n"
            "    print(json.dumps([0, '', str(e)]))\n"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", code], capture_output=True, text=True
        )
        try:
            status, location, body = json.loads(out.stdout)
        except ValueError:
            return 0, "", out.stderr
        return int(status), str(location), str(body)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
