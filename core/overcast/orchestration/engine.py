"""Stack actions: create, update, delete and rollback, with Heat's states and events.

A :class:`StackRun` loads a stack's template, environment and parameters, builds each
resource's handler, and walks the dependency graph (:mod:`.scheduler`): independent resources
at the same time, each through ``handle_*`` then ``check_*_complete`` polled until done, the
time limit (``timeout_mins``) or a cancel. Every transition is written at once (:mod:`.store`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from overcast.db.models.orchestration import Stack, StackEvent, StackResource
from overcast.orchestration import functions_scope
from overcast.orchestration.errors import HeatError, ResourceFailure, StackValidationFailed
from overcast.orchestration.resource import ApiError, ResourceType, validated
from overcast.orchestration.scheduler import Failed, run_graph
from overcast.orchestration.template import functions
from overcast.orchestration.template.environment import Environment
from overcast.orchestration.template.hot import ResourceDefn, Template, order

if TYPE_CHECKING:
    from overcast.orchestration.service import OrchestrationService

log = logging.getLogger(__name__)

POLL_START, POLL_MAX = 0.05, 0.5


class Cancelled(Exception):
    pass


class TimedOut(Exception):
    pass


def reason_of(exc: BaseException, name: str) -> str:
    """Heat's failure text for a resource: ``Type: resources.NAME: message``."""
    if isinstance(exc, ResourceFailure):
        return f"{exc.type_name}: resources.{name}: {exc.message}"
    if isinstance(exc, ApiError):
        return f"{exc.type_name}: resources.{name}: {exc.message}"
    if isinstance(exc, HeatError):
        return f"{exc.code}: resources.{name}: {exc.message}"
    if isinstance(exc, (Cancelled, TimedOut)):
        return str(exc)
    return f"{type(exc).__name__}: resources.{name}: {exc}"


class Res:
    """One resource during a run: its row, definition and handler (the ``ResourceContext``)."""

    def __init__(self, run: StackRun, row: StackResource, defn: ResourceDefn | None, rtype: ResourceType) -> None:
        self.run = run
        self.row = row
        self.defn = defn
        self.rtype = rtype
        self.name = row.name
        self.stack_name = run.stack.name
        self.stack_id = run.stack.id
        self.project_id = run.stack.project_id
        self.properties: dict[str, Any] = dict(row.properties or {})
        self.data: dict[str, Any] = dict(row.data or {})
        self.api = run.api
        from overcast.orchestration.nested import Nested

        self.nested = Nested(self)

    @property
    def resource_id(self) -> str | None:
        return self.row.physical_id

    def set_resource_id(self, resource_id: str | None) -> None:
        self.row.physical_id = resource_id
        self.save()

    def save(self) -> None:
        self.run.store.save_resource(self.row, data=dict(self.data))

    def signal_url(self) -> str:
        return self.run.service.signal_url(self)

    def peer(self, physical_id: str) -> Res | None:
        """The resource of this stack whose physical id is ``physical_id``."""
        for r in list(self.run.res.values()):
            if r.row.physical_id == physical_id:
                return r
        return None

    def signals(self) -> list[dict[str, Any]]:
        row = self.run.store.db.read(lambda s: s.get(StackResource, self.row.id))
        return list(((row.data if row else None) or {}).get("signals", []))

    def state(self, action: str, status: str, reason: str = "state changed") -> None:
        """The new state and its event, in one transaction."""
        event = StackEvent(
            stack_id=self.stack_id,
            resource_name=self.name,
            physical_id=self.row.physical_id or "",
            action=action,
            status=status,
            reason=reason,
            type=self.row.type,
            properties=dict(self.properties),
        )
        self.run.store.save_resource(self.row, event=event, action=action, status=status, status_reason=reason)


class StackRun:
    """One action on one stack."""

    def __init__(self, service: OrchestrationService, stack: Stack, cancel: threading.Event | None = None) -> None:
        self.service = service
        self.store = service.store
        self.stack = stack
        self.cancel = cancel or threading.Event()
        self.api = service.api_for(stack.user_id, stack.project_id)
        self.deadline: float | None = None
        self._load(stack.template, stack.files, stack.environment, stack.parameters)
        self.res: dict[str, Res] = {}
        self.old: list[Res] = []  # rows replaced during an update, deleted at its end
        self._lock = threading.Lock()
        for row in self.store.resources(stack.id):
            self._adopt(row)

    def _load(
        self, template: Mapping[str, Any], files: Mapping[str, Any], env: Mapping[str, Any], params: Mapping[str, Any]
    ) -> None:
        self.template = Template(template, files)
        self.env = Environment.from_documents([env])
        self.params = dict(params)
        self.scope = functions_scope.RunScope(self)
        self.enabled = {
            name: defn for name, defn in self.template.resources.items() if self.scope.enabled(defn.condition)
        }
        files = self.template.files
        deps = self.template.validate(self.env, lambda t, n: self.service.known_type(t, files))
        self.deps = {
            name: {d for d in needs if d in self.enabled} for name, needs in deps.items() if name in self.enabled
        }

    def _adopt(self, row: StackResource) -> None:
        defn = self.template.resources.get(row.name) if row.current else None
        rtype = self.service.make_type(row.type, self.template.files, self.env, row.name)
        res = Res(self, row, defn, rtype)
        if row.current and row.name not in self.res:
            self.res[row.name] = res
        else:
            self.old.append(res)

    # --- helpers ------------------------------------------------------------------------------

    def _check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("Stack action cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimedOut(f"{self.stack.action.title()} timed out")

    def _poll(self, done: Any) -> None:
        delay = POLL_START
        while not done():
            self._check()
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)

    def _props(self, res: Res, defn: ResourceDefn) -> dict[str, Any]:
        raw = functions.resolve(dict(defn.properties), self.scope)
        props = (
            validated(type(res.rtype), defn.name, raw)
            if not getattr(res.rtype, "free_properties", False)
            else dict(raw)
        )
        res.rtype.validate(props)
        return props

    def _new_res(self, defn: ResourceDefn) -> Res:
        row = self.store.add_resource(self.stack.id, defn.name, defn.type)
        rtype = self.service.make_type(defn.type, self.template.files, self.env, defn.name)
        res = Res(self, row, defn, rtype)
        row.rsrc_metadata = dict(defn.metadata)
        return res

    # --- resource actions ---------------------------------------------------------------------

    def create_resource(self, res: Res) -> None:
        assert res.defn is not None
        res.state("CREATE", "IN_PROGRESS")
        try:
            self._check()
            res.properties = self._props(res, res.defn)
            res.row.properties = res.properties
            res.rtype.handle_create(res)
            self._poll(lambda: res.rtype.check_create_complete(res))
        except BaseException as exc:
            res.state("CREATE", "FAILED", reason_of(exc, res.name))
            raise
        res.state("CREATE", "COMPLETE")

    def delete_resource(self, res: Res, action: str = "DELETE") -> None:
        if res.row.action == "INIT":  # never started: nothing to delete, no events
            self.store.drop_resource(res.row)
            return
        res.state("DELETE", "IN_PROGRESS")
        try:
            self._check_cancel_only()
            retain = res.defn is not None and res.defn.deletion_policy == "Retain"
            if not retain:
                res.rtype.handle_delete(res)
                self._poll(lambda: res.rtype.check_delete_complete(res))
        except BaseException as exc:
            res.state("DELETE", "FAILED", reason_of(exc, res.name))
            raise
        res.state("DELETE", "COMPLETE")
        self.store.drop_resource(res.row)

    def _check_cancel_only(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimedOut(f"{self.stack.action.title()} timed out")

    def update_resource(self, name: str) -> None:
        defn = self.enabled[name]
        res = self.res.get(name)
        if (
            res is None
            or res.row.action == "INIT"
            or (res.row.action == "CREATE" and res.row.status == "FAILED" and not res.row.physical_id)
        ):
            if res is not None:
                self.store.drop_resource(res.row)
            new = self._new_res(defn)
            with self._lock:
                self.res[name] = new
            self.create_resource(new)
            return
        same_type = self.env.map_type(res.row.type, name) == self.env.map_type(defn.type, name)
        new_props = None
        if same_type:
            res.defn = defn
            new_props = self._props(res, defn)
            old_props = dict(res.row.properties or {})
            changed = {k for k in set(new_props) | set(old_props) if new_props.get(k) != old_props.get(k)}
            schema = type(res.rtype).properties_schema
            failed_before = res.row.status == "FAILED"
            if not changed and not failed_before:
                return
            if all(schema.get(k) is not None and schema[k].update_allowed for k in changed) and not failed_before:
                res.state("UPDATE", "IN_PROGRESS")
                try:
                    res.properties = new_props
                    res.row.properties = new_props
                    res.rtype.handle_update(res, old_props, changed)
                    self._poll(lambda: res.rtype.check_update_complete(res))
                except BaseException as exc:
                    res.state("UPDATE", "FAILED", reason_of(exc, name))
                    raise
                res.state("UPDATE", "COMPLETE")
                return
        # replacement: make the new one first, delete the old at the end (Heat's order)
        res.row.current = False
        self.store.save_resource(res.row)
        new = self._new_res(defn)
        with self._lock:
            self.old.append(res)
            self.res[name] = new
        self.create_resource(new)

    def plan(self) -> dict[str, list[str]]:
        """What :meth:`update` would do to each resource (Heat's preview update), changing nothing.
        Properties that depend on a resource still to be made resolve as Heat's do (None)."""
        out: dict[str, list[str]] = {k: [] for k in ("added", "deleted", "replaced", "updated", "unchanged")}
        out["deleted"] = sorted(n for n in self.res if n not in self.enabled)
        for name in order(self.deps):
            defn = self.enabled[name]
            res = self.res.get(name)
            if res is None or res.row.action == "INIT":
                out["added"].append(name)
                continue
            if self.env.map_type(res.row.type, name) != self.env.map_type(defn.type, name):
                out["replaced"].append(name)
                continue
            try:
                new = self._props(res, defn)
            except StackValidationFailed:
                if self.deps.get(name, set()) & set(out["added"] + out["replaced"]):
                    out["replaced"].append(name)  # it will read what a new resource gives
                    continue
                raise
            old = dict(res.row.properties or {})
            changed = {k for k in set(new) | set(old) if new.get(k) != old.get(k)}
            schema = type(res.rtype).properties_schema
            if res.row.status == "FAILED":
                out["replaced"].append(name)
            elif not changed:
                out["unchanged"].append(name)
            elif all(schema.get(k) is not None and schema[k].update_allowed for k in changed):
                out["updated"].append(name)
            else:
                out["replaced"].append(name)
        return out

    # --- stack actions ------------------------------------------------------------------------

    def _finish(self, action: str, failure: Failed | None) -> bool:
        if failure is None:
            self.store.stack_state(self.stack, action, "COMPLETE", f"Stack {action} completed successfully")
            return True
        err = failure.error
        if isinstance(err, (TimedOut, Cancelled)):
            reason = str(err)
        else:
            res = self.res.get(failure.name)
            what = res.row.action if res is not None else action
            reason = f"Resource {what} failed: {reason_of(err, failure.name)}"
        self.store.stack_state(self.stack, action, "FAILED", reason)
        return False

    def begin(self, action: str) -> None:
        """Enter ``action`` IN_PROGRESS (done before the work starts, so the API answers it)."""
        self.service.working_on(self.stack.id)
        self.store.stack_state(self.stack, action, "IN_PROGRESS", f"Stack {action} started")

    def _limit(self) -> None:
        self.deadline = time.monotonic() + 60 * self.stack.timeout_mins if self.stack.timeout_mins else None

    def create(self) -> bool:
        self._limit()
        for name in order(self.deps):
            if name not in self.res:
                self.res[name] = self._new_res(self.enabled[name])
        failure = run_graph(self.deps, lambda n: self.create_resource(self.res[n]))
        ok = self._finish("CREATE", failure)
        if not ok and not self.stack.disable_rollback and not self.cancel.is_set():
            self.rollback_create()
        return ok

    def rollback_create(self) -> None:
        self.deadline = None
        self.store.stack_state(self.stack, "ROLLBACK", "IN_PROGRESS", "Stack ROLLBACK started")
        failure = self._delete_all()
        if failure is None:
            self.store.stack_state(self.stack, "ROLLBACK", "COMPLETE", "Stack ROLLBACK completed successfully")
        else:
            self.store.stack_state(
                self.stack, "ROLLBACK", "FAILED", f"Resource DELETE failed: {reason_of(failure.error, failure.name)}"
            )

    def _delete_all(self) -> Failed | None:
        every = list(self.old) + list(self.res.values())
        keys = {f"{r.name}#{r.row.id}": r for r in every}
        by_name = {r.name: k for k, r in keys.items() if r.row.current}
        graph: dict[str, set[str]] = {}
        for key, r in keys.items():
            needs = {by_name[d] for d in self.deps.get(r.name, set()) if d in by_name} if r.row.current else set()
            graph[key] = needs
        for key, r in keys.items():  # a replaced row goes before its successor's dependencies
            if not r.row.current:
                graph[key] = set()
        failure = run_graph(graph, lambda k: self.delete_resource(keys[k]), reverse=True)
        if failure is not None:
            failure = Failed(keys[failure.name].name, failure.error)
        else:
            self.res.clear()
            self.old.clear()
        return failure

    def delete(self) -> bool:
        self._limit()
        failure = self._delete_all()
        return self._finish("DELETE", failure)

    def update(self, action: str = "UPDATE") -> bool:
        """Bring the resources to the stack's (already stored) new definitions."""
        self._limit()
        removed = [r for n, r in self.res.items() if n not in self.enabled]
        for r in removed:
            r.row.current = False
            self.store.save_resource(r.row)
            self.old.append(r)
            del self.res[r.name]
        failure = run_graph(self.deps, self.update_resource)
        if failure is None:
            old = list(self.old)
            self.old = []
            keys = {f"{r.name}#{r.row.id}": r for r in old}
            failure = run_graph(self._old_graph(keys), lambda k: self.delete_resource(keys[k]), reverse=True)
            if failure is not None:
                failure = Failed(keys[failure.name].name, failure.error)
        ok = self._finish(action, failure)
        if not ok and action == "UPDATE" and not self.stack.disable_rollback and not self.cancel.is_set():
            self.rollback_update()
        return ok

    def _old_graph(self, keys: Mapping[str, Res]) -> dict[str, set[str]]:
        """Dependencies among the rows an update leaves behind (removed or replaced), from the
        template they were made from, so they go in reverse order (a subnet before its network)."""
        prev: dict[str, set[str]] = {}
        if self.stack.prev_template:
            try:
                old = Template(self.stack.prev_template, self.stack.prev_files or {})
                env = Environment.from_documents([self.stack.prev_environment or {}])
                files = old.files
                prev = old.validate(env, lambda t, n: self.service.known_type(t, files))
            except HeatError:
                prev = {}
        by_name: dict[str, list[str]] = {}
        for key, r in keys.items():
            by_name.setdefault(r.name, []).append(key)
        return {key: {k for d in prev.get(r.name, set()) for k in by_name.get(d, [])} for key, r in keys.items()}

    def rollback_update(self) -> None:
        prev = self.store.stack(self.stack.id)
        assert prev is not None
        if prev.prev_template is None:
            return
        self.store.set_stack(  # back to the definitions before the update; the failed ones become "prev"
            self.stack.id,
            template=prev.prev_template,
            environment=prev.prev_environment or {},
            files=prev.prev_files or {},
            parameters=prev.prev_parameters or {},
            prev_template=prev.template,
            prev_environment=prev.environment,
            prev_files=prev.files,
            prev_parameters=prev.parameters,
        )
        fresh = self.store.stack(self.stack.id)
        assert fresh is not None
        run = StackRun(self.service, fresh, self.cancel)
        run.begin("ROLLBACK")
        run.update(action="ROLLBACK")

    def simple_action(self, action: str) -> bool:
        """CHECK (every resource, concurrently), SUSPEND (in reverse order) or RESUME."""
        self._limit()

        def one(name: str) -> None:
            res = self.res[name]
            res.state(action, "IN_PROGRESS")
            reason = "state changed"
            try:
                if action == "CHECK":
                    if not res.rtype.handle_check(res):
                        reason = f"CHECK not supported for {res.row.type}"
                elif action == "SUSPEND":
                    res.rtype.handle_suspend(res)
                    self._poll(lambda: res.rtype.check_suspend_complete(res))
                else:
                    res.rtype.handle_resume(res)
                    self._poll(lambda: res.rtype.check_resume_complete(res))
            except BaseException as exc:
                res.state(action, "FAILED", reason_of(exc, name))
                raise
            res.state(action, "COMPLETE", reason)

        deps = {n: d for n, d in self.deps.items() if n in self.res}
        failure = run_graph(deps, one, reverse=action == "SUSPEND")
        return self._finish(action, failure)

    # --- reading ------------------------------------------------------------------------------

    def outputs(self) -> list[dict[str, Any]]:
        out = []
        for name, o in self.template.outputs.items():
            item: dict[str, Any] = {"output_key": name, "description": o.description or "No description given"}
            try:
                value = None if not self.scope.enabled(o.condition) else functions.resolve(o.value, self.scope)
            except Exception as exc:  # Heat reports an output's error beside it
                item["output_error"] = getattr(exc, "message", str(exc))
                value = None
            item["output_value"] = value
            out.append(item)
        return out


def resources_in_order(run: StackRun) -> Sequence[str]:
    return order(run.deps)


__all__ = ["StackRun", "StackValidationFailed", "reason_of"]
