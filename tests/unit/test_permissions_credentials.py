"""Rules of signing in (services/permissions/credentials.py): argon2id hashes, the decoy that
makes an unknown address cost what a wrong password costs, password rules, session expiry that
slides but never past its limit, and invites that work once and expire, on a manual clock."""

from __future__ import annotations

import datetime as dt

import pytest

from services.chassis.clock import ManualClock
from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.permissions.credentials import (
    INVITE_LIFETIME,
    HashCost,
    InviteState,
    Passwords,
    SessionPolicy,
    SessionState,
    check_invite,
    check_password_rules,
    invite_expiry,
    new_invite_token,
    new_session_id,
    secret_hash,
    sessions_revoked,
)

CHEAP = HashCost(time_cost=1, memory_kib=256, parallelism=1)
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(CHEAP)


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password(passwords: Passwords) -> None:
    first, second = passwords.hash("correct horse battery"), passwords.hash("correct horse battery")
    assert first.startswith("$argon2id$") and first != second, "salted: the same password hashes apart"
    assert "correct horse" not in first
    assert passwords.verify(first, "correct horse battery")
    assert not passwords.verify(first, "correct horse batterY")
    assert not passwords.verify(first, "")


def test_no_stored_hash_checks_the_decoy_and_answers_false(passwords: Passwords) -> None:
    decoy = passwords.decoy()
    assert decoy.startswith("$argon2id$") and passwords.decoy() is decoy, "made once, reused"
    assert passwords.verify(None, "anything at all") is False
    assert passwords.verify("", "anything at all") is False


def test_the_decoy_costs_what_a_real_check_costs() -> None:
    """Same parameters, so the same work: the hash string names them."""
    passwords = Passwords(HashCost(time_cost=2, memory_kib=512, parallelism=1))
    real = passwords.hash("a real password")
    assert real.split("$")[3] == passwords.decoy().split("$")[3] == "m=512,t=2,p=1"


def test_a_damaged_hash_is_a_mismatch_not_an_error(passwords: Passwords) -> None:
    assert passwords.verify("not-a-hash", "correct horse battery") is False
    assert passwords.needs_rehash("not-a-hash") is True


def test_a_hash_made_at_another_cost_needs_rehashing(passwords: Passwords) -> None:
    stronger = Passwords(HashCost(time_cost=2, memory_kib=256, parallelism=1))
    old = passwords.hash("correct horse battery")
    assert not passwords.needs_rehash(old)
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, "correct horse battery"), "an old hash still verifies"


@pytest.mark.parametrize(
    "raw",
    [{"time_cost": 0}, {"parallelism": 0}, {"memory_kib": 4, "parallelism": 1}],
)
def test_an_impossible_cost_is_refused_at_start(raw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        HashCost.from_config(raw)


def test_cost_defaults_are_argon2_cffis() -> None:
    assert HashCost.from_config(None) == HashCost(time_cost=3, memory_kib=65536, parallelism=4)
    assert HashCost.from_config({"time_cost": "2"}).time_cost == 2


@pytest.mark.parametrize("password", ["x" * 10, "zażółć gęś", "x" * 1024])
def test_passwords_of_10_to_1024_characters_are_accepted(password: str) -> None:
    assert check_password_rules(password) == password


@pytest.mark.parametrize("password", ["", "x" * 9, "x" * 1025, None, 12345678901])
def test_other_passwords_are_refused_on_the_field(password: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_password_rules(password, "new_password")
    assert list(refused.value.extra["errors"]) == ["new_password"]


def test_secrets_are_random_prefixed_and_stored_as_sha256() -> None:
    session, invite = new_session_id(), new_invite_token()
    assert session.startswith("hs_") and invite.startswith("hi_")
    assert len(session) > 40 and session != new_session_id()
    assert len(secret_hash(session)) == 64 and secret_hash(session) == secret_hash(session)
    assert session not in secret_hash(session)


def test_a_session_slides_with_use_but_never_past_its_limit() -> None:
    policy = SessionPolicy(idle=dt.timedelta(hours=12), absolute=dt.timedelta(days=7))
    assert policy.expires_at(START, START) == START + dt.timedelta(hours=12)
    later = START + dt.timedelta(days=3)
    assert policy.expires_at(START, later) == later + dt.timedelta(hours=12)
    near_the_end = START + dt.timedelta(days=6, hours=20)
    assert policy.expires_at(START, near_the_end) == START + dt.timedelta(days=7)


def test_session_policy_from_config() -> None:
    policy = SessionPolicy.from_config({"idle_minutes": 30, "max_hours": 8})
    assert policy == SessionPolicy(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=8))
    assert SessionPolicy.from_config(None) == SessionPolicy()
    with pytest.raises(ValueError):
        SessionPolicy.from_config({"idle_minutes": 0})


def test_a_session_lives_until_it_expires_or_is_revoked() -> None:
    clock = ManualClock(START)
    state = SessionState(START, START, START + dt.timedelta(hours=1), None)
    assert state.live(clock.now())
    assert not state.needs_touch(clock.advance(seconds=59))
    assert state.needs_touch(clock.advance(seconds=1)), "a use is recorded at most once a minute"
    assert not state.live(clock.advance(hours=1)), "expired at its expiry, not after"
    revoked = SessionState(START, START, START + dt.timedelta(hours=1), START)
    assert not revoked.live(START)


def test_an_invite_works_once_until_it_expires() -> None:
    clock = ManualClock(START)
    expires = invite_expiry(clock.now())
    assert expires == START + INVITE_LIFETIME == START + dt.timedelta(days=3)
    fresh = InviteState(expires, None)
    assert fresh.usable(clock.now())
    assert fresh.usable(clock.advance(days=2, hours=23))
    assert not fresh.usable(clock.advance(hours=1)), "not at its expiry"
    assert not InviteState(expires, START).usable(START), "not once used"


def test_only_people_admins_invite_and_only_super_admins_invite_super_admins() -> None:
    admin = Caller(user_id=1, permissions=frozenset({"account_access"}))
    super_admin = Caller(user_id=2, permissions=frozenset({"super_admin"}))
    agent = Caller(user_id=3, permissions=frozenset({"service_access"}))
    check_invite(admin, owner_is_super_admin=False)
    check_invite(super_admin, owner_is_super_admin=True)
    with pytest.raises(Forbidden):
        check_invite(admin, owner_is_super_admin=True)
    with pytest.raises(Forbidden):
        check_invite(agent, owner_is_super_admin=False)


def test_revoked_sessions_are_announced_once_each() -> None:
    event = sessions_revoked(7, [3, 1, 3])
    assert event.type == "session_revoked"
    assert event.payload == {"user_id": 7, "session_ids": [1, 3]}
