"""People routes over HTTP: the gateway and the permissions service in real containers.

Only these two run; the answers' status codes, problem+json bodies and the token
cache's flush on permission events are what is checked here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from deploy.ports import free_port
from gateway.service import GatewayService
from services.chassis.db import SessionFactory, make_engine
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.service import PermissionsService
from services.permissions.store import PermissionStore

pytestmark = [pytest.mark.db, pytest.mark.broker]

ADMIN_TOKEN = "hd_http-admin-token"


class Client:
    """``client.get(path, token)`` etc. against the gateway under test."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.base + path, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def client(container_factory: Any, service_config: Callable[..., dict[str, Any]]) -> Iterator[Client]:
    permissions_config = service_config("permissions")
    engine = make_engine(permissions_config["DB_URL"])
    PermissionStore(SessionFactory(engine)).users.create(
        data=BOOTSTRAP_ADMIN, token_hash=hash_token(ADMIN_TOKEN)
    )
    engine.dispose()
    port = free_port()
    gateway_config = service_config("gateway", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
    for cls, config in ((PermissionsService, permissions_config), (GatewayService, gateway_config)):
        container_factory(cls, config).start()
    client = Client(f"http://127.0.0.1:{port}")
    yield client
    client.session.close()


def problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and {"type", "title", "detail"} <= set(body)
    return body


def test_users_and_their_tokens(client: Client) -> None:
    created = client.call(
        "POST", "/api/v1/users", ADMIN_TOKEN, json={"name": "Ana", "email": "ana@example.com", "seat": True}
    )
    assert created.status_code == 201, created.text
    ana = created.json()
    assert created.headers["Location"] == f"/api/v1/users/{ana['id']}"
    assert client.call("GET", created.headers["Location"], ADMIN_TOKEN).json() == ana

    issued = client.call("POST", f"/api/v1/users/{ana['id']}/tokens", ADMIN_TOKEN)
    assert issued.status_code == 201 and issued.json()["token"].startswith("hd_")
    token = issued.json()["token"]
    assert client.call("GET", "/api/v1/me", token).json()["email"] == "ana@example.com"

    mine = client.call("POST", f"/api/v1/users/{ana['id']}/tokens", token, json={"label": "script"})
    assert mine.status_code == 201 and mine.json()["label"] == "script"
    listed = client.call("GET", f"/api/v1/users/{ana['id']}/tokens", token).json()
    assert listed["total"] == 2 and all("token" not in t for t in listed["items"])

    renamed = client.call("PATCH", f"/api/v1/users/{ana['id']}", token, json={"name": "Ana L."})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ana L."
    problem(client.call("PATCH", f"/api/v1/users/{ana['id']}", token, json={"seat": False}), 403)
    problem(client.call("GET", "/api/v1/users", token), 403)
    problem(client.call("GET", "/api/v1/users/1", token), 404)
    problem(client.call("POST", "/api/v1/users", token, json={"name": "B", "email": "b@example.com"}), 403)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("POST", "/api/v1/users", {"json": {"name": "A", "email": "a@example.com", "id": 3}}, 422, "id"),
        ("POST", "/api/v1/users", {"json": {"name": "A", "email": "a@x"}}, 422, "email"),
        (
            "POST",
            "/api/v1/users",
            {"json": {"name": "A", "email": "a@example.com", "team_ids": [9]}},
            422,
            "team_ids",
        ),
        ("POST", "/api/v1/users", {"json": ["not", "an", "object"]}, 422, "_body"),
        (
            "POST",
            "/api/v1/users",
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
            400,
            None,
        ),
        ("PATCH", "/api/v1/users/1", {"json": {"permissions": ["wizard"]}}, 422, "permissions.0"),
        ("PATCH", "/api/v1/users/1", {"json": {"created_at": "2020-01-01T00:00:00Z"}}, 422, "created_at"),
        ("GET", "/api/v1/users?limit=0", {}, 422, "limit"),
        ("GET", "/api/v1/users?limit=101", {}, 422, "limit"),
        ("GET", "/api/v1/users?sort=secret", {}, 422, "sort"),
        ("GET", "/api/v1/users/4242", {}, 404, None),
        ("DELETE", "/api/v1/tokens/4242", {}, 404, None),
        ("POST", "/api/v1/users/1/tokens", {"json": {"token": "hd_chosen"}}, 422, "token"),
        ("PUT", "/api/v1/teams/4242/members", {"json": {"user_ids": []}}, 404, None),
    ],
)
def test_bad_requests_answer_problem_json(
    client: Client, method: str, path: str, kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    body = problem(client.call(method, path, ADMIN_TOKEN, **kwargs), status)
    if field is not None:
        assert field in body["errors"]


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/users", "/api/v1/teams"])
def test_missing_or_unknown_tokens_answer_401(client: Client, path: str) -> None:
    problem(client.call("GET", path, None), 401)
    problem(client.call("GET", path, "hd_not-a-real-token"), 401)


def test_a_revoked_token_stops_working_within_a_second(client: Client) -> None:
    user = client.call(
        "POST", "/api/v1/users", ADMIN_TOKEN, json={"name": "Bo", "email": "bo@example.com"}
    ).json()
    issued = client.call("POST", f"/api/v1/users/{user['id']}/tokens", ADMIN_TOKEN).json()
    for _ in range(2):  # the second call is answered from the gateway's token cache
        assert client.call("GET", "/api/v1/me", issued["token"]).status_code == 200

    assert client.call("DELETE", f"/api/v1/tokens/{issued['id']}", ADMIN_TOKEN).status_code == 204
    revoked_at = time.monotonic()
    while client.call("GET", "/api/v1/me", issued["token"]).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "revoked token still accepted after 1 s"
        time.sleep(0.02)
    assert client.call("DELETE", f"/api/v1/tokens/{issued['id']}", ADMIN_TOKEN).status_code == 204


def test_teams_and_members(client: Client) -> None:
    created = client.call("POST", "/api/v1/teams", ADMIN_TOKEN, json={"name": "Billing"})
    assert created.status_code == 201, created.text
    team = created.json()
    ana = client.call(
        "POST", "/api/v1/users", ADMIN_TOKEN, json={"name": "Ana", "email": "a@example.com"}
    ).json()
    members = client.call(
        "PUT", f"/api/v1/teams/{team['id']}/members", ADMIN_TOKEN, json={"user_ids": [ana["id"]]}
    )
    assert members.status_code == 200 and members.json()["member_ids"] == [ana["id"]]
    assert client.call("GET", f"/api/v1/users/{ana['id']}", ADMIN_TOKEN).json()["team_ids"] == [team["id"]]
    page = client.call("GET", "/api/v1/teams?limit=1", ADMIN_TOKEN).json()
    assert page["total"] == 1 and page["next_cursor"] is None and page["items"][0]["name"] == "Billing"
    renamed = client.call("PATCH", f"/api/v1/teams/{team['id']}", ADMIN_TOKEN, json={"name": "Billing EU"})
    assert renamed.json()["name"] == "Billing EU"
    assert client.call("GET", f"/api/v1/teams/{team['id']}", ADMIN_TOKEN).json()["name"] == "Billing EU"
    problem(client.call("POST", "/api/v1/teams", ADMIN_TOKEN, json={"name": "Billing EU"}), 422)


def test_users_list_pages_with_url_encoded_cursors(client: Client) -> None:
    for i in range(4):
        client.call(
            "POST", "/api/v1/users", ADMIN_TOKEN, json={"name": f"u{i}", "email": f"u{i}@example.com"}
        )
    ids: list[int] = []
    params: dict[str, Any] = {"limit": 2, "sort": "email"}
    while True:
        page = client.call("GET", "/api/v1/users", ADMIN_TOKEN, params=params).json()
        ids += [u["id"] for u in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(ids) == len(set(ids)) == page["total"] == 5


def test_the_openapi_document_lists_the_people_routes(client: Client) -> None:
    paths = client.call("GET", "/api/v1/openapi.json", None).json()["paths"]
    expected = {
        "/api/v1/users": {"get", "post"},
        "/api/v1/users/{user_id}": {"get", "patch"},
        "/api/v1/me": {"get"},
        "/api/v1/users/{user_id}/tokens": {"get", "post"},
        "/api/v1/tokens/{token_id}": {"delete"},
        "/api/v1/teams": {"get", "post"},
        "/api/v1/teams/{team_id}": {"get", "patch"},
        "/api/v1/teams/{team_id}/members": {"put"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert "201" in paths["/api/v1/users"]["post"]["responses"]
    assert "204" in paths["/api/v1/tokens/{token_id}"]["delete"]["responses"]
