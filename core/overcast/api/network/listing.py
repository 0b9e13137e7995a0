"""Neutron list semantics over resource dicts: filters, ``fields``, sorting and
marker/limit paging with ``<collection>_links``, the way openstacksdk and the CLI use them."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from overcast.errors import BadRequest

CONTROL_KEYS = {
    "fields",
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "all_tenants",
    "all_projects",
}


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in {w.lower() for w in wanted}
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    return str(value) in wanted


def _fixed_ips_match(fixed_ips: list[dict[str, str]], wanted: list[str]) -> bool:
    for condition in wanted:
        key, _, value = condition.partition("=")
        if key == "ip_address_substr":
            if not any(value in f["ip_address"] for f in fixed_ips):
                return False
        elif key in ("ip_address", "subnet_id"):
            if not any(f[key] == value for f in fixed_ips):
                return False
        else:
            raise BadRequest(f"Invalid fixed_ips filter '{condition}'.", code="HTTPBadRequest")
    return True


def apply_filters(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    params = request.query_params
    for key in {k for k in params.keys() if k not in CONTROL_KEYS}:
        wanted = params.getlist(key)
        if key == "fixed_ips":
            items = [i for i in items if _fixed_ips_match(i.get("fixed_ips", []), wanted)]
        elif key in ("security_groups",):
            items = [i for i in items if set(wanted) & set(i.get(key, []))]
        elif items and key in items[0]:
            items = [i for i in items if _matches(i.get(key), wanted)]
    if params.getlist("tags") or params.getlist("tags-any"):
        items = []  # nothing carries tags here
    return items


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(
            f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'.", code="BadRequest"
        ) from None
    if limit < 0:
        raise BadRequest(
            f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'.", code="BadRequest"
        )
    return limit or None


def _sorted(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    keys = request.query_params.getlist("sort_key") or ["created_at", "id"]
    dirs = request.query_params.getlist("sort_dir")
    for key in keys:
        if items and key not in items[0]:
            raise BadRequest(f"{key} is an invalid attribute for sort_key.", code="HTTPBadRequest")
    for d in dirs:
        if d not in ("asc", "desc"):
            raise BadRequest(
                f"{d} is an invalid value for sort_dir, valid values are 'asc' and 'desc'", code="HTTPBadRequest"
            )
    if "id" not in keys:
        keys = [*keys, "id"]
    for index in reversed(range(len(keys))):
        reverse = index < len(dirs) and dirs[index] == "desc"
        k = keys[index]  # sorted() calls the key before the loop moves on
        items = sorted(items, key=lambda i: (i.get(k) is None, str(i.get(k))), reverse=reverse)
    return items


def _project(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in fields} if fields else item


def list_response(collection: str, items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """Filter, sort, page and project ``items``; ``collection`` is the body's key."""
    items = _sorted(apply_filters(items, request), request)
    reverse = request.query_params.get("page_reverse", "false").lower() == "true"
    if reverse:
        items = list(reversed(items))
    marker = request.query_params.get("marker")
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise BadRequest(f"Marker {marker} could not be found.", code="BadRequest")
        items = items[ids.index(marker) + 1 :]
    limit = _limit(request)
    links = []
    if limit is not None and len(items) > limit:
        items = items[:limit]
        links.append({"rel": "next", "href": str(request.url.include_query_params(marker=items[-1]["id"]))})
    if marker and items:
        links.append(
            {
                "rel": "previous",
                "href": str(request.url.include_query_params(marker=items[0]["id"], page_reverse="true")),
            }
        )
    if reverse:
        items = list(reversed(items))
    fields = request.query_params.getlist("fields")
    body: dict[str, Any] = {collection: [_project(i, fields) for i in items]}
    if links:
        body[f"{collection}_links"] = links
    return body


def show_response(key: str, item: dict[str, Any], request: Request) -> dict[str, Any]:
    return {key: _project(item, request.query_params.getlist("fields"))}
