"""``ObjectStoreService``: Swift accounts, containers and objects for the API.

Accounts are ``AUTH_<project_id>`` and exist implicitly. Containers are rows in the main
database (policy, metadata, ACLs, quotas); objects and each container's listing live in
the backend the container's storage policy names, reached only through the ``obj_*``
hooks. Object operations are in :mod:`overcast.objectstore.objects`; this module owns who
may do what (owner, admin, or a container ACL) and the account/container operations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from overcast.config import validate_driver_options
from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from overcast.objectstore import acl, formpost, metadata, names, quotas, tempurl, versioning
from overcast.objectstore.listing import Subdir, continue_after, swift_listing
from overcast.objectstore.objects import ObjectOps
from overcast.sealing import KEY_FILE, Sealer
from overcast.objectstore.generation import SharedGeneration
from overcast.objectstore.records import ContainerRecord, Records, merge_meta
from overcast.objectstore.staticweb import StaticWeb
from overcast.types import Backend, DriverKind


MAX_BULK_DELETES = 10000  # Swift's max_deletes_per_request
#: What a container's stored metadata holds: user metadata and the versioning setting.
CONTAINER_META = ("x-container-meta-", *versioning.SETTINGS)


@dataclass(frozen=True)
class ContainerStats:
    record: ContainerRecord
    objects: int
    bytes: int


@dataclass(frozen=True)
class AccountStats:
    project_id: str
    meta: dict[str, str]
    containers: int
    objects: int
    bytes: int
    policies: dict[str, dict[str, int]]  # storage policy -> containers, objects, bytes


class ObjectStoreService(ObjectOps):
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.settings = runtime.config.objectstore
        self._generation = SharedGeneration(runtime.config.data_dir / "objectstore.generation")
        self.records = Records(
            runtime.db,
            self.settings.container_cache_ttl,
            self._generation,
            Sealer(runtime.config.resolve_path("", KEY_FILE)),
        )
        self.backends = self._policies(runtime)
        self.web = StaticWeb(self)
        self.default_policy = self.settings.default_policy
        self._callers: dict[str, Any] = {}
        self._expirer: threading.Thread | None = None
        self._stop = threading.Event()

    @staticmethod
    def _policies(runtime: Any) -> dict[str, Backend]:
        settings = runtime.config.objectstore
        backends: dict[str, Backend] = {}
        if runtime.drivers.object_store is not None:
            backends[settings.default_policy] = runtime.drivers.object_store
        options = runtime.plugins.config_options()
        for name, table in settings.policies.items():
            where = f"{runtime.config.path}: [objectstore.policies.{name}]"
            runtime.plugins.registry.get(DriverKind.OBJECT_STORE, table.driver)
            opts = validate_driver_options(
                DriverKind.OBJECT_STORE, table.driver, dict(table.model_extra or {}), options, where
            )
            backends[name] = Backend(
                DriverKind.OBJECT_STORE, name, table.driver, opts, str(runtime.config.data_dir / "objects" / name)
            )
        return backends

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the expirer, which deletes objects whose ``X-Delete-At`` has passed."""
        from overcast.objectstore.expirer import run_expirer

        if self._expirer is None and self.backends:
            self._stop.clear()
            self._expirer = threading.Thread(
                target=run_expirer, args=(self, self._stop), name="object-expirer", daemon=True
            )
            self._expirer.start()

    def close(self) -> None:
        self._stop.set()
        if self._expirer is not None:
            self._expirer.join(timeout=5)
            self._expirer = None
        self._generation.close()

    def audit(self, policy: str | None = None) -> dict[str, dict[str, Any]]:
        """Re-check every object of every policy (or one): checksums, listings against the
        data, orphans. Corrupt objects are quarantined by the driver."""
        reports = {}
        for name in [policy] if policy else sorted(self.backends):
            backend, driver = self.driver(name)
            reports[name] = dict(driver.audit(backend=backend))
        return reports

    # --- routing and access -------------------------------------------------------------

    def driver(self, policy: str) -> tuple[Backend, Any]:
        """The backend and driver caller a storage policy routes to."""
        hit = self._callers.get(policy)
        if hit is None:
            backend = self.backends.get(policy)
            if backend is None:
                raise BadRequest(f"Invalid X-Storage-Policy '{policy}'")
            hit = (backend, self.runtime.plugins.driver("object_store", backend.driver))
            self._callers[policy] = hit
        return hit

    def is_reseller_admin(self, ctx: RequestContext | None) -> bool:
        """Swift's reseller admin: a cloud admin, or a holder of ``[objectstore]
        reseller_admin_role`` on any project (as keystoneauth's ``reseller_admin_role``)."""
        return ctx is not None and (ctx.is_admin or self.settings.reseller_admin_role in ctx.roles)

    def owns(self, ctx: RequestContext | None, project_id: str) -> bool:
        return ctx is not None and (ctx.project_id == project_id or self.is_reseller_admin(ctx))

    @staticmethod
    def _denied(ctx: RequestContext | None) -> Exception:
        if ctx is None:
            return Unauthorized("The request you have made requires authentication.")
        return Forbidden("Access was denied to this resource.")

    def require_owner(self, ctx: RequestContext | None, project_id: str) -> None:
        if not self.owns(ctx, project_id):
            raise self._denied(ctx)

    def access(
        self, ctx: RequestContext | None, project_id: str, container: str, write: bool = False, listing: bool = False
    ) -> ContainerRecord:
        """The container if ``ctx`` may read (or write) in it: its owner, an admin, or a
        grant in its ACL. A stranger without a grant gets 403 whether or not it exists."""
        names.check_container(container)
        record = self.records.container(project_id, container)
        if self.owns(ctx, project_id):
            if record is None:
                raise NotFound(f"container {container} not found")
            return record
        if record is not None and acl.grants(
            record.write_acl if write else record.read_acl, ctx, listing, read=not write
        ):
            return record
        raise self._denied(ctx)

    def tempurl_context(
        self, project_id: str, container: str, name: str, method: str, container_paths: list[str], link: tempurl.Link
    ) -> RequestContext:
        """The caller a TempURL stands for (its account's owner, for this one request)."""
        return tempurl.verify(
            self.temp_url_keys(project_id, container), method, container_paths, name, link, project_id
        )

    def temp_url_keys(self, project_id: str, container: str) -> list[str]:
        """The keys that sign TempURLs and FormPost forms for a container: the account's and
        the container's."""
        keys = [
            v for k, v in self.records.account_meta(project_id).items() if k.startswith("x-account-meta-temp-url-key")
        ]
        record = self.records.container(project_id, container)
        if record is not None:
            keys += [v for k, v in record.meta.items() if k.startswith("x-container-meta-temp-url-key")]
        return keys

    def form_post(
        self, project_id: str, container: str, prefix: str, boundary: str, chunks: Iterable[bytes], paths: list[str]
    ) -> formpost.Answer:
        """A FormPost upload into ``container`` (files named ``prefix`` + their file name),
        signed by one of :meth:`temp_url_keys` over one of ``paths``."""
        owner = tempurl.owner_context(project_id)

        def put(name: str, headers: dict[str, str], data: Iterable[bytes]) -> None:
            self.put_object(owner, project_id, container, name, headers, data, None, {})

        return formpost.submit(put, self.temp_url_keys(project_id, container), paths, prefix, boundary, chunks)

    # --- accounts -----------------------------------------------------------------------

    def account_stats(self, ctx: RequestContext | None, project_id: str) -> AccountStats:
        self.require_owner(ctx, project_id)
        records = self.records.container_names(project_id)
        objects = used = 0
        policies: dict[str, dict[str, int]] = {}
        for record in records:
            stats = self._stats(record)
            objects += stats["objects"]
            used += stats["bytes"]
            per = policies.setdefault(record.policy, {"containers": 0, "objects": 0, "bytes": 0})
            per["containers"] += 1
            per["objects"] += stats["objects"]
            per["bytes"] += stats["bytes"]
        return AccountStats(project_id, self.records.account_meta(project_id), len(records), objects, used, policies)

    def post_account(self, ctx: RequestContext | None, project_id: str, headers: dict[str, str]) -> None:
        self.require_owner(ctx, project_id)
        updates = metadata.user_meta(headers, "account")
        quota_updates = quotas.updates(headers, self.backends)
        quota_keys = [k for k in updates if "quota-" in k]
        if (quota_keys or quota_updates) and not self.is_reseller_admin(ctx):
            raise Forbidden("only a reseller admin may set account quotas")
        for key in quota_keys:
            if key.startswith("x-remove-"):
                continue  # removing a quota: its value does not matter
            if updates[key] and not updates[key].isdigit():
                raise BadRequest(f"{key} must be a non-negative integer")
        updates.update(quota_updates)
        for key in ("x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2"):
            if key in headers:
                updates[key] = headers[key]
        current = self.records.account_meta(project_id)
        self.records.set_account_meta(project_id, merge_meta(current, updates, ("x-account-meta-", quotas.PREFIX)))

    def bulk_delete(self, ctx: RequestContext | None, project_id: str, paths: list[str]) -> dict[str, Any]:
        """Swift's ``?bulk-delete``: delete each ``/container/object`` or ``/container`` (URL-
        quoted, one a line) as the caller could one by one, and report the counts and each
        failure as ``[path, status]``; the report's status is 400 if anything failed."""
        from urllib.parse import unquote

        from overcast.errors import OvercastError

        self.require_owner(ctx, project_id)
        wanted = [p.strip() for p in paths if p.strip()]
        if len(wanted) > MAX_BULK_DELETES:
            raise BadRequest(f"Max delete failures exceeded: more than {MAX_BULK_DELETES} paths in one request")
        deleted = not_found = 0
        errors: list[list[str]] = []
        for quoted in wanted:
            path = unquote(quoted)
            container, _, obj = path.lstrip("/").partition("/")
            try:
                if not container:
                    raise BadRequest("Invalid bulk delete path")
                if obj:
                    self.delete_object(ctx, project_id, container, obj, {})
                else:
                    self.delete_container(ctx, project_id, container)
                deleted += 1
            except NotFound:
                not_found += 1
            except OvercastError as exc:
                errors.append([quoted, f"{exc.status} {exc.title}"])
        return {
            "Number Deleted": deleted,
            "Number Not Found": not_found,
            "Response Body": "",
            "Response Status": "400 Bad Request" if errors else "200 OK",
            "Errors": errors,
        }

    def list_containers(
        self,
        ctx: RequestContext | None,
        project_id: str,
        prefix: str,
        delimiter: str,
        marker: str,
        end_marker: str,
        limit: int,
        reverse: bool,
    ) -> list[ContainerStats | Subdir]:
        self.require_owner(ctx, project_id)
        records = {r.name: r for r in self.records.container_names(project_id, prefix)}
        picked = swift_listing(sorted(records), prefix, delimiter, marker, end_marker, limit, reverse)
        out: list[ContainerStats | Subdir] = []
        for item in picked:
            if isinstance(item, Subdir):
                out.append(item)
            else:
                stats = self._stats(records[item])
                out.append(ContainerStats(records[item], stats["objects"], stats["bytes"]))
        return out

    # --- containers ---------------------------------------------------------------------

    def _stats(self, record: ContainerRecord) -> dict[str, int]:
        backend, driver = self.driver(record.policy)
        return dict(
            driver.stats(backend=backend, account=names.account_of_project(record.project_id), container=record.name)
        )

    def _container_updates(self, headers: dict[str, str]) -> dict[str, str]:
        updates = {**metadata.user_meta(headers, "container"), **versioning.container_settings(headers)}
        for kind in ("bytes", "count"):
            value = updates.get(f"x-container-meta-quota-{kind}")
            if value and not value.isdigit():
                raise BadRequest(f"X-Container-Meta-Quota-{kind.capitalize()} must be a non-negative integer")
        return updates

    def put_container(
        self, ctx: RequestContext | None, project_id: str, container: str, headers: dict[str, str]
    ) -> bool:
        """Create (True) or update (False, Swift's 202) a container."""
        self.require_owner(ctx, project_id)
        names.check_container(container)
        updates = self._container_updates(headers)
        read_acl = acl.normalize(headers["x-container-read"]) if "x-container-read" in headers else None
        write_acl = acl.normalize(headers["x-container-write"]) if "x-container-write" in headers else None
        policy = headers.get("x-storage-policy") or self.default_policy
        self.driver(policy)
        existing = self.records.container(project_id, container)
        if existing is None:
            record = ContainerRecord(
                project_id, container, policy, merge_meta({}, updates, CONTAINER_META), read_acl or "", write_acl or ""
            )
            if self.records.create_container(record):
                return True
            existing = self.records.container(project_id, container)
            if existing is None:
                raise Conflict(f"container {container} is being created and deleted concurrently; retry")
        if "x-storage-policy" in headers and existing.policy != policy:
            raise Conflict("Container already exists with a different storage policy")
        self.records.update_container(
            project_id, container, merge_meta(existing.meta, updates, CONTAINER_META), read_acl, write_acl
        )
        return False

    def post_container(
        self, ctx: RequestContext | None, project_id: str, container: str, headers: dict[str, str]
    ) -> None:
        self.require_owner(ctx, project_id)
        record = self.access(ctx, project_id, container)
        updates = self._container_updates(headers)
        read_acl = acl.normalize(headers["x-container-read"]) if "x-container-read" in headers else None
        write_acl = acl.normalize(headers["x-container-write"]) if "x-container-write" in headers else None
        if "x-remove-container-read" in headers:
            read_acl = ""
        if "x-remove-container-write" in headers:
            write_acl = ""
        self.records.update_container(
            project_id, container, merge_meta(record.meta, updates, CONTAINER_META), read_acl, write_acl
        )

    def container_stats(self, ctx: RequestContext | None, project_id: str, container: str) -> ContainerStats:
        record = self.access(ctx, project_id, container, listing=True)
        stats = self._stats(record)
        return ContainerStats(record, stats["objects"], stats["bytes"])

    def delete_container(self, ctx: RequestContext | None, project_id: str, container: str) -> None:
        self.require_owner(ctx, project_id)
        record = self.access(ctx, project_id, container)
        backend, driver = self.driver(record.policy)
        account = names.account_of_project(project_id)
        self._reap_expired_in(record)
        if driver.list(
            backend=backend,
            account=account,
            container=container,
            prefix=None,
            delimiter=None,
            marker=None,
            end_marker=None,
            limit=1,
            reverse=False,
        ):
            raise Conflict("There was a conflict when trying to complete your request.")
        self.records.delete_container(project_id, container)
        driver.drop_container(backend=backend, account=account, container=container)

    def list_objects(
        self,
        ctx: RequestContext | None,
        project_id: str,
        container: str,
        prefix: str,
        delimiter: str,
        marker: str,
        end_marker: str,
        limit: int,
        reverse: bool,
    ) -> tuple[ContainerStats, list[Any]]:
        """A page of the listing without expired objects (paging on past them)."""
        record = self.access(ctx, project_id, container, listing=True)
        backend, driver = self.driver(record.policy)
        account = names.account_of_project(project_id)
        out: list[Any] = []
        now = time.time()
        while len(out) < limit:
            want = limit - len(out)
            page = driver.list(
                backend=backend,
                account=account,
                container=container,
                prefix=prefix or None,
                delimiter=delimiter or None,
                marker=marker or None,
                end_marker=end_marker or None,
                limit=want,
                reverse=reverse,
            )
            out.extend(i for i in page if not (hasattr(i, "metadata") and metadata.is_expired(i.metadata, now)))
            if len(page) < want:
                break
            marker = continue_after(page[-1], delimiter, reverse)
        stats = self._stats(record)
        return ContainerStats(record, stats["objects"], stats["bytes"]), out

    def _reap_expired_in(self, record: ContainerRecord) -> None:
        """Delete the container's expired objects now (before an emptiness check)."""
        from overcast.objectstore.expirer import reap_container

        reap_container(self, record)
