"""Octavia's error texts, as ``overcast.errors`` types (``api/errors.py`` renders them in
Octavia's ``faultstring`` body for every path under ``/load-balancer``)."""

from __future__ import annotations

from typing import Any

from overcast.errors import BadRequest, Conflict, NotFound, NotImplementedByBackend, OverQuota
from overcast.loadbalancer.constants import LABELS


def not_found(kind: str, resource_id: Any) -> NotFound:
    return NotFound(f"{LABELS[kind]} {resource_id} not found.", code="NotFound")


def immutable(kind: str, resource_id: str) -> Conflict:
    return Conflict(f"{LABELS[kind]} {resource_id} is immutable and cannot be updated.", code="ImmutableObject")


def validation(detail: str) -> BadRequest:
    return BadRequest(f"Validation failure: {detail}", code="ValidationException")


def invalid(field: str, value: Any, reason: str) -> BadRequest:
    """WSME's type-check failure."""
    return BadRequest(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}", code="InvalidInput")


def invalid_subresource(label: str, resource_id: Any) -> BadRequest:
    return BadRequest(f"{label} {resource_id} not found.", code="InvalidSubresource")


def unsupported_option(provider: str, message: str) -> NotImplementedByBackend:
    return NotImplementedByBackend(
        f"Provider '{provider}' does not support a requested option: {message}", code="ProviderUnsupportedOptionError"
    )


def unsupported_action(provider: str, message: str) -> NotImplementedByBackend:
    return NotImplementedByBackend(
        f"Provider '{provider}' does not support a requested action: {message}", code="ProviderNotImplementedError"
    )


def over_quota(resource: str) -> OverQuota:
    return OverQuota(f"Quota has been met for resources: {resource}", code="QuotaException")
