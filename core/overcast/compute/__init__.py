"""The compute service (Nova v2.1-compatible servers).

Controller side, all here: ``service.ComputeService`` composes flavors, key pairs, server
groups, quotas (``quotas``), servers (``servers``), the scheduler (``scheduler``,
``hoststate``, ``claims``), background tasks (``tasks``, ``migrations``), state gates and
faults (``transitions``), volume attachments (``volumes``), host registration and heartbeat
(``hosts``) and restart reconciliation (``reconcile``). Peers are reached through
``peers``. The host side is ``overcast.agent.compute.ComputeAgent``, called over the bus.
"""
