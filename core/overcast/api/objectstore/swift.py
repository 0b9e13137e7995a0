"""Swift v1 request dispatch: account, container and object operations over
:class:`~overcast.objectstore.service.ObjectStoreService`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from starlette.types import Receive, Scope, Send

from overcast.api.objectstore.asgi import (
    SMALL_BODY,
    ClientGone,
    Request,
    prefetch,
    run,
    send_download,
    send_error,
    send_simple,
)
from overcast.api.objectstore.formats import account_listing, container_listing, listing_format, listing_params, FORMATS
from overcast.errors import BadRequest, MethodNotAllowed, OvercastError, Unauthorized
from overcast.objectstore import formpost, names, staticweb, tempurl
from overcast.objectstore.archives import extract_archive
from overcast.objectstore.ranges import http_date

RULES = {
    ("account", "GET"): "objectstore:account:list",
    ("account", "HEAD"): "objectstore:account:show",
    ("account", "POST"): "objectstore:account:update",
    ("account", "DELETE"): "objectstore:account:update",  # only with ?bulk-delete
    ("account", "PUT"): "objectstore:object:create",  # only with ?extract-archive
    ("container", "GET"): "objectstore:container:list",
    ("container", "HEAD"): "objectstore:container:show",
    ("container", "PUT"): "objectstore:container:create",
    ("container", "POST"): "objectstore:container:update",
    ("container", "DELETE"): "objectstore:container:delete",
    ("object", "GET"): "objectstore:object:get",
    ("object", "HEAD"): "objectstore:object:show",
    ("object", "PUT"): "objectstore:object:create",
    ("object", "POST"): "objectstore:object:update",
    ("object", "DELETE"): "objectstore:object:delete",
    ("object", "COPY"): "objectstore:object:copy",
}


def allowed_methods(level: str) -> tuple[str, ...]:
    """The methods a Swift resource at ``level`` takes (its 405's ``Allow`` header)."""
    return tuple(sorted(method for lvl, method in RULES if lvl == level))


def authenticate(runtime: Any, req: Request, level: str) -> Any:
    """The caller's context (``None`` when anonymous), with the policy rule enforced."""
    rule = RULES.get((level, req.method))
    if rule is None:
        raise MethodNotAllowed(f"{req.method} is not allowed on an {level}", allowed=allowed_methods(level))
    link = tempurl.link_of(req.query)
    if link is not None:  # as Swift's tempurl runs before auth: the link decides, token or not
        if level != "object":
            raise Unauthorized("Temp URL invalid: a temporary URL names an object")
        if req.method == "PUT" and "x-symlink-target" in req.headers:  # a link could reach past the signed object
            raise BadRequest("The header 'X-Symlink-Target' is not allowed in this tempurl")
        base = f"/v1/{req.account}/{req.container}/"
        return runtime.objectstore.tempurl_context(
            req.project_id, req.container, req.obj, req.method, [names.SERVED_AT + base, base], link
        )
    token = req.headers.get("x-auth-token") or req.headers.get("x-storage-token")
    if not token:
        return None
    # identity keeps validated tokens itself and drops them when its revocation generation
    # moves (one small read per request), so a revocation takes effect at once
    ctx = runtime.identity.context_from_token(token)
    if not runtime.objectstore.is_reseller_admin(ctx):  # keystoneauth lets the reseller admin do anything
        runtime.identity.enforce(rule, ctx)
    return ctx


class SwiftApp:
    """ASGI app for ``/object/v1/...``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = scope["app"].state.runtime
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            req = Request(scope, receive)
            if req.obj:
                await self.object(runtime, req, tracking_send)
            elif req.container:
                await self.container(runtime, req, tracking_send)
            else:
                await self.account(runtime, req, tracking_send)
        except ClientGone:
            return
        except OvercastError as exc:
            if started:
                raise
            await send_error(scope, send, exc, runtime.config.api.base_url())

    # --- account ------------------------------------------------------------------------

    async def account(self, runtime: Any, req: Request, send: Any) -> None:
        svc = runtime.objectstore
        if "extract-archive" in req.query and req.method == "PUT":
            await self._extract(runtime, req, send, "account", "", "")
            return
        if req.method in ("POST", "DELETE") and "bulk-delete" in req.query:
            body = b"".join(await req.read_all()).decode("utf-8", "replace")
            report = await run(
                lambda: svc.bulk_delete(authenticate(runtime, req, "account"), req.project_id, body.splitlines())
            )
            await _send_report(send, req, report)
            return
        if req.method == "POST":
            await run(lambda: svc.post_account(authenticate(runtime, req, "account"), req.project_id, req.headers))
            await send_simple(send, 204)
            return
        if req.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{req.method} is not allowed on an account", allowed=allowed_methods("account"))

        def work() -> tuple[Any, list[Any] | None]:
            ctx = authenticate(runtime, req, "account")
            stats = svc.account_stats(ctx, req.project_id)
            items = None
            if req.method == "GET":
                params = listing_params(req.query, svc.settings.container_listing_limit)
                items = svc.list_containers(ctx, req.project_id, **params)
            return stats, items

        stats, items = await run(work)
        headers = {
            "X-Account-Container-Count": str(stats.containers),
            "X-Account-Object-Count": str(stats.objects),
            "X-Account-Bytes-Used": str(stats.bytes),
            "X-Timestamp": "0.00000",
        }
        for policy, usage in sorted(stats.policies.items()):  # Swift's per-policy usage
            prefix = f"X-Account-Storage-Policy-{policy}-"
            headers.update(
                {
                    prefix + "Container-Count": str(usage["containers"]),
                    prefix + "Object-Count": str(usage["objects"]),
                    prefix + "Bytes-Used": str(usage["bytes"]),
                }
            )
        headers.update(_titled(stats.meta))
        await self._listing(send, req, headers, items, lambda fmt: account_listing(fmt, req.account, items or []))

    async def _listing(
        self, send: Any, req: Request, headers: dict[str, str], items: list[Any] | None, render: Any
    ) -> None:
        fmt = listing_format(req.query, req.headers)
        content_type = FORMATS[fmt] + "; charset=utf-8"
        headers["Content-Type"] = content_type
        if items is None or (fmt == "plain" and not items):
            await send_simple(send, 204, headers)
            return
        await send_simple(send, 200, headers, render(fmt), content_type.encode())

    # --- container ----------------------------------------------------------------------

    async def _extract(self, runtime: Any, req: Request, send: Any, level: str, container: str, prefix: str) -> None:
        """``PUT ...?extract-archive=tar|tar.gz|tar.bz2``: one object per file of the archive."""

        def work() -> Any:
            ctx = authenticate(runtime, req, level)
            return extract_archive(
                runtime.objectstore, ctx, req.project_id, container, prefix, req.stream(), req.query["extract-archive"]
            )

        await _send_report(send, req, await run(work))

    async def _form_post(self, runtime: Any, req: Request, send: Any, boundary: str) -> None:
        """Swift's FormPost: a signed form's files stored under the path's prefix (no token)."""
        prefix = req.obj or ""
        own = f"/v1/{req.account}/{req.container}" + (f"/{prefix}" if prefix else "")
        forms = [own] if prefix else [own, own + "/"]  # a signature covers Swift's path or the served one
        paths = forms + [names.SERVED_AT + form for form in forms]
        answer = await run(
            lambda: runtime.objectstore.form_post(req.project_id, req.container, prefix, boundary, req.stream(), paths)
        )
        await send_simple(send, answer.status, answer.headers, answer.body, b"text/plain; charset=UTF-8")

    async def _web_page(self, runtime: Any, req: Request, send: Any) -> bool:
        """Swift's StaticWeb for an anonymous (or ``X-Web-Mode``) GET/HEAD of a container: True
        when the container is a web site and the page went out. (Objects: :meth:`object`'s
        read asks :func:`_web_object` on the caller it has authenticated.)"""
        if req.method not in ("GET", "HEAD") or tempurl.link_of(req.query) is not None:
            return False
        token = req.headers.get("x-auth-token") or req.headers.get("x-storage-token")
        if token and not staticweb.web_mode(req.headers):  # an API call, not a web request
            return False

        def page() -> Any:
            ctx = authenticate(runtime, req, "container")
            if not staticweb.wanted(ctx, req.method, req.headers):
                return None
            return runtime.objectstore.web.container(ctx, req.project_id, req.container, req.path, req.headers)

        download = await run(page)
        if download is None:
            return False
        await send_download(send, download, head=req.method == "HEAD")
        return True

    async def container(self, runtime: Any, req: Request, send: Any) -> None:
        svc = runtime.objectstore
        pid, name, method = req.project_id, req.container, req.method
        if method == "POST" and (boundary := formpost.boundary_of(req.headers.get("content-type", ""))):
            await self._form_post(runtime, req, send, boundary)
            return
        if await self._web_page(runtime, req, send):
            return
        if "extract-archive" in req.query and method == "PUT":
            await self._extract(runtime, req, send, "container", name, "")
            return

        def work() -> Any:
            ctx = authenticate(runtime, req, "container")
            if method == "PUT":
                return svc.put_container(ctx, pid, name, req.headers)
            if method == "POST":
                return svc.post_container(ctx, pid, name, req.headers)
            if method == "DELETE":
                return svc.delete_container(ctx, pid, name)
            if method == "HEAD":
                return ctx, svc.container_stats(ctx, pid, name), None
            params = listing_params(req.query, svc.settings.container_listing_limit)
            stats, items = svc.list_objects(ctx, pid, name, **params)
            return ctx, stats, items

        result = await run(work)
        if method == "PUT":
            await send_simple(send, 201 if result else 202)
            return
        if method in ("POST", "DELETE"):
            await send_simple(send, 204)
            return
        ctx, stats, items = result
        record = stats.record
        headers = {
            "X-Container-Object-Count": str(stats.objects),
            "X-Container-Bytes-Used": str(stats.bytes),
            "X-Timestamp": f"{record.created_at:.5f}",
            "Last-Modified": http_date(record.created_at),
            "X-Storage-Policy": record.policy,
        }
        owner = svc.owns(ctx, pid)
        headers.update(_titled({k: v for k, v in record.meta.items() if owner or "temp-url-key" not in k}))
        if owner:
            if record.read_acl:
                headers["X-Container-Read"] = record.read_acl
            if record.write_acl:
                headers["X-Container-Write"] = record.write_acl
        if method == "HEAD":
            await self._listing(send, req, headers, None, None)
            return
        await self._listing(send, req, headers, items, lambda fmt: container_listing(fmt, req.account, name, items))

    # --- object -------------------------------------------------------------------------

    async def object(self, runtime: Any, req: Request, send: Any) -> None:
        svc = runtime.objectstore
        pid, container, name, method = req.project_id, req.container, req.obj, req.method
        if method in ("GET", "HEAD"):

            def read() -> Any:
                ctx = authenticate(runtime, req, "object")
                page = _web_object(runtime, req, ctx)
                if page is not None:
                    return page
                if method == "HEAD":
                    download = svc.head_object(ctx, pid, container, name, req.headers, req.query)
                else:
                    download = prefetch(svc.get_object(ctx, pid, container, name, req.headers, req.query))
                link = tempurl.link_of(req.query)
                if link is not None and 200 <= download.status < 300:
                    found = [k for k in download.headers if k.lower() == "content-disposition"]
                    existing = download.headers.pop(found[0]) if found else None
                    download.headers.update(link.response_headers(name, existing))
                return download

            await send_download(send, await run(read), head=method == "HEAD")
            return
        if method == "PUT" and "extract-archive" in req.query:
            await self._extract(runtime, req, send, "object", container, name.rstrip("/") + "/")
            return
        if method == "PUT":
            length = req.length()
            if length is not None and length <= SMALL_BODY:
                data: Any = await req.read_all()
                if sum(map(len, data)) != length:
                    raise BadRequest("body shorter than Content-Length")
            else:
                data = None

            def put() -> Any:
                ctx = authenticate(runtime, req, "object")
                return svc.put_object(
                    ctx,
                    pid,
                    container,
                    name,
                    req.headers,
                    data if data is not None else req.upload(),
                    length,
                    req.query,
                )

            headers = await run(put)
            await send_simple(send, 201, headers)
            return
        if method == "COPY":
            destination = unquote(req.headers.get("destination", ""))
            dst_container, dst_name = names.split_container_path(destination)
            dst_account = req.headers.get("destination-account")
            dst_project = names.project_of_account(unquote(dst_account)) if dst_account else pid

            def copy() -> Any:
                ctx = authenticate(runtime, req, "object")
                return svc.copy_object(
                    ctx, (pid, container, name), (dst_project, dst_container, dst_name), req.headers, req.query
                )

            await send_simple(send, 201, await run(copy))
            return
        if method == "POST" and (boundary := formpost.boundary_of(req.headers.get("content-type", ""))):
            await self._form_post(runtime, req, send, boundary)
            return
        if method == "POST":
            target = await run(
                lambda: svc.post_object(authenticate(runtime, req, "object"), pid, container, name, req.headers)
            )
            if target is None:
                await send_simple(send, 202)
                return
            # Swift's symlink middleware: the POST changed the link; the client is told where its
            # target is (where this cloud serves it)
            message = (
                b"The requested POST was applied to a symlink. POST directly to the target to apply requested metadata."
            )
            await send_simple(
                send, 307, {"Location": names.SERVED_AT + target.path()}, message, b"text/plain; charset=UTF-8"
            )
            return
        if method == "DELETE":
            report = await run(
                lambda: svc.delete_object(authenticate(runtime, req, "object"), pid, container, name, req.query)
            )
            if report is None:
                await send_simple(send, 204)
                return
            await _send_report(send, req, {**report, "Response Status": "200 OK", "Response Body": "", "Errors": []})
            return
        raise MethodNotAllowed(f"{method} is not allowed on an object", allowed=allowed_methods("object"))


def _web_object(runtime: Any, req: Request, ctx: Any) -> Any:
    """StaticWeb's answer to a web request (anonymous or ``X-Web-Mode``) for an object path of a
    web-site container; ``None``: answer it as a plain object read."""
    if tempurl.link_of(req.query) is not None or not staticweb.wanted(ctx, req.method, req.headers):
        return None
    return runtime.objectstore.web.object(ctx, req.project_id, req.container, req.obj, req.path, req.headers)


async def _send_report(send: Any, req: Request, report: dict[str, Any]) -> None:
    """A bulk operation's report (Swift's bulk middleware): 200, JSON if the client accepts
    it, else ``Key: value`` lines."""
    if "json" in req.headers.get("accept", ""):
        await send_simple(send, 200, None, json.dumps(report).encode(), b"application/json; charset=utf-8")
    else:
        text = "".join(f"{k}: {v if v != [] else ''}\n" for k, v in report.items())
        await send_simple(send, 200, None, text.encode(), b"text/plain; charset=utf-8")


def _titled(meta: dict[str, str]) -> dict[str, str]:
    """Metadata as headers. Only owners read an account, so its TempURL keys show, as in
    Swift for the account's owner; a container's are left out by the caller for others."""
    return {"-".join(p.capitalize() for p in k.split("-")): v for k, v in meta.items()}
