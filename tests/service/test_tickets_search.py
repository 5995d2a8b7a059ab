"""Search through the tickets service: every operator, AND within a group and OR across groups,
free text, sorts with keyset pages, totals, validation of values, and the access rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.chassis.errors import Forbidden, SeatRequired, ValidationFailed
from tests.service.tickets_harness import ADMIN, AGENT, NOBODY, OWNED, SALES, Tickets

pytestmark = pytest.mark.db

NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4


@pytest.fixture
def seeded(tickets: Tickets) -> dict[str, dict[str, Any]]:
    admin = tickets.as_(ADMIN)
    specs: list[dict[str, Any]] = [
        {"name": "Printer on fire", "priority": "urgent", "owner_id": AGENT.user_id, "category": "hardware"},
        {"name": "printer jam", "priority": "low", "description": "paper stuck", "status": WAITING_US},
        {"name": "VPN down", "priority": "high", "owner_id": OWNED.user_id, "status": CLOSED},
        {"name": "vpn slow", "priority": "medium", "owner_id": SALES.user_id, "source": "email"},
        {"name": "100% full_disk", "priority": "high", "category": "hardware"},
    ]
    return {spec["name"]: admin.create_ticket(spec) for spec in specs}


def _f(field: str, operator: str, value: Any = None, values: list[Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        found["value"] = value
    if values is not None:
        found["values"] = values
    return found


def _names(api: Any, *groups: list[dict[str, Any]], **extra: Any) -> set[str]:
    page = api.search_tickets({"filter_groups": [{"filters": g} for g in groups], "limit": 100, **extra})
    assert page["total"] == len(page["items"])
    return {t["name"] for t in page["items"]}


def test_each_operator(tickets: Tickets, seeded: dict[str, dict[str, Any]]) -> None:
    api = tickets.as_(AGENT)
    assert _names(api, [_f("priority", "EQ", "high")]) == {"VPN down", "100% full_disk"}
    assert _names(api, [_f("priority", "GTE", "high")]) == {"VPN down", "100% full_disk", "Printer on fire"}
    assert _names(api, [_f("priority", "LT", "medium")]) == {"printer jam"}
    assert _names(api, [_f("priority", "LTE", "medium")]) == {"printer jam", "vpn slow"}
    assert _names(api, [_f("priority", "GT", "high")]) == {"Printer on fire"}
    assert _names(api, [_f("status", "IN", values=[WAITING_US, CLOSED])]) == {"printer jam", "VPN down"}
    assert _names(api, [_f("status", "NOT_IN", values=[NEW])]) == {"printer jam", "VPN down"}
    assert _names(api, [_f("owner_id", "NEQ", AGENT.user_id)]) == set(seeded) - {"Printer on fire"}
    assert _names(api, [_f("owner_id", "NOT_HAS_PROPERTY")]) == {"printer jam", "100% full_disk"}
    assert _names(api, [_f("closed_at", "HAS_PROPERTY")]) == {"VPN down"}
    assert _names(api, [_f("description", "HAS_PROPERTY")]) == {"printer jam"}
    assert _names(api, [_f("name", "CONTAINS_TOKEN", "PRINT*")]) == {"Printer on fire", "printer jam"}
    assert _names(api, [_f("name", "CONTAINS_TOKEN", "100%")]) == {"100% full_disk"}
    assert _names(api, [_f("source", "EQ", "email")]) == {"vpn slow"}
    first = seeded["Printer on fire"]
    assert _names(api, [_f("id", "EQ", first["id"])]) == {"Printer on fire"}
    assert _names(api, [_f("id", "EQ", str(first["id"]))]) == {"Printer on fire"}
    assert _names(api, [_f("created_at", "GT", first["created_at"])]) == set(seeded) - {"Printer on fire"}


def test_and_within_a_group_or_across_groups_and_text(tickets: Tickets, seeded: dict[str, Any]) -> None:
    api = tickets.as_(AGENT)
    hardware_high = [_f("category", "EQ", "hardware"), _f("priority", "EQ", "high")]
    assert _names(api, hardware_high) == {"100% full_disk"}
    assert _names(api, hardware_high, [_f("name", "CONTAINS_TOKEN", "vpn")]) == {
        "100% full_disk",
        "VPN down",
        "vpn slow",
    }
    assert _names(api, query="PAPER") == {"printer jam"}
    assert _names(api, [_f("priority", "EQ", "low")], query="vpn") == set()


@pytest.mark.parametrize("sort", ["-updated_at", "created_at", "priority", "-name", "id"])
def test_sorted_pages_cover_everything_once(tickets: Tickets, seeded: dict[str, Any], sort: str) -> None:
    api = tickets.as_(AGENT)
    query: dict[str, Any] = {"sort": sort, "limit": 2}
    seen: list[int] = []
    page = api.search_tickets(query)
    while True:
        assert page["total"] == len(seeded)
        seen += [t["id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        page = api.search_tickets({**query, "cursor": page["next_cursor"]})
    assert sorted(seen) == sorted(t["id"] for t in seeded.values()) and len(seen) == len(set(seen))
    assert seen == [t["id"] for t in api.search_tickets({"sort": sort, "limit": 100})["items"]]


def test_the_access_rule_applies(tickets: Tickets, seeded: dict[str, Any]) -> None:
    assert _names(tickets.as_(OWNED), [_f("priority", "GTE", "low")]) == {"VPN down"}
    assert _names(tickets.as_(SALES)) == {"vpn slow", "printer jam", "100% full_disk"}
    with pytest.raises(Forbidden):
        tickets.as_(NOBODY).search_tickets({})


@pytest.mark.parametrize(
    ("flt", "where"),
    [
        (_f("priority", "EQ", "extreme"), "filter_groups.0.filters.0"),
        (_f("owner_id", "EQ", "me"), "filter_groups.0.filters.0"),
        (_f("created_at", "GT", "2024-01-01T00:00:00"), "filter_groups.0.filters.0"),
        (_f("status", "CONTAINS_TOKEN", "1"), "filter_groups.0.filters.0"),
        (_f("name", "GT", "a"), "filter_groups.0.filters.0"),
        (_f("name", "CONTAINS_TOKEN", "**"), "filter_groups.0.filters.0"),
        (_f("name", "IN", "a"), "filter_groups"),
        (_f("name", "HAS_PROPERTY", "a"), "filter_groups"),
        (_f("nickname", "EQ", "a"), "filter_groups"),
        (_f("name", "LIKE", "a"), "filter_groups"),
    ],
)
def test_bad_filters_are_refused_by_name(tickets: Tickets, flt: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        tickets.as_(AGENT).search_tickets({"filter_groups": [{"filters": [flt]}]})
    assert any(key.startswith(where) for key in caught.value.errors), caught.value.errors


def test_a_cursor_of_another_sort_is_refused(tickets: Tickets, seeded: dict[str, Any]) -> None:
    api = tickets.as_(AGENT)
    cursor = api.search_tickets({"sort": "id", "limit": 1})["next_cursor"]
    with pytest.raises(ValidationFailed) as caught:
        api.search_tickets({"sort": "-id", "cursor": cursor})
    assert "cursor" in caught.value.errors


@pytest.mark.parametrize("limit", ["1", 1.0, True, "100"])
def test_a_search_limit_is_a_json_integer(tickets: Tickets, seeded: dict[str, Any], limit: Any) -> None:
    api = tickets.as_(AGENT)
    assert len(api.search_tickets({"limit": 1})["items"]) == 1
    with pytest.raises(ValidationFailed) as caught:
        api.search_tickets({"limit": limit})
    assert list(caught.value.errors) == ["limit"]


def test_a_cursor_of_a_list_is_refused_by_a_search_and_back(tickets: Tickets, seeded: dict[str, Any]) -> None:
    api = tickets.as_(ADMIN)
    listed = api.list_tickets({"limit": "1", "sort": "id"})["next_cursor"]
    searched = api.search_tickets({"limit": 1, "sort": "id"})["next_cursor"]
    assert api.search_tickets({"limit": 1, "sort": "id", "cursor": searched})["items"]
    for refused in (
        lambda: api.search_tickets({"limit": 1, "sort": "id", "cursor": listed}),
        lambda: api.list_tickets({"limit": "1", "sort": "id", "cursor": searched}),
    ):
        with pytest.raises(ValidationFailed) as caught:
            refused()
        assert caught.value.errors == {"cursor": ["was issued by another list"]}


def test_the_sla_sort_needs_a_seat_in_a_search_as_on_the_lists(tickets: Tickets) -> None:
    tickets.as_(ADMIN).create_ticket({"name": "one"})
    for sort in ("sla_due_at", "-sla_due_at"):
        with pytest.raises(SeatRequired):
            tickets.as_(AGENT).search_tickets({"sort": sort})
    seated = dataclasses.replace(AGENT, seat=True)
    assert tickets.as_(seated).search_tickets({"sort": "sla_due_at"})["total"] == 1
