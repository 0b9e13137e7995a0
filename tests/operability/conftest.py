"""Prints what the OpenAPI fuzz test and the negative test covered (their counts travel as
report properties, so they reach this summary from a pytest-xdist worker too)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for report in [r for reports in terminalreporter.stats.values() for r in reports]:
        for name, value in getattr(report, "user_properties", ()):
            if name == "openapi_fuzz" and report.when == "teardown":
                terminalreporter.write_line(
                    f"OpenAPI fuzz: {value['operations']} operations, {value['cases']} cases, "
                    f"{value['4xx']} answered 4xx, {value.get('501', 0)} answered 501 (not supported), 0 server errors"
                )
            if name == "negative_cases" and report.when == "teardown":
                per = ", ".join(f"{service} {n}" for service, n in sorted(value["by_service"].items()))
                terminalreporter.write_line(
                    f"Negative cases: {value['cases']} refused in their service's error format, state unchanged ({per})"
                )
