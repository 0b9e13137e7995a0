"""The fake PowerShell interpreter: statements, pipelines, values, variables, and binding
parameters against the cmdlets registered with :func:`cmdlet`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from overcast_hv_hyperv_sim.ps_lang import ParseError, PsError, PsObject, Tok, hv_command_id, lex

if TYPE_CHECKING:  # the model runs the interpreter; the interpreter only names the host
    from overcast_hv_hyperv_sim.hyperv_model import Host


# ---------------------------------------------------------------------------------------------
# interpreter
# ---------------------------------------------------------------------------------------------


@dataclass
class CmdletSpec:
    fn: Callable
    params: dict[str, str]  # lower name -> canonical name
    switches: set[str]  # lower names of switch parameters
    positional: list[str] = field(default_factory=list)
    pipeline: str | None = None  # parameter that takes pipeline input


COMMON_PARAMS = {
    "erroraction": "ErrorAction",
    "warningaction": "WarningAction",
    "verbose": "Verbose",
    "confirm": "Confirm",
    "whatif": "WhatIf",
}
COMMON_SWITCHES = {"verbose", "confirm", "whatif"}
CMDLETS: dict[str, CmdletSpec] = {}


def cmdlet(name, params=(), switches=(), positional=(), pipeline=None):
    def deco(fn):
        p = {x.lower(): x for x in list(params) + list(switches)}
        p.update(COMMON_PARAMS)
        CMDLETS[name.lower()] = CmdletSpec(
            fn, p, {s.lower() for s in switches} | COMMON_SWITCHES, list(positional), pipeline
        )
        fn.cmdlet_name = name
        return fn

    return deco


class Interpreter:
    def __init__(self, host: Host):
        self.host = host
        self.vars: dict[str, Any] = {
            "true": True,
            "false": False,
            "null": None,
            "ErrorActionPreference": "Continue",
            "ProgressPreference": "Continue",
            "env:COMPUTERNAME": host.name,
        }
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
                raise ParseError(
                    "An empty pipe element is not allowed.", "EmptyPipeElement", "ParserError", exc="ParseException"
                )
            if seg[0].kind == "word" and not re.fullmatch(r"\d+", seg[0].value):
                data = self.invoke(seg[0].value, seg[1:], data)
            elif i == 0:
                vals = self.primary_list(seg, 0)[0]
                data = vals if isinstance(vals, list) else [vals]
            else:
                raise ParseError(
                    "Expressions are only allowed as the first element of a pipeline.",
                    "ExpressionsMustBeFirstInPipeline",
                    "ParserError",
                    exc="ParseException",
                )
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
            vals = self.exec_pipeline(toks[i + 1 : j])
            return (vals[0] if len(vals) == 1 else vals), j + 1
        raise ParseError(
            "Unexpected token in expression or statement.", "UnexpectedToken", "ParserError", exc="ParseException"
        )

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
            raise PsError(
                "The term '%s' is not recognized as the name of a cmdlet, function, script file, or "
                "operable program. Check the spelling of the name, or if a path was included, verify "
                "that the path is correct and try again." % name,
                "CommandNotFoundException",
                "ObjectNotFound",
                "%s:String" % name,
                "CommandNotFoundException",
                name,
            )
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
                    raise PsError(
                        "A parameter cannot be found that matches parameter name '%s'." % t.value,
                        "NamedParameterNotFound," + hv_command_id(canonical),
                        "InvalidArgument",
                        "",
                        "ParameterBindingException",
                        canonical,
                    )
                pname = spec.params[matches[0]]
                if matches[0] in spec.switches and not t.colon:
                    bound[pname] = True
                    i += 1
                    continue
                if i + 1 >= len(toks) or toks[i + 1].kind in ("param", "pipe"):
                    raise PsError(
                        "Missing an argument for parameter '%s'. Specify a parameter of type "
                        "'System.String' and try again." % pname,
                        "MissingArgument," + hv_command_id(canonical),
                        "InvalidArgument",
                        "",
                        "ParameterBindingException",
                        canonical,
                    )
                bound[pname], i = self.primary_list(toks, i + 1)
            else:
                value, i = self.primary_list(toks, i)
                while positional and positional[0] in bound:
                    positional.pop(0)
                if not positional:
                    raise PsError(
                        "A positional parameter cannot be found that accepts argument '%s'." % value,
                        "PositionalParameterNotFound," + hv_command_id(canonical),
                        "InvalidArgument",
                        "",
                        "ParameterBindingException",
                        canonical,
                    )
                bound[positional.pop(0)] = value
        self.host.transcript.append((canonical, dict(bound)))
        if pipeline_input is not None and not pipeline_input and spec.pipeline:
            return []  # downstream of a pipeline that produced nothing: the process block never runs
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
