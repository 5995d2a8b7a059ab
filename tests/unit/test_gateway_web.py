"""The gateway serves the built web workspace safely and with the right caching.

Proves, through Werkzeug's test client and the gateway's own URL rules and error table, that

* ``/`` and every client-side route answer ``index.html`` with ``Cache-Control: no-cache``, an
  ``ETag`` (a matching ``If-None-Match`` answers 304), and the strict security headers;
* hashed assets answer with ``Cache-Control: public, max-age=31536000, immutable`` and their
  content type, and their ``.gz`` twin (``Content-Encoding: gzip``) only to clients accepting gzip;
* nothing outside ``web/dist/assets`` can be read: ``..`` (plain or encoded), dot files, folders
  and symlinks leading out answer 404 problem+json;
* without a build, ``/`` answers a page saying how to build it (not a 500);
* the routes are public, appear in the OpenAPI document, and leave unknown paths 404.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.openapi import build, routes_of
from gateway.problems import response_for_exception
from gateway.routes import web
from gateway.routes.web import CONTENT_SECURITY_POLICY, WebRoutes
from gateway.service import GatewayService

INDEX = b'<!doctype html><html><head><script type="module" src="/assets/app-1a2b3c.js"></script></head>'
SCRIPT = b"console.log('workspace');" * 40
STYLE = b"body{margin:0}"
CLIENT_ROUTES = [
    "/",
    "/tickets",
    "/board",
    "/split",
    "/split/12",
    "/admin",
    "/admin/users",
    "/inbox",
    "/bin",
    "/spam",
    "/preferences",
    "/password",
    "/signin",
    "/set-password",
]
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def wsgi_app(routes: Any) -> Any:
    """The gateway's dispatch in miniature: its URL rules, its handlers, its problem table."""
    rules = [Rule(r.url, methods=r.method.split(","), endpoint=attr) for attr, r in routes_of(WebRoutes)]
    url_map = Map(rules)

    def app(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        try:
            attr, values = url_map.bind_to_environ(environ).match()
            response = getattr(routes, attr)(request, **values)
        except Exception as exc:
            response = response_for_exception(exc)
        return response(environ, start_response)

    return app


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "dist"
    (folder / "assets" / "fonts").mkdir(parents=True)
    (folder / "index.html").write_bytes(INDEX)
    (folder / "assets" / "app-1a2b3c.js").write_bytes(SCRIPT)
    (folder / "assets" / "app-1a2b3c.js.gz").write_bytes(gzip.compress(SCRIPT))
    (folder / "assets" / "app-9f8e7d.css").write_bytes(STYLE)
    (folder / "assets" / "fonts" / "inter-aa11.woff2").write_bytes(b"wOF2")
    (folder / "assets" / ".secret").write_bytes(b"dot file")
    (tmp_path / "secret.txt").write_bytes(b"outside the dist folder")
    (folder / "assets" / "escape.js").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setenv("HELPDESK_WEB_DIST", str(folder))
    yield folder


@pytest.fixture
def client() -> Client:
    return Client(wsgi_app(WebRoutes()))


def assert_security_headers(response: Any) -> None:
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_policy_is_the_strict_one() -> None:
    assert CONTENT_SECURITY_POLICY == STRICT_CSP


@pytest.mark.parametrize("path", CLIENT_ROUTES)
def test_client_routes_answer_index_html_revalidated_each_time(dist: Path, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.data == INDEX
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"].startswith('"')
    assert_security_headers(response)


def test_index_with_a_matching_etag_answers_304(dist: Path, client: Client) -> None:
    etag = client.get("/").headers["ETag"]
    again = client.get("/tickets", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Cache-Control"] == "no-cache"
    assert client.get("/", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_new_build_changes_the_index_etag(dist: Path, client: Client) -> None:
    first = client.get("/").headers["ETag"]
    (dist / "index.html").write_bytes(INDEX.replace(b"1a2b3c", b"4d5e6f") + b"\n")
    second = client.get("/")
    assert second.headers["ETag"] != first
    assert b"4d5e6f" in second.data


@pytest.mark.parametrize(
    ("name", "content_type", "body"),
    [
        ("app-1a2b3c.js", "text/javascript; charset=utf-8", SCRIPT),
        ("app-9f8e7d.css", "text/css; charset=utf-8", STYLE),
        ("fonts/inter-aa11.woff2", "font/woff2", b"wOF2"),
    ],
)
def test_hashed_assets_are_immutable_with_their_content_type(
    dist: Path, client: Client, name: str, content_type: str, body: bytes
) -> None:
    response = client.get(f"/assets/{name}")
    assert response.status_code == 200
    assert response.data == body
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Encoding" not in response.headers
    assert_security_headers(response)


def test_gzip_twin_goes_only_to_clients_that_accept_it(dist: Path, client: Client) -> None:
    zipped = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert zipped.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert gzip.decompress(zipped.data) == SCRIPT

    refused = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    assert refused.data == SCRIPT
    # a file without a twin is sent as is
    css = client.get("/assets/app-9f8e7d.css", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in css.headers and css.data == STYLE


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../index.html",
        "/assets/..%2findex.html",
        "/assets/%2e%2e/secret.txt",
        "/assets/fonts/../../../secret.txt",
        "/assets/fonts/%2e%2e/%2e%2e/index.html",
        "/assets/.secret",
        "/assets/fonts",
        "/assets/fonts/",
        "/assets/escape.js",
        "/assets/app-1a2b3c.js%00.css",
        "/assets/..\\..\\secret.txt",
        "/assets/missing-000000.js",
    ],
)
def test_nothing_outside_the_assets_folder_is_served(dist: Path, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.data
    assert b"outside the dist folder" not in response.data
    assert b"dot file" not in response.data
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_asset_path_refuses_what_is_not_a_plain_name(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.js").write_text("a")
    assert web.asset_path(tmp_path, "a.js") == (tmp_path / "assets" / "a.js").resolve()
    for bad in ["", "/etc/passwd", "../a.js", "./a.js", "a.js/", "x/../a.js", ".a.js", "a.js\0"]:
        assert web.asset_path(tmp_path, bad) is None, bad


def test_without_a_build_the_index_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    monkeypatch.setenv("HELPDESK_WEB_DIST", str(tmp_path / "nothing-here"))
    response = client.get("/")
    assert response.status_code == 200
    assert b"deploy/build_web.sh" in response.data
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_security_headers(response)
    assert client.get("/assets/app-1a2b3c.js").status_code == 404


def test_unknown_paths_stay_404(dist: Path, client: Client) -> None:
    for path in ["/nowhere", "/tickets/extra/parts", "/split/abc", "/index.html"]:
        assert client.get(path).status_code == 404, path


def test_web_routes_are_public_and_documented() -> None:
    routes = dict(routes_of(GatewayService))
    web_routes = {attr: r for attr, r in routes_of(WebRoutes)}
    assert web_routes and set(web_routes) <= set(routes)
    assert all(r.public and r.method == "GET" for r in web_routes.values())
    paths = build(GatewayService)["paths"]
    assert paths["/"]["get"]["operationId"] == "web_index"
    assert paths["/assets/{name}"]["get"]["security"] == []


def test_handlers_answer_responses_when_called_directly(dist: Path) -> None:
    from werkzeug.test import EnvironBuilder

    request = Request(EnvironBuilder(path="/board").get_environ())
    response = WebRoutes().web_board(request)
    assert isinstance(response, Response)
    assert response.status_code == 200
