"""The table and board layouts through the tickets service: filters, views, search,
sort orders with keyset pagination, totals, and the access rule."""

from __future__ import annotations

from typing import Any

import pytest

from services.chassis.errors import NotFound, ValidationFailed
from services.tickets.domain import PRIORITY_RANK
from tests.service.tickets_harness import ADMIN, AGENT, OWNED, SALES, Tickets

pytestmark = pytest.mark.db


NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4


def _all_pages(api: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = api.list_tickets(query)
    total = page["total"]
    while True:
        items += page["items"]
        if page["next_cursor"] is None:
            break
        page = api.list_tickets({**query, "cursor": page["next_cursor"]})
        assert page["total"] == total
    assert len(items) == total
    return items


@pytest.fixture
def seeded(tickets: Tickets) -> list[dict[str, Any]]:
    admin = tickets.as_(ADMIN)
    specs = [
        {"name": "Printer on fire", "priority": "urgent", "owner_id": AGENT.user_id},
        {"name": "printer jam", "priority": "low", "description": "100% stuck", "status": WAITING_US},
        {"name": "VPN down", "priority": "high", "owner_id": OWNED.user_id, "status": CLOSED},
        {"name": "vpn slow", "priority": "medium", "owner_id": SALES.user_id},
        {"name": "Mailbox full", "priority": "high"},
        {"name": "mailbox FULL", "priority": "low", "owner_id": AGENT.user_id, "status": WAITING_CONTACT},
        {"name": "a_b", "priority": "medium", "description": "under_score"},
    ]
    return [admin.create_ticket(spec) for spec in specs]


def test_default_order_is_most_recently_updated_first(tickets: Tickets, seeded: list[dict[str, Any]]) -> None:
    api = tickets.as_(AGENT)
    page = api.list_tickets({})
    assert page["total"] == len(seeded) and page["next_cursor"] is None
    assert [t["id"] for t in page["items"]] == [t["id"] for t in reversed(seeded)]
    tickets.as_(AGENT).update_ticket(seeded[0]["id"], {"description": "now"})
    assert api.list_tickets({"limit": "1"})["items"][0]["id"] == seeded[0]["id"]


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "updated_at", "priority", "-priority", "name", "-name", "id", "-id"]
)
def test_every_sort_pages_through_everything_once_in_order(
    tickets: Tickets, seeded: list[dict[str, Any]], sort: str
) -> None:
    items = _all_pages(tickets.as_(AGENT), {"sort": sort, "limit": "2"})
    key = sort.removeprefix("-")
    value = {
        "priority": lambda t: PRIORITY_RANK[t["priority"]],
        "name": lambda t: t["name"].lower(),
    }.get(key, lambda t: t[key])
    expected = sorted(seeded, key=lambda t: (value(t), t["id"]), reverse=sort.startswith("-"))
    assert [t["id"] for t in items] == [t["id"] for t in expected]


def test_filters_and_views(tickets: Tickets, seeded: list[dict[str, Any]]) -> None:
    api = tickets.as_(AGENT)
    ids = {t["name"]: t["id"] for t in seeded}

    def names(**query: str) -> set[str]:
        return {t["name"] for t in _all_pages(api, query)}

    assert names(status=str(WAITING_US)) == {"printer jam"}
    assert names(pipeline_id="1") == set(ids)
    assert names(pipeline_id="2") == set()
    assert names(owner_id=str(AGENT.user_id)) == {"Printer on fire", "mailbox FULL"}
    assert names(owner_id="none") == names(view="unassigned") == {"printer jam", "Mailbox full", "a_b"}
    assert names(priority="high") == {"VPN down", "Mailbox full"}
    assert names(view="mine") == {"Printer on fire", "mailbox FULL"}
    assert names(view="open") == set(ids) - {"VPN down"}
    assert names(view="following") == set()
    api.follow(ids["vpn slow"])
    assert names(view="following") == {"vpn slow"}
    assert names(view="unread") == set(ids)  # admin created them; the agent has read none
    api.get_ticket(ids["a_b"])
    assert names(view="unread") == set(ids) - {"a_b"}
    assert names(view="mine", priority="low") == {"mailbox FULL"}


def test_search_is_case_insensitive_and_literal(tickets: Tickets, seeded: list[dict[str, Any]]) -> None:
    api = tickets.as_(AGENT)

    def names(q: str) -> set[str]:
        return {t["name"] for t in _all_pages(api, {"q": q})}

    assert names("PRINTER") == {"Printer on fire", "printer jam"}
    assert names("mailbox full") == {"Mailbox full", "mailbox FULL"}
    assert names("stuck") == {"printer jam"}  # the description counts
    assert names("%") == {"printer jam"}  # wildcards are literal
    assert names("_") == {"a_b"}
    assert names("nothing like this") == set()


def test_each_item_says_unread_and_following_for_the_caller(
    tickets: Tickets, seeded: list[dict[str, Any]]
) -> None:
    agent, admin = tickets.as_(AGENT), tickets.as_(ADMIN)
    target = seeded[2]["id"]
    agent.follow(target)
    agent.get_ticket(target)
    by_agent = {t["id"]: t for t in agent.list_tickets({})["items"]}
    by_admin = {t["id"]: t for t in admin.list_tickets({})["items"]}
    assert (by_agent[target]["unread"], by_agent[target]["following"]) == (False, True)
    assert all(t["unread"] and not t["following"] for i, t in by_agent.items() if i != target)
    assert all(not t["unread"] and not t["following"] for t in by_admin.values())


def test_list_query_refusals(tickets: Tickets, seeded: list[dict[str, Any]]) -> None:
    api = tickets.as_(AGENT)
    cursor = api.list_tickets({"limit": "2", "sort": "name"})["next_cursor"]
    assert cursor is not None
    refusals = [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"sort": "owner_id"}, "sort"),
        ({"view": "everything"}, "view"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": cursor}, "cursor"),  # issued for sort=name, used with the default sort
        ({"cursor": cursor[:-4]}, "cursor"),
        ({"status": "new"}, "status"),
        ({"unknown": "1"}, "unknown"),
    ]
    for query, field in refusals:
        with pytest.raises(ValidationFailed) as exc:
            api.list_tickets(query)
        assert field in exc.value.errors, query
    assert len(api.list_tickets({"limit": "100"})["items"]) == len(seeded)
    assert len(api.list_tickets({"limit": 1})["items"]) == 1  # RPC callers may send numbers


def test_lists_apply_the_access_rule(tickets: Tickets, seeded: list[dict[str, Any]]) -> None:
    owned = {t["name"] for t in _all_pages(tickets.as_(OWNED), {})}
    assert owned == {"VPN down"}
    sales = {t["name"] for t in _all_pages(tickets.as_(SALES), {})}  # owned + unassigned
    assert sales == {"vpn slow", "printer jam", "Mailbox full", "a_b"}
    assert {t["name"] for t in _all_pages(tickets.as_(SALES), {"q": "printer"})} == {"printer jam"}
    board = tickets.as_(OWNED).board({})
    assert [(c["stage"]["id"], c["total"]) for c in board["columns"]] == [(1, 0), (2, 0), (3, 0), (4, 1)]


def test_board_columns_in_stage_order_with_first_pages(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    made = [admin.create_ticket({"name": f"t{i}", "status": NEW if i % 3 else WAITING_US}) for i in range(8)]
    board = tickets.as_(AGENT).board({"limit": "2"})
    assert board["pipeline_id"] == 1
    assert [c["stage"] for c in board["columns"]] == [
        {"id": 1, "label": "New", "state": "OPEN"},
        {"id": 2, "label": "Waiting on contact", "state": "OPEN"},
        {"id": 3, "label": "Waiting on us", "state": "OPEN"},
        {"id": 4, "label": "Closed", "state": "CLOSED"},
    ]
    new = board["columns"][0]
    new_ids = [t["id"] for t in reversed(made) if t["status"] == NEW]
    assert new["total"] == len(new_ids) == 5
    assert [t["id"] for t in new["items"]] == new_ids[:2]
    rest = _rest_of_column(tickets.as_(AGENT), new["next_cursor"], NEW)
    assert [t["id"] for t in new["items"]] + rest == new_ids
    assert board["columns"][1] == {
        "stage": board["columns"][1]["stage"],
        "items": [],
        "total": 0,
        "total_capped": False,
        "next_cursor": None,
    }
    assert tickets.as_(AGENT).board({})["columns"][0]["next_cursor"] is None


def test_a_column_cursor_pages_on_its_stage_only(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    for i in range(3):
        admin.create_ticket({"name": f"t{i}", "status": NEW})
        admin.create_ticket({"name": f"u{i}", "status": WAITING_US})
    columns = {c["stage"]["id"]: c for c in tickets.as_(AGENT).board({"limit": "1"})["columns"]}
    column = columns[NEW]["next_cursor"]
    table = tickets.as_(AGENT).list_tickets({"limit": "1"})["next_cursor"]
    assert _rest_of_column(tickets.as_(AGENT), column, NEW)  # where the column pages on
    for query in (
        {"cursor": column},  # the table of every stage
        {"cursor": column, "status": str(WAITING_US)},  # another stage's
        {"cursor": table, "status": str(NEW)},  # the table's cursor on a column
    ):
        with pytest.raises(ValidationFailed) as caught:
            tickets.as_(AGENT).list_tickets({"limit": "1", **query})
        assert caught.value.errors == {"cursor": ["was issued by another list"]}


def _rest_of_column(api: Any, cursor: str, stage_id: int) -> list[int]:
    ids: list[int] = []
    while cursor:
        page = api.list_tickets({"status": str(stage_id), "limit": "2", "cursor": cursor})
        ids += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
    return ids


def test_moving_a_card_is_a_status_change(tickets: Tickets) -> None:
    ticket = tickets.as_(ADMIN).create_ticket({"name": "card"})
    tickets.as_(AGENT).update_ticket(ticket["id"], {"status": CLOSED}, expected_versions=[ticket["version"]])
    columns = {c["stage"]["id"]: c for c in tickets.as_(AGENT).board({"pipeline_id": "1"})["columns"]}
    assert columns[NEW]["total"] == 0 and columns[CLOSED]["items"][0]["closed_at"] is not None


def test_board_of_another_pipeline_and_of_none(tickets: Tickets) -> None:
    billing = tickets.as_(ADMIN).create_pipeline(
        {
            "label": "Billing",
            "stages": [{"label": "Open", "state": "OPEN"}, {"label": "Paid", "state": "CLOSED"}],
        }
    )
    tickets.as_(ADMIN).create_ticket({"name": "invoice", "pipeline_id": billing["id"]})
    tickets.as_(ADMIN).create_ticket({"name": "support"})
    board = tickets.as_(AGENT).board({"pipeline_id": str(billing["id"])})
    assert [c["stage"]["label"] for c in board["columns"]] == ["Open", "Paid"]
    assert [t["name"] for t in board["columns"][0]["items"]] == ["invoice"]
    with pytest.raises(NotFound):
        tickets.as_(AGENT).board({"pipeline_id": "99"})
    with pytest.raises(ValidationFailed):
        tickets.as_(AGENT).board({"cursor": "x"})


@pytest.mark.parametrize(
    "query",
    [
        {"view": "open"},
        {"view": "unassigned"},
        {"owner_id": "none"},
        {"view": "mine"},
        {"view": "following"},
        {"view": "unread"},
        {"priority": "high"},
        {"view": "open", "sort": "name"},
        {"view": "unassigned", "sort": "-priority"},
    ],
    ids=lambda query: "&".join(f"{k}={v}" for k, v in query.items()),
)
def test_a_boards_columns_are_the_tables_pages_of_their_stages_in_every_view(
    tickets: Tickets, seeded: list[dict[str, Any]], query: dict[str, str]
) -> None:
    """Each column of a board in a view or filter holds what the table gives for its stage with
    the same ask: its first page and its total, for each kind of caller; also after tickets
    leave and re-enter a CLOSED stage (whose ``closed_at`` the open view's columns rely on) and
    a ticket is unassigned."""
    admin = tickets.as_(ADMIN)
    for caller, ticket in ((AGENT, seeded[4]), (OWNED, seeded[2])):  # one each can see
        tickets.as_(caller).follow(ticket["id"])
        tickets.as_(caller).get_ticket(ticket["id"])
    admin.update_ticket(seeded[2]["id"], {"status": NEW})  # out of CLOSED: open again
    admin.update_ticket(seeded[0]["id"], {"status": CLOSED})
    admin.update_ticket(seeded[3]["id"], {"owner_id": None})
    for caller in (AGENT, OWNED, ADMIN):
        api = tickets.as_(caller)
        for column in api.board({**query, "limit": "2"})["columns"]:
            stage = str(column["stage"]["id"])
            table = _all_pages(api, {**query, "status": stage})
            assert [t["id"] for t in column["items"]] == [t["id"] for t in table[:2]], (caller, stage)
            assert (column["total"], column["total_capped"]) == (len(table), False), (caller, stage)
