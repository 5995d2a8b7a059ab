"""The permissions contract: what bodies it accepts, and event payloads that must keep loading."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from services.permissions import contract

GOOD_USER = {"name": "Ana", "email": "ana@example.com"}


def errors_of(schema: Schema, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        schema.load(data, **kwargs)
    return caught.value.normalized_messages()


def test_a_new_user_gets_defaults_for_what_is_not_sent() -> None:
    assert contract.UserSchema().load(GOOD_USER) == {
        **GOOD_USER,
        "permissions": [],
        "access_level": "owned",
        "include_unassigned": False,
        "team_ids": [],
        "seat": False,
    }


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"id": 5}, "id"),
        ({"created_at": "2026-01-01T00:00:00+00:00"}, "created_at"),
        ({"updated_at": "2026-01-01T00:00:00+00:00"}, "updated_at"),
        ({"is_admin": True}, "is_admin"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"permissions": ["root"]}, "permissions"),
        ({"permissions": "super_admin"}, "permissions"),
        ({"access_level": "all"}, "access_level"),
        ({"include_unassigned": "true"}, "include_unassigned"),
        ({"seat": 1}, "seat"),
        ({"seat": None}, "seat"),
        ({"team_ids": ["1"]}, "team_ids"),
        ({"team_ids": [True]}, "team_ids"),
        ({"team_ids": [0]}, "team_ids"),
    ],
)
def test_a_create_body_with_a_bad_unknown_or_read_only_field_is_refused(
    extra: dict[str, Any], field: str
) -> None:
    assert field in errors_of(contract.UserSchema(), {**GOOD_USER, **extra})


def test_a_create_body_needs_name_and_email() -> None:
    assert set(errors_of(contract.UserSchema(), {})) == {"name", "email"}


def test_a_patch_loads_only_what_was_sent() -> None:
    assert contract.UserPatchSchema().load({}) == {}
    assert contract.UserPatchSchema().load({"seat": True}) == {"seat": True}


@pytest.mark.parametrize(
    "body",
    [{"id": 1}, {"name": None}, {"permissions": ["super_admin", "god"]}, {"token": "x"}, {"team_ids": None}],
)
def test_a_patch_refuses_what_a_create_refuses(body: dict[str, Any]) -> None:
    assert set(errors_of(contract.UserPatchSchema(), body)) == set(body)


def test_team_bodies() -> None:
    assert contract.TeamSchema().load({"name": "Billing"}) == {"name": "Billing"}
    assert "member_ids" in errors_of(contract.TeamSchema(), {"name": "B", "member_ids": [1]})
    assert contract.TeamMembersSchema().load({"user_ids": [3, 1]}) == {"user_ids": [3, 1]}
    assert "user_ids" in errors_of(contract.TeamMembersSchema(), {})
    assert "user_ids" in errors_of(contract.TeamMembersSchema(), {"user_ids": ["a"]})


def test_token_bodies_may_be_empty_but_not_carry_a_token() -> None:
    assert contract.TokenCreateSchema().load({}) == {"label": None, "kind": "person", "quiet": None}
    assert contract.TokenCreateSchema().load({"label": "ci", "kind": "integration"}) == {
        "label": "ci",
        "kind": "integration",
        "quiet": None,
    }
    assert "kind" in errors_of(contract.TokenCreateSchema(), {"kind": "robot"})
    assert "token" in errors_of(contract.TokenCreateSchema(), {"token": "hd_mine"})


# Payloads exactly as the service recorded them; they must keep loading as the contract evolves.
RECORDED_EVENTS: list[tuple[type[Schema], dict[str, Any]]] = [
    (
        contract.UserCreatedEvent,
        {
            "event_id": "6c1f0b1e-1111-4c7a-9f55-0d5b8e7f6a01",
            "occurred_at": "2026-11-25T15:00:00.123456+00:00",
            "user_id": 2,
            "affected_user_ids": [2],
        },
    ),
    (
        contract.UserUpdatedEvent,
        {
            "event_id": "6c1f0b1e-2222-4c7a-9f55-0d5b8e7f6a01",
            "occurred_at": "2026-11-25T15:00:01+00:00",
            "user_id": 2,
            "changed": ["permissions", "team_ids"],
            "affected_user_ids": [2, 3],
        },
    ),
    (
        contract.TeamCreatedEvent,
        {
            "event_id": "6c1f0b1e-3333",
            "occurred_at": "2026-11-25T15:00:02+00:00",
            "team_id": 1,
            "name": "Billing",
        },
    ),
    (
        contract.TeamUpdatedEvent,
        {
            "event_id": "6c1f0b1e-4444",
            "occurred_at": "2026-11-25T15:00:03+00:00",
            "team_id": 1,
            "changed": ["member_ids"],
            "added_user_ids": [3],
            "removed_user_ids": [],
            "affected_user_ids": [2, 3],
        },
    ),
    (
        contract.TeamUpdatedEvent,
        {
            "event_id": "6c1f0b1e-5555",
            "occurred_at": "2026-11-25T15:00:04+00:00",
            "team_id": 1,
            "changed": ["name"],
        },
    ),
    (
        contract.TokenRevokedEvent,
        {
            "event_id": "6c1f0b1e-6666",
            "occurred_at": "2026-11-25T15:00:05+00:00",
            "token_id": 9,
            "user_id": 2,
        },
    ),
    (
        contract.SessionRevokedEvent,
        {
            "event_id": "6c1f0b1e-7777",
            "occurred_at": "2026-12-02T01:00:00+00:00",
            "user_id": 2,
            "session_ids": [4, 5],
        },
    ),
]


@pytest.mark.parametrize(("schema", "payload"), RECORDED_EVENTS)
def test_recorded_event_payloads_still_load(schema: type[Schema], payload: dict[str, Any]) -> None:
    loaded = schema().load(payload)
    assert loaded["event_id"] == payload["event_id"]


@pytest.mark.parametrize(("schema", "payload"), RECORDED_EVENTS)
def test_consumers_ignore_fields_added_later(schema: type[Schema], payload: dict[str, Any]) -> None:
    assert "added_later" not in schema().load({**payload, "added_later": 1})


def test_every_event_name_is_an_identity_event() -> None:
    names = {contract.USER_CREATED, contract.USER_UPDATED, contract.TEAM_CREATED, contract.TEAM_UPDATED}
    revocations = {contract.TOKEN_REVOKED, contract.SESSION_REVOKED}
    assert names | revocations == set(contract.IDENTITY_EVENTS)
