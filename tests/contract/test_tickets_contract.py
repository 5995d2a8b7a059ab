"""The tickets contract: request schemas refuse what they must, and recorded event payloads keep loading.

The payloads below are fixtures: they are what the service has published. A change
to the contract that stops one of them loading is a breaking change (give the event
a new name instead).
"""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from services.tickets import contract

BASE = {"event_id": "0b6f3f4e-4a8e-4bd9-9d59-7d1b0a8f6c11", "occurred_at": "2026-11-25T15:00:00+00:00"}

RECORDED_EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        contract.TICKET_CREATED,
        {
            **BASE,
            "ticket_id": 1,
            "actor_id": 2,
            "owner_id": None,
            "team_id": None,
            "pipeline_id": 1,
            "status": 1,
            "priority": "medium",
            "name": "Printer on fire",
        },
    ),
    (
        contract.TICKET_UPDATED,
        {
            **BASE,
            "ticket_id": 1,
            "actor_id": 2,
            "changes": {"priority": ["low", "high"], "owner_id": [None, 5]},
            "owner_id": 5,
            "version": 2,
        },
    ),
    (
        contract.TICKET_ASSIGNED,
        {**BASE, "ticket_id": 1, "actor_id": 2, "owner_id": 5, "previous_owner_id": None},
    ),
    (
        contract.TICKET_ASSIGNED,
        {**BASE, "ticket_id": 1, "actor_id": 2, "owner_id": None, "previous_owner_id": 5},
    ),
    (
        contract.TICKET_STATUS_CHANGED,
        {**BASE, "ticket_id": 1, "actor_id": 2, "old_status": 1, "new_status": 4, "owner_id": 5},
    ),
    (contract.TICKET_CLOSED, {**BASE, "ticket_id": 1, "actor_id": 2, "status": 4, "owner_id": 5}),
    (contract.TICKET_REOPENED, {**BASE, "ticket_id": 1, "actor_id": 2, "status": 1, "owner_id": None}),
    (contract.TICKET_FOLLOWED, {**BASE, "ticket_id": 1, "actor_id": 3, "user_id": 3}),
    (contract.TICKET_UNFOLLOWED, {**BASE, "ticket_id": 1, "actor_id": 3, "user_id": 3}),
    (
        contract.TICKET_ASSOCIATION_ADDED,
        {**BASE, "ticket_id": 1, "actor_id": 2, "kind": "contacts", "ref_id": 77},
    ),
    (
        contract.TICKET_ASSOCIATION_REMOVED,
        {**BASE, "ticket_id": 1, "actor_id": 2, "kind": "deals", "ref_id": 8},
    ),
    (contract.PIPELINE_CREATED, {**BASE, "actor_id": 1, "pipeline_id": 2, "label": "Billing"}),
    (contract.PIPELINE_UPDATED, {**BASE, "actor_id": 1, "pipeline_id": 2, "label": "Billing"}),
]


@pytest.mark.parametrize(("event", "payload"), RECORDED_EVENTS)
def test_recorded_payloads_still_load(event: str, payload: dict[str, Any]) -> None:
    loaded = contract.EVENT_SCHEMAS[event]().load(payload)
    assert loaded["event_id"] == BASE["event_id"]


@pytest.mark.parametrize(("event", "payload"), RECORDED_EVENTS)
def test_consumers_ignore_fields_they_do_not_know(event: str, payload: dict[str, Any]) -> None:
    loaded = contract.EVENT_SCHEMAS[event]().load({**payload, "added_later": {"x": 1}})
    assert "added_later" not in loaded


def test_every_event_name_has_a_payload_schema() -> None:
    names = {
        value
        for key, value in vars(contract).items()
        if key.startswith(("TICKET_", "TICKETS_", "PIPELINE_", "SLA_")) and isinstance(value, str)
    }
    assert names == set(contract.EVENT_SCHEMAS)


def test_patch_refuses_unknown_and_read_only_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        contract.TicketPatchSchema().load({"version": 3, "id": 1, "closed_at": None, "colour": "red"})
    assert set(exc.value.messages) == {"version", "id", "closed_at", "colour"}


def test_patch_is_strict_about_types() -> None:
    with pytest.raises(ValidationError) as exc:
        contract.TicketPatchSchema().load(
            {"status": "2", "owner_id": 1.5, "priority": "critical", "name": ""}
        )
    assert set(exc.value.messages) == {"status", "owner_id", "priority", "name"}


def test_patch_accepts_an_unassignment_and_any_subset() -> None:
    assert contract.TicketPatchSchema().load({"owner_id": None}) == {"owner_id": None}
    assert contract.TicketPatchSchema().load({}) == {}


def test_list_query_from_strings() -> None:
    loaded = contract.TicketQuerySchema().load(
        {
            "status": "3",
            "pipeline_id": "1",
            "owner_id": "none",
            "limit": "10",
            "sort": "name",
            "cursor": "a+b/=",
        }
    )
    assert loaded == {
        "status": 3,
        "pipeline_id": 1,
        "owner_id": "none",
        "limit": 10,
        "sort": "name",
        "cursor": "a+b/=",
    }
    assert contract.TicketQuerySchema().load({}) == {"limit": 25, "sort": "-updated_at", "cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "owner"}, "sort"),
        ({"view": "mine,open"}, "view"),
        ({"priority": "critical"}, "priority"),
        ({"owner_id": "someone"}, "owner_id"),
        ({"status": "new"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_list_query_refusals(query: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        contract.TicketQuerySchema().load(query)
    assert field in exc.value.messages


def test_board_query_has_no_cursor() -> None:
    with pytest.raises(ValidationError) as exc:
        contract.BoardQuerySchema().load({"cursor": "x"})
    assert "cursor" in exc.value.messages
    assert contract.BoardQuerySchema().load({"pipeline_id": "2"})["pipeline_id"] == 2


def test_bulk_update_needs_distinct_ids_and_a_change() -> None:
    ok = contract.BulkUpdateSchema().load({"ids": [1, 2], "changes": {"priority": "high"}})
    assert ok == {"ids": [1, 2], "changes": {"priority": "high"}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ids": [1, 1], "changes": {"priority": "high"}}, "ids"),
        ({"ids": [], "changes": {"priority": "high"}}, "ids"),
        ({"ids": list(range(contract.MAX_BULK + 1)), "changes": {"priority": "high"}}, "ids"),
        ({"ids": [1], "changes": {}}, "changes"),
        ({"ids": [1], "changes": {"name": "x"}}, "changes"),
        ({"ids": [1]}, "changes"),
    ]
    for body, field in cases:
        with pytest.raises(ValidationError) as exc:
            contract.BulkUpdateSchema().load(body)
        assert field in exc.value.messages


def test_pipeline_schemas() -> None:
    body = {
        "label": "Billing",
        "stages": [{"label": "New", "state": "OPEN"}, {"label": "Done", "state": "CLOSED"}],
    }
    assert contract.PipelineCreateSchema().load(body) == body
    for bad in (
        {"label": "x", "stages": []},
        {"label": "x", "stages": [{"label": "New", "state": "open"}]},
        {"label": "x", "stages": [{"label": "New", "state": "OPEN", "position": 0}]},
        {"stages": [{"label": "New", "state": "OPEN"}]},
    ):
        with pytest.raises(ValidationError):
            contract.PipelineCreateSchema().load(bad)
    with pytest.raises(ValidationError) as exc:
        contract.StagePatchSchema().load({"label": "x", "state": "CLOSED"})
    assert "state" in exc.value.messages
    assert contract.StageCreateSchema().load({"label": "x", "state": "OPEN", "position": 0})["position"] == 0


def test_ticket_dump_round_trip() -> None:
    ticket = {
        "id": 1,
        "name": "n",
        "description": "",
        "pipeline_id": 1,
        "status": 1,
        "priority": "low",
        "category": None,
        "owner_id": None,
        "team_id": None,
        "source": "api",
        "associations": {"contacts": [1], "companies": [], "deals": []},
        "created_at": "2026-11-25T15:00:00+00:00",
        "updated_at": "2026-11-25T15:00:00+00:00",
        "closed_at": None,
        "version": 1,
        "unread": False,
        "following": False,
        "merged_ticket_ids": [],
    }
    assert contract.TicketSchema().dump(ticket) == ticket
