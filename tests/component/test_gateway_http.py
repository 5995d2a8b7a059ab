"""The gateway in a real container serving real HTTP, with fake services behind it on a real RabbitMQ.

Proves that

* a missing token, another scheme or a token the permissions service refuses answers 401
  problem+json with ``WWW-Authenticate``; when the permissions service cannot be reached the
  answer is 503, not 500;
* a chunked body is read like any other (and over 1 MiB refused);
* malformed JSON answers 400, a body over 1 MiB 413 (with or without Content-Length), a JSON body
  that is not an object 422 with ``errors``, an unknown path 404 and a wrong method 405 (with
  ``Allow``), all as problem+json;
* ``/healthz`` answers 200; ``/readyz`` answers 503 while any of the five services does not
  answer and 200 once all do;
* ``/api/v1/openapi.json`` is a well-formed OpenAPI 3 document listing every route of
  ``GatewayService`` under its own operation id, with resolvable references;
* the caller's signed identity reaches the service behind the route, and a permissions event
  broadcast (``token_revoked``) empties the token cache so the next request authenticates again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.standalone.events import event_dispatcher

from deploy.ports import free_port
from gateway.http import MAX_BODY_BYTES
from gateway.openapi import routes_of
from gateway.service import GatewayService
from services.chassis.errors import Unauthenticated
from services.chassis.identity import Caller, sign
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.permissions import contract as permissions_contract
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

PROBLEM_JSON = "application/problem+json"
GOOD = "good-token"
USERS = {GOOD: 11, "other-token": 12}
REVOKED: set[str] = set()
AUTHENTICATED: list[str] = []


class FakePermissions:
    name = permissions_contract.SERVICE_NAME

    @rpc(public=True)
    def authenticate(self, token: str) -> dict[str, Any]:
        AUTHENTICATED.append(token)
        if token not in USERS or token in REVOKED:
            raise Unauthenticated("The API token is not valid.")
        caller = Caller(user_id=USERS[token], name="grace", access_level="everything")
        return {"identity": sign(caller, IDENTITY_SECRET, 300.0), "user_id": USERS[token], "ttl": 300.0}

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"


class FakeNotifications:
    """Answers the feed with the caller it was given, so a test sees the identity arrive."""

    name = "notifications"
    caller = CurrentCaller()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    @rpc
    def list_feed(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return {"items": [], "next_cursor": None, "total": 0, "seen_user_id": caller.user_id}


def pinger(service_name: str) -> type:
    """A stand-in service that only answers ``ping``."""

    def ping(self: Any) -> str:
        return "pong"

    return type(f"Fake_{service_name}", (), {"name": service_name, "ping": rpc(public=True)(ping)})


class Gateway:
    def __init__(self, start: Callable[[type], ServiceContainer], port: int) -> None:
        self.start = start
        self.base = f"http://127.0.0.1:{port}"
        self.http = requests.Session()

    def get(self, path: str, token: str | None = GOOD, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, token, **kwargs)

    def request(self, method: str, path: str, token: str | None = GOOD, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.http.request(method, self.base + path, headers=headers, timeout=15, **kwargs)


@pytest.fixture
def gateway(container_factory: Any, vhost_uri: str) -> Iterator[Gateway]:
    REVOKED.clear()
    AUTHENTICATED.clear()
    port = free_port()

    def start(service_cls: type) -> ServiceContainer:
        config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 10}
        if service_cls is GatewayService:
            config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
        container: ServiceContainer = container_factory(service_cls, config)
        container.start()
        return container

    start(GatewayService)
    gw = Gateway(start, port)
    yield gw
    gw.http.close()


@pytest.fixture
def with_permissions(gateway: Gateway) -> Gateway:
    gateway.start(FakePermissions)
    gateway.start(FakeNotifications)
    return gateway


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_healthz_answers_without_a_token(gateway: Gateway) -> None:
    response = gateway.get("/healthz", token=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic Z29vZC10b2tlbjo=", "Bearer", "Bearer    ", "Token good-token", "Bearer not-a-token"],
    ids=["missing", "basic", "empty-bearer", "blank-bearer", "other-scheme", "unknown-token"],
)
def test_bad_credentials_answer_401_problem_with_www_authenticate(
    with_permissions: Gateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = with_permissions.get("/api/v1/notifications", token=None, headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_identity_reaches_the_service_behind_the_route(with_permissions: Gateway) -> None:
    response = with_permissions.get("/api/v1/notifications")
    assert response.status_code == 200, response.text
    assert response.json()["seen_user_id"] == 11


def test_unreachable_identity_issuer_answers_503_not_500(gateway: Gateway) -> None:
    assert_problem(gateway.get("/api/v1/notifications"), 503)


def test_malformed_json_answers_400(with_permissions: Gateway) -> None:
    response = with_permissions.request(
        "POST", "/api/v1/tickets", data=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_one_mib_answers_413(with_permissions: Gateway, chunked: bool) -> None:
    big = json.dumps({"name": "x", "description": "d" * MAX_BODY_BYTES}).encode()
    data: Any = iter([big[i : i + 65536] for i in range(0, len(big), 65536)]) if chunked else big
    response = with_permissions.request(
        "POST", "/api/v1/tickets", data=data, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


class FakeTicketDesk:
    """Creates nothing: echoes the body it was sent as a ticket, so a test sees what arrived."""

    name = "tickets"

    @rpc
    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        return {**data, "id": 1, "version": 1}


def test_chunked_body_is_read(with_permissions: Gateway) -> None:
    with_permissions.start(FakeTicketDesk)
    response = with_permissions.request(
        "POST",
        "/api/v1/tickets",
        data=iter([b'{"name": ', b'"sent in chunks"}']),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "sent in chunks"


@pytest.mark.parametrize("body", ["[1, 2]", '"a string"', "42", "null"])
def test_json_that_is_not_an_object_answers_422(with_permissions: Gateway, body: str) -> None:
    response = with_permissions.request(
        "POST", "/api/v1/tickets", data=body, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"], "a 422 names what is wrong in errors"


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/nowhere", "/api/v2/notifications"])
def test_unknown_path_answers_404_problem(gateway: Gateway, path: str) -> None:
    assert_problem(gateway.get(path, token=None), 404)


def test_wrong_method_answers_405_problem_with_allow(gateway: Gateway) -> None:
    response = gateway.request("DELETE", "/healthz", token=None)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_readyz_answers_503_until_all_five_services_answer(gateway: Gateway) -> None:
    gateway.start(FakePermissions)
    response = gateway.get("/readyz", token=None)
    assert response.status_code == 503
    services = response.json()["services"]
    assert services["permissions"] == "ok"
    assert {name for name, state in services.items() if state != "ok"} == {
        "tickets",
        "conversations",
        "notifications",
        "retention",
    }

    gateway.start(FakeNotifications)
    for name in ("tickets", "conversations", "retention"):
        gateway.start(pinger(name))
    response = gateway.get("/readyz", token=None)
    assert response.status_code == 200, response.text
    assert set(response.json()["services"].values()) == {"ok"}


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external reference {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        assert part in node, f"dangling reference {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_document_is_valid_and_lists_every_route(gateway: Gateway) -> None:
    response = gateway.get("/api/v1/openapi.json", token=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()

    assert re.fullmatch(r"3\.\d+\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for ref in _refs(document):
        _resolve(document, ref)

    operation_ids: list[str] = []
    for path, operations in document["paths"].items():
        assert path.startswith("/")
        template_params = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            assert method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}, method
            operation_ids.append(operation["operationId"])
            assert operation["responses"], f"{method} {path} has no responses"
            for code in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", code), f"{method} {path}: response {code}"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == template_params, f"{method} {path}: path parameters {declared}"
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
    assert len(operation_ids) == len(set(operation_ids)), "operation ids must be unique"

    routes = routes_of(GatewayService)
    assert routes
    for attr, route in routes:
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", route.url)
        for method in route.method.split(","):
            operation = document["paths"].get(path, {}).get(method.lower())
            assert operation is not None, f"{method} {path} ({attr}) is missing from the document"
            assert operation["operationId"] == attr
            assert (operation.get("security") == []) == route.public, f"{attr}: security vs public"


def test_permission_event_empties_the_token_cache(with_permissions: Gateway, vhost_uri: str) -> None:
    gw = with_permissions
    assert gw.get("/api/v1/notifications").status_code == 200
    assert gw.get("/api/v1/notifications").status_code == 200
    assert AUTHENTICATED == [GOOD], "the second request must be served from the cache"

    REVOKED.add(GOOD)
    assert gw.get("/api/v1/notifications").status_code == 200, "still cached: no event yet"
    event_dispatcher({"AMQP_URI": vhost_uri})(
        permissions_contract.SERVICE_NAME,
        permissions_contract.TOKEN_REVOKED,
        {"event_id": "e-revoked", "occurred_at": "2024-01-01T00:00:00+00:00", "token_id": 1},
    )
    deadline = time.monotonic() + 10
    status = 200
    while status == 200 and time.monotonic() < deadline:
        eventlet.sleep(0.05)
        status = gw.get("/api/v1/notifications").status_code
    assert status == 401, "after token_revoked the token must be checked again"
    assert AUTHENTICATED.count(GOOD) >= 2
