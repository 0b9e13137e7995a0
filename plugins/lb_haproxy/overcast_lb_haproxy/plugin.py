"""Entry point: registers the ``haproxy`` load-balancer driver and its options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind

from overcast_lb_haproxy.driver import HaproxyDriver

NAME = "haproxy"

OPTIONS = [
    ConfigOption(DriverKind.LOADBALANCER, NAME, "haproxy", str, "haproxy", help="the haproxy executable"),
    ConfigOption(
        DriverKind.LOADBALANCER,
        NAME,
        "user",
        str,
        "haproxy",
        help="the user haproxy drops to after binding (empty: stay root)",
    ),
    ConfigOption(
        DriverKind.LOADBALANCER,
        NAME,
        "maxconn",
        int,
        50000,
        help="connections per load balancer (capped to what the hard open-files limit allows)",
    ),
]


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(
        DriverKind.LOADBALANCER, NAME, HaproxyDriver(), "haproxy per load balancer in the VIP's network namespace"
    )


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return OPTIONS
