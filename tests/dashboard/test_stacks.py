"""The dashboard's stacks page: launch from a template file, see resources, events and
outputs, delete; the orchestration API's errors shown on the form."""

from __future__ import annotations

import time

import yaml

from .conftest import csrf_of

TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "parameters": {"length": {"type": "number", "default": 8}},
    "resources": {
        "pw": {"type": "OS::Heat::RandomString", "properties": {"length": {"get_param": "length"}}},
        "net": {"type": "OS::Neutron::Net", "properties": {"name": "dash-net"}},
    },
    "outputs": {"secret": {"description": "the random string", "value": {"get_attr": ["pw", "value"]}}},
}


def test_launch_show_and_delete_a_stack(cloud, admin_browser) -> None:
    page = admin_browser.get("/stacks")
    assert page.status_code == 200 and "No stacks yet." in page.text and 'href="/stacks"' in page.text
    csrf = csrf_of(page.text)
    r = admin_browser.post(
        "/stacks",
        data={"csrf_token": csrf, "action": "launch", "name": "dash", "parameters": "length=12\n", "rollback": "on"},
        files={"template_file": ("web.yaml", yaml.safe_dump(TEMPLATE).encode(), "application/x-yaml")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/stacks/dash"), r.text
    stacks = cloud.request("GET", f"/orchestration/v1/{cloud.admin_project_id}/stacks", token=cloud.admin_token).json()[
        "stacks"
    ]
    sid = stacks[0]["id"]
    cloud.runtime.orchestration.wait(sid, 60)
    deadline = time.monotonic() + 30
    while "CREATE_COMPLETE" not in (page := admin_browser.get("/stacks/dash")).text:
        assert time.monotonic() < deadline, page.text
        time.sleep(0.1)
    assert 'id="resources"' in page.text and "OS::Heat::RandomString" in page.text and "OS::Neutron::Net" in page.text
    assert "Stack CREATE completed successfully" in page.text  # the events table
    shown = cloud.request(
        "GET", f"/orchestration/v1/{cloud.admin_project_id}/stacks/dash/{sid}", token=cloud.admin_token
    ).json()
    secret = shown["stack"]["outputs"][0]["output_value"]
    assert len(secret) == 12 and secret in page.text
    assert shown["stack"]["disable_rollback"] is False

    # a bad template: the API's message on the form
    r = admin_browser.post(
        "/stacks",
        data={
            "csrf_token": csrf,
            "action": "launch",
            "name": "bad",
            "template": "heat_template_version: 2018-08-31\nresources: {a: {type: OS::Nope}}\n",
        },
        headers={"referer": "http://testserver/stacks"},
    )
    assert "The Resource Type (OS::Nope) could not be found." in r.text

    r = admin_browser.post(
        "/stacks",
        data={"csrf_token": csrf, "action": "delete", "stack_name": "dash", "stack_id": sid},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cloud.runtime.orchestration.wait(sid, 60)
    deadline = time.monotonic() + 30
    while "No stacks yet." not in (page := admin_browser.get("/stacks")).text:
        assert time.monotonic() < deadline, page.text
        time.sleep(0.1)
