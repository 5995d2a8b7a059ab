"""Imports through the tickets service: original dates and external ids kept, a rerun changes
nothing, a changed export updates in place, per-item failures, dry runs, and who may import."""

from __future__ import annotations

from typing import Any

import pytest

from services.chassis.errors import Forbidden, ValidationFailed
from services.tickets import contract
from tests.service.tickets_harness import ACCOUNT, ADMIN, AGENT, SALES, Tickets

pytestmark = pytest.mark.db

NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4
CREATED = "2021-03-04T05:06:00+00:00"
ACTIVE = "2021-03-05T10:00:00+00:00"
CLOSED_AT = "2021-03-06T11:00:00+00:00"


def _items() -> list[dict[str, Any]]:
    return [
        {
            "external_id": "hs-1",
            "name": "Refund please",
            "priority": "high",
            "owner_id": AGENT.user_id,
            "created_at": CREATED,
            "updated_at": ACTIVE,
            "associations": {"contacts": [101]},
        },
        {
            "external_id": "hs-2",
            "name": "Login broken",
            "status": CLOSED,
            "created_at": CREATED,
            "closed_at": CLOSED_AT,
            "category": "bug",
        },
    ]


def _batch(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"source": "hubspot", "items": items, **extra}


def test_import_keeps_dates_and_external_ids_and_a_rerun_changes_nothing(tickets: Tickets) -> None:
    api = tickets.as_(ACCOUNT)
    first = api.import_tickets(_batch(_items()))
    assert [r["outcome"] for r in first["results"]] == ["created", "created"]
    one, two = (api.get_ticket(r["id"], mark_read=False) for r in first["results"])
    assert one["created_at"] == CREATED and one["updated_at"] == ACTIVE and one["closed_at"] is None
    assert (one["external_source"], one["external_id"]) == ("hubspot", "hs-1")
    assert one["associations"]["contacts"] == [101] and one["owner_id"] == AGENT.user_id
    assert two["closed_at"] == CLOSED_AT and two["status"] == CLOSED
    imported = tickets.events(contract.TICKET_IMPORTED)
    assert [e[1]["external_id"] for e in imported] == ["hs-1", "hs-2"]
    assert tickets.events(contract.TICKET_CREATED) == []
    timeline = api.timeline(one["id"])["items"]
    assert [t["type"] for t in timeline] == ["imported"]

    events_before = len(tickets.events())
    again = api.import_tickets(_batch(_items()))
    assert [(r["outcome"], r["id"]) for r in again["results"]] == [
        ("unchanged", one["id"]),
        ("unchanged", two["id"]),
    ]
    assert len(tickets.events()) == events_before
    assert api.get_ticket(one["id"], mark_read=False)["version"] == one["version"]


def test_a_changed_export_updates_in_place_with_the_usual_events(tickets: Tickets) -> None:
    api = tickets.as_(ADMIN)
    first = api.import_tickets(_batch(_items()))["results"]
    changed = _items()
    changed[0].update(priority="urgent", status=CLOSED, closed_at=CLOSED_AT, associations={"deals": [7]})
    changed[1].update(status=WAITING_US, created_at="2020-01-01T00:00:00+00:00")
    results = api.import_tickets(_batch(changed))["results"]
    assert [r["outcome"] for r in results] == ["updated", "updated"]
    assert results[0]["changes"] == ["closed_at", "deals", "priority", "status"]
    assert results[1]["changes"] == ["created_at", "status"]  # closed_at follows the status, as in edits
    one = api.get_ticket(first[0]["id"], mark_read=False)
    two = api.get_ticket(first[1]["id"], mark_read=False)
    assert (
        one["closed_at"] == CLOSED_AT and one["priority"] == "urgent" and one["associations"]["deals"] == [7]
    )
    assert two["closed_at"] is None and two["created_at"] == "2020-01-01T00:00:00+00:00"
    assert [e[1]["ticket_id"] for e in tickets.events(contract.TICKET_CLOSED)] == [one["id"]]
    updated = [e[1] for e in tickets.events(contract.TICKET_UPDATED) if e[1]["ticket_id"] == one["id"]]
    assert updated[0]["changes"]["closed_at"] == [None, CLOSED_AT]
    assert [r["outcome"] for r in api.import_tickets(_batch(changed))["results"]] == ["unchanged"] * 2


def test_bad_items_fail_alone(tickets: Tickets) -> None:
    api = tickets.as_(ADMIN)
    items: list[Any] = [
        {"external_id": "ok", "name": "fine"},
        {"external_id": "no-name"},
        {"external_id": "bad-stage", "name": "x", "pipeline_id": 1, "status": 999},
        {"external_id": "bad-owner", "name": "x", "owner_id": 999},
        "not an object",
    ]
    results = api.import_tickets(_batch(items))["results"]
    assert [r["outcome"] for r in results] == ["created", "failed", "failed", "failed", "failed"]
    assert "name" in results[1]["error"]["errors"]
    assert "status" in results[2]["error"]["errors"]
    assert "owner_id" in results[3]["error"]["errors"]
    assert results[4]["error"]["status"] == 422


def test_a_dry_run_reports_and_writes_nothing(tickets: Tickets) -> None:
    api = tickets.as_(ADMIN)
    report = api.import_tickets(_batch(_items(), dry_run=True))
    assert report["dry_run"] is True
    assert [(r["outcome"], r["id"]) for r in report["results"]] == [("created", None), ("created", None)]
    assert api.list_tickets({})["total"] == 0 and tickets.events() == []
    api.import_tickets(_batch(_items()))
    changed = _items()
    changed[0]["name"] = "Refund now"
    report = api.import_tickets(_batch(changed, dry_run=True))
    assert [(r["outcome"], r["changes"]) for r in report["results"]] == [
        ("updated", ["name"]),
        ("unchanged", []),
    ]
    assert {t["name"] for t in api.list_tickets({})["items"]} == {"Refund please", "Login broken"}


def test_only_account_access_imports(tickets: Tickets) -> None:
    for caller in (AGENT, SALES):
        with pytest.raises(Forbidden):
            tickets.as_(caller).import_tickets(_batch(_items()))
    with pytest.raises(ValidationFailed):
        tickets.as_(ADMIN).import_tickets({"source": "Hub Spot!", "items": _items()})
    with pytest.raises(ValidationFailed):
        tickets.as_(ADMIN).import_tickets(_batch([]))


def test_external_ids_are_per_source(tickets: Tickets) -> None:
    api = tickets.as_(ADMIN)
    a = api.import_tickets(_batch(_items()[:1]))["results"][0]
    b = api.import_tickets({"source": "zendesk", "items": _items()[:1]})["results"][0]
    assert a["outcome"] == b["outcome"] == "created" and a["id"] != b["id"]
    search = {"filter_groups": [{"filters": [{"field": "external_id", "operator": "EQ", "value": "hs-1"}]}]}
    assert api.search_tickets(search)["total"] == 2
