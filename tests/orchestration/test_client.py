"""The engine's reading of each service's error body (the text a failed resource's reason carries)."""

from __future__ import annotations

import json

from overcast.orchestration.client import error_text


def test_error_text_of_every_service_format() -> None:
    assert error_text(
        404, json.dumps({"itemNotFound": {"code": 404, "message": "Flavor x could not be found."}}).encode()
    ) == (
        "",
        "Flavor x could not be found.",
    )
    neutron = {"NeutronError": {"type": "NetworkNotFound", "message": "Network n could not be found.", "detail": ""}}
    assert error_text(404, json.dumps(neutron).encode()) == ("NetworkNotFound", "Network n could not be found.")
    keystone = {"error": {"code": 403, "title": "Forbidden", "message": "You are not authorized."}}
    assert error_text(403, json.dumps(keystone).encode()) == ("", "You are not authorized.")
    heat = {
        "code": 400,
        "error": {"message": "bad", "traceback": None, "type": "StackValidationFailed"},
        "title": "Bad Request",
    }
    assert error_text(400, json.dumps(heat).encode()) == ("StackValidationFailed", "bad")
    assert error_text(
        409, json.dumps({"faultcode": "Client", "faultstring": "Load Balancer x is immutable."}).encode()
    ) == (
        "",
        "Load Balancer x is immutable.",
    )
    assert error_text(404, b"404 Not Found\n\nThe resource could not be found.\n") == (
        "",
        "The resource could not be found.",
    )
