"""Host aggregates (Nova's ``os-aggregates``; issue 18): create, rename, delete, add and
remove hosts, set metadata. Hosts take their availability zone from the config
(``[hosts.NAME] availability_zone``), so an aggregate's ``availability_zone`` must be the
zone its hosts are in: a zone that would move a host elsewhere is refused, never ignored."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.db.models.aggregates import AggregateRecord
from overcast.errors import BadRequest, Conflict, NotFound

AZ_KEY = "availability_zone"


def _text(value: Any, what: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f"Invalid input for field/attribute {what}. Value: {value!r}.")
    return value


class Aggregates:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def db(self) -> Any:
        return self.runtime.db

    def _get(self, s: Any, aggregate_id: Any) -> AggregateRecord:
        row = None
        text = str(aggregate_id)
        if text.isdigit():
            row = s.get(AggregateRecord, int(text))
        elif len(text) == 36:
            row = s.scalars(select(AggregateRecord).where(AggregateRecord.uuid == text)).first()
        if row is None:
            raise NotFound(f"Aggregate {aggregate_id} could not be found.")
        return row

    def _host_zone(self, host: str) -> str:
        hosts = self.runtime.drivers.hosts
        if host not in hosts:
            raise NotFound(f"Compute host {host} could not be found.")
        return str(hosts[host].availability_zone)

    def _check_zone(self, row_id: int, zone: str | None, hosts: list[str]) -> None:
        if zone is None:
            return
        wrong = sorted({self._host_zone(h) for h in hosts} - {zone})
        if wrong:
            raise BadRequest(
                f"Cannot update aggregate {row_id}. Reason: One or more hosts already in availability zone(s) {wrong}."
            )

    def list(self) -> list[AggregateRecord]:
        with self.db.session() as s:
            return list(s.scalars(select(AggregateRecord).order_by(AggregateRecord.id)))

    def get(self, aggregate_id: Any) -> AggregateRecord:
        with self.db.session() as s:
            return self._get(s, aggregate_id)

    def of_host(self, host: str) -> builtins.list[AggregateRecord]:
        return [a for a in self.list() if host in (a.hosts or [])]

    def create(self, name: Any, zone: Any = None) -> AggregateRecord:
        name = _text(name, "name")
        zone = _text(zone, AZ_KEY, required=False)
        try:
            with self.db.session() as s:
                row = AggregateRecord(name=name, hosts=[], metadata_={AZ_KEY: zone} if zone else {})
                s.add(row)
                s.flush()
                return row
        except IntegrityError:
            raise Conflict(f"Aggregate {name} already exists.") from None

    def update(self, aggregate_id: Any, changes: Mapping[str, Any]) -> AggregateRecord:
        if not changes or set(changes) - {"name", AZ_KEY}:
            raise BadRequest("Invalid input for field/attribute aggregate: only name and availability_zone change.")
        try:
            with self.db.session() as s:
                row = self._get(s, aggregate_id)
                if "name" in changes:
                    row.name = str(_text(changes["name"], "name"))
                if AZ_KEY in changes:
                    zone = _text(changes[AZ_KEY], AZ_KEY, required=False)
                    self._check_zone(row.id, zone, list(row.hosts or []))
                    meta = dict(row.metadata_ or {})
                    meta.pop(AZ_KEY, None)
                    row.metadata_ = {**meta, AZ_KEY: zone} if zone else meta
                s.flush()
                return row
        except IntegrityError:
            raise Conflict(f"Aggregate {changes.get('name')} already exists.") from None

    def delete(self, aggregate_id: Any) -> None:
        with self.db.session() as s:
            row = self._get(s, aggregate_id)
            if row.hosts:
                raise BadRequest(
                    f"Cannot perform action 'delete' on aggregate {row.id}. Reason: Host aggregate is not empty."
                )
            s.delete(row)

    def add_host(self, aggregate_id: Any, host: Any) -> AggregateRecord:
        host = _text(host, "host")
        with self.db.session() as s:
            row = self._get(s, aggregate_id)
            self._host_zone(str(host))
            if host in (row.hosts or []):
                raise Conflict(f"Aggregate {row.id} already has host {host}.")
            self._check_zone(row.id, (row.metadata_ or {}).get(AZ_KEY), [str(host)])
            row.hosts = [*(row.hosts or []), host]
            return row

    def remove_host(self, aggregate_id: Any, host: Any) -> AggregateRecord:
        host = _text(host, "host")
        with self.db.session() as s:
            row = self._get(s, aggregate_id)
            if host not in (row.hosts or []):
                raise NotFound(f"Aggregate {row.id} has no host {host}.")
            row.hosts = [h for h in row.hosts if h != host]
            return row

    def set_metadata(self, aggregate_id: Any, metadata: Any) -> AggregateRecord:
        if not isinstance(metadata, dict) or not metadata:
            raise BadRequest("Invalid input for field/attribute metadata.")
        for key, value in metadata.items():
            if not isinstance(key, str) or not key or len(key) > 255:
                raise BadRequest(f"Invalid input for field/attribute metadata. Value: {key!r}.")
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value!r}.")
        with self.db.session() as s:
            row = self._get(s, aggregate_id)
            if AZ_KEY in metadata:
                self._check_zone(row.id, metadata[AZ_KEY], list(row.hosts or []))
            meta = dict(row.metadata_ or {})
            for key, value in metadata.items():
                if value is None:
                    meta.pop(key, None)  # Nova: a null value removes the key
                else:
                    meta[key] = value
            row.metadata_ = meta
            return row

    def hosts_matching(self, extra_specs: Mapping[str, str]) -> frozenset[str] | None:
        """Nova's AggregateInstanceExtraSpecsFilter for the scoped keys
        (``aggregate_instance_extra_specs:KEY``): the hosts whose aggregates' metadata hold
        every such key with the value asked for (``None``: the flavor asks nothing)."""
        prefix = "aggregate_instance_extra_specs:"
        wanted = {k[len(prefix) :]: str(v) for k, v in extra_specs.items() if k.startswith(prefix)}
        if not wanted:
            return None
        merged: dict[str, dict[str, set[str]]] = {}
        for agg in self.list():
            for host in agg.hosts or []:
                for key, value in (agg.metadata_ or {}).items():
                    merged.setdefault(host, {}).setdefault(key, set()).update(v.strip() for v in str(value).split(","))
        return frozenset(h for h, meta in merged.items() if all(v in meta.get(k, set()) for k, v in wanted.items()))
