"""``wrk`` (a C load generator: ``apt-get install wrk``) as the object benchmarks' client, so
that on a small machine the client does not take the CPU the server needs.

PUTs write ``<prefix><n>`` for n = 0, 1, ... (wrapping at ``names``); GETs read names below
the number of PUTs done. Token and body size go through the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import Counter

PUT_LUA = """
local token, size = os.getenv("TOKEN"), tonumber(os.getenv("SIZE"))
local names, prefix = tonumber(os.getenv("NAMES")), os.getenv("PREFIX")
local body = string.rep("0123456789abcdef", math.ceil(size / 16)):sub(1, size)
local n = -1
function request()
  n = n + 1
  return wrk.format("PUT", wrk.path .. "/" .. prefix .. (n % names),
                    {["X-Auth-Token"] = token, ["Content-Length"] = tostring(#body)}, body)
end
function response(status, headers, body)
  if status >= 300 then io.stderr:write("HTTP " .. status .. "\\n") end
end
"""

GET_LUA = """
local token = os.getenv("TOKEN")
local names, prefix = tonumber(os.getenv("NAMES")), os.getenv("PREFIX")
local n = -1
function request()
  n = n + 1
  return wrk.format("GET", wrk.path .. "/" .. prefix .. (n % names), {["X-Auth-Token"] = token})
end
function response(status, headers, body)
  if status >= 300 then io.stderr:write("HTTP " .. status .. "\\n") end
end
"""


def wrk(
    url: str, token: str, op: str, size: int, names: int, seconds: float, connections: int, prefix: str = "o"
) -> tuple[float, int, int, dict[str, int]]:
    """Run ``op`` (PUT or GET) against ``url`` (a container's URL) for ``seconds``; returns
    (requests per second, requests done, error answers, their statuses). A socket error ends
    the run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(PUT_LUA if op == "PUT" else GET_LUA)
    env = {**os.environ, "TOKEN": token, "SIZE": str(size), "NAMES": str(names), "PREFIX": prefix}
    try:
        proc = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                f.name,
                url,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out = proc.stdout
    finally:
        os.unlink(f.name)
    bad = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = re.search(r"Socket errors: .*", out)
    if sock and re.search(r"(read|write|timeout) [1-9]", sock.group(0)):
        raise SystemExit(f"wrk {op} saw socket errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    done = int(re.search(r"(\d+) requests in", out).group(1))
    statuses = Counter(line for line in proc.stderr.splitlines() if line.startswith("HTTP "))
    return (rate * (done - bad) / done if done else 0.0), done, bad, dict(statuses)  # successful requests/s
