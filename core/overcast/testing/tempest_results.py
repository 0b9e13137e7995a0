"""Tempest results as a table per service: run, passed, failed, skipped, and each failure's
test id with the first line of its error (``scripts/conformance.sh`` prints it).

Reads a subunit v2 stream (``stestr last --subunit``) with python-subunit and testtools, so it
runs under the Tempest venv's Python (``python tempest_results.py < results.subunit``); it
imports nothing from Overcast. Tempest's worker set-up failures (``setUpClass``) are reported
as one failed id each, as stestr does.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from testtools.testresult.real import TestDict

SERVICES = ("identity", "compute", "image", "network", "volume", "object_storage")
_SERVICE = re.compile(r"^tempest\.api\.(\w+)\.")
_ATTRS = re.compile(r"\[[^\]]*\]$")
_IDEMPOTENT = re.compile(r"\bid-([0-9a-f-]{36})\b")
_PASSED = {"success", "xfail"}
_FAILED = {"fail", "uxsuccess"}


@dataclass(frozen=True)
class Result:
    test_id: str  # without the ``[id-...,smoke]`` attribute suffix
    status: str  # success, fail, skip, xfail, uxsuccess
    detail: str = ""  # the traceback (failures) or the reason (skips)
    idempotent_id: str = ""  # Tempest's ``@decorators.idempotent_id`` (the ``[id-...]`` attribute)


@dataclass
class ServiceTally:
    run: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, first error line)
    skips: list[tuple[str, str]] = field(default_factory=list)  # (test id, reason)


def service_of(test_id: str) -> str:
    """``tempest.api.object_storage.test_x.T.test_y`` -> ``object_storage`` (else ``other``)."""
    m = _SERVICE.match(test_id)
    return m.group(1) if m and m.group(1) in SERVICES else "other"


def first_error_line(detail: str) -> str:
    """The line that says what went wrong: the exception line at the end of the last
    traceback (``tempest.lib.exceptions.NotFound: Object not found``), with the details that
    follow it on the next line or two; else the last non-empty line."""
    lines = [line.rstrip() for line in detail.splitlines()]
    exception = re.compile(
        r"^[A-Za-z_][\w.]*(Error|Exception|Failure|NotFound|Conflict|BadRequest|Forbidden|"
        r"Unauthorized|TimeoutException|Mismatch|[A-Z]\w+):( |$)"
    )
    for i in range(len(lines) - 1, -1, -1):
        if exception.match(lines[i]):
            text = " ".join(x.strip() for x in lines[i : i + 3] if x.strip() and not x.startswith("Traceback"))
            return text[:300]
    rest = [x for x in lines if x.strip()]
    return rest[-1].strip()[:300] if rest else ""


def read_subunit(stream: BinaryIO) -> list[Result]:
    """Every test's final status in a subunit v2 stream (python-subunit's own decoder)."""
    import subunit
    import testtools

    results: list[Result] = []

    def on_test(test: TestDict) -> None:
        status = test["status"]
        if status in (None, "exists", "inprogress"):
            return
        detail = ""
        for name in ("traceback", "reason"):
            content = test["details"].get(name)
            if content is not None:
                detail = content.as_text()
                break
        found = _IDEMPOTENT.search(test["id"])
        results.append(Result(_ATTRS.sub("", test["id"]), status, detail, found.group(1) if found else ""))

    case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
    sink = testtools.StreamToDict(on_test)
    sink.startTestRun()
    try:
        case.run(sink)
    finally:
        sink.stopTestRun()
    return results


def tally(results: Iterable[Result]) -> dict[str, ServiceTally]:
    """Per-service counts (service order of ``SERVICES``, then ``other``)."""
    out: dict[str, ServiceTally] = {}
    for r in results:
        t = out.setdefault(service_of(r.test_id), ServiceTally())
        t.run += 1
        if r.status in _PASSED:
            t.passed += 1
        elif r.status in _FAILED:
            t.failed += 1
            t.failures.append((r.test_id, first_error_line(r.detail)))
        elif r.status == "skip":
            t.skipped += 1
            t.skips.append((r.test_id, r.detail.strip().splitlines()[0] if r.detail.strip() else ""))
    order = [*SERVICES, "other"]
    return {k: out[k] for k in sorted(out, key=order.index)}


def by_id(results: Iterable[Result], wanted: list[str]) -> dict[str, str]:
    """Each wanted idempotent id's outcome: ``passed`` (every test carrying it passed; one id
    can mark a test inherited by several classes), ``failed``, ``skipped``, or ``not run``
    (no test reported it: not in this Tempest, or its class failed to set up)."""
    seen: dict[str, set[str]] = {}
    for r in results:
        if r.idempotent_id:
            seen.setdefault(r.idempotent_id, set()).add(r.status)
    out = {}
    for test_id in wanted:
        statuses = seen.get(test_id)
        if not statuses:
            out[test_id] = "not run"
        elif statuses & _FAILED:
            out[test_id] = "failed"
        elif statuses <= {"skip"}:
            out[test_id] = "skipped"
        elif statuses & {"skip"}:
            out[test_id] = "partly skipped"
        else:
            out[test_id] = "passed"
    return out


def render_ids(outcomes: dict[str, str]) -> str:
    """The headline for an id list: how many of its ids passed, and how the others ended."""
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    rest = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k != "passed")
    return f"{counts.get('passed', 0)} of {len(outcomes)} passed" + (f" ({rest})" if rest else "") + "\n"


def render(tallies: dict[str, ServiceTally], show_skips: bool = True) -> str:
    """The table, then each failure (and skip) with its first error line."""
    out = io.StringIO()
    out.write(f"{'service':<16}{'run':>6}{'passed':>8}{'failed':>8}{'skipped':>9}\n")
    total = ServiceTally()
    for name, t in tallies.items():
        out.write(f"{name:<16}{t.run:>6}{t.passed:>8}{t.failed:>8}{t.skipped:>9}\n")
        total.run += t.run
        total.passed += t.passed
        total.failed += t.failed
        total.skipped += t.skipped
    out.write(f"{'total':<16}{total.run:>6}{total.passed:>8}{total.failed:>8}{total.skipped:>9}\n")
    for name, t in tallies.items():
        if t.failures:
            out.write(f"\n{name}: {t.failed} failed\n")
            for test_id, line in sorted(t.failures):
                out.write(f"  {test_id}\n      {line}\n")
        if show_skips and t.skips:
            out.write(f"\n{name}: {t.skipped} skipped\n")
            for test_id, reason in sorted(t.skips):
                out.write(f"  {test_id}\n      {reason}\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python tempest_results.py [ID_LIST] < stream.subunit``: print the table (tests run),
    and with a file of idempotent ids (one a line) the headline of how many of them passed."""
    args = sys.argv[1:] if argv is None else argv
    results = read_subunit(sys.stdin.buffer)
    print(render(tally(results)), end="")
    if args:
        with open(args[0]) as f:
            wanted = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        outcomes = by_id(results, wanted)
        print("\nby idempotent id: " + render_ids(outcomes), end="")
        missing = sorted(i for i, o in outcomes.items() if o == "not run")
        if missing:
            print("not run: " + " ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
