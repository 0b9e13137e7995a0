"""HOT intrinsic functions: static checks (argument shapes, references; Heat's messages) and
evaluation against a :class:`Scope` (parameters, resources' ids and attributes, conditions,
files). A mapping with exactly one key that names a function is a call; any other mapping is
data, as in Heat."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from overcast.orchestration.errors import (
    InvalidTemplateReference,
    InvalidTemplateVersion,
    StackValidationFailed,
    UserParameterMissing,
)


class Scope(Protocol):
    def param(self, name: str) -> Any: ...

    def resource_ref(self, name: str) -> Any: ...

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any: ...

    def condition(self, name: str) -> bool: ...

    def file(self, key: str) -> str: ...


@dataclass
class Static:
    """What static checks know: the names a template defines. ``where`` names the resource
    or output being checked (Heat's ``(in X)``)."""

    params: frozenset[str]
    resources: frozenset[str]
    conditions: frozenset[str]
    files: Mapping[str, str] = field(default_factory=dict)
    where: str = "unknown"


#: Heat's HOT functions this engine does not evaluate: refused by name, never passed as data
UNSUPPORTED = (
    "yaql",
    "filter",
    "make_url",
    "map_replace",
    "resource_facade",
    "str_replace_vstrict",
    "list_concat_unique",
)
#: CFN functions HOT refuses (hot_funcs.Removed)
REMOVED = (
    "Fn::GetAZs",
    "Fn::Join",
    "Fn::Split",
    "Fn::Replace",
    "Fn::Base64",
    "Fn::MemberListToMap",
    "Fn::ResourceFacade",
    "Ref",
)
CONDITION_FUNCTIONS = ("equals", "not", "and", "or", "contains", "get_param")


def call_of(snippet: Any, names: Sequence[str]) -> tuple[str, Any] | None:
    if isinstance(snippet, Mapping) and len(snippet) == 1:
        ((key, value),) = snippet.items()
        if key in names:
            return key, value
    return None


# --- static checks ------------------------------------------------------------------------


def _err(message: str) -> StackValidationFailed:
    return StackValidationFailed(message)


def _check_join(fn: str, args: Any) -> None:
    example = f'"{fn}" : [ " ", [ "str1", "str2"] ...]'
    if not isinstance(args, list) or len(args) < 2:
        raise _err(f'Incorrect arguments to "{fn}" should be: {example}')


def _check_replace(fn: str, args: Any) -> None:
    if not isinstance(args, Mapping):
        raise _err(f'Arguments to "{fn}" must be a map')
    if "template" not in args or "params" not in args:
        example = (
            f"{fn}:\n              template: This is var1 template var2\n"
            "              params:\n                var1: a\n                var2: string"
        )
        raise _err(f'"{fn}" syntax should be {example}')


def _check_get_attr(fn: str, args: Any, st: Static) -> None:
    if not isinstance(args, list):
        raise _err(f'Argument to "{fn}" must be a list')
    if len(args) < 1:
        raise _err(
            f'Arguments to "{fn}" can be of the next forms: [resource_name] or [resource_name, attribute, (path), ...]'
        )
    if isinstance(args[0], str) and args[0] not in st.resources:
        raise InvalidTemplateReference(args[0], st.where)


def _check_repeat(fn: str, args: Any) -> None:
    if not isinstance(args, Mapping):
        raise _err(f'Arguments to "{fn}" must be a map')
    if "for_each" not in args or "template" not in args:
        example = "repeat:\n              template: This is %var%\n              for_each:\n                %var%: ['a', 'b', 'c']"
        raise _err(f'"repeat" syntax should be {example}')
    if not isinstance(args["for_each"], Mapping):
        raise _err(f'The "for_each" argument to "{fn}" must contain a map')


def _check_if(fn: str, args: Any, st: Static) -> None:
    if not isinstance(args, list) or len(args) != 3:
        raise _err(f'Arguments to "{fn}" must be of the form: [condition_name, value_if_true, value_if_false]')
    if isinstance(args[0], str) and args[0] not in st.conditions:
        raise _err(f'Invalid condition "{args[0]}"')


def check(snippet: Any, st: Static, path: str = "") -> set[str]:
    """Check every call in ``snippet``; return the resources it references (its dependencies)."""
    deps: set[str] = set()
    if isinstance(snippet, list):
        for item in snippet:
            deps |= check(item, st, path)
        return deps
    if not isinstance(snippet, Mapping):
        return deps
    if len(snippet) == 1:
        ((fn, args),) = snippet.items()
        if fn in REMOVED:
            raise InvalidTemplateVersion(f"The function {fn} is not supported in this version of HOT.")
        if fn in UNSUPPORTED:
            raise _err(f'The function "{fn}" is not supported by this orchestration service.')
        if fn == "get_resource":
            if not isinstance(args, str):
                deps |= check(args, st, path)
            elif args not in st.resources:
                raise InvalidTemplateReference(args, st.where)
            else:
                deps.add(args)
            return deps
        if fn == "get_attr":
            _check_get_attr(fn, args, st)
            if isinstance(args[0], str):
                deps.add(args[0])
            return deps | check(args[1:], st, path)
        if fn == "get_param":
            if not args:
                raise _err(f'Function "{fn}" must have arguments')
            name = args if isinstance(args, str) else args[0] if isinstance(args, list) else None
            if name is None:
                raise _err(f'Argument to "{fn}" must be string or list')
            if isinstance(name, str):
                if name not in st.params:
                    raise UserParameterMissing(name)
            else:
                raise _err(f'Parameter name in "{fn}" must be string')
            return deps | check(args[1:] if isinstance(args, list) else [], st, path)
        if fn == "get_file":
            if not isinstance(args, str):
                raise _err(f'Argument to "{fn}" must be a string')
            if args not in st.files:
                raise _err(f'No content found in the "files" section for {fn} path: {args}')
            return deps
        if fn in ("str_replace", "str_replace_strict"):
            _check_replace(fn, args)
        elif fn == "list_join":
            _check_join(fn, args)
        elif fn == "str_split":
            if isinstance(args, (str, Mapping)):
                raise _err(f'Incorrect arguments to "{fn}" should be: "{fn}" : [ ",", "apples,pears", <index>]')
        elif fn == "repeat":
            _check_repeat(fn, args)
        elif fn == "digest":
            if not isinstance(args, list):
                raise _err(f'Argument to function "{fn}" must be a list of strings')
            if len(args) != 2:
                raise _err(f'Function "{fn}" usage: ["<algorithm>", "<value>"]')
        elif fn == "map_merge":
            if not isinstance(args, list):
                ex = f'"{fn}" : [ {{ "key1": "val1" }}, {{ "key2": "val2" }} ]'
                raise _err(f'Incorrect arguments to "{fn}" should be: {ex}')
        elif fn == "list_concat":
            if not isinstance(args, list):
                ex = f'"{fn}" : [ [ <value 1>, <value 2> ], [ <value 3>, <value 4> ] ]'
                raise _err(f'Incorrect arguments to "{fn}" should be: {ex}')
        elif fn == "contains":
            if not isinstance(args, list) or len(args) != 2:
                raise _err(f'Arguments to "{fn}" must be of the form: [value1, [value1, value2]]')
        elif fn == "if":
            _check_if(fn, args, st)
            return deps | check(args[1:], st, path)
    for value in snippet.values():
        deps |= check(value, st, path)
    return deps


def check_condition(snippet: Any, st: Static) -> None:
    """A condition expression: a boolean, a condition name or a condition function."""
    if isinstance(snippet, bool):
        return
    if isinstance(snippet, str):
        if snippet not in st.conditions:
            raise _err(f'Invalid condition "{snippet}"')
        return
    call = call_of(snippet, CONDITION_FUNCTIONS)
    if call is None:
        raise _err(f"Invalid condition: {json.dumps(snippet)}")
    fn, args = call
    if fn == "equals":
        if not isinstance(args, list) or len(args) != 2:
            raise _err(f'Arguments to "{fn}" must be of the form: [value_1, value_2]')
        check(args, st)
    elif fn in ("and", "or"):
        if not isinstance(args, list):
            raise _err(f'Arguments to "{fn}" must be a list of conditions')
        if len(args) < 2:
            raise _err(f'The minimum number of condition arguments to "{fn}" is 2.')
        for a in args:
            check_condition(a, st)
    elif fn == "not":
        check_condition(args, st)
    else:
        check({fn: args}, st)


# --- evaluation ---------------------------------------------------------------------------


def _traverse(value: Any, path: Sequence[Any]) -> Any:
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and not isinstance(key, bool):
            try:
                value = value[int(key)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return value


def _as_text(fn: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list)):
        return json.dumps(value)
    if value is None:
        return ""
    return str(value)


def _join(args: list[Any]) -> str:
    delim, *lists = args
    if not isinstance(delim, str):
        raise _err('"list_join" delimiter must be a string')
    items: list[str] = []
    for lst in lists:
        if lst is None:
            continue
        if not isinstance(lst, list):
            raise _err('"list_join" must operate on a list')
        for item in lst:
            if not isinstance(item, (str, int, float, Mapping, list)):
                raise _err(f"Items to join must be string, map or list not {type(item).__name__}")
            items.append(_as_text("list_join", item))
    return delim.join(items)


def _replace(fn: str, args: Mapping[str, Any]) -> str:
    template, params = args["template"], args["params"]
    if not isinstance(template, str):
        raise _err(f'"{fn}" template must be a string')
    if not isinstance(params, Mapping):
        raise _err(f'"{fn}" params must be a map')
    missing = []
    for key in sorted(params, key=lambda k: len(str(k)), reverse=True):
        value = params[key]
        if not isinstance(key, str):
            raise _err(f'"{fn}" param placeholders must be strings')
        if value is None:
            value = ""
        if not isinstance(value, (str, int, float, Mapping, list)):
            raise _err(f'"{fn}" params must be strings or numbers, param {key} is not valid')
        if key not in template:
            missing.append(key)
        template = template.replace(key, _as_text(fn, value))
    if fn == "str_replace_strict" and missing:
        raise _err(f"The following params were not found in the template: {','.join(missing)}")
    return template


def _split(args: list[Any]) -> Any:
    example = '"str_split" : [ ",", "apples,pears", <index>]'
    if len(args) < 2:
        raise _err(f'Incorrect arguments to "str_split" should be: {example}')
    delim, text, *rest = args
    if text is None:
        return None
    parts = str(text).split(delim)
    if rest:
        try:
            index = int(rest[0])
        except (TypeError, ValueError):
            raise _err(f'Incorrect index to "str_split" should be: {example}') from None
        if not -len(parts) <= index < len(parts):
            raise _err(f'Incorrect index to "str_split" should be between 0 and {len(parts) - 1}')
        return parts[index]
    return parts


def _substitute(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        for key, value in values.items():
            template = template.replace(key, _as_text("repeat", value))
        return template
    if isinstance(template, list):
        return [_substitute(t, values) for t in template]
    if isinstance(template, Mapping):
        return {_substitute(k, values): _substitute(v, values) for k, v in template.items()}
    return template


def _repeat(args: Mapping[str, Any]) -> list[Any]:
    for_each = args["for_each"]
    names = list(for_each)
    lists = []
    for name in names:
        value = for_each[name]
        if isinstance(value, Mapping):
            value = list(value)
        if not isinstance(value, list):
            raise _err('The values of the "for_each" argument to "repeat" must be lists or maps')
        lists.append(value)
    if args.get("permutations", True):
        combos: Iterator[tuple[Any, ...]] = itertools.product(*lists)
    else:
        if len({len(v) for v in lists}) > 1:
            raise _err("For repeat, the length of for_each values should be equal if no nested loop.")
        combos = zip(*lists)
    return [_substitute(args["template"], dict(zip(names, combo))) for combo in combos]


def _digest(args: list[Any]) -> str:
    alg, value = args
    if not isinstance(alg, str) or not isinstance(value, str):
        raise _err('Argument to function "digest" must be a list of strings')
    if alg not in hashlib.algorithms_available:
        raise _err(f"Algorithm must be one of {sorted(hashlib.algorithms_available)}")
    return hashlib.new(alg, value.encode()).hexdigest()


def _map_merge(args: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in args:
        if m is None:
            continue
        if not isinstance(m, Mapping):
            raise _err(f"Incorrect arguments: Items to merge must be maps. {json.dumps(m)} is not a map")
        out.update(m)
    return out


def _list_concat(args: list[Any]) -> list[Any]:
    out: list[Any] = []
    for lst in args:
        if lst is None:
            continue
        if not isinstance(lst, list):
            raise _err(
                f"Incorrect arguments: Items to concat must be lists. {json.dumps(args)} contains an item that is not a list: {json.dumps(lst)}"
            )
        out.extend(lst)
    return out


def condition_value(snippet: Any, scope: Scope) -> bool:
    if isinstance(snippet, bool):
        return snippet
    if isinstance(snippet, str):
        return scope.condition(snippet)
    call = call_of(snippet, CONDITION_FUNCTIONS)
    if call is None:
        raise _err(f"Invalid condition: {json.dumps(snippet)}")
    fn, args = call
    if fn == "equals":
        a, b = resolve(args, scope)
        return bool(a == b)
    if fn == "not":
        return not condition_value(args, scope)
    if fn == "and":
        return all(condition_value(a, scope) for a in args)
    if fn == "or":
        return any(condition_value(a, scope) for a in args)
    if fn == "contains":
        value, seq = resolve(args, scope)
        return value in (seq or [])
    return bool(resolve({fn: args}, scope))


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "list_join": _join,
    "str_split": _split,
    "digest": _digest,
    "map_merge": _map_merge,
    "list_concat": _list_concat,
}


def resolve(snippet: Any, scope: Scope) -> Any:
    """``snippet`` with every call replaced by its value."""
    if isinstance(snippet, list):
        return [resolve(item, scope) for item in snippet]
    if not isinstance(snippet, Mapping):
        return snippet
    if len(snippet) == 1:
        ((fn, args),) = snippet.items()
        if fn == "get_param":
            args = resolve(args, scope)
            name, path = (args, []) if isinstance(args, str) else (args[0], args[1:])
            value = scope.param(name)
            return _traverse(value, path) if path else value
        if fn == "get_resource":
            return scope.resource_ref(resolve(args, scope))
        if fn == "get_attr":
            args = resolve(args, scope)
            return scope.resource_attr(args[0], args[1] if len(args) > 1 else None, args[2:])
        if fn == "get_file":
            return scope.file(args)
        if fn in ("str_replace", "str_replace_strict"):
            return _replace(fn, resolve(args, scope))
        if fn in _SIMPLE:
            return _SIMPLE[fn](resolve(args, scope))
        if fn == "repeat":
            resolved = {k: resolve(v, scope) for k, v in args.items() if k != "template"}
            resolved["template"] = args["template"]
            return resolve(_repeat(resolved), scope)
        if fn == "contains":
            value, seq = resolve(args, scope)
            return value in (seq or [])
        if fn == "if":
            chosen = args[1] if condition_value(args[0], scope) else args[2]
            return resolve(chosen, scope)
    return {k: resolve(v, scope) for k, v in snippet.items()}
