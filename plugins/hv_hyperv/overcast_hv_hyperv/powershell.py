"""PowerShell generation and result parsing for the Hyper-V plugin.

Every value the plugin puts in a script goes through :func:`quote` (or :func:`number`,
:func:`switch`), so a string is always a single-quoted PowerShell literal. Inside single quotes
PowerShell expands nothing (no ``$var``, no ``$(...)``, no backtick escapes); the only special
characters are the quote characters themselves, and PowerShell accepts **five** of them as
single quotes: ``'`` and the typographic ``‘ ’ ‚ ‛`` (U+2018..U+201B). Each is doubled. A NUL
byte cannot travel in ``-EncodedCommand`` safely and is refused.

Parameters that take wildcard patterns (``Get-VM -Name``) additionally need the pattern
characters ``* ? [ ]`` escaped with a backtick: :func:`quote_literal_pattern`.

Results come back as JSON from ``ConvertTo-Json`` (Windows PowerShell 5.1: enums as integers,
a single object not wrapped in an array, no output at all for zero objects, dates as
``\\/Date(ms)\\/``) and errors as CLIXML error records on stderr, which pywinrm flattens to
text; :func:`parse_error` reads the message and the FullyQualifiedErrorId from that text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_WILDCARD = "*?[]`"

PRELUDE = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n"

# Microsoft.HyperV.PowerShell.VMState, as ConvertTo-Json writes it (an integer)
VM_STATE = {
    1: "Other",
    2: "Running",
    3: "Off",
    4: "Stopping",
    5: "Saving",
    6: "Saved",
    7: "Resuming",
    8: "Pausing",
    9: "Paused",
    10: "Starting",
    11: "Reset",
}


def quote(value: Any) -> str:
    """A PowerShell single-quoted string literal holding exactly ``value`` as data."""
    s = str(value)
    if "\0" in s:
        raise ValueError("NUL characters cannot be passed to PowerShell")
    return "'" + "".join(c + c if c in SINGLE_QUOTES else c for c in s) + "'"


def quote_literal_pattern(value: Any) -> str:
    """Quote a value for a parameter that takes wildcards, so it matches only itself."""
    s = str(value)
    return quote("".join("`" + c if c in _WILDCARD else c for c in s))


def number(value: Any) -> str:
    n = int(value)
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    return str(n)


def switch(name: str, on: bool) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
        raise ValueError("bad parameter name %r" % name)
    return "-%s:$%s" % (name, "true" if on else "false")


class Script:
    """Build a script statement by statement: ``s.cmd("Start-VM", Name=vm)``.

    Keyword values: ``str`` -> quoted literal, ``int`` -> number, ``True`` -> bare switch,
    ``False``/``None`` -> omitted, ``list``/``tuple`` -> comma-separated quoted literals,
    :class:`Raw` -> inserted verbatim (only for plugin-written constants such as ``$vm``)."""

    def __init__(self, prelude: str = PRELUDE):
        self.lines: list[str] = [prelude.rstrip("\n")] if prelude else []

    @staticmethod
    def args(params: dict) -> str:
        out = []
        for name, value in params.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
                raise ValueError("bad parameter name %r" % name)
            if value is None or value is False:
                continue
            if value is True:
                out.append("-" + name)
            elif isinstance(value, Pattern):
                out.append("-%s %s" % (name, quote_literal_pattern(value.value)))
            elif isinstance(value, Raw):
                out.append("-%s %s" % (name, value.text))
            elif isinstance(value, int):
                out.append("-%s %s" % (name, number(value)))
            elif isinstance(value, (list, tuple)):
                out.append("-%s %s" % (name, ",".join(quote(v) for v in value)))
            else:
                out.append("-%s %s" % (name, quote(value)))
        return " ".join(out)

    @staticmethod
    def command(name: str, **params) -> str:
        if not re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", name):
            raise ValueError("bad cmdlet name %r" % name)
        a = Script.args(params)
        return name + (" " + a if a else "")

    def cmd(self, name: str, *, pipe: Iterable[str] = (), assign: str | None = None, **params) -> "Script":
        line = self.command(name, **params)
        for p in pipe:
            line += " | " + p
        if assign:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", assign):
                raise ValueError("bad variable name %r" % assign)
            line = "$%s = %s" % (assign, line)
        self.lines.append(line)
        return self

    def json(self, name: str, *, select: Iterable[str] = (), depth: int = 2, **params) -> "Script":
        pipe = []
        sel = list(select)
        if sel:
            for p in sel:
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", p):
                    raise ValueError("bad property name %r" % p)
            pipe.append("Select-Object -Property " + ",".join(sel))
        pipe.append("ConvertTo-Json -Depth %d -Compress" % int(depth))
        return self.cmd(name, pipe=pipe, **params)

    def quiet(self, name: str, **params) -> "Script":
        return self.cmd(name, pipe=["Out-Null"], **params)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Pattern:
    """A value for a wildcard-capable parameter (``Get-VM -Name``) that must match only itself."""

    def __init__(self, value: str):
        self.value = str(value)


class Raw:
    def __init__(self, text: str):
        if not re.fullmatch(r"\$[A-Za-z][A-Za-z0-9_]*", text):
            raise ValueError("Raw only carries variable references")
        self.text = text


_DATE = re.compile(r"\\?/Date\((-?\d+)\)\\?/")


def parse_json(text: str) -> list[dict]:
    """ConvertTo-Json output -> a list of objects (``[]`` for no output, ``[obj]`` for one)."""
    text = (text or "").strip()
    if not text:
        return []
    data = json.loads(text)
    if isinstance(data, list):
        return data
    return [data]


def ps_date_ms(value: Any) -> int | None:
    m = _DATE.fullmatch(str(value)) if value is not None else None
    return int(m.group(1)) if m else None


@dataclass
class PsError:
    message: str
    error_id: str = ""
    category: str = ""
    cmdlet: str = ""

    @property
    def reason(self) -> str:
        """The first part of FullyQualifiedErrorId (``ObjectNotFound``, ``InvalidState``...)."""
        return self.error_id.split(",")[0]


def parse_error(stderr: str) -> PsError:
    """Read an error record as pywinrm hands it over (CLIXML already flattened to text)."""
    text = (stderr or "").replace("\r\n", "\n").strip()
    if not text:
        return PsError("PowerShell failed without an error message")
    lines = [ln for ln in text.split("\n")]
    first = lines[0].strip()
    cmdlet, msg = "", first
    m = re.match(r"^([A-Z][A-Za-z]+-[A-Za-z]+) : (.*)$", first)
    if m:
        cmdlet, msg = m.group(1), m.group(2)
    more = []
    for ln in lines[1:]:
        s = ln.strip()
        if s.startswith("At line:") or s.startswith("+") or not s:
            break
        more.append(s)
    if more:
        msg = " ".join([msg] + more)
    eid = re.search(r"FullyQualifiedErrorId\s*:\s*(\S+)", text)
    cat = re.search(r"CategoryInfo\s*:\s*([A-Za-z]+):", text)
    return PsError(msg.strip(), eid.group(1) if eid else "", cat.group(1) if cat else "", cmdlet)
