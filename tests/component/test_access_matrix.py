"""The authorization matrix: every gateway operation, for every kind of caller and ticket.

The expected answers come from the table in ``services/tickets/access_matrix.py`` (the
written-out specification of the access rule); this test drives the real gateway,
permissions and tickets services over HTTP and compares. It also refuses a gateway route
without a row, and calls the write RPCs straight on the broker with a missing or forged
identity to show the services refuse them themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from nameko.standalone.rpc import ServiceRpcProxy

from deploy.ports import free_port
from gateway.openapi import routes_of
from gateway.service import GatewayService
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Unauthenticated
from services.chassis.identity import Caller, sign
from services.conversations.service import ConversationsService
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.service import PermissionsService
from services.permissions.store import PermissionStore
from services.tickets import access_matrix as table
from services.tickets.service import TicketsService
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.db, pytest.mark.broker]

ADMIN_TOKEN = "hd_matrix-admin"
AGENT = ["service_access"]

# role -> (permissions, access level, include unassigned, in the team)
ROLE_USERS: dict[str, tuple[list[str], str, bool, bool]] = {
    "no_ticket_access": ([], "everything", False, False),
    "owned": (AGENT, "owned", False, False),
    "owned_unassigned": (AGENT, "owned", True, False),
    "team": (AGENT, "team", False, True),
    "everything": (AGENT, "everything", False, False),
    "super_admin": (["super_admin"], "everything", False, False),
}


@dataclass
class World:
    base: str
    tickets_config: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)
    tokens: dict[str, str | None] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    # (role, kind) -> ticket id
    tickets: dict[tuple[str, str], int] = field(default_factory=dict)
    # ticket id -> its thread and an attachment on it
    threads: dict[int, int] = field(default_factory=dict)
    attachments: dict[int, int] = field(default_factory=dict)
    view_id: int = 0
    policy_id: int = 0

    def path(self, template: str, ticket_id: int) -> str:
        return template.format(
            id=ticket_id, thread=self.threads[ticket_id], attachment=self.attachments[ticket_id]
        )

    def call(self, method: str, path: str, token: str | None, body: object = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        return self.http.request(method, self.base + path, headers=headers, timeout=15, **kwargs)

    def ok(self, method: str, path: str, body: object = None, status: int = 200) -> Any:
        response = self.call(method, path, ADMIN_TOKEN, body)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None


def _build(world: World) -> None:
    team = world.ok("POST", "/api/v1/teams", {"name": "Support"}, 201)

    def user(name: str, perms: list[str], level: str, unassigned: bool) -> int:
        body = {
            "name": name,
            "email": f"{name}@example.com",
            "permissions": perms,
            "access_level": level,
            "include_unassigned": unassigned,
            "seat": name in table.SEATED,
        }
        return int(world.ok("POST", "/api/v1/users", body, 201)["id"])

    def token(user_id: int) -> str:
        return str(world.ok("POST", f"/api/v1/users/{user_id}/tokens", None, 201)["token"])

    teammate = user("mate", AGENT, "owned", False)
    other = user("other", AGENT, "owned", False)
    members = [teammate]
    for role, (perms, level, unassigned, in_team) in ROLE_USERS.items():
        world.user_ids[role] = user(role, perms, level, unassigned)
        world.tokens[role] = token(world.user_ids[role])
        if in_team:
            members.append(world.user_ids[role])
    world.ok("PUT", f"/api/v1/teams/{team['id']}/members", {"user_ids": members})

    revoked = world.ok("POST", f"/api/v1/users/{world.user_ids['owned']}/tokens", None, 201)
    world.ok("DELETE", f"/api/v1/tokens/{revoked['id']}", None, 204)
    world.tokens.update(no_token=None, bad_token="hd_not-a-token", revoked_token=revoked["token"])

    def ticket(owner: int | None) -> int:
        """A ticket made the way customers make them (a form message), then given its owner."""
        sender = {"email": f"customer{len(world.threads)}@example.com", "name": "Customer"}
        body = {
            "channel": "form",
            "from": sender,
            "subject": "t",
            "body": "The printer is broken. Please help.",
        }
        made = world.ok("POST", "/api/v1/intake/messages", body, 201)
        ticket_id = int(made["ticket_id"])
        if owner is not None:
            world.ok("PATCH", f"/api/v1/tickets/{ticket_id}", {"owner_id": owner})
        upload = {"filename": "a.txt", "content_type": "text/plain", "content_b64": "aGk="}
        note = {"kind": "note", "body": "file", "attachments": [upload]}
        added = world.ok("POST", f"/api/v1/threads/{made['thread_id']}/messages", note, 201)
        world.threads[ticket_id] = int(made["thread_id"])
        world.attachments[ticket_id] = int(added["attachments"][0]["id"])
        return ticket_id

    shared = {"teammate": ticket(teammate), "other": ticket(other), "unassigned": ticket(None)}
    for role in table.ROLES:
        owner = world.user_ids.get(role)
        own = ticket(owner if owner is not None and role != "no_ticket_access" else other)
        world.tickets.update({(role, "own"): own, **{(role, k): v for k, v in shared.items()}})
    world.view_id = world.ok("POST", "/api/v1/views", {"name": "shared", "shared_with": "everyone"}, 201)[
        "id"
    ]
    policy = {"name": "Default", "first_reply_minutes": 60}
    world.policy_id = world.ok("POST", "/api/v1/sla-policies", policy, 201)["id"]


@pytest.fixture
def world(
    container_factory: Any, service_config: Callable[..., dict[str, Any]], tmp_path: Any
) -> Iterator[World]:
    permissions_config = service_config("permissions")
    engine = make_engine(permissions_config["DB_URL"])
    PermissionStore(SessionFactory(engine)).users.create(
        data=BOOTSTRAP_ADMIN, token_hash=hash_token(ADMIN_TOKEN)
    )
    engine.dispose()
    tickets_config = service_config("tickets")
    conversations_config = service_config(
        "conversations", DATA_DIR=str(tmp_path), MAIL_FROM="support@matrix.test"
    )
    port = free_port()
    # the matrix sends one bad token to every operation: the failed-authentication limits (tested in
    # test_gateway_hardening.py) would answer 429 long before the table runs out
    no_limits = {
        name: {"rate": 0, "burst": 1} for name in ("failed_auth_per_address", "failed_auth_per_token")
    }
    gateway_config = service_config(
        "gateway", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", max_workers=20, RATE_LIMITS=no_limits
    )
    for cls, config in (
        (PermissionsService, permissions_config),
        (TicketsService, tickets_config),
        (ConversationsService, conversations_config),
        (GatewayService, gateway_config),
    ):
        container_factory(cls, config).start()
    world = World(f"http://127.0.0.1:{port}", tickets_config)
    _build(world)
    yield world
    world.http.close()


def test_every_gateway_operation_has_a_row() -> None:
    covered = (
        set(table.TICKET_OPERATIONS)
        | set(table.PERMISSION_OPERATIONS)
        | set(table.COLLECTION_PERMISSION_OPERATIONS)
        | set(table.COLLECTION_OPERATIONS)
        | set(table.ADMIN_OPERATIONS)
        | set(table.SEAT_TICKET_OPERATIONS)
        | set(table.SEAT_OPERATIONS)
        | table.AUTHENTICATION_ONLY
    )
    operations = {attr for attr, route in routes_of(GatewayService) if not route.public}
    assert operations - covered == set(), (
        "gateway operations without a row in services/tickets/access_matrix.py"
    )
    assert covered - operations == set(), "rows for operations the gateway no longer has"


def _fill(template: object, world: World, role: str, ticket_id: int | None = None) -> object:
    if template == "{ids}":
        return [world.tickets[(role, kind)] for kind in table.TICKET_KINDS]
    if template == "{count}":
        return len(table.TICKET_KINDS)
    if template == "{id}":
        return ticket_id
    if template == "{stages}":
        return [s["id"] for s in world.ok("GET", "/api/v1/pipelines/1")["stages"]]
    if isinstance(template, dict):
        return {k: _fill(v, world, role, ticket_id) for k, v in template.items()}
    return template


def _visible_ids(world: World, role: str) -> set[int]:
    return {world.tickets[(role, kind)] for kind in table.SEES.get(role, ())}


def _ids_in(answer: dict[str, Any], name: str) -> set[int]:
    if name == "ticket_board":
        return {item["id"] for column in answer["columns"] for item in column["items"]}
    return {item["id"] for item in answer["items"]}


def test_the_matrix_over_http(world: World) -> None:
    mismatches: list[str] = []

    def expect(role: str, what: str, response: requests.Response, status: int) -> bool:
        if response.status_code != status:
            mismatches.append(f"{role:17} {what}: {response.status_code} != {status} {response.text[:120]}")
            return False
        return True

    for role in table.ROLES:
        token = world.tokens[role]
        for name, (method, path, body, allowed) in table.TICKET_OPERATIONS.items():
            for kind in table.TICKET_KINDS:
                ticket_id = world.tickets[(role, kind)]
                filled = _fill(body, world, role, ticket_id)
                response = world.call(method, world.path(path, ticket_id), token, filled)
                expect(role, f"{name}({kind})", response, table.expected_status(role, kind, allowed))

        for name, (method, path, body, allowed) in table.SEAT_TICKET_OPERATIONS.items():
            for kind in table.TICKET_KINDS:
                ticket_id = world.tickets[(role, kind)]
                response = world.call(method, world.path(path, ticket_id), token, body)
                wanted = table.expected_seat_status(role, kind, allowed)
                seatless = wanted == 403 and role != "no_ticket_access"
                if expect(role, f"{name}({kind})", response, wanted) and seatless:
                    assert response.json()["type"].endswith("/seat-required"), response.text

        for name, (method, path, body, allowed) in table.SEAT_OPERATIONS.items():
            status = 401 if role in table.UNAUTHENTICATED else allowed if role in table.SEATED else 403
            filled = path.format(view=world.view_id, policy=world.policy_id)
            response = world.call(method, filled, token, body)
            if expect(role, name, response, status) and status == 403 and role != "no_ticket_access":
                assert response.json()["type"].endswith("/seat-required"), response.text

        for name, (method, path, body, allowed) in table.COLLECTION_OPERATIONS.items():
            status = 401 if role in table.UNAUTHENTICATED else 403 if role == "no_ticket_access" else allowed
            response = world.call(method, path, token, _fill(body, world, role))
            if not expect(role, name, response, status) or status != 200:
                continue
            mine = {world.tickets[(role, kind)] for kind in table.TICKET_KINDS}
            if name in ("list_tickets", "ticket_board"):
                seen = _ids_in(response.json(), name) & mine
                if seen != _visible_ids(world, role):
                    mismatches.append(
                        f"{role:17} {name}: shows {sorted(seen)} != {sorted(_visible_ids(world, role))}"
                    )
            if name == "bulk_update":
                got = {r["id"]: r["status"] for r in response.json()["results"]}
                want = {i: (200 if i in _visible_ids(world, role) else 404) for i in mine}
                if got != want:
                    mismatches.append(f"{role:17} bulk_update: {got} != {want}")

        for name, (method, path, body, allowed) in table.ADMIN_OPERATIONS.items():
            status = (
                401 if role in table.UNAUTHENTICATED else allowed if role in table.PIPELINE_ADMINS else 403
            )
            pipeline = 1
            filled = path.format(pipeline=pipeline, policy=world.policy_id)
            response = world.call(method, filled, token, _fill(body, world, role))
            expect(role, name, response, status)

        # last: these may change the tickets for good (super admins hold every permission)
        for name, (method, path, body, allowed, needs) in table.PERMISSION_OPERATIONS.items():
            for kind in table.TICKET_KINDS:
                ticket_id = world.tickets[(role, kind)]
                response = world.call(method, world.path(path, ticket_id), token, body)
                status = table.expected_status(role, kind, allowed, needs)
                expect(role, f"{name}({kind})", response, status)
        for name, (method, path, body, allowed, needs) in table.COLLECTION_PERMISSION_OPERATIONS.items():
            response = world.call(method, path, token, _fill(body, world, role))
            expect(role, name, response, table.expected_collection_status(role, allowed, needs))

        if role in table.UNAUTHENTICATED:
            for attr, route in routes_of(GatewayService):
                if attr in table.AUTHENTICATION_ONLY:
                    path = route.url.replace("<int:user_id>", "1").replace("<int:team_id>", "1")
                    path = path.replace("<int:token_id>", "1").replace("<int:item_id>", "1")
                    path = path.replace("<int:thread_id>", "1").replace("<int:rule_id>", "1")
                    path = path.replace("<int:ticket_id>", "1").replace("<int:session_id>", "1")
                    path = path.replace("<int:job_id>", "1").replace("<int:run_id>", "1")
                    path = path.replace("<int:view_id>", "1").replace("<int:policy_id>", "1")
                    expect(role, attr, world.call(route.method, path, token, {}), 401)

    assert not mismatches, "\n" + "\n".join(mismatches)


def test_write_rpcs_straight_on_the_broker_need_a_genuine_identity(world: World) -> None:
    ticket_id = world.tickets[("owned", "own")]
    before = world.ok("GET", f"/api/v1/tickets/{ticket_id}")
    forged = sign(Caller(user_id=1, permissions=frozenset({"super_admin"})), "not-the-secret")
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("create_ticket", ({"name": "sneaky"},)),
        ("update_ticket", (ticket_id, {"name": "sneaky"})),
        ("bulk_update", ({"ids": [ticket_id], "changes": {"priority": "urgent"}},)),
        ("follow", (ticket_id,)),
        ("mark_unread", (ticket_id,)),
        ("add_association", (ticket_id, "contacts", 99)),
        ("create_pipeline", ({"label": "sneaky", "stages": [{"label": "a", "state": "OPEN"}]},)),
        ("get_ticket", (ticket_id,)),
        ("list_tickets", ({},)),
        ("merge_tickets", ({"primary_id": ticket_id, "secondary_id": ticket_id},)),
        ("delete_ticket", (ticket_id,)),
        ("bulk_delete", ({"ids": [ticket_id], "confirm_count": 1},)),
        ("bin_due", (before.get("created_at", ""), 10)),
    ]
    for context in ({}, {"identity": forged}, {"identity": "garbage.value"}):
        with ServiceRpcProxy("tickets", world.tickets_config, context_data=context) as proxy:
            for method, args in calls:
                with pytest.raises(Unauthenticated):
                    getattr(proxy, method)(*args)
    genuine = sign(
        Caller(user_id=world.user_ids["super_admin"], permissions=frozenset({"super_admin"})), IDENTITY_SECRET
    )
    with ServiceRpcProxy("tickets", world.tickets_config, context_data={"identity": genuine}) as proxy:
        assert proxy.get_ticket(ticket_id, mark_read=False)["id"] == ticket_id
    after = world.ok("GET", f"/api/v1/tickets/{ticket_id}")
    assert after["version"] == before["version"] and after["name"] == before["name"]
    assert after["associations"] == before["associations"] and after["following"] == before["following"]
    listed = world.ok("GET", "/api/v1/tickets?limit=100")
    assert "sneaky" not in {t["name"] for t in listed["items"]}
    assert "sneaky" not in {p["label"] for p in world.ok("GET", "/api/v1/pipelines")}
