"""The catalog as data: regions, services and endpoints an admin adds through the API.

Overcast's own services, their endpoints and the configured region come from the
configuration (:mod:`overcast.identity.catalog`): they are listed with the stored ones
but cannot be changed or deleted through the API (403), since the config would bring
them back. Stored entries follow Keystone's rules: an endpoint's region is created when
it does not exist yet, a region with endpoints (in it or below it) cannot be deleted, a
deleted region takes its child regions along, and a deleted service its endpoints.
Every write bumps the identity generation, so every process rebuilds token catalogs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.db.models.identity import CatalogService, Endpoint, Region
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.identity.revocation import bump_generation

INTERFACES = ("public", "internal", "admin")

#: One stored service as the token catalog needs it: (id, type, name, endpoints), each
#: endpoint (id, interface, region id, url). Hashable, for the catalog cache.
CatalogEntry = tuple[str, str, str, tuple[tuple[str, str, str | None, str], ...]]


def region_not_found(region_id: str) -> NotFound:
    return NotFound(f"Could not find region: {region_id}.", code="RegionNotFound")


def service_not_found(service_id: str) -> NotFound:
    return NotFound(f"Could not find service: {service_id}.", code="ServiceNotFound")


def endpoint_not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"Could not find endpoint: {endpoint_id}.", code="EndpointNotFound")


def builtin_refused(kind: str, ident: str) -> Forbidden:
    return Forbidden(
        f"The {kind} {ident} is served from Overcast's configuration and cannot be changed through the API."
    )


class CatalogStore:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory
        self._entries: tuple[CatalogEntry, ...] | None = None

    def clear(self) -> None:
        """Forget the cached token entries (another process may have changed the catalog)."""
        self._entries = None

    # --- regions ----------------------------------------------------------------------------

    def get_region(self, region_id: str, session: Session | None = None) -> Region:
        if session is None:
            with self.session() as s:
                return self.get_region(region_id, s)
        found = session.get(Region, region_id)
        if found is None:
            raise region_not_found(region_id)
        return found

    def list_regions(self, parent_region_id: str | None = None) -> list[Region]:
        stmt = select(Region).order_by(Region.id)
        if parent_region_id is not None:
            stmt = stmt.where(Region.parent_region_id == parent_region_id)
        with self.session() as s:
            return list(s.scalars(stmt))

    def create_region(
        self,
        region_id: str | None,
        description: str = "",
        parent_region_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        reserved: tuple[str, ...] = (),
    ) -> Region:
        with self.session() as s:
            if region_id and (region_id in reserved or s.get(Region, region_id) is not None):
                raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")
            if parent_region_id:
                self.get_region(parent_region_id, s)
            region = Region(description=description or "", parent_region_id=parent_region_id, extra=dict(extra or {}))
            if region_id:
                region.id = region_id
            s.add(region)
            s.flush()
            bump_generation(s)
            return region

    def update_region(self, region_id: str, changes: Mapping[str, Any]) -> Region:
        with self.session() as s:
            region = self.get_region(region_id, s)
            if "parent_region_id" in changes:
                parent = changes["parent_region_id"]
                if parent:
                    self.get_region(parent, s)
                    seen, walk = {region_id}, parent
                    while walk:
                        if walk in seen:
                            raise BadRequest(
                                f"Circular reference or a repeated entry found in region tree - {region_id}."
                            )
                        seen.add(walk)
                        row = s.get(Region, walk)
                        walk = row.parent_region_id if row is not None else None
                region.parent_region_id = parent or None
            if "description" in changes:
                region.description = changes["description"] or ""
            extra = {k: v for k, v in changes.items() if k not in ("parent_region_id", "description")}
            if extra:
                region.extra = {**(region.extra or {}), **extra}
            s.flush()
            bump_generation(s)
            return region

    def delete_region(self, region_id: str) -> None:
        with self.session() as s:
            self.get_region(region_id, s)
            tree, todo = [region_id], [region_id]
            while todo:
                kids = list(s.scalars(select(Region.id).where(Region.parent_region_id == todo.pop())))
                kids = [k for k in kids if k not in tree]
                tree.extend(kids)
                todo.extend(kids)
            if s.scalars(select(Endpoint.id).where(Endpoint.region_id.in_(tree))).first() is not None:
                raise Forbidden(
                    f"Unable to delete region {region_id} because it or its child regions have associated endpoints."
                )
            s.execute(delete(Region).where(Region.id.in_(tree)))
            bump_generation(s)

    # --- services ---------------------------------------------------------------------------

    def get_service(self, service_id: str, session: Session | None = None) -> CatalogService:
        if session is None:
            with self.session() as s:
                return self.get_service(service_id, s)
        found = session.get(CatalogService, service_id)
        if found is None:
            raise service_not_found(service_id)
        return found

    def list_services(self, type: str | None = None, name: str | None = None) -> list[CatalogService]:
        stmt = select(CatalogService).order_by(CatalogService.type, CatalogService.id)
        if type is not None:
            stmt = stmt.where(CatalogService.type == type)
        if name is not None:
            stmt = stmt.where(CatalogService.name == name)
        with self.session() as s:
            return list(s.scalars(stmt))

    def create_service(
        self,
        type: str,
        name: str = "",
        description: str = "",
        enabled: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> CatalogService:
        service = CatalogService(
            type=type, name=name or "", description=description or "", enabled=enabled, extra=dict(extra or {})
        )
        with self.session() as s:
            s.add(service)
            s.flush()
            bump_generation(s)
        return service

    def update_service(self, service_id: str, changes: Mapping[str, Any]) -> CatalogService:
        with self.session() as s:
            service = self.get_service(service_id, s)
            for field in ("type", "name", "description"):
                if field in changes:
                    setattr(service, field, changes[field] or "")
            if changes.get("enabled") is not None:
                service.enabled = bool(changes["enabled"])
            extra = {k: v for k, v in changes.items() if k not in ("type", "name", "description", "enabled")}
            if extra:
                service.extra = {**(service.extra or {}), **extra}
            s.flush()
            bump_generation(s)
            return service

    def delete_service(self, service_id: str) -> None:
        with self.session() as s:
            service = self.get_service(service_id, s)
            s.execute(delete(Endpoint).where(Endpoint.service_id == service_id))
            s.delete(service)
            bump_generation(s)

    # --- endpoints --------------------------------------------------------------------------

    def get_endpoint(self, endpoint_id: str, session: Session | None = None) -> Endpoint:
        if session is None:
            with self.session() as s:
                return self.get_endpoint(endpoint_id, s)
        found = session.get(Endpoint, endpoint_id)
        if found is None:
            raise endpoint_not_found(endpoint_id)
        return found

    def list_endpoints(
        self, service_id: str | None = None, interface: str | None = None, region_id: str | None = None
    ) -> list[Endpoint]:
        stmt = select(Endpoint).order_by(Endpoint.id)
        if service_id is not None:
            stmt = stmt.where(Endpoint.service_id == service_id)
        if interface is not None:
            stmt = stmt.where(Endpoint.interface == interface)
        if region_id is not None:
            stmt = stmt.where(Endpoint.region_id == region_id)
        with self.session() as s:
            return list(s.scalars(stmt))

    def _ensure_region(self, s: Session, region_id: str | None, builtin_region: str) -> None:
        """Keystone creates an endpoint's region when it does not exist yet."""
        if region_id and region_id != builtin_region and s.get(Region, region_id) is None:
            s.add(Region(id=region_id, description="", parent_region_id=None, extra={}))

    def create_endpoint(
        self,
        service_id: str,
        interface: str,
        url: str,
        region_id: str | None,
        enabled: bool,
        builtin_region: str,
        service_exists: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """``service_exists``: the service is one of the configuration's (not stored)."""
        with self.session() as s:
            if not service_exists:
                self.get_service(service_id, s)
            self._ensure_region(s, region_id, builtin_region)
            endpoint = Endpoint(
                service_id=service_id,
                interface=interface,
                url=url,
                region_id=region_id,
                enabled=enabled,
                extra=dict(extra or {}),
            )
            s.add(endpoint)
            s.flush()
            bump_generation(s)
            return endpoint

    def update_endpoint(
        self, endpoint_id: str, changes: Mapping[str, Any], builtin_region: str, service_exists: bool
    ) -> Endpoint:
        with self.session() as s:
            endpoint = self.get_endpoint(endpoint_id, s)
            if "service_id" in changes:
                if not service_exists:
                    self.get_service(changes["service_id"], s)
                endpoint.service_id = changes["service_id"]
            if "region_id" in changes:
                self._ensure_region(s, changes["region_id"], builtin_region)
                endpoint.region_id = changes["region_id"]
            for field in ("interface", "url"):
                if field in changes:
                    setattr(endpoint, field, changes[field])
            if changes.get("enabled") is not None:
                endpoint.enabled = bool(changes["enabled"])
            extra = {
                k: v for k, v in changes.items() if k not in ("service_id", "region_id", "interface", "url", "enabled")
            }
            if extra:
                endpoint.extra = {**(endpoint.extra or {}), **extra}
            s.flush()
            bump_generation(s)
            return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.session() as s:
            s.delete(self.get_endpoint(endpoint_id, s))
            bump_generation(s)

    # --- the token catalog ------------------------------------------------------------------

    def token_entries(self) -> tuple[CatalogEntry, ...]:
        """Enabled stored endpoints grouped by service (enabled stored services, and
        Overcast's own by id), cached until the identity generation moves."""
        entries = self._entries
        if entries is not None:
            return entries
        with self.session() as s:
            services = {svc.id: svc for svc in s.scalars(select(CatalogService))}
            grouped: dict[str, list[tuple[str, str, str | None, str]]] = {}
            for e in s.scalars(select(Endpoint).where(Endpoint.enabled).order_by(Endpoint.id)):
                grouped.setdefault(e.service_id, []).append((e.id, e.interface, e.region_id, e.url))
        out: list[CatalogEntry] = []
        for service_id, endpoints in sorted(grouped.items()):
            svc = services.get(service_id)
            if svc is not None and not svc.enabled:
                continue
            kind, name = (svc.type, svc.name) if svc is not None else ("", "")
            out.append((service_id, kind, name, tuple(endpoints)))
        self._entries = tuple(out)
        return self._entries
