"""The web workspace: the built front end (``web/dist``) served by the gateway.

* ``/`` and the client-side routes (``/tickets``, ``/board``, ``/split[/<id>]``, ``/admin[/...]``,
  ``/inbox``, ``/bin``, ``/spam``, ``/preferences``, ``/password``, ``/signin``,
  ``/set-password``) answer ``index.html`` with ``Cache-Control: no-cache`` and an ``ETag``, so
  a browser revalidates it on every visit and picks up a new build at once;
* ``/assets/<path>`` answers the hashed files Vite writes there with
  ``Cache-Control: public, max-age=31536000, immutable`` (their names change with their content),
  and a ``.gz`` twin (written by ``deploy/build_web.sh``) to clients that accept gzip;
* every answer carries a strict Content-Security-Policy (same origin only, no inline script or
  style), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.

Only files under the dist folder are served: names are resolved and must stay inside it, dot
files are refused, and anything else is a problem+json 404. When ``web/dist`` has not been
built, ``/`` answers a small page saying how to build it. ``HELPDESK_WEB_DIST`` names another
folder (tests).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from functools import lru_cache
from pathlib import Path

from werkzeug.wrappers import Request, Response

from gateway.http import route
from services.chassis.errors import NotFound

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}

NOT_BUILT_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Help desk: workspace not built</title></head>
<body><h1>The web workspace is not built yet</h1>
<p>Build it with <code>deploy/build_web.sh</code> (or <code>make run</code>, which builds it when its
sources change), then reload this page. The HTTP API is at <code>/api/v1</code>; its description is
at <code>/api/v1/openapi.json</code>.</p></body></html>
"""


def dist_folder() -> Path:
    return Path(os.environ.get("HELPDESK_WEB_DIST") or DEFAULT_DIST)


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def asset_path(dist: Path, name: str) -> Path | None:
    """The file ``name`` names under ``dist/assets``, or None when it is not a servable file."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None
    root = (dist / "assets").resolve()
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@lru_cache(maxsize=256)
def _read(path: Path, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """A file's bytes and a strong ETag of them, cached until the file changes."""
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def read_file(path: Path) -> tuple[bytes, str]:
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


def accepts_gzip(request: Request) -> bool:
    return any(
        part.split(";")[0].strip().lower() == "gzip" and "q=0" not in part.replace(" ", "")
        for part in request.headers.get("Accept-Encoding", "").split(",")
    )


def if_none_match(request: Request) -> set[str]:
    """The entity tags of ``If-None-Match`` (weak ones compared as strong, as RFC 9110 says)."""
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def file_response(request: Request, path: Path, cache_control: str) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    served = path
    gzipped = path.with_name(path.name + ".gz")
    if accepts_gzip(request) and gzipped.is_file():
        served = gzipped
        headers["Content-Encoding"] = "gzip"
    data, etag = read_file(served)
    headers["ETag"] = etag
    if etag in if_none_match(request):
        return Response(status=304, headers=headers)
    return Response(data, status=200, headers=headers, content_type=content_type(path.name))


def index_response(request: Request) -> Response:
    index = dist_folder() / "index.html"
    if not index.is_file():
        return Response(
            NOT_BUILT_PAGE,
            status=200,
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
            content_type="text/html; charset=utf-8",
        )
    return file_response(request, index, NO_CACHE)


class WebRoutes:
    """The workspace's pages (all answer index.html; the client routes) and its hashed assets."""

    @route(
        "GET",
        "/",
        public=True,
        summary="The web workspace (index.html, no-cache).",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_index(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/tickets",
        public=True,
        summary="Web workspace: table layout.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_table(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/board",
        public=True,
        summary="Web workspace: board layout.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_board(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/split",
        public=True,
        summary="Web workspace: split layout.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_split(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/split/<int:ticket_id>",
        public=True,
        summary="Web workspace: split layout with a ticket open.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_split_ticket(self, request: Request, ticket_id: int) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/admin",
        public=True,
        summary="Web workspace: admin pages.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_admin(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/admin/<section>",
        public=True,
        summary="Web workspace: an admin page.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_admin_section(self, request: Request, section: str) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/inbox",
        public=True,
        summary="Web workspace: the conversations inbox (threads not in the help desk).",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_inbox(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/bin",
        public=True,
        summary="Web workspace: the recycle bin.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_bin(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/spam",
        public=True,
        summary="Web workspace: the spam view.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_spam(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/preferences",
        public=True,
        summary="Web workspace: notification settings.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_preferences(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/password",
        public=True,
        summary="Web workspace: change your own password.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_password(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/signin",
        public=True,
        summary="Web workspace: sign-in.",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_signin(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/set-password",
        public=True,
        summary="Web workspace: set a password with an invite link (the token is in the fragment).",
        errors=(304,),
        content_type="text/html",
        tag="web",
    )
    def web_set_password(self, request: Request) -> Response:
        return index_response(request)

    @route(
        "GET",
        "/assets/<path:name>",
        public=True,
        summary="Web workspace: a hashed asset (immutable).",
        errors=(304, 404),
        content_type="*/*",
        tag="web",
    )
    def web_asset(self, request: Request, name: str) -> Response:
        path = asset_path(dist_folder(), name)
        if path is None:
            raise NotFound(f"There is no asset {name!r}.")
        return file_response(request, path, IMMUTABLE)
