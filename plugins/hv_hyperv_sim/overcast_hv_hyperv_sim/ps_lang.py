"""The PowerShell language pieces of the fake interpreter: error records, the lexer (quoting
rules that matter for safety), objects, ``ConvertTo-Json`` output and wildcard matching."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
GiB = 1 << 30


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


class PsError(Exception):
    def __init__(self, message, error_id="", category="NotSpecified", target="", exc="RuntimeException", cmdlet=""):
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category
        self.target = target
        self.exc = exc
        self.cmdlet = cmdlet


class ParseError(PsError):
    pass


def hv_command_id(cmdlet):
    return "Microsoft.HyperV.PowerShell.Commands." + cmdlet.replace("-", "")


def not_found_vm(cmdlet, name):
    return PsError(
        'Hyper-V was unable to find a virtual machine with name "%s".' % name,
        "InvalidParameter," + hv_command_id(cmdlet),
        "InvalidArgument",
        "%s:String" % name,
        "VirtualizationException",
        cmdlet,
    )


def invalid_state(cmdlet, vm, what="change state"):
    return PsError(
        "'%s' failed to %s. The operation cannot be performed while the object is in its "
        "current state." % (vm.name, what),
        "InvalidState," + hv_command_id(cmdlet),
        "InvalidOperation",
        "%s:VirtualMachine" % vm.name,
        "VirtualizationException",
        cmdlet,
    )


# ---------------------------------------------------------------------------------------------
# lexer
# ---------------------------------------------------------------------------------------------


@dataclass
class Tok:
    kind: str  # str dstr num var param word pipe comma sep assign lparen rparen subexpr
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
        elif c == "`" and i + 1 < n and src[i + 1] == "\n":  # line continuation
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
                    raise ParseError(
                        "The string is missing the terminator: '.",
                        "TerminatorExpectedAtEndOfString",
                        "ParserError",
                        exc="ParseException",
                    )
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
            toks.append(Tok("subexpr", src[i + 2 : j]))
            i = j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_:]*)", src[i:])
            if not m:
                raise ParseError(
                    "Unexpected token '$' in expression or statement.",
                    "UnexpectedToken",
                    "ParserError",
                    exc="ParseException",
                )
            toks.append(Tok("var", m.group(1)))
            i += m.end()
        elif c in "-\u2013\u2014\u2015" and i + 1 < n and (src[i + 1].isalpha()):
            m = re.match(r"[-\u2013\u2014\u2015]([A-Za-z][A-Za-z0-9]*)(:?)", src[i:])
            toks.append(Tok("param", m.group(1), colon=bool(m.group(2))))
            i += m.end()
        else:
            m = re.match(r"[^\s;|,()'\"`$\u2018\u2019\u201a\u201b\u201c\u201d\u201e]+", src[i:])
            if not m:
                raise ParseError(
                    "Unexpected token '%s' in expression or statement." % c,
                    "UnexpectedToken",
                    "ParserError",
                    exc="ParseException",
                )
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
    raise ParseError(
        "Missing closing ')' in subexpression.",
        "MissingEndParenthesisInSubexpression",
        "ParserError",
        exc="ParseException",
    )


def _lex_dstring(src, i):
    parts: list = []
    buf: list[str] = []
    n = len(src)
    while True:
        if i >= n:
            raise ParseError(
                'The string is missing the terminator: ".',
                "TerminatorExpectedAtEndOfString",
                "ParserError",
                exc="ParseException",
            )
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
            parts.append(("subexpr", src[i + 2 : j]))
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
                rx.append("[" + re.sub(r"([\\^])", r"\\\1", pattern[i + 1 : j]) + "]")
                i = j
        else:
            rx.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), text, re.I | re.S) is not None


def has_wildcards(pattern: str) -> bool:
    return bool(re.search(r"(?<!`)[*?\[]", pattern))
