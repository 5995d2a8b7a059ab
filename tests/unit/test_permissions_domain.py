"""Who may see and change which people, teams and tokens; list cursors and sorts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.chassis.errors import Forbidden
from services.chassis.idempotency import request_hash
from services.chassis.identity import Caller
from services.permissions import domain

SUPER = Caller(user_id=1, permissions=frozenset({"super_admin"}))
ACCOUNT = Caller(user_id=2, permissions=frozenset({"account_access", "service_access"}), team_ids=(10,))
AGENT = Caller(user_id=3, permissions=frozenset({"service_access"}), team_ids=(10, 11))
SYSTEM = Caller(user_id=0, system=True)


def outcome(check: Callable[[], None]) -> str:
    try:
        check()
    except Forbidden:
        return "403"
    return "ok"


USER_CHANGES = [
    # (actor, target id (None: a new user), target is super admin, changed fields, granted, expected)
    (AGENT, 3, False, {"name"}, set(), "ok"),
    (AGENT, 3, False, {"email", "name"}, set(), "ok"),
    (AGENT, 3, False, set(), set(), "ok"),
    (AGENT, 3, False, {"permissions"}, {"account_access"}, "403"),
    (AGENT, 3, False, {"permissions"}, set(), "403"),  # even dropping one of your own
    (AGENT, 3, False, {"access_level"}, set(), "403"),
    (AGENT, 3, False, {"include_unassigned"}, set(), "403"),
    (AGENT, 3, False, {"seat"}, set(), "403"),
    (AGENT, 3, False, {"team_ids"}, set(), "403"),
    (AGENT, 3, False, {"name", "seat"}, set(), "403"),
    (AGENT, 4, False, {"name"}, set(), "403"),
    (AGENT, None, False, {"name", "email"}, set(), "403"),
    (ACCOUNT, 4, False, {"permissions", "seat", "team_ids"}, {"service_access"}, "ok"),
    (ACCOUNT, 4, False, {"permissions"}, {"account_access"}, "ok"),
    (ACCOUNT, 4, False, {"permissions"}, {"super_admin"}, "403"),
    (ACCOUNT, 2, False, {"permissions"}, {"super_admin"}, "403"),
    (ACCOUNT, 2, False, {"permissions", "access_level"}, {"delete_tickets"}, "ok"),
    (ACCOUNT, 1, True, {"name"}, set(), "403"),
    (ACCOUNT, 1, True, {"permissions"}, set(), "403"),
    (ACCOUNT, 1, True, set(), set(), "ok"),
    (ACCOUNT, None, False, {"name", "permissions"}, {"service_access"}, "ok"),
    (ACCOUNT, None, False, {"name", "permissions"}, {"super_admin"}, "403"),
    (SUPER, 5, True, {"permissions"}, set(), "ok"),
    (SUPER, 5, False, {"permissions"}, {"super_admin"}, "ok"),
    (SUPER, None, False, {"permissions"}, {"super_admin"}, "ok"),
    (SYSTEM, 5, True, {"permissions", "team_ids"}, {"super_admin"}, "ok"),
]


@pytest.mark.parametrize(("actor", "target", "target_super", "changed", "granted", "expected"), USER_CHANGES)
def test_who_may_change_which_user_field(
    actor: Caller, target: int | None, target_super: bool, changed: set[str], granted: set[str], expected: str
) -> None:
    assert (
        outcome(lambda: domain.check_user_change(actor, target, target_super, changed, granted)) == expected
    )


TOKEN_CHANGES = [
    # (actor, token owner, owner is super admin, expected)
    (AGENT, 3, False, "ok"),
    (AGENT, 4, False, "403"),
    (AGENT, 1, True, "403"),
    (ACCOUNT, 2, False, "ok"),
    (ACCOUNT, 4, False, "ok"),
    (ACCOUNT, 1, True, "403"),
    (SUPER, 1, True, "ok"),
    (SUPER, 6, True, "ok"),
    (SUPER, 4, False, "ok"),
    (SYSTEM, 6, True, "ok"),
]


@pytest.mark.parametrize(("actor", "owner", "owner_super", "expected"), TOKEN_CHANGES)
def test_who_may_issue_or_revoke_whose_tokens(
    actor: Caller, owner: int, owner_super: bool, expected: str
) -> None:
    assert outcome(lambda: domain.check_token_change(actor, owner, owner_super)) == expected


@pytest.mark.parametrize(
    ("actor", "touches_super", "expected"),
    [
        (AGENT, False, "403"),
        (ACCOUNT, False, "ok"),
        (ACCOUNT, True, "403"),
        (SUPER, True, "ok"),
        (SYSTEM, True, "ok"),
    ],
)
def test_who_may_change_teams(actor: Caller, touches_super: bool, expected: str) -> None:
    assert outcome(lambda: domain.check_team_change(actor, touches_super)) == expected


@pytest.mark.parametrize(
    ("actor", "user_id", "visible"),
    [(AGENT, 3, True), (AGENT, 2, False), (ACCOUNT, 3, True), (SUPER, 99, True), (SYSTEM, 99, True)],
)
def test_only_people_admins_see_other_users(actor: Caller, user_id: int, visible: bool) -> None:
    assert domain.may_see_user(actor, user_id) is visible


@pytest.mark.parametrize(
    ("actor", "team_id", "visible"),
    [(AGENT, 10, True), (AGENT, 11, True), (AGENT, 12, False), (ACCOUNT, 12, True), (SUPER, 12, True)],
)
def test_non_admins_see_only_their_own_teams(actor: Caller, team_id: int, visible: bool) -> None:
    assert domain.may_see_team(actor, team_id) is visible


CURRENT = {
    "name": "Ana",
    "email": "ana@example.com",
    "permissions": ["sales_access", "service_access"],
    "access_level": "team",
    "include_unassigned": False,
    "team_ids": [1, 2],
    "seat": False,
}


@pytest.mark.parametrize(
    ("patch", "changes"),
    [
        ({}, {}),
        ({"name": "Ana"}, {}),
        ({"permissions": ["service_access", "sales_access", "service_access"]}, {}),
        ({"team_ids": [2, 1]}, {}),
        ({"email": "ANA@Example.com"}, {}),
        ({"email": "Bo@Example.com"}, {"email": "bo@example.com"}),
        ({"permissions": ["service_access"]}, {"permissions": ["service_access"]}),
        ({"team_ids": [3, 1, 3]}, {"team_ids": [1, 3]}),
        ({"seat": True, "name": "Ana"}, {"seat": True}),
        (
            {"include_unassigned": True, "access_level": "owned"},
            {"include_unassigned": True, "access_level": "owned"},
        ),
    ],
)
def test_a_field_sent_with_its_current_value_is_not_a_change(
    patch: dict[str, object], changes: dict[str, object]
) -> None:
    assert domain.diff_user(CURRENT, patch) == changes


def test_granted_permissions_are_the_new_ones_only() -> None:
    assert domain.granted_permissions({"a", "b"}, {"b", "c"}) == {"c"}
    assert domain.granted_permissions({"a"}, set()) == set()


def test_signed_identity_lists_the_user_among_their_team_mates() -> None:
    record = domain.UserRecord(
        id=5,
        name="Ana",
        permissions=frozenset({"service_access"}),
        access_level="team",
        include_unassigned=True,
        seat=True,
        team_ids=(3, 1),
    )
    caller = domain.caller_for(record, [9, 7])
    assert caller.teammate_ids == (5, 7, 9)
    assert caller.team_ids == (1, 3)
    assert caller.access_level == "team" and caller.include_unassigned and caller.seat
    assert not caller.is_super_admin


def test_tokens_are_random_and_stored_only_as_their_hash() -> None:
    first, second = domain.new_token(), domain.new_token()
    assert first != second and first.startswith(domain.TOKEN_PREFIX)
    digest = domain.hash_token(first)
    assert len(digest) == 64 and first not in digest
    assert digest == domain.hash_token(first) != domain.hash_token(second)


def test_request_fingerprint_ignores_key_order_but_not_values() -> None:
    assert request_hash("op", {"a": 1, "b": 2}) == request_hash("op", {"b": 2, "a": 1})
    assert request_hash("op", {"a": 1}) != request_hash("op", {"a": 2})
    assert request_hash("op", {"a": 1}) != request_hash("other", {"a": 1})
