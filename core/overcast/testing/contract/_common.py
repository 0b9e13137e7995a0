"""Helpers shared by the contract suites."""

from __future__ import annotations

import pytest

from overcast.errors import UnsupportedOperation
from overcast.hookspecs import RoutedDriver, hook_names


def needs(driver: RoutedDriver, *operations: str) -> None:
    """Skip the test unless the driver implements every operation (a capability)."""
    missing = [op for op in operations if not driver.supports(op)]
    if missing:
        pytest.skip(f"capability: driver '{driver.info.name}' does not implement {', '.join(missing)}")


def check_refuses_unimplemented(driver: RoutedDriver) -> None:
    """Every operation of the family that the driver lacks is refused before the call."""
    prefix = driver.info.kind.hook_prefix
    for hook in hook_names(prefix):
        operation = hook[len(prefix) :]
        if driver.supports(operation):
            continue
        with pytest.raises(UnsupportedOperation, match=operation):
            getattr(driver, operation)()  # no arguments: it must not get as far as calling
