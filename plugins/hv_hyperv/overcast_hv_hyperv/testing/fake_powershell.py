"""A small Windows PowerShell 5.1 interpreter with a hand-modelled Hyper-V module.

Test infrastructure behind the WS-Management responder (:mod:`.wsman_sim`). It runs exactly
the language subset and the cmdlets the Hyper-V plugin emits, with PowerShell's own lexical
rules where they matter for safety:

* single-quoted strings take ``'`` and the typographic ``‘ ’ ‚ ‛`` as delimiters, a doubled
  quote is one literal quote, and nothing inside is expanded;
* double-quoted strings expand ``$var`` and **execute** ``$(...)`` subexpressions; backtick
  escapes apply;
* ``;`` and newlines separate statements, ``|`` builds pipelines, ``#`` starts a comment;
* parameters bind by name (``-Name value``, ``-Force``, ``-Force:$false``) against each
  cmdlet's declared parameters; an unknown parameter is an error, as in PowerShell;
* ``$ErrorActionPreference = 'Stop'`` makes the first error terminate the script.

Every cmdlet invocation is appended to ``Host.transcript`` as (cmdlet, bound parameters), so a
test can prove that hostile strings arrived as data and that nothing else ran.

Hyper-V behaviour: VM states with the PowerShell ``VMState`` integers (Running=2, Off=3,
Saved=6, Paused=9), Hyper-V's error records (``Hyper-V was unable to find a virtual machine with
name "x".`` and friends, with their FullyQualifiedErrorId and CategoryInfo), memory accounting,
checkpoints (the running disk moves to an ``.avhdx``), disk hot-plug only on SCSI, live
migration (``Move-VM``) between hosts of one fabric, and VHD/VHDX files on disk (through
``qemu-img``, which reads and writes both formats).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Callable

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
GiB = 1 << 30

RUNNING, OFF, STOPPING, SAVED, PAUSED = 2, 3, 4, 6, 9
STATE_NAMES = {RUNNING: "Running", OFF: "Off", STOPPING: "Stopping", SAVED: "Saved", PAUSED: "Paused"}
VHD_FORMAT = {"vpc": 2, "vhdx": 3}          # Microsoft.Vhd.PowerShell.VhdFormat: VHD=2, VHDX=3
VHD_TYPE = {"fixed": 2, "dynamic": 3, "differencing": 4}


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

class PsError(Exception):
    def __init__(self, message, error_id="", category="NotSpecified", target="", exc="RuntimeException",
                 cmdlet=""):
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category
        self.target = target
        self.exc = exc
        self.cmdlet = cmdlet


class ParseError(PsError):
    pass


def _hv_cmd(cmdlet):
    return "Microsoft.HyperV.PowerShell.Commands." + cmdlet.replace("-", "")


def not_found_vm(cmdlet, name):
    return PsError('Hyper-V was unable to find a virtual machine with name "%s".' % name,
                   "InvalidParameter," + _hv_cmd(cmdlet), "InvalidArgument", "%s:String" % name,
                   "VirtualizationException", cmdlet)


def invalid_state(cmdlet, vm, what="change state"):
    return PsError("'%s' failed to %s. The operation cannot be performed while the object is in its "
                   "current state." % (vm.name, what), "InvalidState," + _hv_cmd(cmdlet), "InvalidOperation",
                   "%s:VirtualMachine" % vm.name, "VirtualizationException", cmdlet)


# ---------------------------------------------------------------------------------------------
# lexer
# ---------------------------------------------------------------------------------------------

@dataclass
class Tok:
    kind: str          # str dstr num var param word pipe comma sep assign lparen rparen subexpr
    value: Any = None
    colon: bool = False


_SIZES = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}


def lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r":
            i += 1
        elif c == "`" and i + 1 < n and src[i + 1] == "\n":      # line continuation
            i += 2
        elif c in "\n;":
            toks.append(Tok("sep"))
            i += 1
        elif c == "#":
            while i < n and src[i] != "\n":
                i += 1
        elif c == "|":
            toks.append(Tok("pipe"))
            i += 1
        elif c == ",":
            toks.append(Tok("comma"))
            i += 1
        elif c == "(":
            toks.append(Tok("lparen"))
            i += 1
        elif c == ")":
            toks.append(Tok("rparen"))
            i += 1
        elif c == "=" and not (toks and toks[-1].kind == "param"):
            toks.append(Tok("assign"))
            i += 1
        elif c in SINGLE_QUOTES:
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise ParseError("The string is missing the terminator: '.",
                                     "TerminatorExpectedAtEndOfString", "ParserError", exc="ParseException")
                if src[i] in SINGLE_QUOTES:
                    if i + 1 < n and src[i + 1] in SINGLE_QUOTES:
                        buf.append(src[i])
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(src[i])
                i += 1
            toks.append(Tok("str", "".join(buf)))
        elif c in DOUBLE_QUOTES:
            i, parts = _lex_dstring(src, i + 1)
            toks.append(Tok("dstr", parts))
        elif c == "$" and i + 1 < n and src[i + 1] == "(":
            j = _match_paren(src, i + 1)
            toks.append(Tok("subexpr", src[i + 2:j]))
            i = j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_:]*)", src[i:])
            if not m:
                raise ParseError("Unexpected token '$' in expression or statement.", "UnexpectedToken",
                                 "ParserError", exc="ParseException")
            toks.append(Tok("var", m.group(1)))
            i += m.end()
        elif c in "-\u2013\u2014\u2015" and i + 1 < n and (src[i + 1].isalpha()):
            m = re.match(r"[-\u2013\u2014\u2015]([A-Za-z][A-Za-z0-9]*)(:?)", src[i:])
            toks.append(Tok("param", m.group(1), colon=bool(m.group(2))))
            i += m.end()
        else:
            m = re.match(r"[^\s;|,()'\"`$\u2018\u2019\u201a\u201b\u201c\u201d\u201e]+", src[i:])
            if not m:
                raise ParseError("Unexpected token '%s' in expression or statement." % c, "UnexpectedToken",
                                 "ParserError", exc="ParseException")
            word = m.group(0)
            i += m.end()
            num = re.fullmatch(r"(\d+)(kb|mb|gb|tb|pb)?", word, re.I)
            if num:
                toks.append(Tok("num", int(num.group(1)) * _SIZES.get((num.group(2) or "").lower(), 1)))
            else:
                toks.append(Tok("word", word))
    return toks


def _match_paren(src, i):
    depth, j = 0, i
    while j < len(src):
        ch = src[j]
        if ch in SINGLE_QUOTES:
            j += 1
            while j < len(src) and src[j] not in SINGLE_QUOTES:
                j += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ParseError("Missing closing ')' in subexpression.", "MissingEndParenthesisInSubexpression",
                     "ParserError", exc="ParseException")


def _lex_dstring(src, i):
    parts: list = []
    buf: list[str] = []
    n = len(src)
    while True:
        if i >= n:
            raise ParseError('The string is missing the terminator: ".', "TerminatorExpectedAtEndOfString",
                             "ParserError", exc="ParseException")
        c = src[i]
        if c in DOUBLE_QUOTES:
            if i + 1 < n and src[i + 1] in DOUBLE_QUOTES:
                buf.append(c)
                i += 2
                continue
            i += 1
            break
        if c == "`" and i + 1 < n:
            buf.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a"}.get(src[i + 1], src[i + 1]))
            i += 2
            continue
        if c == "$" and i + 1 < n and src[i + 1] == "(":
            j = _match_paren(src, i + 1)
            parts.append("".join(buf))
            buf = []
            parts.append(("subexpr", src[i + 2:j]))
            i = j + 1
            continue
        m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", src[i:])
        if m:
            parts.append("".join(buf))
            buf = []
            parts.append(("var", m.group(1)))
            i += m.end()
            continue
        buf.append(c)
        i += 1
    parts.append("".join(buf))
    return i, parts


# ---------------------------------------------------------------------------------------------
# objects and JSON
# ---------------------------------------------------------------------------------------------

class PsObject(dict):
    """An object with a .NET type name; ConvertTo-Json writes its properties."""

    def __init__(self, type_name: str, props: dict):
        super().__init__(props)
        self.type_name = type_name


def to_json(value, depth: int, compress: bool) -> str:
    def conv(v, d):
        if isinstance(v, PsObject) or isinstance(v, dict):
            if d > depth:
                return getattr(v, "type_name", "System.Collections.Hashtable")
            return {k: conv(x, d + 1) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            if d > depth:
                return " ".join(str(x) for x in v)
            return [conv(x, d + 1) for x in v]
        return v
    data = conv(value, 0)
    if compress:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(data, indent=4, ensure_ascii=False)


def ps_date(t: float) -> str:
    return "/Date(%d)/" % int(t * 1000)


def wildcard_match(pattern: str, text: str) -> bool:
    """PowerShell WildcardPattern (case-insensitive, backtick escapes)."""
    rx, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "`" and i + 1 < len(pattern):
            rx.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            rx.append(".*")
        elif c == "?":
            rx.append(".")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                rx.append(re.escape(c))
            else:
                rx.append("[" + re.sub(r"([\\^])", r"\\\1", pattern[i + 1:j]) + "]")
                i = j
        else:
            rx.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), text, re.I | re.S) is not None


def has_wildcards(pattern: str) -> bool:
    return bool(re.search(r"(?<!`)[*?\[]", pattern))


# ---------------------------------------------------------------------------------------------
# the Hyper-V model
# ---------------------------------------------------------------------------------------------

@dataclass
class Disk:
    path: str
    controller_type: str = "SCSI"     # IDE | SCSI
    controller_number: int = 0
    controller_location: int = 0


@dataclass
class Nic:
    name: str = "Network Adapter"
    switch: str | None = None
    mac: str = field(default_factory=lambda: "00155D" + os.urandom(3).hex().upper())
    id: str = field(default_factory=lambda: str(uuidlib.uuid4()).upper())


@dataclass
class Checkpoint:
    name: str
    id: str
    created: float
    drives: list[str]


@dataclass
class VM:
    name: str
    generation: int = 2
    memory: int = 512 << 20
    cpus: int = 1
    state: int = OFF
    notes: str = ""
    path: str = ""
    id: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    started: float = 0.0
    integration_shutdown: bool = True
    console: list[str] = field(default_factory=list)


class Fabric:
    """Several simulated Hyper-V hosts that can live-migrate to each other, and the SMB
    shares they see. Windows paths map to local directories under ``root``."""

    def __init__(self, root: str, qemu_img: str | None = None):
        self.root = root
        self.hosts: dict[str, "Host"] = {}
        self.shares: dict[str, str] = {}          # \\server\share (lower) -> local dir
        self.lock = threading.RLock()
        self.qemu_img = qemu_img if qemu_img is not None else shutil.which("qemu-img")

    def add_host(self, name: str, memory: int = 32 * GiB, cpus: int = 8) -> "Host":
        h = Host(self, name, memory, cpus)
        self.hosts[name.lower()] = h
        return h

    def add_share(self, unc: str, local_dir: str):
        os.makedirs(local_dir, exist_ok=True)
        self.shares[unc.rstrip("\\").lower()] = local_dir


class Host:
    def __init__(self, fabric: Fabric, name: str, memory: int, cpus: int):
        self.fabric = fabric
        self.name = name
        self.memory = memory
        self.cpus = cpus
        self.vms: list[VM] = []
        self.switches = [{"Name": "External", "SwitchType": 2}, {"Name": "Internal", "SwitchType": 1}]
        self.vhd_dir = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"
        self.vm_dir = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
        self.transcript: list[tuple[str, dict]] = []
        self.disk_size = 500 * GiB
        os.makedirs(self.local("C:\\"), exist_ok=True)

    # ---- Windows paths ---------------------------------------------------------------------
    def local(self, winpath: str) -> str:
        p = str(winpath).replace("/", "\\")
        if p.startswith("\\\\"):
            low = p.lower()
            for unc, d in sorted(self.fabric.shares.items(), key=lambda kv: -len(kv[0])):
                if low == unc or low.startswith(unc + "\\"):
                    rest = p[len(unc):].strip("\\")
                    return os.path.join(d, *[x for x in rest.split("\\") if x])
            raise PsError("The network path was not found: '%s'." % winpath, "PathNotFound",
                          "ObjectNotFound", winpath, "IOException")
        m = re.fullmatch(r"([A-Za-z]):\\?(.*)", p)
        if not m:
            raise PsError("Cannot find path '%s' because it does not exist." % winpath,
                          "PathNotFound", "ObjectNotFound", winpath, "ItemNotFoundException")
        parts = [x for x in m.group(2).split("\\") if x]
        if any(x == ".." for x in parts):
            raise PsError("Access to the path '%s' is denied." % winpath, "UnauthorizedAccess",
                          "PermissionDenied", winpath, "UnauthorizedAccessException")
        return os.path.join(self.fabric.root, self.name.lower(), m.group(1).upper(), *parts)

    def used_memory(self):
        return sum(v.memory for v in self.vms if v.state in (RUNNING, PAUSED))

    def find(self, cmdlet, name=None, vm_id=None, required=True) -> list[VM]:
        if vm_id is not None:
            found = [v for v in self.vms if v.id.lower() == str(vm_id).lower()]
            if not found and required:
                raise PsError('Hyper-V was unable to find a virtual machine with id "%s".' % vm_id,
                              "InvalidParameter," + _hv_cmd(cmdlet), "InvalidArgument", "%s:Guid" % vm_id,
                              "VirtualizationException", cmdlet)
            return found
        names = name if isinstance(name, list) else [name]
        out = []
        for nm in names:
            nm = str(nm)
            found = [v for v in self.vms if wildcard_match(nm, v.name)]
            if not found and required and not has_wildcards(nm):
                raise not_found_vm(cmdlet, nm.replace("`", ""))
            out += found
        return out

    def vm_object(self, vm: VM) -> PsObject:
        up = time.time() - vm.started if vm.state in (RUNNING, PAUSED) else 0.0
        return PsObject("Microsoft.HyperV.PowerShell.VirtualMachine", {
            "Name": vm.name, "Id": vm.id, "VMId": vm.id, "State": vm.state,
            "Status": "Operating normally", "ProcessorCount": vm.cpus, "MemoryStartup": vm.memory,
            "MemoryAssigned": vm.memory if vm.state in (RUNNING, PAUSED) else 0,
            "DynamicMemoryEnabled": False, "Generation": vm.generation, "Notes": vm.notes,
            "ComputerName": self.name, "Path": vm.path, "IsClustered": False,
            "Uptime": {"Ticks": int(up * 1e7), "TotalSeconds": up},
            "CreationTime": ps_date(time.time()),
            "HardDrives": [self.disk_object(vm, d) for d in vm.disks],
            "NetworkAdapters": [self.nic_object(vm, n) for n in vm.nics],
        })

    def disk_object(self, vm, d: Disk):
        return PsObject("Microsoft.HyperV.PowerShell.HardDiskDrive", {
            "VMName": vm.name, "VMId": vm.id, "Path": d.path, "ControllerType": 0 if d.controller_type == "IDE" else 1,
            "ControllerNumber": d.controller_number, "ControllerLocation": d.controller_location,
            "ComputerName": self.name, "Name": "Hard Drive on %s controller number %d at location %d" % (
                d.controller_type, d.controller_number, d.controller_location)})

    def nic_object(self, vm, n: Nic):
        return PsObject("Microsoft.HyperV.PowerShell.VMNetworkAdapter", {
            "VMName": vm.name, "VMId": vm.id, "Name": n.name, "SwitchName": n.switch,
            "MacAddress": n.mac, "Connected": n.switch is not None, "Id": n.id, "IPAddresses": []})

    # ---- script execution -------------------------------------------------------------------
    def run(self, script: str) -> tuple[str, list, int]:
        """Run a script -> (stdout text, [error records and warnings], exit code)."""
        with self.fabric.lock:
            return Interpreter(self).run(script)


# ---------------------------------------------------------------------------------------------
# interpreter
# ---------------------------------------------------------------------------------------------

@dataclass
class CmdletSpec:
    fn: Callable
    params: dict[str, str]              # lower name -> canonical name
    switches: set[str]                  # lower names of switch parameters
    positional: list[str] = field(default_factory=list)
    pipeline: str | None = None         # parameter that takes pipeline input


COMMON_PARAMS = {"erroraction": "ErrorAction", "warningaction": "WarningAction", "verbose": "Verbose",
                 "confirm": "Confirm", "whatif": "WhatIf"}
COMMON_SWITCHES = {"verbose", "confirm", "whatif"}
CMDLETS: dict[str, CmdletSpec] = {}


def cmdlet(name, params=(), switches=(), positional=(), pipeline=None):
    def deco(fn):
        p = {x.lower(): x for x in list(params) + list(switches)}
        p.update(COMMON_PARAMS)
        CMDLETS[name.lower()] = CmdletSpec(fn, p, {s.lower() for s in switches} | COMMON_SWITCHES,
                                           list(positional), pipeline)
        fn.cmdlet_name = name
        return fn
    return deco


class Interpreter:
    def __init__(self, host: Host):
        self.host = host
        self.vars: dict[str, Any] = {"true": True, "false": False, "null": None,
                                     "ErrorActionPreference": "Continue", "ProgressPreference": "Continue",
                                     "env:COMPUTERNAME": host.name}
        self.out: list[str] = []
        self.errors: list[tuple[str, PsError | str]] = []
        self.failed = False

    # ---- entry ------------------------------------------------------------------------
    def run(self, script: str):
        try:
            self.exec_block(script)
            code = 1 if self.failed else 0
        except PsError as e:
            self.errors.append(("error", e))
            code = 1
        return "".join(self.out), self.errors, code

    def exec_block(self, script: str, capture=False):
        toks = lex(script)
        stmts, cur = [], []
        for t in toks:
            if t.kind == "sep":
                if cur:
                    stmts.append(cur)
                cur = []
            else:
                cur.append(t)
        if cur:
            stmts.append(cur)
        results = []
        for st in stmts:
            vals = self.exec_statement(st)
            if capture:
                results += vals
        return results

    def exec_statement(self, toks: list[Tok]):
        if len(toks) >= 2 and toks[0].kind == "var" and toks[1].kind == "assign":
            value = self.exec_pipeline(toks[2:])
            self.vars[toks[0].value] = value[0] if len(value) == 1 else value
            return []
        result = self.exec_pipeline(toks)
        for obj in result:
            self.out.append(self.format(obj))
        return result

    def format(self, obj) -> str:
        if obj is None:
            return ""
        if isinstance(obj, bool):
            return ("True" if obj else "False") + "\r\n"
        if isinstance(obj, PsObject):
            return "\r\n".join("%-16s: %s" % (k, v) for k, v in obj.items()) + "\r\n\r\n"
        return str(obj) + "\r\n"

    def exec_pipeline(self, toks: list[Tok]) -> list:
        segments, cur, depth = [], [], 0
        for t in toks:
            if t.kind == "lparen":
                depth += 1
            elif t.kind == "rparen":
                depth -= 1
            if t.kind == "pipe" and depth == 0:
                segments.append(cur)
                cur = []
            else:
                cur.append(t)
        segments.append(cur)
        data: list | None = None
        for i, seg in enumerate(segments):
            if not seg:
                raise ParseError("An empty pipe element is not allowed.", "EmptyPipeElement", "ParserError",
                                 exc="ParseException")
            if seg[0].kind == "word" and not re.fullmatch(r"\d+", seg[0].value):
                data = self.invoke(seg[0].value, seg[1:], data)
            elif i == 0:
                vals = self.primary_list(seg, 0)[0]
                data = vals if isinstance(vals, list) else [vals]
            else:
                raise ParseError("Expressions are only allowed as the first element of a pipeline.",
                                 "ExpressionsMustBeFirstInPipeline", "ParserError", exc="ParseException")
        return data or []

    # ---- values -------------------------------------------------------------------------
    def primary(self, toks, i):
        t = toks[i]
        if t.kind == "str":
            return t.value, i + 1
        if t.kind == "num":
            return t.value, i + 1
        if t.kind == "word":
            return t.value, i + 1
        if t.kind == "var":
            return self.vars.get(t.value), i + 1
        if t.kind == "dstr":
            out = []
            for p in t.value:
                if isinstance(p, tuple) and p[0] == "var":
                    v = self.vars.get(p[1])
                    out.append("" if v is None else str(v))
                elif isinstance(p, tuple):
                    vals = self.exec_block(p[1], capture=True)
                    out.append(" ".join(str(v) for v in vals))
                else:
                    out.append(p)
            return "".join(out), i + 1
        if t.kind == "subexpr":
            vals = self.exec_block(t.value, capture=True)
            return (vals[0] if len(vals) == 1 else vals), i + 1
        if t.kind == "lparen":
            depth, j = 0, i
            while j < len(toks):
                if toks[j].kind == "lparen":
                    depth += 1
                elif toks[j].kind == "rparen":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            vals = self.exec_pipeline(toks[i + 1:j])
            return (vals[0] if len(vals) == 1 else vals), j + 1
        raise ParseError("Unexpected token in expression or statement.", "UnexpectedToken", "ParserError",
                         exc="ParseException")

    def primary_list(self, toks, i):
        v, i = self.primary(toks, i)
        if i < len(toks) and toks[i].kind == "comma":
            vals = [v]
            while i < len(toks) and toks[i].kind == "comma":
                nv, i = self.primary(toks, i + 1)
                vals.append(nv)
            return vals, i
        return v, i

    # ---- cmdlet invocation ------------------------------------------------------------------
    def invoke(self, name: str, toks: list[Tok], pipeline_input):
        spec = CMDLETS.get(name.lower())
        if spec is None:
            raise PsError("The term '%s' is not recognized as the name of a cmdlet, function, script file, or "
                          "operable program. Check the spelling of the name, or if a path was included, verify "
                          "that the path is correct and try again." % name, "CommandNotFoundException",
                          "ObjectNotFound", "%s:String" % name, "CommandNotFoundException", name)
        canonical = spec.fn.cmdlet_name
        bound: dict[str, Any] = {}
        positional = list(spec.positional)
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "param":
                key = t.value.lower()
                matches = [k for k in spec.params if k == key] or [k for k in spec.params if k.startswith(key)]
                if len(matches) != 1:
                    raise PsError("A parameter cannot be found that matches parameter name '%s'." % t.value,
                                  "NamedParameterNotFound," + _hv_cmd(canonical), "InvalidArgument",
                                  "", "ParameterBindingException", canonical)
                pname = spec.params[matches[0]]
                if matches[0] in spec.switches and not t.colon:
                    bound[pname] = True
                    i += 1
                    continue
                if i + 1 >= len(toks) or toks[i + 1].kind in ("param", "pipe"):
                    raise PsError("Missing an argument for parameter '%s'. Specify a parameter of type "
                                  "'System.String' and try again." % pname,
                                  "MissingArgument," + _hv_cmd(canonical), "InvalidArgument", "",
                                  "ParameterBindingException", canonical)
                bound[pname], i = self.primary_list(toks, i + 1)
            else:
                value, i = self.primary_list(toks, i)
                while positional and positional[0] in bound:
                    positional.pop(0)
                if not positional:
                    raise PsError("A positional parameter cannot be found that accepts argument '%s'." % value,
                                  "PositionalParameterNotFound," + _hv_cmd(canonical), "InvalidArgument", "",
                                  "ParameterBindingException", canonical)
                bound[positional.pop(0)] = value
        self.host.transcript.append((canonical, dict(bound)))
        if pipeline_input is not None and not pipeline_input and spec.pipeline:
            return []      # downstream of a pipeline that produced nothing: the process block never runs
        pref = str(bound.get("ErrorAction", self.vars.get("ErrorActionPreference", "Continue")))
        try:
            result = spec.fn(self, bound, pipeline_input or [])
        except PsError as e:
            e.cmdlet = e.cmdlet or canonical
            if pref.lower() == "stop":
                raise
            if pref.lower() != "silentlycontinue":
                self.errors.append(("error", e))
                self.failed = True
            return []
        return result or []

    def warn(self, text):
        self.errors.append(("warning", text))


# ---------------------------------------------------------------------------------------------
# cmdlets
# ---------------------------------------------------------------------------------------------

def _vms(ip: Interpreter, cmdlet: str, b: dict, inp: list, name_key="Name") -> list[VM]:
    """VMs addressed by -Name / -VMName / -VM or pipeline input."""
    h = ip.host
    objs = b.get("VM")
    if objs is None and inp:
        objs = inp
    if objs is not None:
        out = []
        for o in objs if isinstance(objs, list) else [objs]:
            vid = o.get("VMId") if isinstance(o, dict) else None
            out += h.find(cmdlet, vm_id=vid)
        return out
    if b.get(name_key) is None:
        raise PsError("Cannot process command because of one or more missing mandatory parameters: %s."
                      % name_key, "MissingMandatoryParameter," + _hv_cmd(cmdlet), "InvalidArgument",
                      "", "ParameterBindingException", cmdlet)
    return h.find(cmdlet, b[name_key])


@cmdlet("Get-VM", params=["Name", "Id", "ComputerName"], positional=["Name"])
def get_vm(ip, b, inp):
    h = ip.host
    if "Id" in b:
        return [h.vm_object(v) for v in h.find("Get-VM", vm_id=b["Id"])]
    if "Name" in b:
        return [h.vm_object(v) for v in h.find("Get-VM", b["Name"])]
    return [h.vm_object(v) for v in h.vms]


@cmdlet("New-VM", params=["Name", "MemoryStartupBytes", "Generation", "Path", "SwitchName", "VHDPath",
                          "BootDevice"], switches=["NoVHD"], positional=["Name"])
def new_vm(ip, b, inp):
    h = ip.host
    name = str(b.get("Name", "New Virtual Machine"))
    if len(name) > 100:
        raise PsError("The virtual machine name is too long: names can be at most 100 characters.",
                      "InvalidParameter," + _hv_cmd("New-VM"), "InvalidArgument", name,
                      "VirtualizationException", "New-VM")
    gen = int(b.get("Generation", 1))
    if gen not in (1, 2):
        raise PsError("Cannot validate argument on parameter 'Generation'. The argument \"%s\" does not belong to "
                      "the set \"1,2\"." % gen, "ParameterArgumentValidationError," + _hv_cmd("New-VM"),
                      "InvalidData", "", "ParameterBindingValidationException", "New-VM")
    vm = VM(name=name, generation=gen, memory=int(b.get("MemoryStartupBytes", 512 << 20)),
            path=str(b.get("Path", h.vm_dir)))
    if b.get("VHDPath"):
        _check_disk_file(h, "New-VM", str(b["VHDPath"]))
        vm.disks.append(Disk(str(b["VHDPath"]), "IDE" if gen == 1 else "SCSI", 0, 0))
    vm.nics.append(Nic(switch=b.get("SwitchName")))
    h.vms.append(vm)
    return [h.vm_object(vm)]


@cmdlet("Set-VM", params=["Name", "VM", "ProcessorCount", "MemoryStartupBytes", "Notes", "AutomaticStopAction",
                          "AutomaticStartAction", "CheckpointType"],
        switches=["StaticMemory", "DynamicMemory", "Passthru"], positional=["Name"], pipeline="VM")
def set_vm(ip, b, inp):
    out = []
    for vm in _vms(ip, "Set-VM", b, inp):
        if ("ProcessorCount" in b or "MemoryStartupBytes" in b) and vm.state != OFF:
            raise invalid_state("Set-VM", vm, "modify device configuration")
        if "ProcessorCount" in b:
            n = int(b["ProcessorCount"])
            if not 1 <= n <= ip.host.cpus:
                raise PsError("'%s' failed to modify device 'Processor'. The virtual machine cannot have more "
                              "processors than the host has (%d)." % (vm.name, ip.host.cpus),
                              "InvalidParameter," + _hv_cmd("Set-VM"), "InvalidArgument", vm.name,
                              "VirtualizationException", "Set-VM")
            vm.cpus = n
        if "MemoryStartupBytes" in b:
            vm.memory = int(b["MemoryStartupBytes"])
        if "Notes" in b:
            vm.notes = str(b["Notes"])
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


def _start(ip, vm, cmdlet):
    h = ip.host
    if vm.state == RUNNING:
        ip.warn("The virtual machine '%s' is already in the specified state." % vm.name)
        return
    if vm.state not in (OFF, SAVED):
        raise invalid_state(cmdlet, vm)
    free = h.memory - h.used_memory()
    if vm.memory > free:
        raise PsError("'%s' could not initialize. Not enough memory in the system to start the virtual machine "
                      "%s." % (vm.name, vm.name), "OperationFailed," + _hv_cmd(cmdlet), "NotSpecified",
                      vm.name, "VirtualizationException", cmdlet)
    for d in vm.disks:
        _check_disk_file(h, cmdlet, d.path)
    resumed = vm.state == SAVED
    vm.state = RUNNING
    vm.started = time.time()
    vm.console.append("[sim] %s %s on %s" % (vm.name, "restored" if resumed else "started", h.name))
    if not resumed:
        vm.console.append("BOOTED")


@cmdlet("Start-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def start_vm(ip, b, inp):
    out = []
    for vm in _vms(ip, "Start-VM", b, inp):
        _start(ip, vm, "Start-VM")
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


@cmdlet("Stop-VM", params=["Name", "VM"], switches=["Force", "TurnOff", "Save", "Passthru"], positional=["Name"],
        pipeline="VM")
def stop_vm(ip, b, inp):
    out = []
    for vm in _vms(ip, "Stop-VM", b, inp):
        if vm.state == OFF:
            ip.warn("The virtual machine '%s' is already in the specified state." % vm.name)
            continue
        if b.get("Save"):
            _save(ip, vm, "Stop-VM")
            continue
        if b.get("TurnOff") or vm.state in (SAVED, PAUSED):
            if vm.state in (SAVED, PAUSED) and not (b.get("TurnOff") or b.get("Force")):
                raise invalid_state("Stop-VM", vm)
        elif not vm.integration_shutdown:
            if not b.get("Force"):
                raise PsError("The virtual machine '%s' could not be shut down because the shutdown integration "
                              "service is unavailable." % vm.name, "Unavailable," + _hv_cmd("Stop-VM"),
                              "ResourceUnavailable", vm.name, "VirtualizationException", "Stop-VM")
        vm.state = OFF
        vm.started = 0.0
        vm.console.append("[sim] %s powered off" % vm.name)
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


@cmdlet("Restart-VM", params=["Name", "VM", "Type"], switches=["Force", "Passthru"], positional=["Name"],
        pipeline="VM")
def restart_vm(ip, b, inp):
    for vm in _vms(ip, "Restart-VM", b, inp):
        if vm.state != RUNNING:
            raise invalid_state("Restart-VM", vm)
        if str(b.get("Type", "Reset")).lower() == "reboot" and not vm.integration_shutdown:
            raise PsError("The virtual machine '%s' could not be restarted because the shutdown integration "
                          "service is unavailable." % vm.name, "Unavailable," + _hv_cmd("Restart-VM"),
                          "ResourceUnavailable", vm.name, "VirtualizationException", "Restart-VM")
        vm.started = time.time()
        vm.console.append("[sim] %s restarted" % vm.name)
        vm.console.append("BOOTED")
    return []


def _save(ip, vm, cmdlet):
    if vm.state not in (RUNNING, PAUSED):
        raise invalid_state(cmdlet, vm, "save")
    vm.state = SAVED
    vm.console.append("[sim] %s saved" % vm.name)


@cmdlet("Save-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def save_vm(ip, b, inp):
    for vm in _vms(ip, "Save-VM", b, inp):
        _save(ip, vm, "Save-VM")
    return []


@cmdlet("Suspend-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def suspend_vm(ip, b, inp):
    for vm in _vms(ip, "Suspend-VM", b, inp):
        if vm.state != RUNNING:
            raise invalid_state("Suspend-VM", vm, "pause")
        vm.state = PAUSED
    return []


@cmdlet("Resume-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def resume_vm(ip, b, inp):
    for vm in _vms(ip, "Resume-VM", b, inp):
        if vm.state != PAUSED:
            raise invalid_state("Resume-VM", vm, "resume")
        vm.state = RUNNING
    return []


@cmdlet("Remove-VM", params=["Name", "VM"], switches=["Force", "Passthru"], positional=["Name"], pipeline="VM")
def remove_vm(ip, b, inp):
    for vm in _vms(ip, "Remove-VM", b, inp):
        if vm.state not in (OFF, SAVED):
            raise invalid_state("Remove-VM", vm, "delete")
        ip.host.vms.remove(vm)        # like Hyper-V: the VHD files stay on disk
    return []


@cmdlet("Checkpoint-VM", params=["Name", "VM", "SnapshotName"], switches=["Passthru"], positional=["Name"],
        pipeline="VM")
def checkpoint_vm(ip, b, inp):
    h, out = ip.host, []
    for vm in _vms(ip, "Checkpoint-VM", b, inp):
        if vm.state not in (RUNNING, OFF, SAVED, PAUSED):
            raise invalid_state("Checkpoint-VM", vm, "create checkpoint")
        cp = Checkpoint(str(b.get("SnapshotName") or "%s - (%s)" % (vm.name, time.strftime("%m/%d/%Y - %H:%M:%S"))),
                        str(uuidlib.uuid4()), time.time(), [d.path for d in vm.disks])
        for d in vm.disks:   # the VM now writes to a differencing disk; the parent is frozen
            base, _ = os.path.splitext(d.path)
            child = "%s_%s.avhdx" % (base, cp.id.upper())
            shutil.copyfile(h.local(d.path), h.local(child))
            d.path = child
        vm.checkpoints.append(cp)
        if b.get("Passthru"):
            out.append(_cp_object(h, vm, cp))
    return out


def _cp_object(h, vm, cp):
    return PsObject("Microsoft.HyperV.PowerShell.VMSnapshot", {
        "Name": cp.name, "Id": cp.id, "VMName": vm.name, "VMId": vm.id, "CreationTime": ps_date(cp.created),
        "SnapshotType": 5, "ComputerName": h.name,
        "HardDrives": [PsObject("Microsoft.HyperV.PowerShell.HardDiskDrive", {"Path": p}) for p in cp.drives]})


@cmdlet("Get-VMSnapshot", params=["VMName", "Name", "VM"], positional=["VMName"], pipeline="VM")
def get_vmsnapshot(ip, b, inp):
    out = []
    for vm in _vms(ip, "Get-VMSnapshot", b, inp, "VMName"):
        for cp in vm.checkpoints:
            if "Name" not in b or wildcard_match(str(b["Name"]), cp.name):
                out.append(_cp_object(ip.host, vm, cp))
    if "Name" in b and not out and not has_wildcards(str(b["Name"])):
        raise PsError('Hyper-V was unable to find a checkpoint with name "%s".' % b["Name"],
                      "InvalidParameter," + _hv_cmd("Get-VMSnapshot"), "InvalidArgument", str(b["Name"]),
                      "VirtualizationException", "Get-VMSnapshot")
    return out


@cmdlet("Remove-VMSnapshot", params=["VMName", "Name", "VMSnapshot"], switches=["IncludeAllChildSnapshots"],
        positional=["VMName"], pipeline="VMSnapshot")
def remove_vmsnapshot(ip, b, inp):
    h = ip.host
    targets = []
    if inp or "VMSnapshot" in b:
        for o in (inp or [b["VMSnapshot"]]):
            vm = h.find("Remove-VMSnapshot", vm_id=o["VMId"])[0]
            targets += [(vm, cp) for cp in vm.checkpoints if cp.id == o["Id"]]
    else:
        for vm in _vms(ip, "Remove-VMSnapshot", b, [], "VMName"):
            targets += [(vm, cp) for cp in vm.checkpoints if wildcard_match(str(b.get("Name", "*")), cp.name)]
    for vm, cp in targets:
        # merge: the newest checkpoint's differencing disks fold back into their parents
        if cp is vm.checkpoints[-1]:
            for d, parent in zip(vm.disks, cp.drives):
                if d.path != parent:
                    os.replace(h.local(d.path), h.local(parent))
                    d.path = parent
        vm.checkpoints.remove(cp)
    return []


def _check_disk_file(h, cmdlet, path):
    if not os.path.isfile(h.local(path)):
        raise PsError("Failed to add device 'Virtual Hard Disk'. The system cannot find the file specified. "
                      "('%s')" % path, "ObjectNotFound," + _hv_cmd(cmdlet), "ObjectNotFound", path,
                      "VirtualizationException", cmdlet)


@cmdlet("Add-VMHardDiskDrive", params=["VMName", "VM", "Path", "ControllerType", "ControllerNumber",
                                       "ControllerLocation"], switches=["Passthru"], positional=["VMName"],
        pipeline="VM")
def add_vmhdd(ip, b, inp):
    h, out = ip.host, []
    path = str(b.get("Path", ""))
    for vm in _vms(ip, "Add-VMHardDiskDrive", b, inp, "VMName"):
        ctype = str(b.get("ControllerType", "IDE" if vm.generation == 1 else "SCSI")).upper()
        if ctype not in ("IDE", "SCSI"):
            raise PsError("Cannot bind parameter 'ControllerType'.", "CannotConvertArgumentNoMessage," +
                          _hv_cmd("Add-VMHardDiskDrive"), "InvalidArgument", "", "ParameterBindingException")
        if ctype == "IDE" and vm.generation == 2:
            raise PsError("Generation 2 virtual machines do not support IDE controllers.",
                          "InvalidParameter," + _hv_cmd("Add-VMHardDiskDrive"), "InvalidArgument", vm.name,
                          "VirtualizationException")
        if ctype == "IDE" and vm.state != OFF:
            raise invalid_state("Add-VMHardDiskDrive", vm, "add device 'Virtual Hard Disk'")
        _check_disk_file(h, "Add-VMHardDiskDrive", path)
        for other_host in h.fabric.hosts.values():
            for other in other_host.vms:
                if any(h.local(d.path) == h.local(path) for d in other.disks):
                    raise PsError("Failed to add device 'Virtual Hard Disk'. The process cannot access the file "
                                  "because it is being used by another process. ('%s')" % path,
                                  "InvalidOperation," + _hv_cmd("Add-VMHardDiskDrive"), "ResourceBusy", path,
                                  "VirtualizationException")
        num = int(b.get("ControllerNumber", 0))
        used = {d.controller_location for d in vm.disks if d.controller_type == ctype and d.controller_number == num}
        loc = int(b["ControllerLocation"]) if "ControllerLocation" in b else next(
            i for i in range(64) if i not in used)
        if loc in used:
            raise PsError("The controller location %d is already in use." % loc, "InvalidParameter," +
                          _hv_cmd("Add-VMHardDiskDrive"), "InvalidArgument", vm.name, "VirtualizationException")
        d = Disk(path, ctype, num, loc)
        vm.disks.append(d)
        if b.get("Passthru"):
            out.append(h.disk_object(vm, d))
    return out


@cmdlet("Get-VMHardDiskDrive", params=["VMName", "VM", "ControllerType", "ControllerNumber", "ControllerLocation"],
        positional=["VMName"], pipeline="VM")
def get_vmhdd(ip, b, inp):
    out = []
    for vm in _vms(ip, "Get-VMHardDiskDrive", b, inp, "VMName"):
        for d in vm.disks:
            if "ControllerType" in b and str(b["ControllerType"]).upper() != d.controller_type:
                continue
            if "ControllerNumber" in b and int(b["ControllerNumber"]) != d.controller_number:
                continue
            if "ControllerLocation" in b and int(b["ControllerLocation"]) != d.controller_location:
                continue
            out.append(ip.host.disk_object(vm, d))
    return out


@cmdlet("Remove-VMHardDiskDrive", params=["VMName", "VMHardDiskDrive", "ControllerType", "ControllerNumber",
                                          "ControllerLocation"], switches=["Passthru"], positional=["VMName"],
        pipeline="VMHardDiskDrive")
def remove_vmhdd(ip, b, inp):
    h = ip.host
    if inp:
        pairs = [(h.find("Remove-VMHardDiskDrive", vm_id=o["VMId"])[0], o) for o in inp]
    else:
        pairs = [(vm, None) for vm in _vms(ip, "Remove-VMHardDiskDrive", b, [], "VMName")]
    for vm, o in pairs:
        want = (str((o or b).get("ControllerType", "SCSI")).upper() if o is None else
                ("IDE" if o["ControllerType"] == 0 else "SCSI"),
                int((o or b).get("ControllerNumber", 0)), int((o or b).get("ControllerLocation", 0)))
        d = next((d for d in vm.disks if (d.controller_type, d.controller_number, d.controller_location) == want),
                 None)
        if d is None:
            raise PsError("No hard disk drive is attached at %s %d:%d of '%s'." % (want + (vm.name,)),
                          "ObjectNotFound," + _hv_cmd("Remove-VMHardDiskDrive"), "ObjectNotFound", vm.name,
                          "VirtualizationException")
        if d.controller_type == "IDE" and vm.state != OFF:
            raise invalid_state("Remove-VMHardDiskDrive", vm, "remove device 'Virtual Hard Disk'")
        vm.disks.remove(d)
    return []


@cmdlet("Get-VMNetworkAdapter", params=["VMName", "VM", "Name"], positional=["VMName"], pipeline="VM")
def get_vmnic(ip, b, inp):
    out = []
    for vm in _vms(ip, "Get-VMNetworkAdapter", b, inp, "VMName"):
        out += [ip.host.nic_object(vm, n) for n in vm.nics
                if "Name" not in b or wildcard_match(str(b["Name"]), n.name)]
    return out


@cmdlet("Add-VMNetworkAdapter", params=["VMName", "VM", "Name", "SwitchName", "StaticMacAddress"],
        switches=["Passthru"], positional=["VMName"], pipeline="VM")
def add_vmnic(ip, b, inp):
    out = []
    for vm in _vms(ip, "Add-VMNetworkAdapter", b, inp, "VMName"):
        if vm.generation == 1 and vm.state != OFF:
            raise invalid_state("Add-VMNetworkAdapter", vm, "add device 'Synthetic Ethernet Port'")
        sw = b.get("SwitchName")
        if sw is not None:
            _switch(ip.host, "Add-VMNetworkAdapter", sw)
        n = Nic(name=str(b.get("Name", "Network Adapter")), switch=sw)
        if b.get("StaticMacAddress"):
            n.mac = str(b["StaticMacAddress"]).replace("-", "").replace(":", "").upper()
        vm.nics.append(n)
        if b.get("Passthru"):
            out.append(ip.host.nic_object(vm, n))
    return out


def _switch(h, cmdlet, name):
    sw = next((s for s in h.switches if s["Name"].lower() == str(name).lower()), None)
    if sw is None:
        raise PsError('Hyper-V was unable to find a virtual switch with name "%s".' % name,
                      "InvalidParameter," + _hv_cmd(cmdlet), "InvalidArgument", "%s:String" % name,
                      "VirtualizationException", cmdlet)
    return sw


@cmdlet("Connect-VMNetworkAdapter", params=["VMName", "Name", "SwitchName", "VMNetworkAdapter"],
        switches=["Passthru"], positional=["VMName"], pipeline="VMNetworkAdapter")
def connect_vmnic(ip, b, inp):
    _switch(ip.host, "Connect-VMNetworkAdapter", b.get("SwitchName"))
    for vm in _vms(ip, "Connect-VMNetworkAdapter", b, [], "VMName"):
        nics = [n for n in vm.nics if "Name" not in b or wildcard_match(str(b["Name"]), n.name)]
        if not nics:
            raise PsError("No network adapter named '%s' was found on '%s'." % (b.get("Name"), vm.name),
                          "ObjectNotFound," + _hv_cmd("Connect-VMNetworkAdapter"), "ObjectNotFound", vm.name,
                          "VirtualizationException")
        for n in nics:
            n.switch = str(b["SwitchName"])
    return []


@cmdlet("Disconnect-VMNetworkAdapter", params=["VMName", "Name"], switches=["Passthru"], positional=["VMName"])
def disconnect_vmnic(ip, b, inp):
    for vm in _vms(ip, "Disconnect-VMNetworkAdapter", b, [], "VMName"):
        for n in vm.nics:
            if "Name" not in b or wildcard_match(str(b["Name"]), n.name):
                n.switch = None
    return []


@cmdlet("Remove-VMNetworkAdapter", params=["VMName", "Name"], switches=["Passthru"], positional=["VMName"])
def remove_vmnic(ip, b, inp):
    for vm in _vms(ip, "Remove-VMNetworkAdapter", b, [], "VMName"):
        keep = [n for n in vm.nics if not wildcard_match(str(b.get("Name", "*")), n.name)]
        if len(keep) != len(vm.nics) and vm.generation == 1 and vm.state != OFF:
            raise invalid_state("Remove-VMNetworkAdapter", vm, "remove device 'Synthetic Ethernet Port'")
        vm.nics = keep
    return []


@cmdlet("Get-VMSwitch", params=["Name"], positional=["Name"])
def get_vmswitch(ip, b, inp):
    return [PsObject("Microsoft.HyperV.PowerShell.VMSwitch", dict(s)) for s in ip.host.switches
            if "Name" not in b or wildcard_match(str(b["Name"]), s["Name"])]


@cmdlet("Move-VM", params=["Name", "VM", "DestinationHost", "DestinationStoragePath"], switches=["IncludeStorage",
                                                                                                  "Passthru"],
        positional=["Name", "DestinationHost"], pipeline="VM")
def move_vm(ip, b, inp):
    h = ip.host
    dest = h.fabric.hosts.get(str(b.get("DestinationHost", "")).lower())
    for vm in _vms(ip, "Move-VM", b, inp):
        if dest is None:
            raise PsError("The operation failed because the destination host '%s' could not be reached: the "
                          "Virtual Machine Management Service on the destination host is not available."
                          % b.get("DestinationHost"), "ObjectNotFound," + _hv_cmd("Move-VM"), "ObjectNotFound",
                          vm.name, "VirtualizationException", "Move-VM")
        if dest is h:
            raise PsError("Migration did not succeed. The source and destination host are the same.",
                          "InvalidParameter," + _hv_cmd("Move-VM"), "InvalidArgument", vm.name,
                          "VirtualizationException", "Move-VM")
        if vm.state in (RUNNING, PAUSED) and vm.memory > dest.memory - dest.used_memory():
            raise PsError("Migration did not succeed. Not enough memory in the system to start the virtual "
                          "machine %s on host '%s'." % (vm.name, dest.name), "OperationFailed," +
                          _hv_cmd("Move-VM"), "NotSpecified", vm.name, "VirtualizationException", "Move-VM")
        local_disks = [d for d in vm.disks if not d.path.startswith("\\\\")]
        if local_disks and not b.get("IncludeStorage"):
            raise PsError("Migration did not succeed. The virtual machine '%s' uses storage that is local to "
                          "host '%s'; use -IncludeStorage." % (vm.name, h.name), "InvalidOperation," +
                          _hv_cmd("Move-VM"), "InvalidOperation", vm.name, "VirtualizationException", "Move-VM")
        if local_disks:
            target_dir = str(b.get("DestinationStoragePath") or dest.vhd_dir)
            os.makedirs(dest.local(target_dir), exist_ok=True)
            for d in local_disks:
                newpath = target_dir.rstrip("\\") + "\\" + d.path.split("\\")[-1]
                shutil.move(h.local(d.path), dest.local(newpath))
                d.path = newpath
        h.vms.remove(vm)
        dest.vms.append(vm)
        vm.console.append("[sim] %s live-migrated from %s to %s" % (vm.name, h.name, dest.name))
    return []


# ---- VHD files (qemu-img does the real format work) -------------------------------------------

def _qemu(h, cmdlet, *args):
    if not h.fabric.qemu_img:
        raise PsError("The Hyper-V simulator needs qemu-img for virtual disk files.", "NotInstalled",
                      "NotInstalled", "", "VirtualizationException", cmdlet)
    p = subprocess.run([h.fabric.qemu_img, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise PsError("Failed to process the virtual disk: %s" % p.stderr.strip().splitlines()[-1:],
                      "InvalidParameter," + "Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet.replace("-", ""),
                      "InvalidArgument", "", "VirtualizationException", cmdlet)
    return p.stdout


def _vhd_fmt(cmdlet, path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext in (".vhdx", ".avhdx"):
        return "vhdx"
    if ext in (".vhd", ".avhd"):
        return "vpc"
    raise PsError("The file '%s' is not a virtual hard disk file: use the .vhd or .vhdx extension." % path,
                  "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet.replace("-", ""), "InvalidArgument",
                  str(path), "VirtualizationException", cmdlet)


def _vhd_object(h, path):
    info = json.loads(_qemu(h, "Get-VHD", "info", "--output=json", h.local(path)))
    fmt = info.get("format")
    sub = "dynamic"
    return PsObject("Microsoft.Vhd.PowerShell.VirtualHardDisk", {
        "Path": str(path), "VhdFormat": VHD_FORMAT.get(fmt, 0), "VhdType": VHD_TYPE[sub],
        "FileSize": os.path.getsize(h.local(path)), "Size": info["virtual-size"], "ComputerName": h.name,
        "Attached": any(h.local(d.path) == h.local(path) for v in h.vms for d in v.disks)})


def _busy(h, path):
    return any(h.local(d.path) == h.local(path) and v.state != OFF for v in h.vms for d in v.disks)


@cmdlet("New-VHD", params=["Path", "SizeBytes", "ParentPath"], switches=["Dynamic", "Fixed", "Differencing"],
        positional=["Path", "SizeBytes"])
def new_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    fmt = _vhd_fmt("New-VHD", path)
    if os.path.exists(h.local(path)):
        raise PsError("Failed to create the virtual hard disk. The file exists. ('%s')" % path,
                      "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.NewVhd", "InvalidArgument", path,
                      "VirtualizationException")
    os.makedirs(os.path.dirname(h.local(path)), exist_ok=True)
    _qemu(h, "New-VHD", "create", "-q", "-f", fmt, h.local(path), str(int(b["SizeBytes"])))
    return [_vhd_object(h, path)]


@cmdlet("Get-VHD", params=["Path"], positional=["Path"])
def get_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    if not os.path.isfile(h.local(path)):
        raise PsError("Getting the mounted storage instance for the path '%s' failed. The system cannot find the "
                      "file specified." % path, "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.GetVHD",
                      "ObjectNotFound", path, "VirtualizationException")
    return [_vhd_object(h, path)]


@cmdlet("Convert-VHD", params=["Path", "DestinationPath", "VHDType"], switches=["DeleteSource", "Passthru"],
        positional=["Path", "DestinationPath"])
def convert_vhd(ip, b, inp):
    h = ip.host
    src, dst = str(b["Path"]), str(b["DestinationPath"])
    if not os.path.isfile(h.local(src)):
        raise PsError("Failed to convert the virtual disk. The system cannot find the file specified. ('%s')" % src,
                      "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd", "ObjectNotFound", src,
                      "VirtualizationException", "Convert-VHD")
    if _busy(h, src):
        raise PsError("The process cannot access the file '%s' because it is being used by another process."
                      % src, "InvalidOperation,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd", "ResourceBusy",
                      src, "VirtualizationException", "Convert-VHD")
    if os.path.exists(h.local(dst)):
        raise PsError("Failed to convert the virtual disk. The file exists. ('%s')" % dst,
                      "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd", "InvalidArgument", dst,
                      "VirtualizationException", "Convert-VHD")
    fmt = _vhd_fmt("Convert-VHD", dst)
    os.makedirs(os.path.dirname(h.local(dst)), exist_ok=True)
    opts = ["-o", "subformat=fixed"] if str(b.get("VHDType", "")).lower() == "fixed" and fmt == "vpc" else []
    _qemu(h, "Convert-VHD", "convert", "-O", fmt, *opts, h.local(src), h.local(dst))
    if b.get("DeleteSource"):
        os.unlink(h.local(src))
    return [_vhd_object(h, dst)] if b.get("Passthru") else []


@cmdlet("Resize-VHD", params=["Path", "SizeBytes"], switches=["Passthru"], positional=["Path", "SizeBytes"])
def resize_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    info = _vhd_object(h, path)
    if int(b["SizeBytes"]) < info["Size"]:
        raise PsError("Failed to resize the virtual disk: shrinking is not supported for this disk.",
                      "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ResizeVhd", "InvalidArgument", path,
                      "VirtualizationException")
    # qemu-img cannot resize vhdx/vpc in place: go through raw, as the disk's data is what counts
    lp = h.local(path)
    raw = lp + ".resize.raw"
    try:
        _qemu(h, "Resize-VHD", "convert", "-q", "-O", "raw", lp, raw)
        with open(raw, "r+b") as f:
            f.truncate(int(b["SizeBytes"]))
        _qemu(h, "Resize-VHD", "convert", "-q", "-f", "raw", "-O", _vhd_fmt("Resize-VHD", path), raw, lp + ".new")
        os.replace(lp + ".new", lp)
    finally:
        if os.path.exists(raw):
            os.unlink(raw)
    return []


@cmdlet("Remove-Item", params=["Path", "LiteralPath"], switches=["Force", "Recurse"], positional=["Path"])
def remove_item(ip, b, inp):
    h = ip.host
    path = str(b.get("LiteralPath", b.get("Path")))
    lp = h.local(path)
    if not os.path.exists(lp):
        raise PsError("Cannot find path '%s' because it does not exist." % path,
                      "PathNotFound,Microsoft.PowerShell.Commands.RemoveItemCommand", "ObjectNotFound", path,
                      "ItemNotFoundException", "Remove-Item")
    if any(h.local(d.path) == lp for v in h.vms for d in v.disks):
        raise PsError("Cannot remove item %s: The process cannot access the file because it is being used by "
                      "another process." % path, "RemoveFileSystemItemIOError,Microsoft.PowerShell.Commands."
                      "RemoveItemCommand", "WriteError", path, "IOException", "Remove-Item")
    if os.path.isdir(lp):
        shutil.rmtree(lp)
    else:
        os.unlink(lp)
    return []


@cmdlet("Test-Path", params=["Path", "LiteralPath"], positional=["Path"])
def test_path(ip, b, inp):
    try:
        return [os.path.exists(ip.host.local(str(b.get("LiteralPath", b.get("Path")))))]
    except PsError:
        return [False]


@cmdlet("New-Item", params=["Path", "ItemType"], switches=["Force"], positional=["Path"])
def new_item(ip, b, inp):
    lp = ip.host.local(str(b["Path"]))
    if str(b.get("ItemType", "File")).lower() == "directory":
        os.makedirs(lp, exist_ok=bool(b.get("Force")))
    else:
        open(lp, "a").close()
    return []


@cmdlet("Get-VMHost", params=["ComputerName"])
def get_vmhost(ip, b, inp):
    h = ip.host
    return [PsObject("Microsoft.HyperV.PowerShell.VMHost", {
        "ComputerName": h.name, "Name": h.name, "LogicalProcessorCount": h.cpus, "MemoryCapacity": h.memory,
        "VirtualHardDiskPath": h.vhd_dir, "VirtualMachinePath": h.vm_dir,
        "VirtualMachineMigrationEnabled": True, "MaximumVirtualMachineMigrations": 2})]


@cmdlet("Get-CimInstance", params=["ClassName", "Namespace", "Filter"], positional=["ClassName"])
def get_ciminstance(ip, b, inp):
    h = ip.host
    cls = str(b.get("ClassName", "")).lower()
    if cls == "win32_operatingsystem":
        return [PsObject("Microsoft.Management.Infrastructure.CimInstance", {
            "Caption": "Microsoft Windows Server 2019 Datacenter", "Version": "10.0.17763",
            "TotalVisibleMemorySize": h.memory // 1024, "FreePhysicalMemory": (h.memory - h.used_memory()) // 1024,
            "CSName": h.name})]
    if cls == "win32_logicaldisk":
        flt = str(b.get("Filter", ""))
        m = re.fullmatch(r"\s*DeviceID\s*=\s*'([A-Za-z]:)'\s*", flt) if flt else None
        if flt and not m:
            raise PsError("Invalid query", "HRESULT 0x80041017,Microsoft.Management.Infrastructure.CimCmdlets."
                          "GetCimInstanceCommand", "InvalidArgument", flt, "CimException", "Get-CimInstance")
        if m and m.group(1).upper() != "C:":
            return []
        used = 0
        base = h.local("C:\\")
        for dirpath, _d, files in os.walk(base):
            for f in files:
                used += os.stat(os.path.join(dirpath, f)).st_blocks * 512
        return [PsObject("Microsoft.Management.Infrastructure.CimInstance", {
            "DeviceID": "C:", "Size": h.disk_size, "FreeSpace": h.disk_size - used})]
    raise PsError("Invalid class", "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets."
                  "GetCimInstanceCommand", "ObjectNotFound", str(b.get("ClassName")), "CimException",
                  "Get-CimInstance")


@cmdlet("Select-Object", params=["Property", "First", "ExpandProperty"], positional=["Property"])
def select_object(ip, b, inp):
    out = []
    if "ExpandProperty" in b:
        key = str(b["ExpandProperty"])
        for o in inp:
            v = o.get(key) if isinstance(o, dict) else None
            out += v if isinstance(v, list) else [v]
        return out
    props = b.get("Property", ["*"])
    props = props if isinstance(props, list) else [props]
    for o in inp:
        if not isinstance(o, dict):
            out.append(o)
            continue
        sel = {}
        for p in props:
            for k, v in o.items():
                if wildcard_match(str(p), k):
                    sel[k] = v
            if not any(wildcard_match(str(p), k) for k in o):
                sel[str(p)] = None
        out.append(PsObject("Selected." + getattr(o, "type_name", "System.Object"), sel))
    if "First" in b:
        out = out[: int(b["First"])]
    return out


@cmdlet("ConvertTo-Json", params=["Depth", "InputObject"], switches=["Compress"], positional=["InputObject"])
def convertto_json(ip, b, inp):
    items = inp if inp else ([b["InputObject"]] if "InputObject" in b else [])
    if not items:
        return []
    value = items[0] if len(items) == 1 else items
    return [to_json(value, int(b.get("Depth", 2)), bool(b.get("Compress")))]


@cmdlet("Out-Null", params=["InputObject"])
def out_null(ip, b, inp):
    return []


@cmdlet("Write-Output", params=["InputObject"], positional=["InputObject"])
def write_output(ip, b, inp):
    v = b.get("InputObject")
    return v if isinstance(v, list) else [v]
