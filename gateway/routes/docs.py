"""The interactive API reference at ``/api/docs``: Swagger UI, served by the gateway itself.

Swagger UI's files come from the ``swagger-ui-bundle`` package on PyPI (pinned in
``requirements.txt``, so ``make install`` puts them on the machine); nothing is fetched from a
CDN, and the page works offline. The page is ours (``DOCS_PAGE``): it loads the bundle, its
stylesheet and ``/api/docs/init.js`` (``gateway/static/docs-init.js``), which points Swagger UI at
``/api/v1/openapi.json``. Every answer carries the web workspace's Content-Security-Policy (same
origin only, no inline script or style), so the initialising script is a file; Swagger UI's
validator badge, which would call an outside service, is off.

Only the files in :data:`ASSETS` are served; anything else under ``/api/docs/`` is a 404.
"""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Request, Response

from gateway.http import route
from gateway.routes.web import SECURITY_HEADERS, content_type, if_none_match, read_file
from services.chassis.errors import NotFound

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
"""The Swagger UI files the page uses (no source maps, no standalone preset, no OAuth2 page)."""
CACHE = "public, max-age=86400"

DOCS_PAGE = b"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Help desk API reference</title>
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>
"""


def swagger_ui_folder() -> Path:
    """Where the installed ``swagger-ui-bundle`` keeps Swagger UI's files."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def asset_file(name: str) -> Path | None:
    if name == "init.js":
        return STATIC / "docs-init.js"
    if name in ASSETS:
        return swagger_ui_folder() / name
    return None


def _answer(request: Request, data: bytes, etag: str, mimetype: str) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE, "ETag": etag}
    if etag in if_none_match(request):
        return Response(status=304, headers=headers)
    return Response(data, status=200, headers=headers, content_type=mimetype)


class DocsRoutes:
    """``/api/docs`` and the files it loads."""

    @route(
        "GET",
        "/api/docs",
        public=True,
        summary="Interactive API reference (Swagger UI, served locally).",
        errors=(304,),
        content_type="text/html",
        tag="docs",
    )
    def api_docs(self, request: Request) -> Response:
        etag = '"docs-' + str(len(DOCS_PAGE)) + '"'
        return _answer(request, DOCS_PAGE, etag, "text/html; charset=utf-8")

    @route(
        "GET",
        "/api/docs/<name>",
        public=True,
        summary="A file of the API reference page (Swagger UI's bundle, stylesheet, icons, init.js).",
        errors=(304, 404),
        content_type="*/*",
        tag="docs",
    )
    def api_docs_asset(self, request: Request, name: str) -> Response:
        path = asset_file(name)
        if path is None or not path.is_file():
            raise NotFound(f"There is no API reference file {name!r}.")
        data, etag = read_file(path)
        return _answer(request, data, etag, content_type(name))
