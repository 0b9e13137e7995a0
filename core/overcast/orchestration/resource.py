"""The resource-type contract: what a resource type declares and implements.

This is public API: plugins subclass :class:`ResourceType` and return their classes from
``overcast_register_resource_types``. A type declares its properties (each saying whether an
update may change it in place), its attributes, and implements the handlers; the engine
drives them (create, poll until complete, update, delete) and records states and events.

Handlers reach the cloud only through ``rc.api`` (the services' own REST APIs, called as the
stack owner with the owner's project and roles), so policy, quotas and validation are those
a client meets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from overcast.orchestration.errors import StackValidationFailed
from overcast.orchestration.template.parameters import Constraint, to_bool, to_number

PROPERTY_TYPES = ("string", "integer", "number", "boolean", "list", "map", "any")


@dataclass(frozen=True)
class Prop:
    """One property: its type, whether it is required, its default, and whether an update
    may change it in place (``update_allowed``; otherwise a change replaces the resource)."""

    type: str
    description: str = ""
    required: bool = False
    default: Any = None
    update_allowed: bool = False
    constraints: tuple[Constraint, ...] = ()
    schema: Mapping[str, Prop] | Prop | None = None  # a map's keys, or a list's items

    def to_schema(self) -> dict[str, Any]:
        """The ``resource_types/{type}`` view of this property (Heat's shape)."""
        out: dict[str, Any] = {
            "type": self.type,
            "description": self.description,
            "required": self.required,
            "update_allowed": self.update_allowed,
            "immutable": False,
        }
        if self.default is not None:
            out["default"] = self.default
        if self.constraints:
            out["constraints"] = [{c.kind: c.spec} for c in self.constraints]
        if isinstance(self.schema, Prop):
            out["schema"] = {"*": self.schema.to_schema()}
        elif self.schema is not None:
            out["schema"] = {k: v.to_schema() for k, v in self.schema.items()}
        return out


class ApiError(Exception):
    """A service API refused a call: ``status`` and the service's own message."""

    def __init__(self, status: int, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_name = type_name or _STATUS_NAMES.get(status, "Error")


_STATUS_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "OverLimit",
}


class ServiceApi(Protocol):
    """The owner's view of the cloud's APIs: ``service`` is a catalog type (``compute``,
    ``network``, ``volumev3``, ``object-store``, ``load-balancer``, ``image``); ``path`` is
    below that service's endpoint. Returns the decoded JSON body (``None`` when empty) and
    raises :class:`ApiError` for a 4xx/5xx answer."""

    def call(
        self,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Any: ...

    def has_service(self, service: str) -> bool: ...


class NestedStacks(Protocol):
    """Child stacks a resource owns (ResourceGroup members, provider templates)."""

    def create(self, template: Mapping[str, Any], parameters: Mapping[str, Any], files: Mapping[str, str]) -> str: ...

    def update(self, template: Mapping[str, Any], parameters: Mapping[str, Any], files: Mapping[str, str]) -> None: ...

    def delete(self) -> None: ...

    def outputs(self) -> dict[str, Any]: ...

    def resource_refs(self) -> dict[str, Any]: ...

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any: ...


class ResourceContext(Protocol):
    """What a handler sees of its resource and stack."""

    @property
    def name(self) -> str: ...

    @property
    def stack_name(self) -> str: ...

    @property
    def stack_id(self) -> str: ...

    @property
    def project_id(self) -> str: ...

    @property
    def properties(self) -> dict[str, Any]: ...

    @property
    def resource_id(self) -> str | None: ...

    @property
    def data(self) -> dict[str, Any]:
        """Kept with the resource across restarts (ids, generated values); ``save()`` writes it."""

    @property
    def api(self) -> ServiceApi: ...

    @property
    def nested(self) -> NestedStacks: ...

    def set_resource_id(self, resource_id: str | None) -> None: ...

    def save(self) -> None: ...

    def signal_url(self) -> str: ...

    def signals(self) -> list[dict[str, Any]]: ...

    def peer(self, physical_id: str) -> ResourceContext | None:
        """The resource of the same stack whose physical id is ``physical_id``."""


class ResourceType:
    """Base of every resource type. Subclasses set ``type_name``, ``properties_schema`` and
    ``attributes_schema`` and override the handlers they need."""

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    properties_schema: ClassVar[Mapping[str, Prop]] = {}
    attributes_schema: ClassVar[Mapping[str, str]] = {}
    #: Heat's class name, shown in ``Circular Dependency Found`` messages
    heat_class: ClassVar[str] = "Resource"
    #: the catalog type whose absence makes the type unavailable (None: always there)
    requires_service: ClassVar[str | None] = None

    # --- create -----------------------------------------------------------------------------

    def handle_create(self, rc: ResourceContext) -> None:
        """Start creating; call ``rc.set_resource_id`` as soon as the physical id is known."""

    def check_create_complete(self, rc: ResourceContext) -> bool:
        """Poll: True once created; raise to fail (the message becomes the reason)."""
        return True

    # --- update -----------------------------------------------------------------------------

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        """Apply the ``changed`` properties in place (``rc.properties`` holds the new values).
        Only called when every changed property is ``update_allowed``."""

    def check_update_complete(self, rc: ResourceContext) -> bool:
        return True

    # --- delete -----------------------------------------------------------------------------

    def handle_delete(self, rc: ResourceContext) -> None:
        """Start deleting; a resource already gone is not an error."""

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        return True

    # --- check, suspend, resume (stack actions) ---------------------------------------------

    def handle_check(self, rc: ResourceContext) -> bool:
        """Verify the physical resource (raise if it is gone or broken). False: this type has
        no check (Heat records ``CHECK not supported for TYPE``)."""
        return False

    def handle_suspend(self, rc: ResourceContext) -> None:
        """Suspend (a server); types with nothing to suspend keep the default."""

    def check_suspend_complete(self, rc: ResourceContext) -> bool:
        return True

    def handle_resume(self, rc: ResourceContext) -> None:
        """Undo :meth:`handle_suspend`."""

    def check_resume_complete(self, rc: ResourceContext) -> bool:
        return True

    # --- attributes ---------------------------------------------------------------------------

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        """The value of attribute ``name`` (``show``: the physical resource as the API shows it)."""
        return None

    def reference(self, rc: ResourceContext) -> Any:
        """What ``get_resource`` gives: the physical id by default."""
        return rc.resource_id

    def validate(self, properties: Mapping[str, Any]) -> None:
        """Extra checks over resolved properties (raise ``StackValidationFailed``)."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """``GET resource_types/{type}``."""
        return {
            "resource_type": cls.type_name,
            "properties": {k: v.to_schema() for k, v in cls.properties_schema.items()},
            "attributes": {
                k: {"description": v}
                for k, v in {**cls.attributes_schema, "show": "Detailed information about resource."}.items()
            },
            "support_status": {"status": "SUPPORTED", "version": None, "message": None, "previous_status": None},
            "description": cls.description,
        }


# --- property checking ---------------------------------------------------------------------


def _convert(key: str, prop: Prop, value: Any) -> Any:
    if value is None:
        return None
    t = prop.type
    if t == "string":
        if isinstance(value, (dict, list)):
            raise ValueError(f"Value must be a string; got {value!r}")
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if t == "integer":
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"Value '{value}' is not an integer") from None
    if t == "number":
        return to_number(value)
    if t == "boolean":
        try:
            return to_bool(value)
        except ValueError:
            raise ValueError(f'"{value}" is not a valid boolean') from None
    if t == "list":
        if not isinstance(value, list):
            raise ValueError(f'"{value}" is not a list')
        if isinstance(prop.schema, Prop):
            return [_check_one(f"{key}.{i}", prop.schema, v) for i, v in enumerate(value)]
        return value
    if t == "map":
        if not isinstance(value, Mapping):
            raise ValueError(f'"{value}" is not a map')
        if isinstance(prop.schema, Mapping):
            return check_properties(prop.schema, value, path=None)
        return dict(value)
    return value


def _check_one(key: str, prop: Prop, value: Any) -> Any:
    converted = _convert(key, prop, value)
    if converted is not None:
        for c in prop.constraints:
            c.check(converted, prop.type if prop.type in ("number", "integer") else "string", None)
    return converted


class PropertyError(Exception):
    def __init__(self, path: list[str], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def check_properties(schema: Mapping[str, Prop], data: Mapping[str, Any], path: list[str] | None) -> dict[str, Any]:
    """Resolved property values checked against ``schema``, defaults filled in."""
    for key in data:
        if key not in schema:
            raise PropertyError([], f"Unknown Property {key}")
    out: dict[str, Any] = {}
    for key, prop in schema.items():
        value = data.get(key)
        if value is None:
            if prop.required and prop.default is None:
                raise PropertyError([], f"Property {key} not assigned")
            value = prop.default
        try:
            out[key] = _check_one(key, prop, value)
        except PropertyError as exc:
            raise PropertyError([key, *exc.path], exc.message) from None
        except (ValueError, StackValidationFailed) as exc:
            raise PropertyError([key], getattr(exc, "message", str(exc))) from None
    return out


def validated(rtype: type[ResourceType], name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``check_properties`` with Heat's ``Property error: resources.NAME.properties...`` message."""
    try:
        return check_properties(rtype.properties_schema, data, None)
    except PropertyError as exc:
        raise StackValidationFailed(
            exc.message, error="Property error", path=["resources", name, "properties", *exc.path]
        ) from None


@dataclass
class TypeRegistry:
    """Resource types by name (the core's and plugins')."""

    types: dict[str, type[ResourceType]] = field(default_factory=dict)

    def add(self, rtype: type[ResourceType]) -> None:
        if not rtype.type_name:
            raise ValueError(f"{rtype.__name__} has no type_name")
        self.types[rtype.type_name] = rtype

    def get(self, name: str) -> type[ResourceType] | None:
        return self.types.get(name)
