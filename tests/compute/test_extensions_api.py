"""``/extensions``: Nova's v2 extension discovery, the features this cloud serves."""

from overcast.api.compute.extensions import EXTENSIONS


def test_list_and_show(api):
    r = api("GET", "/extensions")
    assert r.status_code == 200
    listed = r.json()["extensions"]
    aliases = [e["alias"] for e in listed]
    assert aliases == sorted(aliases) and len(aliases) == len(EXTENSIONS)
    assert "Hosts" in [e["name"] for e in listed]
    assert set(listed[0]) == {"alias", "description", "links", "name", "namespace", "updated"}
    shown = api("GET", "/extensions/os-consoles").json()["extension"]
    assert shown["alias"] == "os-consoles" and shown["name"] == "Consoles" and shown["links"] == []
    assert api("GET", "/extensions/os-cloudpipe").status_code == 404  # not a feature here
