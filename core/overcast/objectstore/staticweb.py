"""Swift's StaticWeb: a public container served as a web site.

A container's metadata turns it on: ``X-Container-Meta-Web-Index`` (the page a directory
answers with), ``-Web-Listings`` (true: an HTML listing where there is no index),
``-Web-Listings-CSS`` (a style sheet for it), ``-Web-Listings-Label``, ``-Web-Error`` (a 404
answers with the object ``404<Web-Error>`` when it exists) and ``-Web-Directory-Type``
(directory marker objects, ``application/directory`` by default, count as absent). It applies to
anonymous GET and HEAD (the container's read ACL decides, as for any anonymous read) and to any
caller's request with ``X-Web-Mode: true``. A directory asked for without its trailing slash is
redirected (301) to it.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from overcast.context import RequestContext
from overcast.errors import NotFound
from overcast.objectstore import names
from overcast.objectstore.listing import Subdir
from overcast.objectstore.objects import Download

_TRUE = ("true", "1", "yes", "on", "t", "y")
DIRECTORY_TYPE = "application/directory"


@dataclass(frozen=True)
class Site:
    """A container's StaticWeb settings."""

    index: str = ""
    error: str = ""
    listings: bool = False
    label: str = ""
    css: str = ""
    directory_type: str = DIRECTORY_TYPE

    @classmethod
    def of(cls, meta: Mapping[str, str]) -> Site:
        def get(key: str) -> str:
            return meta.get(f"x-container-meta-web-{key}", "").strip()

        return cls(
            get("index"),
            get("error"),
            get("listings").lower() in _TRUE,
            get("listings-label"),
            get("listings-css"),
            get("directory-type") or DIRECTORY_TYPE,
        )

    @property
    def active(self) -> bool:
        return bool(self.index or self.listings)


def wanted(ctx: RequestContext | None, method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request is a web request: an anonymous GET/HEAD, or one in web mode."""
    return method in ("GET", "HEAD") and (ctx is None or web_mode(headers))


def web_mode(headers: Mapping[str, str]) -> bool:
    """``X-Web-Mode: true``: a caller with a token asks for the web site's answer."""
    return headers.get("x-web-mode", "").lower() in _TRUE


def _redirect_with_slash(path: str) -> Download:
    location = names.SERVED_AT + quote(path + "/")
    return Download(301, {"Location": location, "Content-Length": "0", "Content-Type": "text/html; charset=UTF-8"})


def _html(status: int, body: str) -> Download:
    data = body.encode()
    return Download(
        status, {"Content-Type": "text/html; charset=UTF-8", "Content-Length": str(len(data))}, iter((data,))
    )


def _human(size: int) -> str:
    """Swift's ``human_readable``: 1023, 1Ki, 5Mi, ..."""
    value, unit = float(size), -1
    while value >= 1024 and unit + 1 < len("KMGTPEZY"):
        unit += 1
        value = round(value / 1024)
    return f"{value:.0f}" if unit < 0 else f"{round(value):d}{'KMGTPEZY'[unit]}i"


class StaticWeb:
    """Answers web requests for one object store service (``svc``)."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc

    def _site(self, ctx: RequestContext | None, project_id: str, container: str, listing: bool) -> Site:
        return Site.of(self.svc.access(ctx, project_id, container, listing=listing).meta)

    def _get(self, ctx: RequestContext | None, project_id: str, container: str, name: str, headers: Any) -> Download:
        return self.svc.get_object(ctx, project_id, container, name, headers, {})

    def _not_found(
        self, ctx: RequestContext | None, project_id: str, container: str, site: Site, default: Download | None = None
    ) -> Download:
        """A 404: the container's ``404<Web-Error>`` page if it has one."""
        if site.error:
            try:
                page = self._get(ctx, project_id, container, f"404{site.error}", {})
                return Download(404, page.headers, page.body)
            except NotFound:
                pass
        return default or _html(404, "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>")

    def container(
        self, ctx: RequestContext | None, project_id: str, container: str, path: str, headers: Mapping[str, str]
    ) -> Download | None:
        """A web request for the container itself; ``None``: not a web site (answer as usual)."""
        site = self._site(ctx, project_id, container, listing=True)
        if not site.active:
            if web_mode(headers):
                raise NotFound("not a web site: the container has no Web-Index or Web-Listings")
            return None
        if not path.endswith("/"):
            return _redirect_with_slash(path)
        if site.index:
            try:
                return self._get(ctx, project_id, container, site.index, headers)
            except NotFound:
                pass
        return self._listing(ctx, project_id, container, site, path, "")

    def object(
        self,
        ctx: RequestContext | None,
        project_id: str,
        container: str,
        name: str,
        path: str,
        headers: Mapping[str, str],
    ) -> Download | None:
        """A web request under the container; ``None``: not a web site (answer as usual)."""
        site = self._site(ctx, project_id, container, listing=False)
        if not site.active:
            return None
        try:
            found = self._get(ctx, project_id, container, name, headers)
        except NotFound:
            found = None
        if found is not None:
            size = int(found.headers.get("Content-Length", "0") or 0)
            if not (found.headers.get("Content-Type") == site.directory_type and size <= 1):
                return found
            _close(found)  # a directory marker: the directory's index or listing instead
        if site.index:
            try:
                page = self._get(ctx, project_id, container, name.rstrip("/") + "/" + site.index, headers)
                if not path.endswith("/"):
                    _close(page)
                    return _redirect_with_slash(path)
                return page
            except NotFound:
                pass
        if not path.endswith("/"):
            _, under = self.svc.list_objects(ctx, project_id, container, name + "/", "/", "", "", 1, False)
            if under:
                return _redirect_with_slash(path)
            return self._not_found(ctx, project_id, container, site)
        return self._listing(ctx, project_id, container, site, path, name)

    def _listing(
        self, ctx: RequestContext | None, project_id: str, container: str, site: Site, path: str, prefix: str
    ) -> Download:
        label = path
        if site.label:
            label = f"{site.label}/" + "/".join(path.split("/")[4:])
        css = self._css(site, prefix)
        if not site.listings:
            body = (
                f"<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of {html.escape(label)}</title>\n"
                f"{css}</head>\n<body>  <h1>Web Listing Disabled</h1>"
                "   <p>The owner of this web site has disabled web listing."
                "   <p>If you are the owner of this web site, you can enable"
                "   web listing by setting X-Container-Meta-Web-Listings.</p>"
            )
            if site.index:
                body += (
                    "<h1>Index File Not Found</h1> <p>The owner of this web site has set "
                    f" <b>X-Container-Meta-Web-Index: {html.escape(site.index)}</b>. "
                    " However, this file is not found.</p>"
                )
            return self._not_found(ctx, project_id, container, site, _html(404, body + " </body>\n</html>\n"))
        limit = self.svc.settings.container_listing_limit
        _, items = self.svc.list_objects(ctx, project_id, container, prefix, "/", "", "", limit, False)
        if prefix and not items:
            return self._not_found(ctx, project_id, container, site)
        rows = []
        if prefix:
            rows.append(
                '   <tr id="parent" class="item">\n    <td class="colname"><a href="../">../</a></td>\n'
                '    <td class="colsize">&nbsp;</td>\n    <td class="coldate">&nbsp;</td>\n   </tr>\n'
            )
        for item in items:
            if isinstance(item, Subdir):
                sub = item.subdir[len(prefix) :]
                rows.append(
                    f'   <tr class="item subdir">\n    <td class="colname"><a href="./{quote(sub).replace(".", "%2E")}">'
                    f"{html.escape(sub)}</a></td>\n"
                    '    <td class="colsize">&nbsp;</td>\n    <td class="coldate">&nbsp;</td>\n   </tr>\n'
                )
        for item in items:
            if not isinstance(item, Subdir):
                name = item.name[len(prefix) :]
                kinds = " ".join("type-" + html.escape(t.lower()) for t in item.content_type.split("/"))
                when = datetime.fromtimestamp(item.last_modified, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                rows.append(
                    f'   <tr class="item {kinds}">\n'
                    f'    <td class="colname"><a href="./{quote(name).replace(".", "%2E")}">{html.escape(name)}</a></td>\n'
                    f'    <td class="colsize">{_human(item.size)}</td>\n    <td class="coldate">{when}</td>\n   </tr>\n'
                )
        body = (
            f"<!DOCTYPE html>\n<html>\n <head>\n  <title>Listing of {html.escape(label)}</title>\n{css} </head>\n"
            f' <body>\n  <h1 id="title">Listing of {html.escape(label)}</h1>\n  <table id="listing">\n'
            '   <tr id="heading">\n    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n'
            '    <th class="coldate">Date</th>\n   </tr>\n' + "".join(rows) + "  </table>\n </body>\n</html>\n"
        )
        return _html(200, body)

    @staticmethod
    def _css(site: Site, prefix: str) -> str:
        if not site.css:
            return (
                '  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n'
                "   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n"
                "   a {text-decoration: none;}\n  </style>\n"
            )
        if site.css.startswith(("/", "http://", "https://")):
            href = quote(site.css, ":/")
        else:
            href = "../" * prefix.count("/") + quote(site.css)
        return f'  <link rel="stylesheet" type="text/css" href="{html.escape(href)}" />\n'


def _close(download: Download) -> None:
    close = getattr(download.body, "close", None)
    if close is not None:
        close()
