"""Signing in against the permissions service in a real container (real broker, migrated
database): invites that set a password once, sign-in that answers the same for an unknown
address as for a wrong password (in time too), sessions exchanged for signed identities, ended
and revoked with ``session_revoked`` at once, and a new password ending every session."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.chassis.identity import Verifier
from services.permissions import contract
from services.permissions.credentials import HashCost, Passwords
from services.permissions.service import SIGN_IN_REFUSED, PermissionsService
from services.permissions.store import PermissionStore
from tests.component import test_permissions_service as base
from tests.component.test_permissions_service import EventTap, new_user, rpc
from tests.conftest import IDENTITY_SECRET

# the permissions service's fixtures, on this module's ``config`` (a cheap password hash)
admin, as_admin, as_user = base.admin, base.as_admin, base.as_user
service, store, tap = base.service, base.store, base.tap

pytestmark = [pytest.mark.db, pytest.mark.broker]

CHEAP_HASH = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}
PASSWORD = "correct horse battery"


@pytest.fixture
def config(service_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return service_config("permissions", PASSWORD_HASH=CHEAP_HASH)


def with_password(
    config: dict[str, Any], as_admin: Any, password: str = PASSWORD, **fields: Any
) -> dict[str, Any]:
    user = new_user(as_admin, **fields)
    invite = as_admin.invite(user["id"])
    with rpc(config, None) as public:
        public.accept_invite({"token": invite["token"], "password": password})
    return user


def sign_in(config: dict[str, Any], email: str, password: str = PASSWORD) -> dict[str, Any]:
    with rpc(config, None) as public:
        answer: dict[str, Any] = public.sign_in({"email": email, "password": password})
    return answer


def test_an_invited_user_sets_a_password_once_and_signs_in(config: dict[str, Any], as_admin: Any) -> None:
    user = new_user(as_admin, permissions=["service_access"])
    invite = as_admin.invite(user["id"])
    assert invite["token"].startswith("hi_") and invite["user_id"] == user["id"] and invite["expires_at"]
    with rpc(config, None) as public:
        with pytest.raises(ValidationFailed) as short:
            public.accept_invite({"token": invite["token"], "password": "too short"})
        assert "password" in short.value.extra["errors"]
        done = public.accept_invite({"token": invite["token"], "password": PASSWORD})
        assert done == {"user_id": user["id"], "email": user["email"]}, "a refused password used nothing up"
        with pytest.raises(ValidationFailed) as again:
            public.accept_invite({"token": invite["token"], "password": "another good one"})
        assert "token" in again.value.extra["errors"]

    answer = sign_in(config, user["email"].upper())
    assert answer["user"]["id"] == user["id"] and "password_hash" not in answer["user"]
    assert answer["session"].startswith("hs_") and answer["max_age"] == 7 * 24 * 3600
    with rpc(config, None) as public:
        identity = public.authenticate_session(answer["session"])
    caller = Verifier(IDENTITY_SECRET).verify(identity["identity"])
    assert identity["user_id"] == caller.user_id == user["id"] and caller.permissions == {"service_access"}


def test_every_failed_sign_in_gets_the_same_answer(config: dict[str, Any], as_admin: Any) -> None:
    user = with_password(config, as_admin)
    pending = new_user(as_admin)  # invited, no password yet
    attempts = [
        (user["email"], "wrong password!"),
        ("nobody@example.com", PASSWORD),
        (pending["email"], PASSWORD),
        (pending["email"], ""),
    ]
    details = set()
    for email, password in attempts:
        with rpc(config, None) as public, pytest.raises((Unauthenticated, ValidationFailed)) as refused:
            public.sign_in({"email": email, "password": password})
        if password:
            assert isinstance(refused.value, Unauthenticated)
            details.add(refused.value.detail)
    assert details == {SIGN_IN_REFUSED}


def test_an_unknown_address_takes_as_long_as_a_wrong_password(
    service_config: Callable[..., dict[str, Any]], container_factory: Any
) -> None:
    """With a cost that dominates the round trip (16 MiB, 2 passes), the decoy is checked too."""
    cost = HashCost(time_cost=2, memory_kib=16384, parallelism=1)
    config = service_config("permissions", PASSWORD_HASH=vars(cost))
    engine = make_engine(config["DB_URL"])
    users = PermissionStore(SessionFactory(engine)).users
    users.create(
        data={"name": "Ana", "email": "ana@example.com"}, password_hash=Passwords(cost).hash(PASSWORD)
    )
    engine.dispose()
    container_factory(PermissionsService, config).start()

    def timed(email: str) -> float:
        with rpc(config, None) as public:
            began = time.perf_counter()
            with pytest.raises(Unauthenticated):
                public.sign_in({"email": email, "password": "not the password"})
            return time.perf_counter() - began

    timed("warm@example.com")
    # interleaved, so a burst of load on a shared machine slows both kinds alike
    pairs = [(timed("ana@example.com"), timed("nobody@example.com")) for _ in range(7)]
    known = statistics.median(k for k, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    assert unknown > known * 0.6, f"unknown address {unknown:.4f}s vs wrong password {known:.4f}s"


def test_signing_out_ends_the_session_at_once(
    config: dict[str, Any], as_admin: Any, as_user: Callable[[int], Any], tap: EventTap
) -> None:
    user = with_password(config, as_admin)
    other = sign_in(config, user["email"])
    answer = sign_in(config, user["email"])
    me = as_user(user["id"])
    assert me.end_session(other["session"] + "x") is False
    assert me.end_session(answer["session"]) is True
    event = tap.wait_for(contract.SESSION_REVOKED, seconds=2.0, user_id=user["id"])
    assert len(event["session_ids"]) == 1
    with rpc(config, None) as public:
        with pytest.raises(Unauthenticated):
            public.authenticate_session(answer["session"])
        assert public.authenticate_session(other["session"])["user_id"] == user["id"], "the other one lives"
    assert me.end_session(answer["session"]) is False


def test_sessions_are_listed_and_revoked_like_tokens(
    config: dict[str, Any], as_admin: Any, as_user: Callable[[int], Any], tap: EventTap
) -> None:
    user = with_password(config, as_admin, permissions=["service_access"])
    answer = sign_in(config, user["email"])
    stranger = new_user(as_admin)
    listed = as_user(user["id"]).list_sessions(user["id"])
    (record,) = listed["items"]
    assert answer["session"] not in str(record) and record["revoked_at"] is None
    with pytest.raises(NotFound):
        as_user(stranger["id"]).revoke_session(record["id"])
    as_admin.revoke_session(record["id"])
    tap.wait_for(contract.SESSION_REVOKED, seconds=2.0, user_id=user["id"], session_ids=[record["id"]])
    with rpc(config, None) as public, pytest.raises(Unauthenticated):
        public.authenticate_session(answer["session"])


def test_a_new_password_ends_every_session(config: dict[str, Any], as_admin: Any, tap: EventTap) -> None:
    user = with_password(config, as_admin)
    sessions = [sign_in(config, user["email"])["session"] for _ in range(2)]
    invite = as_admin.invite(user["id"])
    with rpc(config, None) as public:
        public.accept_invite({"token": invite["token"], "password": "a brand new password"})
    event = tap.wait_for(contract.SESSION_REVOKED, seconds=2.0, user_id=user["id"])
    assert len(event["session_ids"]) == 2
    with rpc(config, None) as public:
        for session in sessions:
            with pytest.raises(Unauthenticated):
                public.authenticate_session(session)
    with pytest.raises(Unauthenticated):
        sign_in(config, user["email"])
    assert sign_in(config, user["email"], "a brand new password")["user"]["id"] == user["id"]


def test_only_people_admins_invite(
    config: dict[str, Any], as_admin: Any, as_user: Callable[[int], Any]
) -> None:
    agent = new_user(as_admin, permissions=["service_access"])
    admin_of_people = new_user(as_admin, permissions=["account_access"])
    chief = new_user(as_admin, permissions=["super_admin"])
    with pytest.raises(NotFound):  # someone you cannot see does not exist
        as_user(agent["id"]).invite(admin_of_people["id"])
    with pytest.raises(Forbidden):
        as_user(agent["id"]).invite(agent["id"])
    with pytest.raises(Forbidden):
        as_user(admin_of_people["id"]).invite(chief["id"])
    assert as_user(admin_of_people["id"]).invite(agent["id"])["user_id"] == agent["id"]


def test_a_session_of_someone_whose_permissions_change_signs_the_new_ones(
    config: dict[str, Any], as_admin: Any
) -> None:
    user = with_password(config, as_admin, permissions=["service_access"])
    answer = sign_in(config, user["email"])
    as_admin.update_user(user["id"], {"permissions": ["sales_access"]})
    with rpc(config, None) as public:
        identity = public.authenticate_session(answer["session"])
    assert Verifier(IDENTITY_SECRET).verify(identity["identity"]).permissions == {"sales_access"}
