"""scripts/conformance.sh's results table: a subunit v2 stream (as Tempest's stestr writes it)
read into per-service counts, failures with their first error line, and the idempotent-id
headline."""

from __future__ import annotations

import io

import pytest

from overcast.testing import tempest_results as tr

subunit = pytest.importorskip("subunit", reason="python-subunit is not installed (pip install .[test])")

TRACEBACK = """Traceback (most recent call last):
  File "tempest/api/object_storage/test_object_services.py", line 90, in test_get_object
    self.assertHeaders(resp, 'Object', 'GET')
testtools.matchers._impl.MismatchError: x-trans-id header does not exist
"""


def _stream(events: list[tuple[str, str, str | None]]) -> io.BytesIO:
    """Encode (test id, status, attachment) events with python-subunit's own encoder."""
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    for test_id, status, text in events:
        writer.status(test_id=test_id, test_status="inprogress")
        if text is not None:
            name = "reason" if status == "skip" else "traceback"
            writer.status(
                test_id=test_id,
                file_name=name,
                file_bytes=text.encode(),
                mime_type="text/plain; charset=utf8",
                eof=True,
            )
        writer.status(test_id=test_id, test_status=status)
    out.seek(0)
    return out


IDS = {
    "a": "a8333aa2-205c-449f-a828-d38c2489bf25",
    "b": "e36c0eaa-dff5-4082-ad1f-3f9a80aa3f59",
    "c": "6e85fde4-b3cd-4137-ab72-ed5f418e8c24",
    "d": "3731d080-d4c5-4872-b41a-64d0d0021314",
}


def test_tally_by_service_with_first_error_lines() -> None:
    results = tr.read_subunit(
        _stream(
            [
                (
                    f"tempest.api.object_storage.test_object_services.ObjectTest.test_get_object[id-{IDS['a']},smoke]",
                    "fail",
                    TRACEBACK,
                ),
                (
                    f"tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_list_flavors[id-{IDS['b']}]",
                    "success",
                    None,
                ),
                (
                    f"tempest.api.compute.servers.test_x.T.test_y[id-{IDS['c']}]",
                    "skip",
                    "Instance validation tests are disabled.",
                ),
                (
                    "setUpClass (tempest.api.volume.test_volumes_list.VolumesListTestJSON)",
                    "fail",
                    "tempest.lib.exceptions.InvalidHTTPResponseBody: HTTP response body is invalid\nDetails: more",
                ),
            ]
        )
    )
    assert [r.idempotent_id for r in results] == [IDS["a"], IDS["b"], IDS["c"], ""]
    tallies = tr.tally(results)
    assert list(tallies) == ["compute", "object_storage", "other"]
    assert (tallies["compute"].run, tallies["compute"].passed, tallies["compute"].skipped) == (2, 1, 1)
    assert tallies["object_storage"].failures == [
        (
            "tempest.api.object_storage.test_object_services.ObjectTest.test_get_object",
            "testtools.matchers._impl.MismatchError: x-trans-id header does not exist",
        )
    ]
    assert tallies["other"].failures[0][1] == (
        "tempest.lib.exceptions.InvalidHTTPResponseBody: HTTP response body is invalid Details: more"
    )
    table = tr.render(tallies)
    assert "object_storage       1       0       1        0" in table
    assert "total                4       1       2        1" in table
    assert "Instance validation tests are disabled." in table


def test_by_id_counts_every_test_carrying_an_id() -> None:
    results = tr.read_subunit(
        _stream(
            [
                (f"tempest.api.compute.A.test_x[id-{IDS['a']}]", "success", None),
                (f"tempest.api.compute.B.test_x[id-{IDS['a']}]", "fail", TRACEBACK),  # the same test inherited
                (f"tempest.api.compute.A.test_y[id-{IDS['b']}]", "success", None),
                (f"tempest.api.compute.A.test_z[id-{IDS['c']}]", "skip", "no"),
            ]
        )
    )
    outcomes = tr.by_id(results, list(IDS.values()))
    assert outcomes == {IDS["a"]: "failed", IDS["b"]: "passed", IDS["c"]: "skipped", IDS["d"]: "not run"}
    assert tr.render_ids(outcomes) == "1 of 4 passed (1 failed, 1 not run, 1 skipped)\n"


def test_first_error_line_without_a_traceback() -> None:
    assert tr.first_error_line("some output\n\nlast words\n") == "last words"
    assert tr.first_error_line("") == ""
