"""The unmodified python-heatclient (``openstack stack ...``) against ``overcast up`` over the
fake drivers: examples/web.yaml created with ``--wait``, scaled 2 -> 3 with ``stack update``,
deleted with ``--wait`` leaving nothing; a flavor no host fits ends CREATE_FAILED with the
reason and rolls back; ``orchestration template validate`` rejections with Heat's messages."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("heatclient", reason="python-heatclient (the clients extra) is not installed")

pytestmark = [pytest.mark.clients, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def prepared(running_cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    cloud = running_cloud
    image = tmp_path_factory.mktemp("img") / "tiny.raw"
    image.write_bytes(b"\0" * 65536)
    cloud.openstack(
        "image",
        "create",
        "--file",
        str(image),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--public",
        "tiny",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "m1.tiny", "-f", "json")
    cloud.openstack("flavor", "create", "--ram", "64", "--disk", "1000000", "--vcpus", "1", "m1.huge", "-f", "json")
    cloud.openstack("network", "create", "--external", "public", "-f", "json")
    cloud.openstack(
        "subnet", "create", "--network", "public", "--subnet-range", "172.24.4.0/24", "public-subnet", "-f", "json"
    )
    cloud.openstack("keypair", "create", "k1")  # prints the private key
    return cloud


def _list(cloud: Any, *args: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = cloud.openstack(*args, "-f", "json")
    return out


def test_web_stack_with_the_cli(prepared: Any) -> None:
    cloud = prepared
    log = cloud.openstack(
        "stack",
        "create",
        "-t",
        str(EXAMPLES / "web.yaml"),
        "--parameter",
        "key_name=k1",
        "--wait",
        "--poll",
        "1",
        "web",
        timeout=300,
    )  # --wait prints the events as they come, then the stack
    assert "[web]: CREATE_COMPLETE  Stack CREATE completed successfully" in log, log
    shown = cloud.openstack("stack", "show", "web", "-f", "json")
    assert shown["stack_status"] == "CREATE_COMPLETE"
    outputs = {o["output_key"]: o["output_value"] for o in shown["outputs"]}
    assert outputs["url"].startswith("http://172.24.4.") and len(outputs["server_ips"]) == 2
    assert sorted(s["Name"] for s in _list(cloud, "server", "list")) == ["web-web-0", "web-web-1"]
    resources = {r["resource_name"]: r for r in _list(cloud, "stack", "resource", "list", "web")}
    assert resources["servers"]["resource_type"] == "OS::Heat::ResourceGroup"
    assert all(r["resource_status"] == "CREATE_COMPLETE" for r in resources.values())
    events = cloud.openstack("stack", "event", "list", "web", "-f", "json")
    assert events[-1]["resource_status"] == "CREATE_COMPLETE" and events[-1]["resource_name"] == "web"
    assert cloud.openstack("stack", "output", "show", "web", "url", "-f", "json")["output_value"] == outputs["url"]
    # the other read commands parse what we answer
    shown_res = cloud.openstack("stack", "resource", "show", "web", "data", "-f", "json")
    assert shown_res["resource_type"] == "OS::Cinder::Volume" and shown_res["attributes"]["status"] == "in-use"
    nested = _list(cloud, "stack", "resource", "list", "--nested-depth", "1", "web")
    assert {"0", "1"} <= {r["resource_name"] for r in nested}
    assert cloud.openstack("stack", "template", "show", "web", "-f", "json")["heat_template_version"] == "2018-08-31"
    assert cloud.openstack("stack", "environment", "show", "web", "-f", "json")["parameters"]["key_name"] == "k1"
    assert "OS::Nova::Server" in [t["Resource Type"] for t in _list(cloud, "orchestration", "resource", "type", "list")]
    versions = _list(cloud, "orchestration", "template", "version", "list")
    assert "heat_template_version.2018-08-31" in [v["Version"] for v in versions]
    cloud.openstack("stack", "resource", "mark", "unhealthy", "web", "data", "checking")
    assert (
        cloud.openstack("stack", "resource", "show", "web", "data", "-f", "json")["resource_status"] == "CREATE_FAILED"
    )
    cloud.openstack("stack", "resource", "mark", "unhealthy", "--reset", "web", "data")
    assert (
        cloud.openstack("stack", "resource", "show", "web", "data", "-f", "json")["resource_status"]
        == "CREATE_COMPLETE"
    )

    plan = cloud.openstack("stack", "update", "--dry-run", "--existing", "--parameter", "count=3", "web", "-f", "json")
    assert [r["resource_name"] for r in plan["updated"]] == ["servers"] and plan["added"] == []
    cloud.openstack("stack", "update", "--existing", "--parameter", "count=3", "--wait", "web", timeout=300)
    assert cloud.openstack("stack", "show", "web", "-f", "json")["stack_status"] == "UPDATE_COMPLETE"
    assert len(_list(cloud, "server", "list")) == 3

    cloud.openstack("stack", "delete", "--yes", "--wait", "web", timeout=300)
    assert _list(cloud, "stack", "list") == []
    assert _list(cloud, "server", "list") == []
    assert _list(cloud, "volume", "list") == []
    assert _list(cloud, "floating", "ip", "list") == []
    assert _list(cloud, "router", "list") == []
    assert [n["Name"] for n in _list(cloud, "network", "list")] == ["public"]


def test_failing_stack_rolls_back(prepared: Any) -> None:
    cloud = prepared
    proc = cloud.openstack(
        "stack",
        "create",
        "-t",
        str(EXAMPLES / "web.yaml"),
        "--parameter",
        "key_name=k1",
        "--parameter",
        "flavor=m1.huge",
        "--enable-rollback",
        "--wait",
        "--poll",
        "1",
        "bad",
        check=False,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "CREATE_FAILED" in proc.stdout + proc.stderr
    deadline = time.monotonic() + 120
    while True:
        st = cloud.openstack("stack", "show", "bad", "-f", "json")
        if st["stack_status"] != "ROLLBACK_IN_PROGRESS" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert st["stack_status"] == "ROLLBACK_COMPLETE", st
    events = cloud.openstack("stack", "event", "list", "bad", "-f", "json")
    failed = [e for e in events if e["resource_name"] == "bad" and e["resource_status"] == "CREATE_FAILED"]
    assert "Resource CREATE failed: Error: resources.servers:" in failed[0]["resource_status_reason"]
    assert "No valid host was found" in failed[0]["resource_status_reason"]
    assert _list(cloud, "server", "list") == []
    assert [n["Name"] for n in _list(cloud, "network", "list")] == ["public"]
    cloud.openstack("stack", "delete", "--yes", "--wait", "bad", timeout=120)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"a": {"type": "OS::Nope::Widget"}}, "The Resource Type (OS::Nope::Widget) could not be found."),
        (
            {"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"list_join": "x"}}}},
            'Incorrect arguments to "list_join" should be',
        ),
        (
            {
                "a": {"type": "OS::Heat::RandomString", "depends_on": "b"},
                "b": {"type": "OS::Heat::RandomString", "depends_on": "a"},
            },
            "Circular Dependency Found: {a: {b}, b: {a}}",
        ),
    ],
)
def test_template_validate_rejections(prepared: Any, tmp_path: Path, template: dict[str, Any], message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps({"heat_template_version": "2018-08-31", "resources": template}))
    proc = prepared.openstack("orchestration", "template", "validate", "-t", str(path), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_template_validate_accepts_the_example(prepared: Any) -> None:
    out = prepared.openstack("orchestration", "template", "validate", "-t", str(EXAMPLES / "web.yaml"), "-f", "json")
    assert out["Parameters"]["count"]["Default"] == 2
    assert [g["label"] for g in out["ParameterGroups"]] == ["servers", "network"]
