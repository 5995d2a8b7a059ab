"""The permissions service in a real container, on a real broker vhost and a migrated database.

Callers are built the way other services build them: a Caller signed with the
shared secret, sent as the ``identity`` context entry of a standalone RPC proxy.
Events are observed on the service's event exchange, as a subscriber would.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
import pytest
from kombu import Connection, Queue
from nameko.standalone.rpc import ServiceRpcProxy

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.chassis.idempotency import REPLAYED
from services.chassis.identity import Caller, Verifier, sign
from services.chassis.outbox import event_exchange
from services.permissions import contract
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.service import PermissionsService
from services.permissions.store import PermissionStore
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.db, pytest.mark.broker]

ADMIN_TOKEN = "hd_component-admin-token"


class EventTap:
    """A private queue bound to every event of the permissions service."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri)
        self.queue = Queue(
            f"tap-{uuid.uuid4().hex}",
            exchange=event_exchange(contract.SERVICE_NAME),
            routing_key="#",
            exclusive=True,
            auto_delete=True,
        )(self.connection.channel())
        self.queue.declare()

    def collect(self, seconds: float, until: Callable[[list[tuple[str, dict[str, Any]]]], bool]) -> list[Any]:
        """Events arriving until ``until(events)`` holds or ``seconds`` pass."""
        events: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until(events):
            message = self.queue.get(no_ack=True)
            if message is None:
                eventlet.sleep(0.01)
            else:
                events.append((message.delivery_info["routing_key"], message.payload))
        return events

    def wait_for(self, event_type: str, seconds: float = 2.0, **match: Any) -> dict[str, Any]:
        """The first ``event_type`` event whose payload has the ``match`` items."""

        def found(events: list[tuple[str, dict[str, Any]]]) -> bool:
            return any(t == event_type and match.items() <= p.items() for t, p in events)

        events = self.collect(seconds, found)
        hits = [p for t, p in events if t == event_type and match.items() <= p.items()]
        assert hits, f"no {event_type} {match} within {seconds}s; saw {events}"
        return hits[0]

    def quiet(self, seconds: float = 1.5) -> list[tuple[str, dict[str, Any]]]:
        """Everything that arrives within ``seconds`` (waits the whole time)."""
        return self.collect(seconds, lambda _events: False)

    def close(self) -> None:
        self.connection.release()


@pytest.fixture
def config(service_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return service_config("permissions")


@pytest.fixture
def store(config: dict[str, Any]) -> Iterator[PermissionStore]:
    engine = make_engine(config["DB_URL"])
    yield PermissionStore(SessionFactory(engine))
    engine.dispose()


@pytest.fixture
def tap(config: dict[str, Any]) -> Iterator[EventTap]:
    tap = EventTap(config["AMQP_URI"])
    yield tap
    tap.close()


@pytest.fixture
def admin(store: PermissionStore) -> dict[str, Any]:
    """The bootstrap super admin, whose API token is ADMIN_TOKEN."""
    return store.users.create(data=BOOTSTRAP_ADMIN, token_hash=hash_token(ADMIN_TOKEN))


@pytest.fixture
def service(container_factory: Any, config: dict[str, Any], admin: dict[str, Any], tap: EventTap) -> Any:
    container = container_factory(PermissionsService, config)
    container.start()
    return container


def identity_of(user_id: int, secret: str = IDENTITY_SECRET, ttl: float = 60, **fields: Any) -> str:
    return sign(Caller(user_id=user_id, **fields), secret, ttl)


@contextmanager
def rpc(config: dict[str, Any], identity: str | None) -> Iterator[Any]:
    context = {} if identity is None else {"identity": identity}
    with ServiceRpcProxy(contract.SERVICE_NAME, config, context_data=context, timeout=10) as proxy:
        yield proxy


@pytest.fixture
def as_admin(config: dict[str, Any], admin: dict[str, Any], service: Any) -> Iterator[Any]:
    with rpc(config, identity_of(admin["id"], permissions=frozenset({"super_admin"}))) as proxy:
        yield proxy


@pytest.fixture
def as_user(config: dict[str, Any], service: Any) -> Iterator[Callable[[int], Any]]:
    """``as_user(user_id)`` -> a proxy acting as that user (closed after the test)."""
    opened: list[Any] = []

    def open_as(user_id: int) -> Any:
        context = rpc(config, identity_of(user_id))
        opened.append(context)
        return context.__enter__()

    yield open_as
    for context in opened:
        context.__exit__(None, None, None)


def later(first: str, second: str) -> bool:
    return dt.datetime.fromisoformat(first) > dt.datetime.fromisoformat(second)


def new_user(proxy: Any, **fields: Any) -> dict[str, Any]:
    body = {"name": "Agent", "email": f"agent-{uuid.uuid4().hex[:8]}@example.com", **fields}
    return proxy.create_user(body)


# -- identity on the wire ------------------------------------------------------------


def test_public_methods_need_no_identity(config: dict[str, Any], service: Any) -> None:
    with rpc(config, None) as proxy:
        assert proxy.ping() == "pong"
        with pytest.raises(Unauthenticated):
            proxy.authenticate("hd_not-a-token")


@pytest.mark.parametrize("method", ["me", "list_users", "list_teams", "super_admin_ids", "admin_directory"])
def test_a_call_without_identity_is_refused(config: dict[str, Any], service: Any, method: str) -> None:
    with rpc(config, None) as proxy, pytest.raises(Unauthenticated):
        getattr(proxy, method)()


def _tampered(admin_id: int) -> str:
    genuine = identity_of(999_999)
    forged = identity_of(admin_id, secret="someone-elses-secret")
    return forged.split(".")[0] + "." + genuine.split(".")[1]


@pytest.mark.parametrize(
    "make_identity",
    [
        lambda admin_id: identity_of(admin_id, secret="someone-elses-secret"),
        _tampered,
        lambda admin_id: identity_of(admin_id, ttl=-1),
        lambda admin_id: "garbage",
    ],
    ids=["other-secret", "tampered-payload", "expired", "garbage"],
)
def test_forged_tampered_or_expired_identities_are_refused(
    config: dict[str, Any], service: Any, admin: dict[str, Any], make_identity: Callable[[int], str]
) -> None:
    with rpc(config, make_identity(admin["id"])) as proxy:
        with pytest.raises(Unauthenticated):
            proxy.list_users()
        with pytest.raises(Unauthenticated):
            proxy.create_user({"name": "Mallory", "email": "mallory@example.com"})
    assert [u["name"] for u in proxy_users(config, admin)] == ["admin"]


def proxy_users(config: dict[str, Any], admin: dict[str, Any]) -> list[dict[str, Any]]:
    with rpc(config, identity_of(admin["id"])) as proxy:
        return proxy.list_users({"limit": 100})["items"]


def test_a_signed_identity_of_a_user_that_does_not_exist_is_refused(
    config: dict[str, Any], service: Any
) -> None:
    with rpc(config, identity_of(424242, permissions=frozenset({"super_admin"}))) as proxy:
        with pytest.raises(Unauthenticated):
            proxy.me()


def test_rules_use_stored_permissions_not_the_ones_claimed_in_the_identity(
    config: dict[str, Any], as_admin: Any
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    claims_admin = identity_of(agent["id"], permissions=frozenset({"super_admin", "account_access"}))
    with rpc(config, claims_admin) as proxy:
        with pytest.raises(Forbidden):
            proxy.create_user({"name": "Eve", "email": "eve@example.com"})
        with pytest.raises(Forbidden):
            proxy.update_user(agent["id"], {"permissions": ["super_admin"]})
    assert as_admin.get_user(agent["id"])["permissions"] == ["service_access"]


def test_authenticate_signs_what_is_stored_about_the_user(
    config: dict[str, Any], as_admin: Any, admin: dict[str, Any]
) -> None:
    team = as_admin.create_team({"name": "Billing"})
    agent = new_user(as_admin, permissions=["service_access"], access_level="team", team_ids=[team["id"]])
    mate = new_user(as_admin, team_ids=[team["id"]])
    token = as_admin.issue_token(agent["id"])["token"]
    with rpc(config, None) as proxy:
        answer = proxy.authenticate(token)
        assert proxy.authenticate(ADMIN_TOKEN)["user_id"] == admin["id"]
    caller = Verifier(IDENTITY_SECRET).verify(answer["identity"])
    assert answer["user_id"] == caller.user_id == agent["id"]
    assert caller.permissions == {"service_access"} and caller.access_level == "team"
    assert caller.team_ids == (team["id"],)
    assert set(caller.teammate_ids) == {agent["id"], mate["id"]}


def test_an_integration_token_signs_a_quiet_integration_identity(
    config: dict[str, Any], as_admin: Any
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    person = as_admin.issue_token(agent["id"])
    integration = as_admin.issue_token(agent["id"], {"label": "crm sync", "kind": "integration"})
    loud = as_admin.issue_token(agent["id"], {"kind": "integration", "quiet": False})
    assert (person["kind"], person["quiet"]) == ("person", False)
    assert (integration["kind"], integration["quiet"]) == ("integration", True)
    verify = Verifier(IDENTITY_SECRET).verify
    with rpc(config, None) as proxy:
        signed = {
            name: verify(proxy.authenticate(t["token"])["identity"])
            for name, t in (("person", person), ("integration", integration), ("loud", loud))
        }
    assert (signed["person"].kind, signed["person"].quiet) == ("person", False)
    assert (signed["integration"].kind, signed["integration"].quiet) == ("integration", True)
    assert (signed["loud"].kind, signed["loud"].quiet) == ("integration", False)
    with pytest.raises(ValidationFailed):
        as_admin.issue_token(agent["id"], {"kind": "robot"})


def test_access_records_are_for_system_callers_and_carry_what_the_rules_need(
    config: dict[str, Any], as_admin: Any, admin: dict[str, Any]
) -> None:
    team = as_admin.create_team({"name": "Billing"})
    agent = new_user(as_admin, permissions=["service_access"], access_level="team", team_ids=[team["id"]])
    mate = new_user(as_admin, team_ids=[team["id"]])
    system = sign(Caller(user_id=0, name="system:tickets", system=True), IDENTITY_SECRET, 60)
    with rpc(config, system) as proxy:
        records = proxy.access_records([agent["id"], 999_999, admin["id"]])
    assert [r["user_id"] for r in records] == sorted([agent["id"], admin["id"]])
    by_id = {r["user_id"]: r for r in records}
    caller = Caller.from_wire(by_id[agent["id"]]["caller"])
    assert by_id[agent["id"]]["email"] == agent["email"] and by_id[agent["id"]]["name"] == "Agent"
    assert caller.access_level == "team" and caller.permissions == {"service_access"}
    assert set(caller.teammate_ids) == {agent["id"], mate["id"]} and caller.team_ids == (team["id"],)
    assert Caller.from_wire(by_id[admin["id"]]["caller"]).is_super_admin
    with pytest.raises(Forbidden):
        as_admin.access_records([agent["id"]])
    with rpc(config, system) as proxy, pytest.raises(ValidationFailed):
        proxy.access_records([True])


# -- users ---------------------------------------------------------------------------


def test_an_admin_creates_a_user_and_it_is_announced(as_admin: Any, tap: EventTap) -> None:
    user = new_user(as_admin, email="Ana.Lopez@Example.COM", permissions=["service_access"], seat=True)
    assert user["email"] == "ana.lopez@example.com"
    assert set(user) == set(contract.UserSchema().fields)
    assert user["seat"] is True and user["access_level"] == "owned" and user["team_ids"] == []
    assert user["created_at"].endswith("+00:00")
    assert as_admin.get_user(user["id"]) == user
    event = tap.wait_for(contract.USER_CREATED, user_id=user["id"])
    assert contract.UserCreatedEvent().load(event)["affected_user_ids"] == [user["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "nope"}, "email"),
        ({"name": "A", "email": "a@example.com", "permissions": ["root"]}, "permissions.0"),
        ({"name": "A", "email": "a@example.com", "access_level": "galaxy"}, "access_level"),
        ({"name": "A", "email": "a@example.com", "team_ids": [999]}, "team_ids"),
        ({"name": "A", "email": "a@example.com", "id": 77}, "id"),
        ({"name": "A", "email": "a@example.com", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"name": "A", "email": "a@example.com", "password": "x"}, "password"),
        ({"name": "A", "email": "ADMIN@localhost"}, "email"),  # taken, whatever the case
    ],
)
def test_bad_user_bodies_answer_422_and_create_nothing(
    as_admin: Any, config: dict[str, Any], admin: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        as_admin.create_user(body)
    assert field in caught.value.errors
    assert as_admin.user_count() == 1


def test_a_user_reads_and_renames_themself_but_nobody_else(
    as_admin: Any, as_user: Callable[[int], Any], tap: EventTap
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    other = new_user(as_admin)
    proxy = as_user(agent["id"])
    assert proxy.me()["id"] == agent["id"]
    assert proxy.get_user(agent["id"])["id"] == agent["id"]
    for attempt in (
        lambda: proxy.get_user(other["id"]),
        lambda: proxy.update_user(other["id"], {"name": "x"}),
        lambda: proxy.issue_token(other["id"]),
        lambda: proxy.list_tokens(other["id"]),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Forbidden):
        proxy.list_users()
    with pytest.raises(Forbidden):
        proxy.create_user({"name": "B", "email": "b@example.com"})
    renamed = proxy.update_user(agent["id"], {"name": "Ana B."})
    assert renamed["name"] == "Ana B." and later(renamed["updated_at"], agent["updated_at"])
    event = tap.wait_for(contract.USER_UPDATED, user_id=agent["id"])
    assert event["changed"] == ["name"]


@pytest.mark.parametrize(
    "patch",
    [
        {"permissions": ["service_access", "account_access"]},
        {"permissions": []},
        {"access_level": "everything"},
        {"include_unassigned": True},
        {"seat": True},
        {"team_ids": [1]},
        {"name": "fine", "seat": True},
    ],
)
def test_no_mass_assignment_on_your_own_record(
    as_admin: Any, as_user: Callable[[int], Any], patch: dict[str, Any]
) -> None:
    as_admin.create_team({"name": "Team one"})
    agent = new_user(as_admin, permissions=["service_access"])
    with pytest.raises(Forbidden):
        as_user(agent["id"]).update_user(agent["id"], patch)
    assert as_admin.get_user(agent["id"]) == agent


def test_sending_your_own_values_back_is_not_a_change(
    as_admin: Any, as_user: Callable[[int], Any], tap: EventTap
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    tap.wait_for(contract.USER_CREATED, user_id=agent["id"])
    body = {k: agent[k] for k in ("name", "email", "permissions", "access_level", "seat", "team_ids")}
    assert as_user(agent["id"]).update_user(agent["id"], body) == agent
    assert not [e for e in tap.quiet(1.2) if e[0] == contract.USER_UPDATED]


def test_account_access_cannot_make_or_touch_super_admins(
    as_admin: Any, as_user: Callable[[int], Any], admin: dict[str, Any]
) -> None:
    manager = new_user(as_admin, permissions=["account_access"])
    agent = new_user(as_admin)
    proxy = as_user(manager["id"])
    with pytest.raises(Forbidden):
        proxy.create_user({"name": "S", "email": "s@example.com", "permissions": ["super_admin"]})
    with pytest.raises(Forbidden):
        proxy.update_user(agent["id"], {"permissions": ["super_admin"]})
    with pytest.raises(Forbidden):
        proxy.update_user(manager["id"], {"permissions": ["account_access", "super_admin"]})
    with pytest.raises(Forbidden):
        proxy.update_user(admin["id"], {"name": "demoted?"})
    with pytest.raises(Forbidden):
        proxy.issue_token(admin["id"])
    changed = proxy.update_user(agent["id"], {"permissions": ["service_access"], "seat": True})
    assert changed["permissions"] == ["service_access"] and changed["seat"] is True
    assert as_admin.get_user(admin["id"])["name"] == "admin"


def test_the_last_super_admin_cannot_be_removed(as_admin: Any, admin: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        as_admin.update_user(admin["id"], {"permissions": ["account_access"]})
    assert "super_admin" in as_admin.get_user(admin["id"])["permissions"]
    second = new_user(as_admin, permissions=["super_admin"])
    as_admin.update_user(admin["id"], {"permissions": ["account_access"]})
    assert as_admin.super_admin_ids() == [second["id"]]
    users = as_admin.user_count()
    assert as_admin.admin_directory() == {"super_admin_ids": [second["id"]], "user_count": users}


def test_create_user_replays_an_idempotency_key(as_admin: Any) -> None:
    body = {"name": "Once", "email": "once@example.com"}
    first = as_admin.create_user(body, idempotency_key="k-1")
    assert as_admin.create_user(body, idempotency_key="k-1") == {**first, REPLAYED: True}
    with pytest.raises(Conflict):
        as_admin.create_user({**body, "name": "Twice"}, idempotency_key="k-1")
    assert as_admin.user_count() == 2


def test_listing_users_pages_through_everyone_once(as_admin: Any, admin: dict[str, Any]) -> None:
    created = [new_user(as_admin, name=f"user {i:02d}") for i in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = as_admin.list_users({"limit": 3, "cursor": cursor, "sort": "name"})
        assert page["total"] == 8
        seen += [u["id"] for u in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [admin["id"], *(u["id"] for u in created)]  # "admin" sorts before "user .."
    newest_first = as_admin.list_users({"limit": 2})["items"]
    assert [u["id"] for u in newest_first] == [created[-1]["id"], created[-2]["id"]]
    assert as_admin.list_users({"q": "USER 0"})["total"] == 7
    assert as_admin.list_users({"q": "%"})["total"] == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"sort": "password"}, "sort"),
        ({"cursor": "x"}, "cursor"),
    ],
)
def test_bad_list_options_are_refused(as_admin: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        as_admin.list_users(kwargs)
    assert field in caught.value.errors


def test_a_cursor_only_serves_the_list_that_issued_it(as_admin: Any, admin: dict[str, Any]) -> None:
    for i in range(2):
        new_user(as_admin, name=f"n{i}")
        as_admin.create_team({"name": f"team {i}"})
        as_admin.issue_token(admin["id"])
    users = as_admin.list_users({"limit": 1})["next_cursor"]  # both sort=-updated_at
    teams = as_admin.list_teams({"limit": 1})["next_cursor"]
    assert as_admin.list_users({"limit": 1, "cursor": users})["items"]
    for call in (
        lambda: as_admin.list_teams({"limit": 1, "cursor": users}),
        lambda: as_admin.list_tokens(admin["id"], {"limit": 1, "cursor": users}),
        lambda: as_admin.list_users({"limit": 1, "cursor": teams}),
    ):
        with pytest.raises(ValidationFailed) as caught:
            call()
        assert caught.value.errors == {"cursor": ["was issued by another list"]}


def test_a_cursor_only_serves_the_sort_it_was_made_for(as_admin: Any) -> None:
    for i in range(3):
        new_user(as_admin, name=f"n{i}")
    cursor = as_admin.list_users({"limit": 1, "sort": "name"})["next_cursor"]
    with pytest.raises(ValidationFailed):
        as_admin.list_users({"limit": 1, "sort": "-name", "cursor": cursor})


# -- tokens --------------------------------------------------------------------------


def test_a_user_issues_lists_and_revokes_their_own_token(
    config: dict[str, Any], as_admin: Any, as_user: Callable[[int], Any], tap: EventTap
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    proxy = as_user(agent["id"])
    issued = proxy.issue_token(agent["id"], {"label": "laptop"})
    assert issued["token"].startswith("hd_") and issued["label"] == "laptop"
    with rpc(config, None) as public:
        assert public.authenticate(issued["token"])["user_id"] == agent["id"]
    listed = proxy.list_tokens(agent["id"])
    assert listed["total"] == 1
    (record,) = listed["items"]
    assert "token" not in record and issued["token"] not in str(record)
    assert record["last_used_at"] is not None and record["revoked_at"] is None

    proxy.revoke_token(issued["id"])
    began = time.monotonic()
    event = tap.wait_for(contract.TOKEN_REVOKED, seconds=3.0, token_id=issued["id"])
    assert time.monotonic() - began < 3.0
    assert event["user_id"] == agent["id"]
    with rpc(config, None) as public, pytest.raises(Unauthenticated):
        public.authenticate(issued["token"])
    assert proxy.list_tokens(agent["id"])["items"][0]["revoked_at"] is not None

    proxy.revoke_token(issued["id"])  # again: no error, no second event
    assert not [e for e in tap.quiet(1.2) if e[0] == contract.TOKEN_REVOKED]


def test_tokens_of_others(as_admin: Any, as_user: Callable[[int], Any], admin: dict[str, Any]) -> None:
    agent = new_user(as_admin)
    manager = new_user(as_admin, permissions=["account_access"])
    for_agent = as_user(manager["id"]).issue_token(agent["id"])
    with pytest.raises(NotFound):
        as_user(agent["id"]).revoke_token(as_admin.issue_token(admin["id"])["id"])
    admin_token_id = as_admin.list_tokens(admin["id"])["items"][0]["id"]
    with pytest.raises(Forbidden):
        as_user(manager["id"]).revoke_token(admin_token_id)
    assert as_user(manager["id"]).revoke_token(for_agent["id"])["revoked_at"] is not None
    with pytest.raises(NotFound):
        as_admin.revoke_token(987654)


def test_token_answers_never_hold_the_stored_hash(as_admin: Any, admin: dict[str, Any]) -> None:
    issued = as_admin.issue_token(admin["id"])
    listed = as_admin.list_tokens(admin["id"], {"limit": 1})
    assert listed["total"] == 2 and listed["next_cursor"] is not None
    assert listed["items"][0]["id"] == issued["id"]  # newest first
    assert hash_token(issued["token"]) not in repr(listed) + repr(issued)
    rest = as_admin.list_tokens(admin["id"], {"limit": 1, "cursor": listed["next_cursor"]})
    assert rest["next_cursor"] is None and rest["items"][0]["id"] != issued["id"]


def test_a_token_request_replayed_issues_no_second_token(as_admin: Any, admin: dict[str, Any]) -> None:
    body = {"label": "ci"}
    issued = as_admin.issue_token(admin["id"], body, idempotency_key="t-1")
    assert issued["token"].startswith("hd_") and REPLAYED not in issued
    for again in (body, dict(body)):  # a retry: nothing new, and the value is not shown again
        with pytest.raises(Conflict) as caught:
            as_admin.issue_token(admin["id"], again, idempotency_key="t-1")
        assert caught.value.extra["token_id"] == issued["id"]
        assert f"Token {issued['id']} was already issued under this Idempotency-Key" in caught.value.detail
        assert issued["token"] not in str(caught.value.to_dict())
    with pytest.raises(Conflict) as caught:  # the key with another body: the usual refusal
        as_admin.issue_token(admin["id"], {"label": "other"}, idempotency_key="t-1")
    assert "token_id" not in caught.value.extra
    live = [t for t in as_admin.list_tokens(admin["id"])["items"] if t["label"] == "ci"]
    assert [t["id"] for t in live] == [issued["id"]]
    other = as_admin.issue_token(admin["id"], body, idempotency_key="t-2")  # a new key, a new token
    assert other["id"] != issued["id"]


# -- teams ---------------------------------------------------------------------------


def test_team_membership_changes_announce_every_affected_identity(
    as_admin: Any, tap: EventTap, config: dict[str, Any]
) -> None:
    team = as_admin.create_team({"name": "Support"})
    assert tap.wait_for(contract.TEAM_CREATED, team_id=team["id"])["name"] == "Support"
    ana, bo, cy = (new_user(as_admin, name=n) for n in ("Ana", "Bo", "Cy"))

    team = as_admin.set_team_members(team["id"], {"user_ids": [ana["id"], bo["id"]]})
    assert team["member_ids"] == sorted([ana["id"], bo["id"]])
    updated = tap.wait_for(contract.TEAM_UPDATED, team_id=team["id"])
    assert updated["added_user_ids"] == sorted([ana["id"], bo["id"]])
    for user in (ana, bo):
        event = tap.wait_for(contract.USER_UPDATED, user_id=user["id"])
        assert event["changed"] == ["team_ids"]

    # Cy joins through their own record: the team and Cy's team-mates are announced too.
    as_admin.update_user(cy["id"], {"team_ids": [team["id"]]})
    joined = tap.wait_for(contract.TEAM_UPDATED, team_id=team["id"], added_user_ids=[cy["id"]])
    assert joined["affected_user_ids"] == sorted([ana["id"], bo["id"], cy["id"]])
    event = tap.wait_for(contract.USER_UPDATED, user_id=cy["id"])
    assert event["changed"] == ["team_ids"] and ana["id"] in event["affected_user_ids"]

    # Bo leaves: Ana's team-mates change although Ana's record does not.
    as_admin.set_team_members(team["id"], {"user_ids": [ana["id"], cy["id"]]})
    left = tap.wait_for(contract.TEAM_UPDATED, team_id=team["id"], removed_user_ids=[bo["id"]])
    assert ana["id"] in left["affected_user_ids"]
    assert as_admin.get_user(bo["id"])["team_ids"] == []
    with rpc(config, None) as public:
        token = as_admin.issue_token(ana["id"])["token"]
        mates = Verifier(IDENTITY_SECRET).verify(public.authenticate(token)["identity"]).teammate_ids
    assert set(mates) == {ana["id"], cy["id"]}


def test_people_without_account_access_see_only_their_teams_and_change_none(
    as_admin: Any, as_user: Callable[[int], Any]
) -> None:
    mine = as_admin.create_team({"name": "Mine"})
    other = as_admin.create_team({"name": "Other"})
    agent = new_user(as_admin, team_ids=[mine["id"]])
    proxy = as_user(agent["id"])
    assert [t["id"] for t in proxy.list_teams()["items"]] == [mine["id"]]
    assert proxy.get_team(mine["id"])["member_ids"] == [agent["id"]]
    with pytest.raises(NotFound):
        proxy.get_team(other["id"])
    with pytest.raises(NotFound):
        proxy.set_team_members(other["id"], {"user_ids": [agent["id"]]})
    with pytest.raises(Forbidden):
        proxy.set_team_members(mine["id"], {"user_ids": []})
    with pytest.raises(Forbidden):
        proxy.update_team(mine["id"], {"name": "Ours"})
    with pytest.raises(Forbidden):
        proxy.create_team({"name": "Mutiny"})
    assert as_admin.list_teams()["total"] == 2


def test_account_access_cannot_move_a_super_admin_between_teams(
    as_admin: Any, as_user: Callable[[int], Any], admin: dict[str, Any]
) -> None:
    manager = new_user(as_admin, permissions=["account_access"])
    agent = new_user(as_admin)
    team = as_user(manager["id"]).create_team({"name": "Ops"})
    with pytest.raises(Forbidden):
        as_user(manager["id"]).set_team_members(team["id"], {"user_ids": [admin["id"], agent["id"]]})
    assert as_user(manager["id"]).set_team_members(team["id"], {"user_ids": [agent["id"]]})["member_ids"] == [
        agent["id"]
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p, t: p.set_team_members(t, {"user_ids": [424242]}), "user_ids"),
        (lambda p, t: p.set_team_members(t, {"members": []}), "members"),
        (lambda p, t: p.create_team({"name": "Taken"}), "name"),
        (lambda p, t: p.create_team({"name": ""}), "name"),
        (lambda p, t: p.update_team(t, {"name": "x", "id": 3}), "id"),
    ],
)
def test_bad_team_bodies_answer_422(as_admin: Any, call: Callable[[Any, int], Any], field: str) -> None:
    team = as_admin.create_team({"name": "Taken"})
    with pytest.raises(ValidationFailed) as caught:
        call(as_admin, team["id"])
    assert field in caught.value.errors
    assert as_admin.get_team(team["id"])["member_ids"] == []


def test_teams_are_renamed_and_unknown_ones_are_not_found(as_admin: Any, tap: EventTap) -> None:
    team = as_admin.create_team({"name": "Old"}, idempotency_key="team-1")
    assert as_admin.create_team({"name": "Old"}, idempotency_key="team-1") == {**team, REPLAYED: True}
    renamed = as_admin.update_team(team["id"], {"name": "New"})
    assert renamed["name"] == "New" and later(renamed["updated_at"], team["updated_at"])
    assert tap.wait_for(contract.TEAM_UPDATED, team_id=team["id"])["changed"] == ["name"]
    with pytest.raises(NotFound):
        as_admin.get_team(31337)
