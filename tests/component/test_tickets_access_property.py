"""One access rule for every read path, checked on random data against a real database.

For random tickets, follows, read marks and customer messages, and a random caller
with a random query,
the table layout (paged to the end with a random page size), its total, the board and the
search API (the query's filters as a filter group, its ``q`` as the search's text) hold exactly
the tickets ``get_ticket`` lets that caller open which match the query,
each once, in the requested order, with the same ``unread``/``following``; and
``get_ticket`` itself opens exactly what :meth:`Scope.allows` says.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden, NotFound
from services.chassis.identity import Caller
from services.chassis.paging import Sort
from services.chassis.words import search_terms
from services.permissions.contract import ACCESS_LEVELS, works_tickets
from services.tickets import contract
from services.tickets.domain import (
    EVERYTHING,
    PRIORITY_RANK,
    Scope,
    TicketFilter,
    parse_search,
    parse_sort,
    scope_for,
)
from services.tickets.store import TicketStore

pytestmark = pytest.mark.db

USERS = [1, 2, 3]  # few users, so creators, openers, owners and callers often coincide
STAGES = [1, 2, 3, 4]  # the default pipeline; 4 is CLOSED

tickets_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["a", "A", "b", "Ab", "b%c", "B_c", "a/b", "c/%"]),
            "priority": st.sampled_from(contract.PRIORITIES),
            "status": st.sampled_from(STAGES),
            "owner_id": st.none() | st.sampled_from(USERS),
            "creator": st.sampled_from(USERS),
        }
    ),
    max_size=10,
)
callers = st.builds(
    Caller,
    user_id=st.sampled_from(USERS),
    permissions=st.frozensets(
        st.sampled_from(["service_access", "sales_access", "super_admin", "account_access"])
    ),
    access_level=st.sampled_from(ACCESS_LEVELS),
    include_unassigned=st.booleans(),
    teammate_ids=st.lists(st.sampled_from(USERS), max_size=3).map(tuple),
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "view": st.sampled_from(contract.VIEWS),
        "priority": st.sampled_from(contract.PRIORITIES),
        "owner_id": st.sampled_from([*USERS, contract.UNASSIGNED]),
        "status": st.sampled_from(STAGES),
        "q": st.sampled_from(["a", "B", "%", "_c", "zzz", "/", "/%", "a/", "b a", "c 1"]),
        "sort": st.sampled_from(contract.SORT_OPTIONS),
    },
)
pairs = st.lists(st.tuples(st.integers(0, 9), st.sampled_from(USERS)), max_size=8)


@pytest.fixture
def store(make_db: Callable[[str], str]) -> Iterator[TicketStore]:
    engine = make_engine(make_db("tickets"))
    yield TicketStore(SessionFactory(engine))
    engine.dispose()


def _reset(store: TicketStore) -> None:
    with store.db.transaction() as s:
        for table in (
            "ticket_timeline",
            "ticket_reads",
            "ticket_followers",
            "ticket_associations",
            "tickets",
            "outbox",
        ):
            s.execute(sa.text(f"DELETE FROM {table}"))


def _matches(ticket: dict[str, Any], query: dict[str, Any], user_id: int) -> bool:
    """Whether ``ticket`` belongs in the answer to ``query``; its text as SPEC "Search" says: every
    term of ``q`` (services.chassis.words.search_terms) in the name or the description."""
    view = query.get("view")
    owner = query.get("owner_id")
    text = query.get("q")
    return (
        (view != "unassigned" or ticket["owner_id"] is None)
        and (view != "mine" or ticket["owner_id"] == user_id)
        and (view != "following" or ticket["following"])
        and (view != "open" or ticket["closed_at"] is None)
        and (view != "unread" or ticket["unread"])
        and query.get("priority") in (None, ticket["priority"])
        and query.get("status") in (None, ticket["status"])
        and (owner is None or ticket["owner_id"] == (None if owner == contract.UNASSIGNED else owner))
        and (
            text is None
            or all(
                t in ticket["name"].lower() or t in ticket["description"].lower() for t in search_terms(text)
            )
        )
    )


def _sort_value(ticket: dict[str, Any], key: str) -> Any:
    if key == "priority":
        return PRIORITY_RANK[ticket["priority"]]
    if key == "name":
        return ticket["name"].lower()
    if key == "sla_due_at":  # no running clock sorts last (the store keeps 9999-12-31 for it)
        return (ticket["sla"] or {}).get("next_due_at") or "9999-12-31T00:00:00+00:00"
    return ticket[key]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=tickets_strategy,
    caller=callers,
    query=queries,
    follows=pairs,
    opens=pairs,
    messages=st.lists(st.integers(0, 9), max_size=6),
    limit=st.integers(1, 4),
)
def test_list_board_and_counts_show_exactly_the_openable_tickets(
    store: TicketStore,
    specs: list[dict[str, Any]],
    caller: Caller,
    query: dict[str, Any],
    follows: list[tuple[int, int]],
    opens: list[tuple[int, int]],
    messages: list[int],
    limit: int,
) -> None:
    _reset(store)
    ids = []
    for spec in specs:
        data = {k: v for k, v in spec.items() if k != "creator"}
        ids.append(store.tickets.create(actor_id=spec["creator"], data={**data, "description": ""})["id"])
    if ids:
        for index, user in follows:
            store.activity.follow(scope=EVERYTHING, user_id=user, ticket_id=ids[index % len(ids)])
        for index, user in opens[: len(opens) // 2]:
            store.tickets.get(scope=EVERYTHING, user_id=user, ticket_id=ids[index % len(ids)])
        for index in messages:  # unread again for everyone, including those who opened it
            store.activity.customer_message_received(scope=EVERYTHING, ticket_id=ids[index % len(ids)])
        for index, user in opens[len(opens) // 2 :]:
            store.tickets.get(scope=EVERYTHING, user_id=user, ticket_id=ids[index % len(ids)])

    if not works_tickets(caller):
        with pytest.raises(Forbidden):
            scope_for(caller)
        return
    scope = scope_for(caller)
    openable: dict[int, dict[str, Any]] = {}
    for ticket_id in ids:
        with contextlib.suppress(NotFound):
            openable[ticket_id] = store.tickets.get(
                scope=scope, user_id=caller.user_id, ticket_id=ticket_id, mark_read=False
            )
    assert set(openable) == {i for i, spec in zip(ids, specs, strict=True) if scope.allows(spec["owner_id"])}
    views = ({**query, "view": view} for view in contract.VIEWS)
    sorts = ({**query, "sort": sort} for sort in contract.SORT_OPTIONS)
    for variant in [query, *views, *sorts]:
        _check_layouts(store, scope, caller, variant, limit, openable)


def _check_layouts(
    store: TicketStore,
    scope: Scope,
    caller: Caller,
    query: dict[str, Any],
    limit: int,
    openable: dict[int, dict[str, Any]],
) -> None:
    expected = {i: t for i, t in openable.items() if _matches(t, query, caller.user_id)}
    loaded = contract.TicketQuerySchema().load({**query, "limit": limit})
    flt, sort = TicketFilter.from_query(loaded), parse_sort(loaded["sort"])
    _check_pages(
        lambda cursor: store.lists.table(
            scope=scope, user_id=caller.user_id, flt=flt, sort=sort, limit=limit, cursor=cursor
        ),
        expected,
        sort,
        limit,
    )

    board = store.lists.board(
        scope=scope, user_id=caller.user_id, flt=flt, sort=sort, limit=25, pipeline_id=None
    )
    assert [c["stage"]["id"] for c in board["columns"]] == STAGES
    assert sum(c["total"] for c in board["columns"]) == len(expected)
    for column in board["columns"]:
        assert all(t["status"] == column["stage"]["id"] for t in column["items"])
        assert column["total"] == len(column["items"])
    assert sorted(t["id"] for c in board["columns"] for t in c["items"]) == sorted(expected)
    if query.get("view") is None:  # the search API has no views
        _check_search(store, scope, caller, query, limit, expected)


def _check_search(
    store: TicketStore,
    scope: Scope,
    caller: Caller,
    query: dict[str, Any],
    limit: int,
    expected: dict[int, dict[str, Any]],
) -> None:
    """The search API over the same filters (as one filter group) and text: the same tickets in the
    same order, page by page, under the same access rule."""
    filters: list[dict[str, Any]] = []
    if "priority" in query:
        filters.append({"field": "priority", "operator": "EQ", "value": query["priority"]})
    if "status" in query:
        filters.append({"field": "status", "operator": "EQ", "value": query["status"]})
    if query.get("owner_id") == contract.UNASSIGNED:
        filters.append({"field": "owner_id", "operator": "NOT_HAS_PROPERTY"})
    elif "owner_id" in query:
        filters.append({"field": "owner_id", "operator": "EQ", "value": query["owner_id"]})
    body = {
        "filter_groups": [{"filters": filters}] if filters else [],
        "query": query.get("q"),
        "sort": query.get("sort", contract.DEFAULT_SORT),
        "limit": limit,
    }
    loaded = contract.TicketSearchSchema().load(body)
    spec, sort = parse_search(loaded), parse_sort(loaded["sort"])
    _check_pages(
        lambda cursor: store.search.search(
            scope=scope, user_id=caller.user_id, spec=spec, sort=sort, limit=limit, cursor=cursor
        ),
        expected,
        sort,
        limit,
    )


def _check_pages(
    read: Callable[[str | None], dict[str, Any]], expected: dict[int, dict[str, Any]], sort: Sort, limit: int
) -> None:
    """``read`` (a page after a cursor) paged to the end: every page's total is the expected
    count, no page holds more than ``limit``, and together they hold exactly ``expected``, each
    once, as the caller sees it, in ``sort`` order."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(expected) // limit + 1):
        page = read(cursor)
        assert page["total"] == len(expected)
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None, "more pages than the total allows"
    assert [t["id"] for t in seen] == sorted(
        expected,
        key=lambda i: (_sort_value(expected[i], sort.key), i),
        reverse=sort.descending,
    )
    assert all(t == expected[t["id"]] for t in seen)
