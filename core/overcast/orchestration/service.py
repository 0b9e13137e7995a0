"""The orchestration service: stacks for the API, run by :mod:`.engine` in background
threads (one per stack action), their state in the database (:mod:`.store`).

Resource types come from the core (:mod:`.resources`) and from plugins
(``overcast_register_resource_types``). On start, stacks a dead process left IN_PROGRESS
are marked FAILED, as Heat's engine does."""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from overcast.context import RequestContext
from overcast.db.models.orchestration import Stack, StackResource
from overcast.orchestration.client import Loop, OwnerApi
from overcast.orchestration.custom import checker
from overcast.orchestration.engine import Res, StackRun
from overcast.orchestration.errors import (
    ActionInProgress,
    EntityNotFound,
    ResourceNotFound,
    ResourceTypeNotFound,
    StackExists,
    StackValidationFailed,
)
from overcast.orchestration.resource import ResourceType, TypeRegistry
from overcast.orchestration.resources import core_types
from overcast.orchestration.resources.heat import TemplateResource
from overcast.orchestration.store import Store
from overcast.orchestration.template import format as tformat
from overcast.orchestration.template.enabled import enabled_resources
from overcast.orchestration.template.environment import Environment
from overcast.orchestration.template.hot import Template
from overcast.orchestration.template.parameters import resolve_values

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$")
#: seconds between heartbeats of the stacks this process works on, and the age after which
#: another process's IN_PROGRESS stack counts as abandoned (its engine went down)
HEARTBEAT, STALE = 10.0, 60.0


class OrchestrationService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.store = Store(runtime.db)
        self.registry = TypeRegistry()
        for rtype in core_types():
            self.registry.add(rtype)
        for rtype in self._plugin_types():
            self.registry.add(rtype)
        self._runs: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._runs_lock = threading.Lock()
        self._loop: Loop | None = None
        self.active: set[str] = set()  # stacks an action of this process works on
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    def _plugin_types(self) -> list[type[ResourceType]]:
        out: list[type[ResourceType]] = []
        hook = getattr(self.runtime.plugins.hooks.hook, "overcast_register_resource_types", None)
        if hook is None:
            return out
        for result in hook():
            for rtype in result or ():
                if not (isinstance(rtype, type) and issubclass(rtype, ResourceType)):
                    raise TypeError(f"overcast_register_resource_types returned {rtype!r}, not a ResourceType subclass")
                out.append(rtype)
        return out

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Sweep now, then beat and sweep every ``HEARTBEAT`` seconds: this process's stacks
        stay fresh; a stack no live engine touched for ``STALE`` seconds is FAILED."""
        self.sweep()
        self._start_beating()

    def _start_beating(self) -> None:
        with self._runs_lock:
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat_loop, name="orchestration-heartbeat", daemon=True)
                self._beater.start()

    def sweep(self) -> int:
        from datetime import timedelta

        from overcast.db.models.base import utcnow

        with self._runs_lock:
            mine = set(self.active)
        live = self.store.beat(mine)
        with self._runs_lock:
            self.active -= mine - live  # finished since the last beat
            exclude = set(self.active)
        failed = self.store.fail_interrupted(utcnow() - timedelta(seconds=STALE), exclude=exclude)
        if failed:
            log.warning("marked %d stack(s) whose engine went down FAILED", failed)
        return failed

    def working_on(self, stack_id: str) -> None:
        """An action of this process started on ``stack_id`` (its heartbeat is kept fresh: in
        an API worker, whose services are not started, by a heartbeat started now)."""
        with self._runs_lock:
            self.active.add(stack_id)
        if getattr(self.runtime, "api_worker", False):
            self._start_beating()

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self.sweep()
            except Exception:  # the next beat tries again
                log.exception("orchestration heartbeat failed")

    def close(self) -> None:
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=10)
        with self._runs_lock:
            runs = list(self._runs.values())
        for _, cancel in runs:
            cancel.set()
        for thread, _ in runs:
            thread.join(timeout=10)
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def wait(self, stack_id: str, timeout: float = 60.0) -> None:
        """Wait for a stack's running action (tests, the benchmark)."""
        with self._runs_lock:
            entry = self._runs.get(stack_id)
        if entry is not None:
            entry[0].join(timeout)

    @property
    def loop(self) -> Loop:
        """The API app (its own instance over this runtime) and the loop that calls it."""
        with self._runs_lock:
            if self._loop is None:
                from overcast.api.app import create_app

                self._loop = Loop(create_app(self.runtime))
            return self._loop

    def api_for(self, user_id: str, project_id: str) -> OwnerApi:
        return OwnerApi(self.runtime, self.loop, user_id, project_id)

    # --- types ----------------------------------------------------------------------------

    def known_type(self, type_name: str, files: Mapping[str, str]) -> bool:
        return self.registry.get(type_name) is not None or type_name in files

    def make_type(self, type_name: str, files: Mapping[str, str], env: Environment, resource_name: str) -> ResourceType:
        mapped = env.map_type(type_name, resource_name)
        cls = self.registry.get(mapped)
        if cls is not None:
            return cls()
        if mapped in files:
            data = tformat.parse(files[mapped], mapped)
            return TemplateResource(mapped, data, files)
        raise ResourceTypeNotFound(type_name)

    def available_types(self, project_id: str | None) -> list[type[ResourceType]]:
        catalog = {e["type"] for e in self.runtime.identity.catalog(project_id)}
        return [t for t in self.registry.types.values() if t.requires_service is None or t.requires_service in catalog]

    def check_available(self, tmpl: Template, env: Environment, project_id: str, enabled: set[str], api: Any) -> None:
        """Each enabled resource's service is in the owner's catalog (Heat's ResourceTypeUnavailable)."""
        for name, defn in tmpl.resources.items():
            if name not in enabled:
                continue
            cls = self.registry.get(env.map_type(defn.type, name))
            if cls is not None and cls.requires_service and not api.has_service(cls.requires_service):
                svc = cls.requires_service
                raise StackValidationFailed(
                    f"Service {svc} is not available for resource type {cls.type_name}, "
                    f"reason: {svc} endpoint is not in service catalog.",
                    path=["resources", name],
                )

    # --- templates ------------------------------------------------------------------------

    def prepare(
        self,
        template: Mapping[str, Any],
        files: Mapping[str, str],
        env_docs: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        project_id: str | None,
        custom: Callable[[str, Any], bool | None] | None,
        require: bool = True,
        api: Any = None,
    ) -> tuple[Template, Environment, dict[str, Any]]:
        """Parse and check a template with its environment; the parameters' values."""
        tmpl = Template(template, files)
        env = Environment.from_documents(env_docs)
        env.parameters.update(params)
        tmpl.validate(env, lambda t, n: self.known_type(t, files))
        values = resolve_values(tmpl.parameters, env.parameters, env.parameter_defaults, custom, require=require)
        enabled = enabled_resources(tmpl, values) if require else set(tmpl.resources)
        self._check_properties(tmpl, env, files, enabled)
        if project_id and api is not None:
            self.check_available(tmpl, env, project_id, enabled, api)
        return tmpl, env, values

    def _check_properties(self, tmpl: Template, env: Environment, files: Mapping[str, str], enabled: set[str]) -> None:
        """Unknown and missing properties, before anything is made (as Heat validates)."""
        for name, defn in tmpl.resources.items():
            if name not in enabled:
                continue
            rtype = self.make_type(defn.type, files, env, name)
            if getattr(rtype, "free_properties", False):
                rtype.validate(dict(defn.properties))
                continue
            schema = type(rtype).properties_schema
            path = ["resources", name, "properties"]
            for key in defn.properties:
                if key not in schema:
                    raise StackValidationFailed(f"Unknown Property {key}", error="Property error", path=path)
            for key, prop in schema.items():
                if prop.required and prop.default is None and defn.properties.get(key) is None:
                    raise StackValidationFailed(f"Property {key} not assigned", error="Property error", path=path)

    # --- stacks ---------------------------------------------------------------------------

    def lookup(self, ctx: RequestContext, name_or_id: str, show_deleted: bool = True) -> Stack:
        """By id (deleted ones too, as Heat's identify_stack), else by live name."""
        from sqlalchemy import select

        def q(s: Any) -> Stack | None:
            row = s.get(Stack, name_or_id)
            if row is not None and ctx.can_see(row.project_id) and (show_deleted or row.deleted_at is None):
                return row
            stmt = select(Stack).where(Stack.name == name_or_id, Stack.deleted_at.is_(None), Stack.owner_id.is_(None))
            stmt = ctx.filter(stmt, Stack.project_id)
            found: Stack | None = s.scalars(stmt).first()
            return found

        row = self.store.db.read(q)
        if row is None:
            raise EntityNotFound("Stack", name_or_id)
        return row

    def get(self, ctx: RequestContext, name: str, stack_id: str, live: bool = False) -> Stack:
        row = self.store.stack(stack_id)
        if row is None or not ctx.can_see(row.project_id) or row.name != name or (live and row.deleted_at is not None):
            raise EntityNotFound("Stack", name)
        return row

    def list_stacks(
        self, ctx: RequestContext, all_projects: bool = False, show_nested: bool = False, show_deleted: bool = False
    ) -> list[Stack]:
        from sqlalchemy import select

        def q(s: Any) -> list[Stack]:
            stmt = select(Stack)
            if not show_deleted:
                stmt = stmt.where(Stack.deleted_at.is_(None))
            if not show_nested:
                stmt = stmt.where(Stack.owner_id.is_(None))
            stmt = ctx.filter(stmt, Stack.project_id, all_projects=all_projects)
            return list(s.scalars(stmt.order_by(Stack.created_at.desc())))

        return self.store.db.read(q)

    def create(
        self,
        ctx: RequestContext,
        name: str,
        template: Mapping[str, Any],
        files: Mapping[str, str],
        env_docs: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        disable_rollback: bool = True,
        timeout_mins: int | None = None,
        tags: list[str] | None = None,
        preview: bool = False,
    ) -> Stack:
        if not isinstance(name, str) or not _NAME.match(name):
            raise StackValidationFailed(
                f'Invalid stack name {name} must contain only alphanumeric or "_-." characters, '
                "must start with alpha and must be 255 characters or less."
            )
        assert ctx.project_id is not None
        api = self.api_for(ctx.user_id, ctx.project_id)
        tmpl, env, values = self.prepare(template, files, env_docs, params, ctx.project_id, checker(api), api=api)
        if not preview:
            try:
                existing = self.lookup(ctx, name, show_deleted=False)
            except EntityNotFound:
                existing = None
            if existing is not None and existing.project_id == ctx.project_id and existing.name == name:
                raise StackExists(name)
        row = Stack(
            name=name,
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            username=ctx.user_name,
            action="CREATE",
            status="IN_PROGRESS",
            status_reason="Stack CREATE started",
            template=dict(template),
            files=dict(files),
            environment=env.to_dict(),
            parameters=values,
            disable_rollback=bool(disable_rollback),
            timeout_mins=timeout_mins,
            tags=list(tags or []),
        )
        if preview:
            return row
        with self.store.db.session() as s:
            s.add(row)
        run = StackRun(self, row)
        run.begin("CREATE")
        self._spawn(row.id, run.cancel, run.create)
        return row

    def new_child(
        self, parent: Stack, resource: str, template: dict[str, Any], params: dict[str, Any], files: dict[str, str]
    ) -> Stack:
        """A nested stack of ``parent`` (its environment's registry is inherited, as Heat's)."""
        env = Environment.from_documents([parent.environment or {}])
        env.parameters = dict(params)
        env.parameter_defaults = {}
        tmpl = Template(template, files)
        tmpl.validate(env, lambda t, n: self.known_type(t, files))
        values = resolve_values(tmpl.parameters, params, {}, None)
        row = Stack(
            name=f"{parent.name}-{resource}-{_short()}",
            project_id=parent.project_id,
            user_id=parent.user_id,
            username=parent.username,
            owner_id=parent.id,
            parent_resource=resource,
            action="CREATE",
            status="IN_PROGRESS",
            status_reason="",
            template=template,
            files=files,
            environment=env.to_dict(),
            parameters=values,
            disable_rollback=True,
            timeout_mins=None,
            tags=[],
        )
        with self.store.db.session() as s:
            s.add(row)
        return row

    def store_update(
        self,
        stack: Stack,
        template: dict[str, Any],
        files: dict[str, str],
        environment: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> None:
        env = Environment.from_documents([environment or {}])
        env.parameters = dict(params)
        tmpl = Template(template, files)
        tmpl.validate(env, lambda t, n: self.known_type(t, files))
        values = resolve_values(tmpl.parameters, env.parameters, env.parameter_defaults, None)
        self.store.set_stack(
            stack.id,
            prev_template=stack.template,
            prev_files=stack.files,
            prev_environment=stack.environment,
            prev_parameters=stack.parameters,
            template=template,
            files=files,
            environment=env.to_dict(),
            parameters=values,
        )

    def update(
        self,
        ctx: RequestContext,
        stack: Stack,
        template: Mapping[str, Any] | None,
        files: Mapping[str, str],
        env_docs: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        patch: bool,
        args: Mapping[str, Any],
        preview: bool = False,
    ) -> dict[str, list[str]] | None:
        """Start the update (``preview``: only say what it would do, by resource name:
        ``added``, ``deleted``, ``replaced``, ``updated``, ``unchanged``)."""
        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        if stack.status == "IN_PROGRESS" and not preview:
            raise ActionInProgress(stack.name, stack.action)
        if template is None:
            template = stack.template
            files = {**(stack.files or {}), **files}
        old_env = stack.environment or {}
        if patch:
            cleared = set(args.get("clear_parameters") or [])
            base = {k: v for k, v in (old_env.get("parameters") or {}).items() if k not in cleared}
            docs = [{**old_env, "parameters": base}, *env_docs]
        else:
            docs = list(env_docs)
        assert stack.project_id is not None
        api = self.api_for(stack.user_id, stack.project_id)
        tmpl, env, values = self.prepare(template, files, docs, params, stack.project_id, checker(api), api=api)
        if preview:
            transient = Stack(
                id=stack.id,
                name=stack.name,
                project_id=stack.project_id,
                user_id=stack.user_id,
                action=stack.action,
                status=stack.status,
                template=dict(template),
                files=dict(files),
                environment=env.to_dict(),
                parameters=values,
                disable_rollback=stack.disable_rollback,
                timeout_mins=stack.timeout_mins,
            )
            return StackRun(self, transient).plan()
        changes: dict[str, Any] = {
            "prev_template": stack.template,
            "prev_files": stack.files,
            "prev_environment": stack.environment,
            "prev_parameters": stack.parameters,
            "template": dict(template),
            "files": dict(files),
            "environment": env.to_dict(),
            "parameters": values,
        }
        if "disable_rollback" in args:
            changes["disable_rollback"] = bool(args["disable_rollback"])
        if args.get("timeout_mins") is not None:
            changes["timeout_mins"] = int(args["timeout_mins"])
        if "tags" in args:
            changes["tags"] = list(args["tags"] or [])
        fresh = self.store.set_stack(stack.id, **changes)
        run = StackRun(self, fresh)
        run.begin("UPDATE")
        self._spawn(stack.id, run.cancel, run.update)
        return None

    def delete(self, ctx: RequestContext, stack: Stack) -> None:
        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        with self._runs_lock:
            entry = self._runs.get(stack.id)
        if entry is not None:  # Heat cancels an action in progress to delete
            entry[1].set()
            entry[0].join(timeout=120)
        fresh = self.store.stack(stack.id)
        assert fresh is not None
        run = StackRun(self, fresh)
        run.begin("DELETE")
        self._spawn(stack.id, run.cancel, run.delete)

    def action(self, ctx: RequestContext, stack: Stack, action: str) -> None:
        """A stack action: ``check``, ``suspend``, ``resume``, ``cancel_update`` (then roll
        back) or ``cancel_without_rollback``."""
        from overcast.orchestration.errors import NotSupported

        if stack.deleted_at is not None:
            raise EntityNotFound("Stack", stack.name)
        if action in ("cancel_update", "cancel_without_rollback"):
            if (stack.action, stack.status) != ("UPDATE", "IN_PROGRESS"):
                raise NotSupported(f"Cancelling update when stack is {stack.action}_{stack.status}")
            with self._runs_lock:
                entry = self._runs.get(stack.id)
            if entry is not None:
                entry[1].set()
                entry[0].join(timeout=120)
            if action == "cancel_update":
                fresh = self.store.stack(stack.id)
                assert fresh is not None
                run = StackRun(self, fresh)
                self._spawn(stack.id, run.cancel, run.rollback_update)
            return
        if stack.status == "IN_PROGRESS":
            raise ActionInProgress(stack.name, stack.action)
        run = StackRun(self, stack)
        name = action.upper()
        run.begin(name)
        self._spawn(stack.id, run.cancel, lambda: run.simple_action(name))

    def _spawn(self, stack_id: str, cancel: threading.Event, fn: Callable[[], Any]) -> None:
        def target() -> None:
            try:
                fn()
            except Exception as exc:  # the engine's own failure: recorded, never lost
                log.exception("stack %s action failed", stack_id)
                row = self.store.stack(stack_id)
                if row is not None and row.status == "IN_PROGRESS":
                    self.store.stack_state(row, row.action, "FAILED", f"{type(exc).__name__}: {exc}")
            finally:
                with self._runs_lock:
                    if self._runs.get(stack_id, (None,))[0] is threading.current_thread():
                        del self._runs[stack_id]

        thread = threading.Thread(target=target, name=f"stack-{stack_id[:8]}", daemon=True)
        with self._runs_lock:
            self._runs[stack_id] = (thread, cancel)
        thread.start()

    # --- reading --------------------------------------------------------------------------

    def run_of(self, stack: Stack) -> StackRun:
        return StackRun(self, stack)

    def resource(self, stack: Stack, name: str) -> StackResource:
        for row in self.store.resources(stack.id, current_only=True):
            if row.name == name:
                return row
        raise ResourceNotFound(name, stack.name)

    def mark_unhealthy(self, stack: Stack, name: str, unhealthy: bool, reason: str) -> None:
        row = self.resource(stack, name)
        if unhealthy:
            self.store.save_resource(
                row, status="FAILED", status_reason=f"Marked unhealthy: {reason}" if reason else "Marked unhealthy"
            )
            self.store.event(stack.id, name, row.physical_id, row.action, "FAILED", row.status_reason, row.type)
        elif row.status == "FAILED" and row.status_reason.startswith("Marked unhealthy"):
            self.store.save_resource(row, status="COMPLETE", status_reason="Marked healthy")
            self.store.event(stack.id, name, row.physical_id, row.action, "COMPLETE", "Marked healthy", row.type)

    # --- wait condition signals ---------------------------------------------------------------

    def signal_url(self, res: Res) -> str:
        base = self.runtime.config.api.base_url()
        return f"{base}/orchestration/v1/waitcondition/{res.stack_id}/{res.name}/{res.data.get('secret', '')}"

    def signal(self, stack_id: str, resource_name: str, secret: str, data: Mapping[str, Any]) -> None:
        with self.store.db.session() as s:
            from sqlalchemy import select

            row = s.scalars(
                select(StackResource).where(
                    StackResource.stack_id == stack_id,
                    StackResource.name == resource_name,
                    StackResource.current.is_(True),
                )
            ).first()
            if row is None or not hmac.compare_digest(str((row.data or {}).get("secret", "")), secret) or not secret:
                raise EntityNotFound("Resource", resource_name)
            status = data.get("status", "SUCCESS")
            if status not in ("SUCCESS", "FAILURE"):
                raise StackValidationFailed(f"Metadata format invalid: status must be SUCCESS or FAILURE, not {status}")
            stored = dict(row.data or {})
            signals = list(stored.get("signals", []))
            signals.append(
                {
                    "id": str(data.get("id", len(signals) + 1)),
                    "status": status,
                    "reason": str(data.get("reason", "Signal 1 received")),
                    "data": data.get("data"),
                }
            )
            stored["signals"] = signals
            row.data = stored


def _short() -> str:
    from overcast.orchestration.resources.base import short_id

    return short_id()
