"""The metadata definitions catalog (Glance's metadefs): namespaces and what they hold.

A namespace is seen by everyone when ``public`` and by its owner (and admins) when
``private``; a namespace one cannot see is "not found". Changing the catalog is for admins
(the policy table) and, within that, for the namespace's owner. A ``protected`` namespace
and everything in it cannot be deleted until ``protected`` is turned off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.image_metadefs import (
    MetadefAssociation,
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefTag,
)
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.image.records import iso

VISIBILITIES = ("public", "private")
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
#: JSON-schema attributes a property definition may carry besides ``name``
PROPERTY_FIELDS = frozenset(
    {
        "title",
        "type",
        "description",
        "default",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "additionalItems",
        "readonly",
        "operators",
    }
)
NAMESPACE_FIELDS = frozenset({"namespace", "display_name", "description", "visibility", "protected"})
SORT_KEYS = ("created_at", "updated_at", "namespace", "display_name", "visibility", "protected")
MAX_LIMIT = 1000

# --- validation ------------------------------------------------------------------------------


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequest("Request body must be a JSON object.")
    return body


def _text(body: Mapping[str, Any], key: str, max_len: int, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"'{key}' is a required property")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        raise BadRequest(f"Invalid value for '{key}': a string of at most {max_len} characters is required.")
    return value


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid value for '{key}': {value!r} is not of type 'boolean'")
    return value


def _namespace_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    visibility = body.get("visibility", "private")
    if visibility not in VISIBILITIES:
        raise BadRequest(f"Invalid value for 'visibility': {visibility!r} is not one of {list(VISIBILITIES)}")
    return {
        "namespace": _text(body, "namespace", 80, required=True),
        "display_name": _text(body, "display_name", 80),
        "description": _text(body, "description", 500),
        "visibility": visibility,
        "protected": _bool(body, "protected"),
    }


def property_schema(body: Mapping[str, Any]) -> dict[str, Any]:
    """A property definition's attributes (everything but ``name``), validated."""
    unknown = set(body) - PROPERTY_FIELDS - {"name"}
    if unknown:
        raise BadRequest(f"Additional properties are not allowed ({', '.join(sorted(unknown))} were unexpected)")
    _text(body, "title", 255, required=True)
    if body.get("type") not in PROPERTY_TYPES:
        raise BadRequest(f"Invalid value for 'type': {body.get('type')!r} is not one of {list(PROPERTY_TYPES)}")
    if "enum" in body and not isinstance(body["enum"], list):
        raise BadRequest("Invalid value for 'enum': an array is required.")
    return {k: v for k, v in body.items() if k != "name"}


def _property_name(body: Mapping[str, Any]) -> str:
    name = _text(body, "name", 255, required=True)
    assert name is not None
    return name


def _properties_map(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest("Invalid value for 'properties': an object of property definitions is required.")
    return {str(name): property_schema(_object(defn)) for name, defn in value.items()}


# --- views -----------------------------------------------------------------------------------


def _ns_path(ns: MetadefNamespace) -> str:
    return f"/v2/metadefs/namespaces/{ns.namespace}"


def association_view(a: MetadefAssociation) -> dict[str, Any]:
    view: dict[str, Any] = {"name": a.resource_type.name}
    if a.prefix is not None:
        view["prefix"] = a.prefix
    if a.properties_target is not None:
        view["properties_target"] = a.properties_target
    view.update(created_at=iso(a.created_at), updated_at=iso(a.updated_at))
    return view


def object_view(ns: MetadefNamespace, o: MetadefObject) -> dict[str, Any]:
    view: dict[str, Any] = {"name": o.name}
    if o.description is not None:
        view["description"] = o.description
    view.update(
        required=list(o.required or []),
        properties=dict(o.properties or {}),
        created_at=iso(o.created_at),
        updated_at=iso(o.updated_at),
        schema="/v2/schemas/metadefs/object",
        self=f"{_ns_path(ns)}/objects/{o.name}",
    )
    return view


def property_view(p: MetadefProperty) -> dict[str, Any]:
    return {"name": p.name, **(p.schema or {})}


def tag_view(t: MetadefTag) -> dict[str, Any]:
    return {"name": t.name, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}


def namespace_view(ns: MetadefNamespace, detail: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"namespace": ns.namespace}
    for key in ("display_name", "description"):
        if getattr(ns, key) is not None:
            view[key] = getattr(ns, key)
    view.update(
        visibility=ns.visibility,
        protected=ns.protected,
        owner=ns.owner,
        created_at=iso(ns.created_at),
        updated_at=iso(ns.updated_at),
        schema="/v2/schemas/metadefs/namespace",
        self=_ns_path(ns),
    )
    if ns.associations:
        view["resource_type_associations"] = [association_view(a) for a in ns.associations]
    if detail:
        if ns.properties:
            view["properties"] = {p.name: dict(p.schema or {}) for p in ns.properties}
        if ns.objects:
            view["objects"] = [object_view(ns, o) for o in ns.objects]
        if ns.tags:
            view["tags"] = [{"name": t.name} for t in ns.tags]
    return view


# --- namespaces ------------------------------------------------------------------------------


def _visible(ctx: RequestContext) -> Any:
    if ctx.is_admin:
        return MetadefNamespace.id.is_not(None)
    return or_(MetadefNamespace.visibility == "public", MetadefNamespace.owner == ctx.project_id)


def get_namespace(session: Session, ctx: RequestContext, name: str) -> MetadefNamespace:
    ns = session.scalars(select(MetadefNamespace).where(MetadefNamespace.namespace == name, _visible(ctx))).first()
    if ns is None:
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    return ns


def owned_namespace(session: Session, ctx: RequestContext, name: str) -> MetadefNamespace:
    """The namespace if ``ctx`` may change it (404 if invisible, 403 if not its own)."""
    ns = get_namespace(session, ctx, name)
    if not (ctx.is_admin or ns.owner == ctx.project_id):
        raise Forbidden(f"You are not permitted to modify metadata definition namespace {name}.")
    return ns


def _check_free(session: Session, name: str, current: MetadefNamespace | None = None) -> None:
    other = session.scalars(select(MetadefNamespace).where(MetadefNamespace.namespace == name)).first()
    if other is not None and other is not current:
        raise Conflict(f"The metadata definition namespace={name} already exists.")


def create_namespace(session: Session, ctx: RequestContext, body: Any) -> dict[str, Any]:
    body = _object(body)
    fields = _namespace_fields(body)
    _check_free(session, fields["namespace"])
    ns = MetadefNamespace(owner=body.get("owner") if ctx.is_admin and body.get("owner") else ctx.project_id, **fields)
    session.add(ns)
    session.flush()
    for name, schema in _properties_map(body.get("properties")).items():
        ns.properties.append(MetadefProperty(name=name, schema=schema))
    for item in _list(body, "objects"):
        _add_object(ns, _object(item))
    for item in _list(body, "tags"):
        _add_tag(ns, _tag_name(_object(item).get("name")))
    for item in _list(body, "resource_type_associations"):
        _associate(session, ns, _object(item))
    session.flush()
    return namespace_view(ns, detail=True)


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"Invalid value for '{key}': an array is required.")
    return value


def list_namespaces(session: Session, ctx: RequestContext, params: Mapping[str, str]) -> tuple[list[dict], str | None]:
    """A page of namespaces and the marker of the next page (``None`` on the last one)."""
    stmt = select(MetadefNamespace).where(_visible(ctx))
    if "visibility" in params:
        if params["visibility"] not in VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {params['visibility']}")
        stmt = stmt.where(MetadefNamespace.visibility == params["visibility"])
    if params.get("resource_types"):
        names = [n.strip() for n in params["resource_types"].split(",") if n.strip()]
        stmt = stmt.where(
            MetadefNamespace.id.in_(
                select(MetadefAssociation.namespace_id)
                .join(MetadefResourceType, MetadefResourceType.id == MetadefAssociation.resource_type_id)
                .where(MetadefResourceType.name.in_(names))
            )
        )
    key, direction = params.get("sort_key", "created_at"), params.get("sort_dir", "desc")
    if key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort key: {key}. Valid keys are: {', '.join(SORT_KEYS)}.")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {direction}.")
    column = getattr(MetadefNamespace, key)
    order = (
        [column.asc(), MetadefNamespace.id.asc()] if direction == "asc" else [column.desc(), MetadefNamespace.id.desc()]
    )
    rows = list(session.scalars(stmt.order_by(*order)))
    if params.get("marker"):
        names = [ns.namespace for ns in rows]
        if params["marker"] not in names:
            raise BadRequest(f"Invalid marker: namespace {params['marker']} could not be found.")
        rows = rows[names.index(params["marker"]) + 1 :]
    limit = MAX_LIMIT
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise BadRequest(f"Invalid limit value: {params['limit']!r} is not an integer.") from None
        if limit < 0:
            raise BadRequest("Invalid limit value: must be non-negative.")
        limit = min(limit, MAX_LIMIT)
    page = rows[:limit]
    more = len(rows) > limit and page
    return [namespace_view(ns) for ns in page], (page[-1].namespace if more else None)


def update_namespace(session: Session, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, name)
    fields = _namespace_fields(_object(body))
    _check_free(session, fields["namespace"], ns)
    for key, value in fields.items():
        setattr(ns, key, value)
    session.flush()
    return namespace_view(ns)


def _protect(ns: MetadefNamespace, what: str, name: str) -> None:
    if ns.protected:
        raise Forbidden(f"Metadata definition {what} {name} is protected and cannot be deleted.")


def delete_namespace(session: Session, ctx: RequestContext, name: str) -> None:
    ns = owned_namespace(session, ctx, name)
    _protect(ns, "namespace", name)
    session.delete(ns)


def delete_contents(session: Session, ctx: RequestContext, name: str, kind: str) -> None:
    """Delete every object, property or tag of a namespace (``kind``: objects/properties/tags)."""
    ns = owned_namespace(session, ctx, name)
    _protect(ns, "namespace", name)
    getattr(ns, kind).clear()


# --- objects ---------------------------------------------------------------------------------


def _object_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    required = body.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise BadRequest("Invalid value for 'required': an array of property names is required.")
    return {
        "name": _text(body, "name", 80, required=True),
        "description": _text(body, "description", 500),
        "required": required,
        "properties": _properties_map(body.get("properties")),
    }


def _add_object(ns: MetadefNamespace, body: Mapping[str, Any]) -> MetadefObject:
    fields = _object_fields(body)
    if any(o.name == fields["name"] for o in ns.objects):
        raise Conflict(
            f"A metadata definition object with name={fields['name']} already exists in namespace={ns.namespace}."
        )
    obj = MetadefObject(**fields)
    ns.objects.append(obj)
    return obj


def _find_object(ns: MetadefNamespace, name: str) -> MetadefObject:
    for o in ns.objects:
        if o.name == name:
            return o
    raise NotFound(f"The metadata definition object with name={name} was not found in namespace={ns.namespace}.")


def create_object(session: Session, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    obj = _add_object(ns, _object(body))
    session.flush()
    return object_view(ns, obj)


def list_objects(session: Session, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
    ns = get_namespace(session, ctx, namespace)
    return [object_view(ns, o) for o in ns.objects]


def show_object(session: Session, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
    ns = get_namespace(session, ctx, namespace)
    return object_view(ns, _find_object(ns, name))


def update_object(session: Session, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    obj = _find_object(ns, name)
    fields = _object_fields(_object(body))
    if fields["name"] != name and any(o.name == fields["name"] for o in ns.objects):
        raise Conflict(
            f"A metadata definition object with name={fields['name']} already exists in namespace={ns.namespace}."
        )
    for key, value in fields.items():
        setattr(obj, key, value)
    session.flush()
    return object_view(ns, obj)


def delete_object(session: Session, ctx: RequestContext, namespace: str, name: str) -> None:
    ns = owned_namespace(session, ctx, namespace)
    obj = _find_object(ns, name)
    _protect(ns, "object", name)
    ns.objects.remove(obj)


# --- properties ------------------------------------------------------------------------------


def _find_property(ns: MetadefNamespace, name: str) -> MetadefProperty:
    for p in ns.properties:
        if p.name == name:
            return p
    raise NotFound(f"The metadata definition property with name={name} was not found in namespace={ns.namespace}.")


def _property_exists(ns: MetadefNamespace, name: str) -> Conflict:
    return Conflict(f"A metadata definition property with name={name} already exists in namespace={ns.namespace}.")


def create_property(session: Session, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    body = _object(body)
    name, schema = _property_name(body), property_schema(body)
    if any(p.name == name for p in ns.properties):
        raise _property_exists(ns, name)
    prop = MetadefProperty(name=name, schema=schema)
    ns.properties.append(prop)
    session.flush()
    return property_view(prop)


def list_properties(session: Session, ctx: RequestContext, namespace: str) -> dict[str, Any]:
    ns = get_namespace(session, ctx, namespace)
    return {p.name: dict(p.schema or {}) for p in ns.properties}


def _strip_prefix(session: Session, ns: MetadefNamespace, name: str, resource_type: str | None) -> str:
    """``?resource_type=X`` names the property with X's prefix for this namespace."""
    if not resource_type:
        return name
    for a in ns.associations:
        if a.resource_type.name == resource_type:
            if a.prefix and name.startswith(a.prefix):
                return name[len(a.prefix) :]
            if a.prefix:
                raise NotFound(
                    f"Property {name} does not start with the expected resource type prefix of '{a.prefix}'."
                )
            return name
    raise NotFound(f"The metadata definition resource-type with name={resource_type}, was not found.")


def show_property(
    session: Session, ctx: RequestContext, namespace: str, name: str, resource_type: str | None = None
) -> dict[str, Any]:
    ns = get_namespace(session, ctx, namespace)
    return property_view(_find_property(ns, _strip_prefix(session, ns, name, resource_type)))


def update_property(session: Session, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    prop = _find_property(ns, name)
    body = _object(body)
    new_name, schema = _property_name(body), property_schema(body)
    if new_name != name and any(p.name == new_name for p in ns.properties):
        raise _property_exists(ns, new_name)
    prop.name, prop.schema = new_name, schema
    session.flush()
    return property_view(prop)


def delete_property(session: Session, ctx: RequestContext, namespace: str, name: str) -> None:
    ns = owned_namespace(session, ctx, namespace)
    prop = _find_property(ns, name)
    _protect(ns, "property", name)
    ns.properties.remove(prop)


# --- tags ------------------------------------------------------------------------------------


def _tag_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest("Invalid tag name: a string of 1 to 255 characters is required.")
    return value


def _tag_exists(ns: MetadefNamespace, name: str) -> Conflict:
    return Conflict(
        f"A metadata tag with name={name} already exists in namespace={ns.namespace}. "
        "(Please note that metadata tag names are case insensitive)."
    )


def _add_tag(ns: MetadefNamespace, name: str) -> MetadefTag:
    if any(t.name.lower() == name.lower() for t in ns.tags):
        raise _tag_exists(ns, name)
    tag = MetadefTag(name=name)
    ns.tags.append(tag)
    return tag


def _find_tag(ns: MetadefNamespace, name: str) -> MetadefTag:
    for t in ns.tags:
        if t.name == name:
            return t
    raise NotFound(f"The metadata definition tag with name={name} was not found in namespace={ns.namespace}.")


def create_tag(session: Session, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    tag = _add_tag(ns, _tag_name(name))
    session.flush()
    return tag_view(tag)


def create_tags(session: Session, ctx: RequestContext, namespace: str, body: Any, append: bool) -> list[dict]:
    """Replace the namespace's tags with the body's (or add them, with ``append``)."""
    ns = owned_namespace(session, ctx, namespace)
    names = [_tag_name(_object(item).get("name")) for item in _list(_object(body), "tags")]
    lowered = [n.lower() for n in names]
    for i, n in enumerate(lowered):
        if n in lowered[:i]:
            raise _tag_exists(ns, names[i])
    if not append:
        ns.tags.clear()
        session.flush()
    for name in names:
        _add_tag(ns, name)
    session.flush()
    return [{"name": name} for name in names]


def list_tags(session: Session, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
    ns = get_namespace(session, ctx, namespace)
    return [tag_view(t) for t in ns.tags]


def show_tag(session: Session, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
    return tag_view(_find_tag(get_namespace(session, ctx, namespace), name))


def update_tag(session: Session, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    tag = _find_tag(ns, name)
    new_name = _tag_name(_object(body).get("name"))
    if new_name.lower() != name.lower() and any(t.name.lower() == new_name.lower() for t in ns.tags):
        raise _tag_exists(ns, new_name)
    tag.name = new_name
    session.flush()
    return tag_view(tag)


def delete_tag(session: Session, ctx: RequestContext, namespace: str, name: str) -> None:
    ns = owned_namespace(session, ctx, namespace)
    tag = _find_tag(ns, name)
    _protect(ns, "tag", name)
    ns.tags.remove(tag)


# --- resource types --------------------------------------------------------------------------


def list_resource_types(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(MetadefResourceType).order_by(MetadefResourceType.name))
    return [{"name": r.name, "created_at": iso(r.created_at), "updated_at": iso(r.updated_at)} for r in rows]


def _associate(session: Session, ns: MetadefNamespace, body: Mapping[str, Any]) -> MetadefAssociation:
    name = _text(body, "name", 80, required=True)
    rtype = session.scalars(select(MetadefResourceType).where(MetadefResourceType.name == name)).first()
    if rtype is None:  # as Glance: associating a new resource type name adds it (unprotected)
        rtype = MetadefResourceType(name=name, protected=False)
        session.add(rtype)
        session.flush()
    if any(a.resource_type_id == rtype.id for a in ns.associations):
        raise Conflict(
            f"The metadata definition resource-type association of resource-type={name} to "
            f"namespace={ns.namespace} already exists."
        )
    assoc = MetadefAssociation(
        resource_type_id=rtype.id,
        resource_type=rtype,
        prefix=_text(body, "prefix", 80),
        properties_target=_text(body, "properties_target", 80),
    )
    ns.associations.append(assoc)
    return assoc


def create_association(session: Session, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
    ns = owned_namespace(session, ctx, namespace)
    assoc = _associate(session, ns, _object(body))
    session.flush()
    return association_view(assoc)


def list_associations(session: Session, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
    return [association_view(a) for a in get_namespace(session, ctx, namespace).associations]


def delete_association(session: Session, ctx: RequestContext, namespace: str, name: str) -> None:
    ns = owned_namespace(session, ctx, namespace)
    for a in ns.associations:
        if a.resource_type.name == name:
            _protect(ns, "resource-type-association", name)
            ns.associations.remove(a)
            return
    raise NotFound(
        f"The metadata definition resource-type association of resource-type={name} to "
        f"namespace={namespace}, was not found."
    )
