"""Child stacks owned by a resource (ResourceGroup members, provider templates). A child
runs inline, in the parent resource's worker, and shares its cancel flag; its failure is the
resource's failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from overcast.orchestration.errors import ResourceFailure

if TYPE_CHECKING:
    from overcast.db.models.orchestration import Stack
    from overcast.orchestration.engine import Res, StackRun


class Nested:
    def __init__(self, res: Res) -> None:
        self.res = res

    @property
    def _service(self) -> Any:
        return self.res.run.service

    def child(self) -> Stack | None:
        sid = self.res.row.nested_stack_id
        if not sid:
            return None
        st: Stack | None = self.res.run.store.stack(sid)
        return st if st is not None and st.deleted_at is None else None

    def _run(self, child: Stack) -> StackRun:
        from overcast.orchestration.engine import StackRun

        return StackRun(self._service, child, self.res.run.cancel)

    def _fail(self, child: Stack) -> ResourceFailure:
        fresh = self.res.run.store.stack(child.id)
        return ResourceFailure("Error", fresh.status_reason if fresh else "nested stack failed")

    def create(self, template: Mapping[str, Any], parameters: Mapping[str, Any], files: Mapping[str, str]) -> str:
        parent = self.res.run.stack
        files = {**self.res.run.template.files, **files}
        child = self._service.new_child(parent, self.res.name, dict(template), dict(parameters), files)
        self.res.row.nested_stack_id = child.id
        self.res.row.physical_id = child.id
        self.res.save()
        run = self._run(child)
        run.begin("CREATE")
        if not run.create():
            raise self._fail(child)
        return str(child.id)

    def update(self, template: Mapping[str, Any], parameters: Mapping[str, Any], files: Mapping[str, str]) -> None:
        child = self.child()
        if child is None:
            self.create(template, parameters, files)
            return
        files = {**self.res.run.template.files, **files}
        self._service.store_update(child, dict(template), files, child.environment, dict(parameters))
        fresh = self.res.run.store.stack(child.id)
        assert fresh is not None
        run = self._run(fresh)
        run.begin("UPDATE")
        if not run.update():
            raise self._fail(child)

    def delete(self) -> None:
        child = self.child()
        if child is None:
            return
        run = self._run(child)
        run.begin("DELETE")
        if not run.delete():
            raise self._fail(child)

    def outputs(self) -> dict[str, Any]:
        child = self.child()
        if child is None:
            return {}
        return {o["output_key"]: o.get("output_value") for o in self._run(child).outputs()}

    def resource_refs(self) -> dict[str, Any]:
        child = self.child()
        if child is None:
            return {}
        run = self._run(child)
        return {name: run.scope.resource_ref(name) for name in run.res}

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any:
        child = self.child()
        if child is None:
            return None
        return self._run(child).scope.resource_attr(name, attr, path)
