"""Test helpers for network namespaces."""

from __future__ import annotations

import json
import subprocess
import sys


def http_get_in_netns(ns: str, host: str, path: str = "/", timeout: float = 5) -> tuple[int, str, str]:
    """``(status, Location header, body)`` of one HTTP GET of ``http://host:80/path`` made from
    inside namespace ``ns``; ``(0, "", error)`` when it fails."""
    code = (
        "import http.client, json\n"
        f"c = http.client.HTTPConnection({host!r}, 80, timeout={timeout!r})\n"
        "try:\n"
        f"    c.request('GET', {path!r}); r = c.getresponse()\n"
        "    print(json.dumps([r.status, r.getheader('Location') or '', r.read().decode(errors='replace')]))\n"
        "except Exception as e:\n"
        "    print(json.dumps([0, '', str(e)]))\n"
    )
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True)
    try:
        status, location, body = json.loads(out.stdout)
    except ValueError:
        return 0, "", out.stderr
    return int(status), str(location), str(body)
