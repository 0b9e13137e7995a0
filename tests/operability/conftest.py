"""Prints what the OpenAPI fuzz test covered (its counts travel as a report property, so they
reach this summary from a pytest-xdist worker too)."""

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
