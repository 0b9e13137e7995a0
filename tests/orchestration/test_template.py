"""HOT templates without a cloud: versions, sections, parameters and their constraints,
intrinsic functions, conditions, environments, and the static checks (Heat's messages)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest

from overcast.orchestration.errors import HeatError
from overcast.orchestration.template import functions
from overcast.orchestration.template.environment import Environment, parse as parse_env
from overcast.orchestration.template.format import parse, version_of
from overcast.orchestration.template.hot import Template, order
from overcast.orchestration.template.parameters import resolve_values

KNOWN = {"OS::Heat::RandomString", "OS::Neutron::Net", "OS::Nova::Server"}


def known(type_name: str, name: str) -> bool:
    return type_name in KNOWN


def tmpl(resources: dict[str, Any] | None = None, **sections: Any) -> Template:
    return Template({"heat_template_version": "2018-08-31", "resources": resources or {}, **sections})


class Scope:
    def __init__(self, params: dict[str, Any] | None = None, conditions: dict[str, Any] | None = None) -> None:
        self.params = params or {}
        self.conditions = conditions or {}

    def param(self, name: str) -> Any:
        return self.params[name]

    def resource_ref(self, name: str) -> Any:
        return f"id-of-{name}"

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any:
        return f"{name}.{attr}"

    def condition(self, name: str) -> bool:
        return functions.condition_value(self.conditions[name], self)

    def file(self, key: str) -> str:
        return "file:" + key


def test_versions_dates_and_release_names() -> None:
    assert version_of(parse("heat_template_version: 2018-08-31\n")) == "2018-08-31"  # a string, not a date
    assert version_of(parse("heat_template_version: rocky\n")) == "2018-08-31"
    assert version_of(parse('{"heat_template_version": "wallaby"}')) == "2021-04-16"
    with pytest.raises(HeatError) as err:
        version_of(parse("heat_template_version: 2013-05-23\n"))
    assert err.value.message == (
        'The template version is invalid: "heat_template_version: 2013-05-23". '
        '"heat_template_version" should be one of: 2018-08-31, 2021-04-16, rocky, wallaby'
    )
    with pytest.raises(ValueError, match="Template format version not found."):
        parse("resources: {}\n")
    with pytest.raises(ValueError, match="The template is not a JSON object or YAML mapping."):
        parse("- a\n")


def test_unknown_section_and_resource_keyword() -> None:
    with pytest.raises(HeatError, match=r"^The template section is invalid: output$"):
        tmpl(output={})
    with pytest.raises(HeatError, match="Invalid keyword\\(s\\) inside a resource definition: propertys"):
        tmpl({"a": {"type": "OS::Heat::RandomString", "propertys": {}}})


def test_parameters_types_and_constraints() -> None:
    t = tmpl(
        parameters={
            "count": {"type": "number", "default": 2, "constraints": [{"range": {"min": 1, "max": 5}}]},
            "name": {
                "type": "string",
                "constraints": [{"length": {"min": 2, "max": 4}}, {"allowed_pattern": "[a-z]+"}],
            },
            "size": {
                "type": "string",
                "default": "s",
                "constraints": [{"allowed_values": ["s", "m"], "description": "s or m"}],
            },
            "nets": {"type": "comma_delimited_list", "default": "a, b"},
            "cfg": {"type": "json", "default": {"k": 1}},
            "on": {"type": "boolean", "default": "yes"},
        }
    )
    values = resolve_values(t.parameters, {"name": "abc"}, {}, None)
    assert values == {"count": 2, "name": "abc", "size": "s", "nets": ["a", "b"], "cfg": {"k": 1}, "on": True}

    def refused(given: dict[str, Any]) -> str:
        with pytest.raises(HeatError) as err:
            resolve_values(t.parameters, given, {}, None)
        return err.value.message

    assert refused({"name": "abc", "count": 9}) == "Parameter 'count' is invalid: 9 is out of range (min: 1, max: 5)"
    assert refused({"name": "a"}) == "Parameter 'name' is invalid: length (1) is out of range (min: 2, max: 4)"
    assert refused({"name": "AB"}) == 'Parameter \'name\' is invalid: "AB" does not match pattern "[a-z]+"'
    assert refused({"name": "ab", "size": "l"}) == "Parameter 'size' is invalid: s or m"
    assert refused({}) == "The Parameter (name) was not provided."
    assert refused({"name": "ab", "nope": 1}) == "The Parameter (nope) was not defined in template."
    # parameter_defaults fill what was not given, and may name anything
    assert resolve_values(t.parameters, {}, {"name": "xy", "other": 1}, None)["name"] == "xy"


def test_custom_constraint_uses_the_callback() -> None:
    t = tmpl(parameters={"flavor": {"type": "string", "constraints": [{"custom_constraint": "nova.flavor"}]}})
    assert resolve_values(t.parameters, {"flavor": "m1"}, {}, lambda c, v: v == "m1") == {"flavor": "m1"}
    with pytest.raises(HeatError, match='"m9" does not validate nova.flavor'):
        resolve_values(t.parameters, {"flavor": "m9"}, {}, lambda c, v: v == "m1")
    with pytest.raises(HeatError, match=r"does not validate nova.flavor \(constraint not found\)"):
        resolve_values(t.parameters, {"flavor": "m1"}, {}, lambda c, v: None)


def test_parameter_groups_are_checked() -> None:
    params = {"a": {"type": "string"}, "b": {"type": "string"}}
    tmpl(parameters=params, parameter_groups=[{"label": "g", "parameters": ["a", "b"]}])
    with pytest.raises(HeatError, match="The grouped parameter c does not reference a valid parameter."):
        tmpl(parameters=params, parameter_groups=[{"label": "g", "parameters": ["c"]}])
    with pytest.raises(HeatError, match="The a parameter must be assigned to one parameter group only."):
        tmpl(parameters=params, parameter_groups=[{"parameters": ["a"]}, {"parameters": ["a"]}])


def test_functions_evaluate() -> None:
    s = Scope({"name": "web", "ports": [80, 443], "cfg": {"a": {"b": 7}}})
    r = functions.resolve
    assert r({"get_param": "name"}, s) == "web"
    assert r({"get_param": ["cfg", "a", "b"]}, s) == 7
    assert r({"get_resource": "srv"}, s) == "id-of-srv"
    assert r({"get_attr": ["srv", "first_address"]}, s) == "srv.first_address"
    assert r({"str_replace": {"template": "hi $n, $n!", "params": {"$n": {"get_param": "name"}}}}, s) == "hi web, web!"
    assert r({"list_join": [",", ["a", "b"], ["c"]]}, s) == "a,b,c"
    assert r({"str_split": [",", "a,b,c"]}, s) == ["a", "b", "c"]
    assert r({"str_split": [",", "a,b,c", 1]}, s) == "b"
    assert r({"repeat": {"for_each": {"%p%": {"get_param": "ports"}}, "template": {"port": "%p%"}}}, s) == [
        {"port": "80"},
        {"port": "443"},
    ]
    assert r({"digest": ["sha256", "x"]}, s) == hashlib.sha256(b"x").hexdigest()
    assert r({"map_merge": [{"a": 1}, {"b": 2}, {"a": 3}]}, s) == {"a": 3, "b": 2}
    assert r({"list_concat": [[1], [2, 3]]}, s) == [1, 2, 3]
    assert r({"get_file": "x.sh"}, s) == "file:x.sh"
    assert r({"a": 1, "b": {"get_param": "name"}}, s) == {"a": 1, "b": "web"}  # two keys: data


def test_conditions_and_if() -> None:
    conds = {
        "prod": {"equals": [{"get_param": "env"}, "prod"]},
        "not_prod": {"not": "prod"},
        "big": {"and": ["prod", {"or": [True, False]}]},
    }
    s = Scope({"env": "prod"}, conds)
    assert functions.resolve({"if": ["prod", "a", "b"]}, s) == "a"
    assert functions.resolve({"if": ["not_prod", "a", "b"]}, s) == "b"
    assert s.condition("big") is True
    t = tmpl(
        {"a": {"type": "OS::Heat::RandomString", "condition": "prod"}},
        parameters={"env": {"type": "string"}},
        conditions=conds,
    )
    t.validate(Environment(), known)
    with pytest.raises(HeatError, match='The minimum number of condition arguments to "and" is 2.'):
        tmpl(conditions={"c": {"and": [True]}}).validate(Environment(), known)


def test_static_checks_have_heats_messages() -> None:
    env = Environment()
    with pytest.raises(HeatError) as err:
        tmpl({"a": {"type": "OS::Nope::Thing"}}).validate(env, known)
    assert err.value.message == "The Resource Type (OS::Nope::Thing) could not be found."
    with pytest.raises(HeatError) as err:
        tmpl({"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"get_resource": "b"}}}}).validate(
            env, known
        )
    assert err.value.message == 'The specified reference "b" (in a) is incorrect.'
    with pytest.raises(HeatError) as err:
        tmpl({"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"list_join": "x"}}}}).validate(env, known)
    assert (
        err.value.message == 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"] ...]'
    )
    with pytest.raises(HeatError) as err:
        tmpl({"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"Fn::Join": [",", []]}}}}).validate(
            env, known
        )
    assert (
        err.value.message
        == "The template version is invalid: The function Fn::Join is not supported in this version of HOT."
    )
    with pytest.raises(HeatError) as err:
        tmpl({"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"get_param": "nope"}}}}).validate(
            env, known
        )
    assert err.value.message == "The Parameter (nope) was not provided."
    cyc = {
        "a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"get_resource": "b"}}},
        "b": {"type": "OS::Heat::RandomString", "properties": {"salt": {"get_attr": ["a", "value"]}}},
        "c": {"type": "OS::Heat::RandomString"},
    }
    with pytest.raises(HeatError) as err:
        tmpl(cyc).validate(env, known)
    assert err.value.message == "Circular Dependency Found: {a: {b}, b: {a}}"
    assert err.value.code == "CircularDependencyException"


def test_dependencies_and_order() -> None:
    t = tmpl(
        {
            "net": {"type": "OS::Neutron::Net"},
            "srv": {"type": "OS::Nova::Server", "properties": {"networks": [{"network": {"get_resource": "net"}}]}},
            "pw": {"type": "OS::Heat::RandomString", "depends_on": ["srv"]},
        }
    )
    deps = t.validate(Environment(), known)
    assert deps == {"net": set(), "srv": {"net"}, "pw": {"srv"}}
    assert order(deps) == ["net", "srv", "pw"]


def test_environment_registry() -> None:
    env = Environment.from_documents(
        [
            parse_env(
                "resource_registry:\n"
                "  My::Server: server.yaml\n"
                "  OS::Networking::*: OS::Neutron::*\n"
                "  resources:\n"
                "    special:\n"
                "      My::Server: OS::Nova::Server\n"
                "parameter_defaults:\n"
                "  flavor: m1\n"
            )
        ]
    )
    assert env.map_type("My::Server", "web") == "server.yaml"
    assert env.map_type("My::Server", "special") == "OS::Nova::Server"
    assert env.map_type("OS::Networking::Net", "n") == "OS::Neutron::Net"
    assert env.parameter_defaults == {"flavor": "m1"}
    with pytest.raises(ValueError, match='environment has wrong section "resource_registy"'):
        parse_env("resource_registy: {}\n")
