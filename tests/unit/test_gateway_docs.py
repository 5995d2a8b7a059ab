"""``/api/docs``: Swagger UI served by the gateway from the pinned PyPI package, under the strict CSP.

Proves that the page loads only same-origin files (no CDN, no inline script: the initialiser is a
file pointing at ``/api/v1/openapi.json``), that those files are served with their types and the
security headers, that nothing else under ``/api/docs/`` is (source maps included), and that the
routes are in the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.openapi import build, routes_of
from gateway.problems import response_for_exception
from gateway.routes.docs import DocsRoutes
from gateway.routes.web import CONTENT_SECURITY_POLICY
from gateway.service import GatewayService
from gateway.wsgi import CONVERTERS


@pytest.fixture
def client() -> Client:
    rules = [Rule(r.url, methods=r.method.split(","), endpoint=a) for a, r in routes_of(DocsRoutes)]
    url_map = Map(rules, converters=CONVERTERS)
    routes = DocsRoutes()

    def app(environ: Any, start_response: Any) -> Any:
        try:
            attr, values = url_map.bind_to_environ(environ).match()
            response: Response = getattr(routes, attr)(Request(environ), **values)
        except Exception as exc:
            response = response_for_exception(exc)
        return response(environ, start_response)

    return Client(app)


def test_the_page_loads_only_same_origin_files_and_no_inline_script(client: Client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/api/docs/' in attrs and not body.strip() for attrs, body in scripts)
    assert "style=" not in html and "<style" not in html
    assert not re.search(r"https?://", html), "no CDN"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert client.get(url).status_code == 200, url


def test_the_initialiser_is_a_file_that_points_at_our_document(client: Client) -> None:
    script = client.get("/api/docs/init.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    text = script.get_data(as_text=True)
    assert "url: '/api/v1/openapi.json'" in text and "validatorUrl: null" in text
    assert script.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_swagger_ui_comes_from_the_package_and_revalidates(client: Client) -> None:
    bundle = client.get("/api/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.get_data()) > 500_000
    assert client.get("/api/docs/swagger-ui.css").mimetype == "text/css"
    again = client.get("/api/docs/swagger-ui-bundle.js", headers={"If-None-Match": bundle.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "name", ["swagger-ui-bundle.js.map", "index.html", "oauth2-redirect.html", "..%2F__init__.py", "x"]
)
def test_nothing_else_is_served(client: Client, name: str) -> None:
    response = client.get(f"/api/docs/{name}")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_the_reference_is_in_the_document_and_listed_after_the_api() -> None:
    document = build(GatewayService)
    assert document["paths"]["/api/docs"]["get"]["security"] == []
    tags = [t["name"] for t in document["tags"]]
    assert tags[0] == "tickets" and tags[-1] == "web" and "docs" in tags
