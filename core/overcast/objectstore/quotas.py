"""Swift's account quotas (the ``account_quotas`` middleware of Swift 2.34).

A reseller admin sets them on an account with ``X-Account-Quota-Bytes``,
``X-Account-Quota-Count`` and, per storage policy, ``X-Account-Quota-Bytes-Policy-<name>`` and
``X-Account-Quota-Count-Policy-<name>`` (``X-Remove-...`` or an empty value removes one). The
older ``X-Account-Meta-Quota-Bytes`` is still user metadata, and it also sets
``X-Account-Quota-Bytes`` unless that is given too. Everyone who may read the account sees them
on its HEAD; they bound the uploads of everyone but a reseller admin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from overcast.errors import BadRequest

PREFIX = "x-account-quota-"
_KINDS = ("quota-bytes", "quota-count")
_LEGACY = "x-account-meta-quota-bytes"


@dataclass(frozen=True)
class AccountLimits:
    """The quotas that bound one upload into a container of ``policy``; ``None``: no limit."""

    bytes: int | None = None
    count: int | None = None
    policy_bytes: int | None = None
    policy_count: int | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.bytes, self.count, self.policy_bytes, self.policy_count))


def updates(headers: Mapping[str, str], policies: Iterable[str]) -> dict[str, str]:
    """The quota settings an account POST carries (lower-case header names), as metadata
    updates where ``""`` removes one; empty when it carries none. 400 for a value that is not
    a non-negative integer or a policy that does not exist."""
    given = dict(headers)
    for legacy in (_LEGACY, "x-remove-account-meta-quota-bytes"):
        modern = legacy.replace("-meta-", "-")
        if legacy in given and not given.get(modern):
            given[modern] = given[legacy]
    known = {
        f"x-account-{kind}{suffix}" for kind in _KINDS for suffix in ["", *(f"-policy-{p.lower()}" for p in policies)]
    }
    out: dict[str, str] = {}
    for name, value in given.items():
        removing = name.startswith("x-remove-account-quota-")
        key = "x-" + name[len("x-remove-") :] if removing else name
        if not key.startswith(PREFIX):
            continue
        if key not in known:
            raise BadRequest(f"{name}: no such account quota (or no such storage policy)")
        if removing:
            if value:
                out[key] = ""
            continue
        if key in out:  # a removal of the same quota wins, as in Swift
            continue
        if value and not value.isdigit():
            raise BadRequest(f"{name} must be a non-negative integer")
        out[key] = value
    return out


def limits(meta: Mapping[str, str], policy: str) -> AccountLimits:
    """The account's quotas for an upload into a container of ``policy``."""

    def number(key: str) -> int | None:
        value = meta.get(key, "")
        return int(value) if value.isdigit() else None

    legacy = number(_LEGACY)
    overall = number(PREFIX + "bytes")
    return AccountLimits(
        bytes=overall if overall is not None else legacy,
        count=number(PREFIX + "count"),
        policy_bytes=number(f"{PREFIX}bytes-policy-{policy.lower()}"),
        policy_count=number(f"{PREFIX}count-policy-{policy.lower()}"),
    )
