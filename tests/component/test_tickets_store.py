"""Store behaviour that needs a database but no broker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import sqlalchemy as sa

from services.chassis.clock import ManualClock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import NotFound
from services.chassis.prepared import executed
from services.tickets import contract
from services.tickets.domain import EVERYTHING, Scope, TicketFilter, parse_sort
from services.tickets.models import tickets
from services.tickets.store import TicketStore, queries
from tests.sql import statements

pytestmark = pytest.mark.db

START = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(make_db: Callable[[str], str], clock: ManualClock) -> Iterator[TicketStore]:
    engine = make_engine(make_db("tickets"))
    yield TicketStore(SessionFactory(engine), clock=clock)
    engine.dispose()


def _unread_for(store: TicketStore, user_id: int) -> int:
    page = store.lists.table(
        scope=EVERYTHING,
        user_id=user_id,
        flt=TicketFilter(view="unread"),
        sort=parse_sort("id"),
        limit=25,
        cursor=None,
    )
    return int(page["total"])


def _create(store: TicketStore, **data: object) -> dict[str, Any]:
    return store.tickets.create(actor_id=1, data={"name": "x", **data})


def test_a_redelivered_customer_message_event_changes_nothing(store: TicketStore) -> None:
    ticket = _create(store)
    assert _unread_for(store, 1) == 0
    activity = store.activity
    assert (
        activity.customer_message_received(scope=EVERYTHING, ticket_id=ticket["id"], event_id="e-1") is True
    )
    assert _unread_for(store, 1) == 1
    activity.mark_read(scope=EVERYTHING, user_id=1, ticket_id=ticket["id"])
    assert (
        activity.customer_message_received(scope=EVERYTHING, ticket_id=ticket["id"], event_id="e-1") is False
    )
    assert _unread_for(store, 1) == 0
    assert (
        activity.customer_message_received(scope=EVERYTHING, ticket_id=ticket["id"], event_id="e-2") is True
    )
    assert _unread_for(store, 1) == 1


def test_a_customer_message_on_an_invisible_ticket_is_not_found(store: TicketStore) -> None:
    ticket = _create(store, owner_id=1)
    with pytest.raises(NotFound):
        store.activity.customer_message_received(scope=Scope(False, frozenset({2})), ticket_id=ticket["id"])


def test_deleted_and_merged_tickets_leave_the_lists(store: TicketStore) -> None:
    kept, merged, deleted = (_create(store, name=n)["id"] for n in ("a", "b", "c"))
    with store.db.transaction() as s:  # what merge and delete will do
        s.execute(tickets.update().where(tickets.c.id == merged).values(merged_into_id=kept))
        s.execute(tickets.update().where(tickets.c.id == deleted).values(deleted_at=tickets.c.created_at))
    everything: dict[str, Any] = {
        "scope": EVERYTHING,
        "user_id": 1,
        "flt": TicketFilter(),
        "sort": parse_sort("id"),
        "limit": 25,
    }
    page = store.lists.table(**everything, cursor=None)
    assert [t["id"] for t in page["items"]] == [kept] and page["total"] == 1
    assert page["items"][0]["merged_ticket_ids"] == [merged]
    board = store.lists.board(**everything, pipeline_id=None)
    assert sum(c["total"] for c in board["columns"]) == 1
    with pytest.raises(NotFound):
        store.tickets.get(scope=EVERYTHING, user_id=1, ticket_id=deleted)


def test_times_come_from_the_clock_the_store_is_given(store: TicketStore, clock: ManualClock) -> None:
    ticket = _create(store)
    assert ticket["created_at"] == ticket["updated_at"] == START.isoformat()
    clock.advance(hours=2)
    closed = store.pipelines.all()[0]["stages"][-1]
    changed = store.tickets.update(
        scope=EVERYTHING, actor_id=1, ticket_id=ticket["id"], changes={"status": closed["id"]}
    )
    later = (START + dt.timedelta(hours=2)).isoformat()
    assert changed["updated_at"] == changed["closed_at"] == later
    timeline = store.activity.timeline(scope=EVERYTHING, ticket_id=ticket["id"], limit=5, cursor=None)
    assert [item["at"] for item in timeline["items"]] == [later, START.isoformat()]
    with store.db.read() as s:
        occurred = [json.loads(p)["occurred_at"] for p in s.scalars(sa.text("SELECT payload FROM outbox"))]
    assert occurred[0] == START.isoformat() and occurred[-1] == later


def test_totals_are_exact_up_to_the_cap_and_say_when_they_are_capped(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.tickets.domain import Condition, SearchSpec
    from services.tickets.domain import lists as domain_lists
    from services.tickets.store import queries

    monkeypatch.setattr(queries, "TOTAL_CAP", 3)
    monkeypatch.setattr(domain_lists, "TOTAL_CAP", 3)
    monkeypatch.setattr(contract, "TOTAL_CAP", 3)  # a search's (SearchSpec.total_cap)
    for n in range(5):
        _create(store, name=f"printer {n}", priority="high" if n < 3 else "low")
    common: dict[str, Any] = {"scope": EVERYTHING, "user_id": 1, "sort": parse_sort("id"), "limit": 2}

    page = store.lists.table(**common, flt=TicketFilter(), cursor=None)
    assert (page["total"], page["total_capped"]) == (3, True)
    seen = [t["id"] for t in page["items"]]
    while page["next_cursor"]:  # paging still reaches every ticket
        page = store.lists.table(**common, flt=TicketFilter(), cursor=page["next_cursor"])
        seen += [t["id"] for t in page["items"]]
    assert len(seen) == 5
    exact = store.lists.table(**common, flt=TicketFilter(priority="high"), cursor=None)
    assert (exact["total"], exact["total_capped"]) == (3, False)
    few = store.lists.table(**common, flt=TicketFilter(priority="low"), cursor=None)
    assert (few["total"], few["total_capped"]) == (2, False)

    board = store.lists.board(**common, flt=TicketFilter(), pipeline_id=None)
    first, *rest = board["columns"]  # new tickets start in the first stage
    assert (first["total"], first["total_capped"]) == (3, True)
    assert all((c["total"], c["total_capped"]) == (0, False) for c in rest)
    low = store.lists.board(**common, flt=TicketFilter(priority="low"), pipeline_id=None)
    assert (low["columns"][0]["total"], low["columns"][0]["total_capped"]) == (2, False)

    monkeypatch.setattr(contract, "SEARCH_TOTAL_CAP", 2)  # a list searched with q counts less far
    searched = store.lists.table(**common, flt=TicketFilter(q="printer"), cursor=None)
    assert (searched["total"], searched["total_capped"]) == (2, True)
    rare = store.lists.table(**common, flt=TicketFilter(q="printer 4"), cursor=None)
    assert (rare["total"], rare["total_capped"]) == (1, False)
    column = store.lists.board(**common, flt=TicketFilter(q="printer"), pipeline_id=None)["columns"][0]
    assert (column["total"], column["total_capped"]) == (2, True)

    found = store.search.search(**common, spec=SearchSpec(query="printer"), cursor=None)
    assert (found["total"], found["total_capped"]) == (2, True)  # text: as far as a list's q
    token = SearchSpec(groups=((Condition("name", "CONTAINS_TOKEN", ("printer",)),),))
    by_token = store.search.search(**common, spec=token, cursor=None)
    assert (by_token["total"], by_token["total_capped"]) == (2, True)
    every = SearchSpec(groups=((Condition("priority", "GTE", (0,)),),))  # no text: to TOTAL_CAP
    plain = store.search.search(**common, spec=every, cursor=None)
    assert (plain["total"], plain["total_capped"]) == (3, True)
    none = store.search.search(**common, spec=SearchSpec(query="scanner"), cursor=None)
    assert (none["total"], none["total_capped"]) == (0, False)


def test_a_partial_scopes_board_columns_add_their_owners_counts_up_to_the_cap(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An owned-only agent's column is counted an owner at a time (``queries._counted_parts``):
    parts each under the cap that add up past it say so, parts that add up to it are exact, and
    other owners' tickets are in no part; with a filter (priority) as without."""
    from services.tickets.domain import lists as domain_lists
    from services.tickets.store import queries

    for module in (queries, domain_lists, contract):
        monkeypatch.setattr(module, "TOTAL_CAP", 3)
    owned = Scope(False, frozenset({7}), unassigned=True)
    for owner in (7, 7, None, 8, 8, 8, 8):
        _create(store, owner_id=owner, priority="high")
    _create(store, owner_id=7, priority="low")
    common: dict[str, Any] = {"sort": parse_sort("id"), "limit": 2, "pipeline_id": None}

    def first_column(scope: Scope, flt: TicketFilter) -> tuple[int, bool]:
        column = store.lists.board(scope=scope, user_id=7, flt=flt, **common)["columns"][0]
        return column["total"], column["total_capped"]

    assert first_column(owned, TicketFilter(priority="high")) == (3, False)  # 7, 7 and unassigned
    assert first_column(owned, TicketFilter()) == (3, True)  # and 7's low one: 2 + 1 + 1 past 3
    assert first_column(Scope(False, frozenset({7, 9}), unassigned=False), TicketFilter()) == (3, False)
    assert first_column(Scope(False, frozenset({8}), unassigned=True), TicketFilter()) == (3, True)
    nobodys = Scope(False, frozenset({9}), unassigned=True)
    assert first_column(nobodys, TicketFilter(priority="low")) == (0, False)


PARTIAL = Scope(False, frozenset({7, 9}), unassigned=True)  # owners 7 and 9, and the unassigned


@pytest.mark.parametrize("scope", [EVERYTHING, PARTIAL], ids=["everything", "owners-and-unassigned"])
@pytest.mark.parametrize(
    ("cap", "walk_bound"),
    [(2, 2000), (2, 1), (100, 2000)],
    ids=["past-the-cap", "past-the-cap-walks-cut", "within-the-cap"],
)
def test_a_search_pages_every_match_once_in_order_however_its_matches_are_found(
    store: TicketStore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    cap: int,
    walk_bound: int,
    scope: Scope,
) -> None:
    """A text search finds its matches first and, when they are no more than the cap, orders only
    those (``queries.capped_ids``); past the cap it pages by a walk of the sort order bounded at
    ``queries.WALK_BOUND`` rows (its text checked on the way: ``holds_text``; a partial scope's
    owners walked apart: ``queries.owner_parts``), and where the walk is cut there (a bound of one
    row: always), among its matches sorted. Every way, one row at a time, every match the scope
    sees comes once, in the sort's order, and nothing else: in the table, in the board's columns
    (all matches within the cap, or every column's page in one statement) and in the search
    endpoint (``query`` and ``CONTAINS_TOKEN``)."""
    from services.tickets.domain import PRIORITY_RANK, Condition, SearchSpec
    from services.tickets.domain import lists as domain_lists
    from services.tickets.store import queries

    def built_afresh() -> None:  # statements are built once a shape, with the bound of the day
        queries._page.cache_clear()
        queries._board_pages.cache_clear()

    built_afresh()
    request.addfinalizer(built_afresh)
    monkeypatch.setattr(queries, "WALK_BOUND", walk_bound)
    monkeypatch.setattr(contract, "SEARCH_TOTAL_CAP", cap)
    monkeypatch.setattr(queries, "TOTAL_CAP", cap)
    monkeypatch.setattr(domain_lists, "TOTAL_CAP", cap)
    made = []
    for n, (name, priority, owner) in enumerate(
        [
            ("Printer jam", "low", 7),
            ("scanner", "high", None),
            ("printer", "urgent", 8),  # not in the partial scope
            ("a PRINTER", "high", None),
            ("fax", "low", 9),
            ("printer 5%", "medium", 9),
        ]
    ):
        clock.advance(minutes=1)
        description = "paper" if n == 4 else ""
        made.append(_create(store, name=name, description=description, priority=priority, owner_id=owner))
    clock.advance(minutes=1)  # the first becomes the most recently updated
    made[0] = store.tickets.update(
        scope=EVERYTHING, actor_id=1, ticket_id=made[0]["id"], changes={"priority": "medium"}
    )
    board = store.lists.board(
        scope=EVERYTHING, user_id=1, flt=TicketFilter(), sort=parse_sort("id"), limit=1, pipeline_id=None
    )
    first, second, *_ = [column["stage"] for column in board["columns"]]
    clock.advance(minutes=1)  # one match in the board's second column, two in the first
    made[3] = store.tickets.update(
        scope=EVERYTHING, actor_id=1, ticket_id=made[3]["id"], changes={"status": second["id"]}
    )
    printers = [t for t in made if "printer" in t["name"].lower() and scope.allows(t["owner_id"])]
    sorts = {
        "-updated_at": lambda t: (t["updated_at"], t["id"]),
        "name": lambda t: (t["name"].lower(), t["id"]),
        "-priority": lambda t: (PRIORITY_RANK[t["priority"]], t["id"]),
        "id": lambda t: t["id"],
    }
    for text, sort in sorts.items():
        expected = [t["id"] for t in sorted(printers, key=sort, reverse=text.startswith("-"))]
        common: dict[str, Any] = {"scope": scope, "user_id": 1, "sort": parse_sort(text), "limit": 1}
        readers = [
            functools.partial(store.lists.table, **common, flt=TicketFilter(q="printer")),
            functools.partial(store.search.search, **common, spec=SearchSpec(query="printer")),
            functools.partial(
                store.search.search,
                **common,
                spec=SearchSpec(groups=((Condition("name", "CONTAINS_TOKEN", ("printer",)),),)),
            ),
        ]
        for read in readers:
            seen: list[int] = []
            page = read(cursor=None)
            while True:
                seen += [t["id"] for t in page["items"]]
                assert (page["total"], page["total_capped"]) == (min(len(printers), cap), cap < len(printers))
                if page["next_cursor"] is None:
                    break
                page = read(cursor=page["next_cursor"])
            assert seen == expected, (text, read)
        columns = store.lists.board(**common, flt=TicketFilter(q="PRINTER"), pipeline_id=None)["columns"]
        for column, stage in zip(columns, (first, second), strict=False):
            ours = [i for i in expected if next(t for t in printers if t["id"] == i)["status"] == stage["id"]]
            assert [t["id"] for t in column["items"]] == ours[:1]
            # past the cap on the whole board, a column counts as far as its page (limit 1) goes
            bound = cap if len(printers) <= cap else 1
            assert (column["total"], column["total_capped"]) == (min(len(ours), bound), len(ours) > bound)
    nothing = store.lists.table(**common, flt=TicketFilter(q="toner"), cursor=None)
    assert (nothing["items"], nothing["total"], nothing["next_cursor"]) == ([], 0, None)
    assert [
        t["id"] for t in store.lists.table(**common, flt=TicketFilter(q="paper"), cursor=None)["items"]
    ] == [made[4]["id"]]
    percent = store.lists.table(**common, flt=TicketFilter(q="%"), cursor=None)  # a literal %, not LIKE's
    assert [t["id"] for t in percent["items"]] == [made[5]["id"]]
    # the following view searched: past the cap sorted by anything but update it is not walked
    # (queries.worth_walking), the matches sorted; by update its walk reads the caller's follows
    for ticket in made[:4]:
        store.activity.follow(scope=EVERYTHING, user_id=1, ticket_id=ticket["id"])
    now = {
        t["id"]: store.tickets.get(scope=EVERYTHING, user_id=1, ticket_id=t["id"], mark_read=False)
        for t in made
    }
    followed = [
        now[t["id"]] for t in made[:4] if "printer" in t["name"].lower() and scope.allows(t["owner_id"])
    ]
    for text, sort in sorts.items():
        expected = [t["id"] for t in sorted(followed, key=sort, reverse=text.startswith("-"))]
        common = {"scope": scope, "user_id": 1, "sort": parse_sort(text), "limit": 1}
        seen = []
        page = store.lists.table(**common, flt=TicketFilter(q="printer", view="following"), cursor=None)
        while True:
            seen += [t["id"] for t in page["items"]]
            if page["next_cursor"] is None:
                break
            page = store.lists.table(
                **common, flt=TicketFilter(q="printer", view="following"), cursor=page["next_cursor"]
            )
        assert seen == expected, text
        board = store.lists.board(**common, flt=TicketFilter(q="printer", view="following"), pipeline_id=None)
        for column in board["columns"]:
            ours = [i for i in expected if now[i]["status"] == column["stage"]["id"]]
            assert [t["id"] for t in column["items"]] == ours[:1], (text, column["stage"])


def test_a_list_of_few_or_no_matches_is_counted_first_and_paged_among_them(
    store: TicketStore, clock: ManualClock
) -> None:
    """No match: the count alone, no page walked. No more matches than the page holds: their ids,
    then a page among them, in the sort's order. More: the usual walk, every ticket once."""
    made = []
    for n, priority in enumerate(["low", "high", "low", "medium", "high"]):
        clock.advance(minutes=1)
        made.append(_create(store, name=f"ticket {'edcba'[n]}", priority=priority))

    def ran(noted: list[str]) -> list[str]:  # what ran, an EXECUTE as its statement, no PREPARE
        return [sql for statement in noted if (sql := executed(statement)) is not None]

    with statements(store.lists.db.engine) as noted:
        common: dict[str, Any] = {"scope": EVERYTHING, "user_id": 1, "cursor": None}
        none = store.lists.table(
            **common, flt=TicketFilter(priority="urgent"), sort=parse_sort("id"), limit=25
        )
        assert (none["items"], none["total"], none["next_cursor"]) == ([], 0, None)
        assert len([s for s in ran(noted) if s.lstrip().upper().startswith("SELECT")]) == 1, ran(noted)
        for text, key in (("-updated_at", "updated_at"), ("name", "name"), ("id", "id")):
            noted.clear()
            few = store.lists.table(
                **common, flt=TicketFilter(priority="high"), sort=parse_sort(text), limit=25
            )
            highs = [t for t in made if t["priority"] == "high"]
            expected = sorted(highs, key=lambda t: t[key], reverse=text.startswith("-"))
            assert [t["id"] for t in few["items"]] == [t["id"] for t in expected]
            assert (few["total"], few["total_capped"], few["next_cursor"]) == (2, False, None)
            paged = [s for s in ran(noted) if "ORDER BY" in s and "LIMIT" in s and "tickets.name" in s]
            assert len(paged) == 1 and ("ANY(" in paged[0] or " IN (" in paged[0]), ran(noted)
    seen, cursor = [], None
    while True:  # more than a page: walked, each ticket once
        page = store.lists.table(
            scope=EVERYTHING, user_id=1, flt=TicketFilter(), sort=parse_sort("name"), limit=2, cursor=cursor
        )
        seen += [t["id"] for t in page["items"]]
        assert page["total"] == 5
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [t["id"] for t in sorted(made, key=lambda t: t["name"])]


def test_the_following_view_says_unread_right_and_reads_marks_for_its_page_only(
    store: TicketStore, clock: ManualClock
) -> None:
    """``unread`` is a row's own column (a correlated ``NOT EXISTS``): never read, read, read
    then a new customer message, marked unread, each right on every page of the following view
    (newest first: the message moves its ticket to the top)
    and in the unread view. On PostgreSQL the read marks are looked up for the page's rows
    only, after its sort, not for each followed ticket before it."""
    made = []
    for n in range(12):
        clock.advance(minutes=1)
        made.append(_create(store, name=f"ticket {n}")["id"])
    act = store.activity
    for ticket_id in made[:10]:
        act.follow(scope=EVERYTHING, user_id=2, ticket_id=ticket_id)
    for ticket_id in made[2:8]:
        act.mark_read(scope=EVERYTHING, user_id=2, ticket_id=ticket_id)
    clock.advance(minutes=1)
    act.customer_message_received(scope=EVERYTHING, ticket_id=made[3], event_id="m-1")  # to the top
    act.mark_unread(scope=EVERYTHING, user_id=2, ticket_id=made[4])
    act.mark_read(scope=EVERYTHING, user_id=1, ticket_id=made[0])  # another user's mark
    unread = {made[0], made[1], made[3], made[4], made[8], made[9]}

    seen: dict[int, bool] = {}
    cursor = None
    while True:
        page = store.lists.table(
            scope=EVERYTHING, user_id=2, flt=TicketFilter(view="following"), sort=parse_sort("-updated_at"),
            limit=3, cursor=cursor,
        )  # fmt: skip
        seen.update((t["id"], t["unread"]) for t in page["items"])
        assert all(t["following"] for t in page["items"]) and page["total"] == 10
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == {ticket_id: ticket_id in unread for ticket_id in made[:10]}
    assert list(seen) == [made[3], *(t for t in reversed(made[:10]) if t != made[3])]
    listed = store.lists.table(
        scope=EVERYTHING,
        user_id=2,
        flt=TicketFilter(view="unread"),
        sort=parse_sort("id"),
        limit=25,
        cursor=None,
    )
    assert [t["id"] for t in listed["items"]] == sorted(unread | set(made[10:]))
    assert all(t["unread"] for t in listed["items"]) and listed["total"] == len(unread) + 2

    engine = store.lists.db.engine
    if engine.dialect.name != "postgresql":
        return  # SQLite computes a row's columns before its sorter whichever way they are written
    statement, values = queries.page(
        EVERYTHING, 2, TicketFilter(view="following"), sort=parse_sort("-updated_at"), limit=2
    )
    with engine.connect() as c:
        c.execute(sa.text("SET enable_hashjoin = off"))  # a nested loop over the follows, as at scale
        select = cast(sa.Select[Any], statement.statement)
        compiled = select.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled)
        plan = c.exec_driver_sql(explain, compiled.construct_params(values)).scalar_one()
    marks = [n for n in _plan_nodes(plan[0]["Plan"]) if n.get("Relation Name") == "ticket_reads"]
    assert marks and all(n["Actual Loops"] <= 3 for n in marks), json.dumps(plan, indent=1)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("with_policy", [False, True], ids=["no-sla", "sla-policy"])
def test_a_create_answers_what_reading_the_ticket_back_gives(store: TicketStore, with_policy: bool) -> None:
    """The create's answer is built from the row its insert returned (no read-back statement); it
    must be the ticket exactly as a read gives it to its creator, SLA clocks included."""
    if with_policy:
        store.slas.create_policy(actor_id=1, data={"name": "All", "first_reply_minutes": 60})
    created = store.tickets.create(
        actor_id=7,
        data={
            "name": "printer on fire",
            "description": "smoke",
            "priority": "high",
            "category": "hardware",
            "owner_id": 7,
            "team_id": 3,
            "source": "email",
            "associations": {"contacts": [5, 2, 5], "deals": [9]},
        },
    )
    read = store.tickets.get(scope=EVERYTHING, user_id=7, ticket_id=created["id"], mark_read=False)
    assert created == read
    assert created["associations"] == {"contacts": [2, 5], "companies": [], "deals": [9]}
    assert created["unread"] is False and created["following"] is False
    assert (created["sla"] is not None) is with_policy


@pytest.mark.parametrize("sort", ["-updated_at", "updated_at", "name", "-priority", "id"])
def test_a_boards_columns_in_one_statement_are_each_columns_own_page(
    store: TicketStore, clock: ManualClock, sort: str
) -> None:
    """The board reads its columns' first pages in one statement (``queries.board_pages``): each
    column holds exactly the rows its own page (``queries.page`` for its stage) gives, in the same
    order, with the same next cursor, for every sort, a scope that sees only some tickets, a
    filter, a search whose matches are all found first, and columns with no ticket, fewer than a
    page, and more."""
    stages = [stage["id"] for stage in store.pipelines.all()[0]["stages"]]
    spread = [0, 0, 0, 0, 0, 1, 1, 3, 0, 3, 3, 3, 3, 3, 3]  # the third stage stays empty
    for n, column in enumerate(spread):
        clock.advance(minutes=1)
        owner = 7 if n % 3 else None
        priority = ["low", "high", "medium"][n % 3]
        ticket = _create(store, name=f"ticket {'kjihgfedcbaonml'[n]}", priority=priority)
        store.tickets.update(
            scope=EVERYTHING,
            actor_id=1,
            ticket_id=ticket["id"],
            changes={"status": stages[column], "owner_id": owner},
        )

    def pages(seen: list[str]) -> list[str]:  # a page's statement (an EXECUTE as its SQL), no PREPARE
        return [sql for statement in seen if (sql := executed(statement)) is not None and "sort_key" in sql]

    owned = Scope(False, frozenset({7}), False)
    high, searched = TicketFilter(priority="high"), TicketFilter(q="ticket")  # every match within the cap
    asked = [(EVERYTHING, TicketFilter()), (owned, TicketFilter()), (EVERYTHING, high), (owned, searched)]
    for scope, flt in asked:
        common: dict[str, Any] = {"scope": scope, "user_id": 1, "flt": flt, "sort": parse_sort(sort)}
        common["limit"] = 3
        with statements(store.lists.db.engine) as seen:
            board = store.lists.board(**common, pipeline_id=None)
        assert len(pages(seen)) == 1, seen  # every column's page in one statement
        assert [column["stage"]["id"] for column in board["columns"]] == stages
        for column in board["columns"]:
            own = store.lists.table(
                **common | {"flt": dataclasses.replace(flt, status=column["stage"]["id"])}, cursor=None
            )
            assert [t["id"] for t in column["items"]] == [t["id"] for t in own["items"]]
            assert column["items"] == own["items"]
            assert column["total"] == own["total"]
            assert (column["next_cursor"] is None) == (own["next_cursor"] is None)
            if column["next_cursor"]:  # the column's cursor continues where its own table would
                rest = store.lists.table(
                    **common | {"flt": dataclasses.replace(flt, status=column["stage"]["id"])},
                    cursor=column["next_cursor"],
                )
                assert (
                    rest["items"]
                    == store.lists.table(
                        **common | {"flt": dataclasses.replace(flt, status=column["stage"]["id"])},
                        cursor=own["next_cursor"],
                    )["items"]
                )
    assert [c["total"] for c in store.lists.board(**common, pipeline_id=None)["columns"]][2] == 0


@pytest.mark.parametrize("cap", [1, 100], ids=["past-the-cap", "within-the-cap"])
def test_a_search_finds_its_matches_as_text_and_pages_planned_once(
    store: TicketStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """On PostgreSQL a text search's own statement is planned for its words each time (a rare
    word wants the trigram index, a common one the sort order's: ``LIKE``), while its pages are
    planned once (``Prepared``), their text checked on the way (``strpos``): among the matches it
    found, or past the cap walking the sort's index (the table's page, and the board's columns
    in one statement). Same answers either way."""
    if store.lists.db.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL plans statements (SQLite runs each one's text)")
    monkeypatch.setattr(contract, "SEARCH_TOTAL_CAP", cap)
    for n in range(4):
        clock.advance(minutes=1)
        _create(store, name=f"printer {n}" if n % 2 else f"scanner {n}")

    def searched(ran: list[str]) -> list[str]:
        return [sql for sql in ran if any(word in (executed(sql) or "") for word in ("LIKE", "strpos"))]

    common: dict[str, Any] = {
        "scope": EVERYTHING,
        "user_id": 1,
        "sort": parse_sort("-updated_at"),
        "limit": 25,
    }
    with statements(store.lists.db.engine) as ran:
        for _ in range(2):  # the first run on a connection prepares, the second only executes
            ran.clear()
            found = store.lists.table(**common, flt=TicketFilter(q="printer"), cursor=None)
            assert [t["name"] for t in found["items"]] == ["printer 3", "printer 1"]
        table = searched(ran)
        ran.clear()
        board = store.lists.board(**common, flt=TicketFilter(q="printer"), pipeline_id=None)
        assert [t["name"] for t in board["columns"][0]["items"]] == ["printer 3", "printer 1"]
        columns = searched(ran)
    for these in (table, columns):
        assert len(these) == 2, these  # the matching, then the page(s)
        matching, page = these
        assert matching.startswith("SELECT") and "sort_key" not in matching and "LIKE" in matching
        assert page.startswith("EXECUTE ")
        assert "sort_key" in (executed(page) or "") and "strpos" in (executed(page) or "")


def test_a_search_asks_for_its_conversation_matches_after_its_own_statement_and_adds_them(
    store: TicketStore, clock: ManualClock
) -> None:
    """The store searches the tickets' own text first and only then waits for the tickets whose
    conversation matches (``messages``: the service asked the conversations service before the
    store started, so the two run at the same time). Those tickets count as matches whatever
    their own text, but only those the scope and the filters select; the table, the board and
    their totals agree with the ids given up front."""
    made = []
    for n in range(6):
        clock.advance(minutes=1)
        made.append(_create(store, name=f"printer {n}" if n < 2 else f"other {n}", priority="high")["id"])
    store.tickets.update(scope=EVERYTHING, actor_id=1, ticket_id=made[3], changes={"owner_id": 7})
    store.tickets.update(scope=EVERYTHING, actor_id=1, ticket_id=made[4], changes={"priority": "low"})
    by_conversation = (made[2], made[3], made[4], 999_999)  # 999,999: no such ticket

    def messages(ran: list[str]) -> tuple[int, ...]:  # ran: the SQL run so far (``statements``)
        its_own = [sql for statement in ran if (sql := executed(statement)) is not None]
        assert any("LIKE" in sql for sql in its_own), ran  # its own search ran first
        ran.append("-- asked")
        return by_conversation

    common: dict[str, Any] = {"user_id": 1, "sort": parse_sort("-updated_at"), "limit": 25}
    engine = store.lists.db.engine
    owned = Scope(False, frozenset({7}), True)
    for scope, flt, expected in (
        (EVERYTHING, TicketFilter(q="printer"), {made[0], made[1], made[2], made[3], made[4]}),
        (EVERYTHING, TicketFilter(q="printer", priority="high"), {made[0], made[1], made[2], made[3]}),
        (owned, TicketFilter(q="printer"), set(made) - {made[5]}),  # all but made[3] are unowned
        (Scope(False, frozenset({7}), False), TicketFilter(q="printer"), {made[3]}),
    ):
        with statements(engine) as ran:
            asked = functools.partial(messages, ran)
            table = store.lists.table(**common, scope=scope, flt=flt, cursor=None, messages=asked)
            assert "-- asked" in ran
            ran.clear()
            board = store.lists.board(**common, scope=scope, flt=flt, pipeline_id=None, messages=asked)
        given = dataclasses.replace(flt, q_ids=by_conversation)
        upfront = store.lists.table(**common, scope=scope, flt=given, cursor=None)
        assert {t["id"] for t in table["items"]} == {t["id"] for t in upfront["items"]} == expected
        assert (table["total"], table["total_capped"]) == (upfront["total"], upfront["total_capped"])
        on_board = {t["id"] for column in board["columns"] for t in column["items"]}
        assert on_board == {t["id"] for t in table["items"]}
