"""The permissions store's credentials part on a migrated database and a manual clock:
sessions that slide and expire, revoke and end once (each announced), invites that work once,
expire, are replaced by newer ones, and end the user's sessions when used."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.chassis.clock import ManualClock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden, NotFound, ValidationFailed
from services.permissions.credentials import SessionPolicy, secret_hash
from services.permissions.models import sessions
from services.permissions.store import PermissionStore

pytestmark = pytest.mark.db

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
POLICY = SessionPolicy(idle=dt.timedelta(hours=1), absolute=dt.timedelta(hours=5))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(make_db: Callable[[str], str], clock: ManualClock) -> Iterator[PermissionStore]:
    engine = make_engine(make_db("permissions"))
    yield PermissionStore(SessionFactory(engine), clock=clock, session_policy=POLICY)
    engine.dispose()


@pytest.fixture
def user(store: PermissionStore) -> dict[str, Any]:
    return store.users.create(data={"name": "Ana", "email": "ana@example.com"})


def revocations(store: PermissionStore) -> list[dict[str, Any]]:
    with store.db.read() as s:
        rows = s.execute(
            sa.text("SELECT payload FROM outbox WHERE event_type = 'session_revoked' ORDER BY id")
        ).all()
    return [{k: v for k, v in json.loads(r[0]).items() if k in ("user_id", "session_ids")} for r in rows]


def test_an_unknown_address_has_no_user_and_no_hash(store: PermissionStore, user: dict[str, Any]) -> None:
    found = store.credentials.password_of(email="nobody@example.com")
    assert found.user_id is None and found.password_hash is None
    invited = store.credentials.password_of(email=" ANA@example.com ")
    assert invited.user_id == user["id"] and invited.password_hash is None, "no password until an invite"


def test_a_session_slides_with_use_and_expires_when_idle(
    store: PermissionStore, user: dict[str, Any], clock: ManualClock
) -> None:
    opened = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_one"))
    assert opened["expires_at"] == (START + dt.timedelta(hours=1)).isoformat()
    clock.advance(minutes=50)
    assert store.credentials.holder(session_hash=secret_hash("hs_one")) == user["id"]
    clock.advance(minutes=50)
    assert store.credentials.holder(session_hash=secret_hash("hs_one")) == user["id"], "the use slid it"
    clock.advance(minutes=61)
    assert store.credentials.holder(session_hash=secret_hash("hs_one")) is None, "idle for over an hour"
    assert store.credentials.holder(session_hash=secret_hash("hs_other")) is None


def test_a_session_never_outlives_its_absolute_limit(
    store: PermissionStore, user: dict[str, Any], clock: ManualClock
) -> None:
    store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_busy"))
    for _ in range(9):
        clock.advance(minutes=30)
        assert store.credentials.holder(session_hash=secret_hash("hs_busy")) == user["id"]
    clock.advance(minutes=31)  # 5 h 01 min after sign-in, used every half hour
    assert store.credentials.holder(session_hash=secret_hash("hs_busy")) is None


def test_signing_out_ends_only_ones_own_session_once(store: PermissionStore, user: dict[str, Any]) -> None:
    other = store.users.create(data={"name": "Bo", "email": "bo@example.com"})
    opened = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_mine"))
    assert store.credentials.end(session_hash=secret_hash("hs_mine"), user_id=other["id"]) is False
    assert store.credentials.holder(session_hash=secret_hash("hs_mine")) == user["id"]
    assert store.credentials.end(session_hash=secret_hash("hs_mine"), user_id=user["id"]) is True
    assert store.credentials.end(session_hash=secret_hash("hs_mine"), user_id=user["id"]) is False
    assert store.credentials.holder(session_hash=secret_hash("hs_mine")) is None
    assert revocations(store) == [{"user_id": user["id"], "session_ids": [opened["id"]]}]


def test_revoking_checks_the_owner_and_announces_once(store: PermissionStore, user: dict[str, Any]) -> None:
    opened = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_x"))

    def refuse(_owner_is_super_admin: bool) -> None:
        raise Forbidden("no")

    with pytest.raises(Forbidden):
        store.credentials.revoke(session_id=opened["id"], check=refuse)
    assert store.credentials.holder(session_hash=secret_hash("hs_x")) == user["id"]
    first = store.credentials.revoke(session_id=opened["id"], check=lambda _sa: None)
    again = store.credentials.revoke(session_id=opened["id"], check=lambda _sa: None)
    assert first["revoked_at"] == again["revoked_at"] is not None
    assert store.credentials.holder(session_hash=secret_hash("hs_x")) is None
    assert len(revocations(store)) == 1
    with pytest.raises(NotFound):
        store.credentials.revoke(session_id=opened["id"] + 100, check=lambda _sa: None)
    page = store.credentials.page(user_id=user["id"], limit=10, cursor=None)
    assert [s["id"] for s in page["items"]] == [opened["id"]] and "session_hash" not in page["items"][0]


def test_an_invite_works_once_and_ends_every_session(store: PermissionStore, user: dict[str, Any]) -> None:
    one = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_a"))
    two = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_b"))
    store.credentials.invite(
        user_id=user["id"], token_hash=secret_hash("hi_1"), created_by=None, check=lambda _: None
    )
    done = store.credentials.accept_invite(token_hash=secret_hash("hi_1"), password_hash="$argon2id$first")
    assert done == {"user_id": user["id"], "email": "ana@example.com"}
    assert store.credentials.password_of(email="ana@example.com").password_hash == "$argon2id$first"
    assert store.credentials.holder(session_hash=secret_hash("hs_a")) is None
    assert store.credentials.holder(session_hash=secret_hash("hs_b")) is None
    assert revocations(store) == [{"user_id": user["id"], "session_ids": [one["id"], two["id"]]}]
    with pytest.raises(ValidationFailed) as refused:
        store.credentials.accept_invite(token_hash=secret_hash("hi_1"), password_hash="$argon2id$second")
    assert "token" in refused.value.extra["errors"]
    assert store.credentials.password_of(email="ana@example.com").password_hash == "$argon2id$first"


def test_an_invite_expires_after_three_days(
    store: PermissionStore, user: dict[str, Any], clock: ManualClock
) -> None:
    issued = store.credentials.invite(
        user_id=user["id"], token_hash=secret_hash("hi_late"), created_by=None, check=lambda _: None
    )
    assert issued["expires_at"] == (START + dt.timedelta(days=3)).isoformat()
    clock.advance(days=3)
    with pytest.raises(ValidationFailed):
        store.credentials.accept_invite(token_hash=secret_hash("hi_late"), password_hash="$argon2id$x")
    assert store.credentials.password_of(email="ana@example.com").password_hash is None


def test_a_newer_invite_replaces_the_older(store: PermissionStore, user: dict[str, Any]) -> None:
    for token in ("hi_old", "hi_new"):
        store.credentials.invite(
            user_id=user["id"], token_hash=secret_hash(token), created_by=1, check=lambda _: None
        )
    with pytest.raises(ValidationFailed):
        store.credentials.accept_invite(token_hash=secret_hash("hi_old"), password_hash="$argon2id$x")
    store.credentials.accept_invite(token_hash=secret_hash("hi_new"), password_hash="$argon2id$y")


def test_an_invite_checks_the_owner_first(store: PermissionStore, user: dict[str, Any]) -> None:
    seen: list[bool] = []

    def refuse(owner_is_super_admin: bool) -> None:
        seen.append(owner_is_super_admin)
        raise Forbidden("no")

    with pytest.raises(Forbidden):
        store.credentials.invite(
            user_id=user["id"], token_hash=secret_hash("hi_no"), created_by=1, check=refuse
        )
    assert seen == [False]
    with pytest.raises(ValidationFailed):
        store.credentials.accept_invite(token_hash=secret_hash("hi_no"), password_hash="$argon2id$x")


def test_a_removed_user_takes_their_sessions_along(store: PermissionStore, user: dict[str, Any]) -> None:
    """No route removes users today; if a row goes (by hand), its sessions go with it."""
    store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_gone"))
    with store.db.transaction() as s:
        s.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": user["id"]})
    with store.db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(sessions)) == 0
    assert store.credentials.holder(session_hash=secret_hash("hs_gone")) is None


def test_a_password_change_replaces_only_the_hash_it_was_checked_against(
    store: PermissionStore, user: dict[str, Any], clock: ManualClock
) -> None:
    store.credentials.invite(
        user_id=user["id"], token_hash=secret_hash("hi_1"), created_by=None, check=lambda _: None
    )
    store.credentials.accept_invite(token_hash=secret_hash("hi_1"), password_hash="$argon2id$first")
    assert store.credentials.password_hash_of(user_id=user["id"]) == "$argon2id$first"
    one = store.credentials.open(user_id=user["id"], session_hash=secret_hash("hs_a"))
    clock.advance(minutes=5)
    done = store.credentials.change_password(
        user_id=user["id"], old_hash="$argon2id$first", new_hash="$argon2id$second"
    )
    when = "2026-12-01T09:05:00+00:00"
    assert done == {"user_id": user["id"], "password_set_at": when, "sessions_ended": 1}
    assert store.credentials.holder(session_hash=secret_hash("hs_a")) is None
    assert revocations(store)[-1] == {"user_id": user["id"], "session_ids": [one["id"]]}
    with pytest.raises(ValidationFailed) as lost:  # a second change checked against the old hash
        store.credentials.change_password(
            user_id=user["id"], old_hash="$argon2id$first", new_hash="$argon2id$x"
        )
    assert "current_password" in lost.value.extra["errors"]
    assert store.credentials.password_hash_of(user_id=user["id"]) == "$argon2id$second"
    with pytest.raises(NotFound):
        store.credentials.password_hash_of(user_id=999)
