"""Reading a running haproxy through its stats socket: ``show stat`` as CSV, one row per
frontend (a listener), backend (a pool) and server (a member), named by Overcast ids."""

from __future__ import annotations

import csv
import io
import socket

from overcast.types import LbListenerStats, LbMemberHealth, LoadBalancer


def query(sock_path: str, command: str, timeout: float = 5.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def rows(text: str) -> list[dict[str, str]]:
    lines = text.lstrip("# ").splitlines()
    return [dict(r) for r in csv.DictReader(io.StringIO("\n".join(lines)))]


def member_status(row: dict[str, str], weight: int) -> str:
    status = row.get("status", "")
    if status.startswith("MAINT") or status == "DRAIN" and weight != 0:
        return "OFFLINE"
    if status == "no check":
        return "NO_MONITOR"
    if status.startswith("DOWN"):
        return "ERROR"
    if status.startswith("UP") or status == "NOLB":
        return "DRAINING" if weight == 0 else "ONLINE"
    return "OFFLINE"


def health(lb: LoadBalancer, text: str) -> tuple[tuple[LbMemberHealth, ...], tuple[LbListenerStats, ...]]:
    table = rows(text)
    servers = {(r["pxname"], r["svname"]): r for r in table}
    members = []
    for pool in lb.pools:
        for m in pool.members:
            row = servers.get((pool.id, m.id))
            if row is None:
                status = "OFFLINE"
            elif not m.admin_state_up or not pool.admin_state_up:
                status = "OFFLINE"
            else:
                status = member_status(row, m.weight)
            members.append(LbMemberHealth(pool.id, m.id, status))
    listeners = []
    for li in lb.listeners:
        row = servers.get((li.id, "FRONTEND"))
        if row is None:
            listeners.append(LbListenerStats(li.id))
            continue
        number = lambda key: int(row.get(key) or 0)  # noqa: E731 - a short local reader
        listeners.append(
            LbListenerStats(li.id, number("bin"), number("bout"), number("scur"), number("stot"), number("ereq"))
        )
    return tuple(members), tuple(listeners)
