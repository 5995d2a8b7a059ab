"""A searched page past the cap: the bounded walk (``queries.bounded_walk`` through
``queries.page``/``queries.board_pages`` with ``bounded``, read by ``queries.walked``) and the
matches sorted instead (``matches_first``, ``queries.board_matches_first``), on random tickets
against a real database, with a small bound.

For a random scope, word, filters, sort, cursor, page size and bound: whenever the bounded walk
answers, its page is exactly the first matches after the cursor in the sort order; it answers
whenever those matches all lie within the bound's rows; and the matches sorted always give that
page. So a walk cut at its bound never passes for a short page, and a short page that is the
end of the matches is never mistaken for a cut.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.chassis.db import SessionFactory, make_engine
from services.tickets.domain import EVERYTHING, PRIORITY_RANK, Scope, TicketFilter
from services.tickets.domain.lists import parse_sort
from services.tickets.models import followers, tickets
from services.tickets.store import queries

pytestmark = pytest.mark.db

OWNERS = [1, 2, 3]
NAMES = ("Toner low", "toner", "Paper jam", "low toner", "jam", "Low paper")
STAGES = [1, 2, 3, 4]
BASE = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "owner": st.none() | st.sampled_from(OWNERS),
            "stage": st.sampled_from(STAGES),
            "name": st.sampled_from(NAMES),
            "minute": st.integers(0, 5),
        },
        optional={
            "deleted": st.booleans(),
            "priority": st.sampled_from(["low", "urgent"]),
            "followed": st.booleans(),  # by user 1, the caller
        },
    ),
    min_size=0,
    max_size=30,
)
scopes = st.builds(
    Scope, st.just(False), st.frozensets(st.sampled_from(OWNERS), min_size=1), st.booleans()
) | st.sampled_from([EVERYTHING, Scope(False, unassigned=True)])
asks = st.fixed_dictionaries(
    {"q": st.sampled_from(["toner", "low", "jam", "paper low", "zz"])},
    optional={
        "status": st.sampled_from(STAGES),
        "priority": st.just("urgent"),
        "view": st.just("following"),
    },
)
sorts = st.sampled_from(
    ["name", "-name", "updated_at", "-updated_at", "id", "-id", "created_at", "-priority", "priority"]
)


@dataclass(frozen=True)
class Case:
    """One drawn example: the tickets, the caller's scope and ask, the sort, the page's size and
    the walks' bound."""

    rows: list[dict[str, Any]]
    scope: Scope
    asked: dict[str, Any]
    sort_text: str
    limit: int
    walk_bound: int

    def ready(self, engine: sa.Engine, bound: Callable[[int], None]) -> list[int]:
        """The case's tickets in the database under its bound: every ticket's id in its sort
        order, as the database sorts."""
        bound(self.walk_bound)
        _insert(engine, self.rows)
        return _order(engine, self.sort_text)


cases = st.builds(
    Case,
    rows=rows_strategy,
    scope=scopes,
    asked=asks,
    sort_text=sorts,
    limit=st.integers(1, 4),
    walk_bound=st.integers(1, 8),
)


def _examples(count: int) -> settings:
    """``count`` examples, each on the test's own database (a fixture's, hence the health check)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture
def engine(make_db: Callable[[str], str]) -> Iterator[sa.Engine]:
    engine = make_engine(make_db("tickets"))
    yield engine
    engine.dispose()


@pytest.fixture
def bound() -> Iterator[Callable[[int], None]]:
    """``bound(n)``: the walks' bound is ``n`` (statements built with the old one are dropped)."""
    kept = queries.WALK_BOUND

    def set_bound(n: int) -> None:
        queries.WALK_BOUND = n
        queries._page.cache_clear()
        queries._board_pages.cache_clear()

    yield set_bound
    set_bound(kept)


@_examples(150)
@given(case=cases, skip=st.none() | st.integers(0, 10))
def test_a_bounded_walk_gives_the_page_or_says_it_was_cut_and_the_matches_sorted_always_give_it(
    engine: sa.Engine, bound: Callable[[int], None], case: Case, skip: int | None
) -> None:
    order = case.ready(engine, bound)
    rows, scope, asked, sort_text, limit = case.rows, case.scope, case.asked, case.sort_text, case.limit
    sort = parse_sort(sort_text)
    flt = TicketFilter.from_query(asked)
    selected = [n for n in order if _selected(rows[n - 1], scope, asked, words=False)]
    matches = [n for n in selected if _selected(rows[n - 1], scope, asked, words=True)]
    after = None
    if skip is not None and skip < len(selected):  # a cursor at any selected ticket, matching or not
        after = _position(engine, sort_text, selected[skip])
        matches = [n for n in matches if order.index(n) > order.index(selected[skip])]
        selected = selected[skip + 1 :]
    expected = matches[: limit + 1]
    with SessionFactory(engine).read() as s:
        walk = queries.page(scope, 1, flt, sort=sort, limit=limit, after=after, searched="bounded")
        page = queries.walked(queries.run(s, walk).all(), limit + 1)
        first = queries.page(scope, 1, flt, sort=sort, limit=limit, after=after, searched="matches_first")
        assert [row.id for row in queries.run(s, first)] == expected
    if page is not None:
        assert [row.id for row in page] == expected
    within = len(selected) < case.walk_bound or (
        len(expected) == limit + 1 and selected.index(expected[-1]) < case.walk_bound
    )
    parts = queries.owner_parts(queries.ListShape.of(scope, flt), sort.key, staged=flt.status is not None)
    if within and parts is None:  # walked apart, each owner's walk has its own bound
        assert page is not None


@_examples(300)
@given(case=cases)
def test_a_boards_bounded_columns_and_their_sorted_matches_give_each_columns_first_page(
    engine: sa.Engine, bound: Callable[[int], None], case: Case
) -> None:
    order = case.ready(engine, bound)
    rows, scope, limit = case.rows, case.scope, case.limit
    sort = parse_sort(case.sort_text)
    asked = {key: value for key, value in case.asked.items() if key != "status"} | {"pipeline_id": 1}
    flt = TicketFilter.from_query(asked)
    expected = {
        stage: [
            n
            for n in order
            if rows[n - 1]["stage"] == stage and _selected(rows[n - 1], scope, asked, words=True)
        ][: limit + 1]
        for stage in STAGES
    }
    with SessionFactory(engine).read() as s:
        walks: dict[int, list[Any]] = {stage: [] for stage in STAGES}
        for row in queries.run(
            s, queries.board_pages(scope, 1, flt, STAGES, sort=sort, limit=limit, bounded=True)
        ):
            walks[STAGES[row.board_column]].append(row)
        sorted_first: dict[int, list[int]] = {stage: [] for stage in STAGES}
        for row in queries.run(s, queries.board_matches_first(scope, 1, flt, STAGES, sort=sort, limit=limit)):
            sorted_first[STAGES[row.board_column]].append(row.id)
    assert sorted_first == expected
    selected = [n for n in order if _selected(rows[n - 1], scope, asked, words=False)]
    parts = queries.owner_parts(queries.ListShape.of(scope, flt), sort.key, staged=True)
    # one walk for all the columns where no index orders a stage's tickets (queries.board_walk),
    # nor its owners' (queries.owner_parts)
    shared = parts is None and (sort.key != "updated_at" or asked.get("view") == "following")
    for stage in STAGES:
        page = queries.walked(walks[stage], limit + 1)
        if page is not None:
            assert [row.id for row in page] == expected[stage], stage
        walk = selected if shared else [n for n in selected if rows[n - 1]["stage"] == stage]
        walk_bound = case.walk_bound * (len(STAGES) if shared else 1)
        within = len(walk) < walk_bound or (
            len(expected[stage]) == limit + 1 and walk.index(expected[stage][-1]) < walk_bound
        )
        if within and parts is None:
            assert page is not None, stage


def test_matches_past_the_bound_are_found_sorted_not_walked(
    engine: sa.Engine, bound: Callable[[int], None]
) -> None:
    """Thirty tickets sorted by name, the five matches last: a walk bounded at ten rows is cut (it
    read ten names before them), and the sorted matches give the page."""
    bound(10)
    _insert(
        engine,
        [{"name": f"a{n:02}", "stage": 1} for n in range(25)]
        + [{"name": f"toner {n}", "stage": 1} for n in range(5)],
    )
    flt = TicketFilter.from_query({"q": "toner"})
    with SessionFactory(engine).read() as s:
        walk = queries.page(EVERYTHING, 1, flt, sort=parse_sort("name"), limit=3, searched="bounded")
        rows = queries.run(s, walk).all()
        assert queries.walked(rows, 4) is None
        assert [row.walked for row in rows] == [10]  # no match within the bound: its last row says so
        first = queries.page(EVERYTHING, 1, flt, sort=parse_sort("name"), limit=3, searched="matches_first")
        assert [row.id for row in queries.run(s, first)] == [26, 27, 28, 29]


def _selected(row: dict[str, Any], scope: Scope, asked: dict[str, Any], *, words: bool) -> bool:
    """Whether a ticket is listed for ``scope`` and passes ``asked``'s filters (and its words)."""
    if row.get("deleted") or not scope.allows(row["owner"]):
        return False
    if asked.get("status") not in (None, row["stage"]):
        return False
    if asked.get("priority") not in (None, row.get("priority", "low")):
        return False
    if asked.get("view") == "following" and not row.get("followed"):
        return False
    return not words or all(term in row["name"].lower() for term in asked["q"].split())


def _order(engine: sa.Engine, sort_text: str) -> list[int]:
    key = queries.SORT_KEYS[sort_text.removeprefix("-")]
    direction = sa.desc if sort_text.startswith("-") else sa.asc
    statement = sa.select(tickets.c.id).order_by(direction(key), direction(tickets.c.id))
    with engine.connect() as c:
        return list(c.scalars(statement))


def _position(engine: sa.Engine, sort_text: str, ticket_id: int) -> tuple[Any, int]:
    key = queries.SORT_KEYS[sort_text.removeprefix("-")]
    with engine.connect() as c:
        value = c.scalar(sa.select(key).where(tickets.c.id == ticket_id))
    return value, ticket_id


def _insert(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Tickets 1, 2, ... of ``rows`` (``name``, ``owner``, ``stage``, ``minute`` past ``BASE``,
    ``priority``, ``deleted``, ``followed`` by user 1 with its follow row's copies), and no others."""
    values = [
        {
            "id": n,
            "name": row["name"],
            "description": "",
            "search_text": row["name"].lower(),
            "pipeline_id": 1,
            "stage_id": row.get("stage", 1),
            "priority": row.get("priority", "low"),
            "priority_rank": PRIORITY_RANK[row.get("priority", "low")],
            "owner_id": row.get("owner"),
            "source": "api",
            "created_by": 1,
            "created_at": BASE + dt.timedelta(minutes=row.get("minute", 0)),
            "updated_at": BASE + dt.timedelta(minutes=row.get("minute", 0)),
            "deleted_at": BASE if row.get("deleted") else None,
            "version": 1,
            "unread_seq": 1,
            "merge_count": 0,
            "sla_next_due_at": BASE,
        }
        for n, row in enumerate(rows, 1)
    ]
    follows = [
        {
            "ticket_id": n,
            "user_id": 1,
            "created_at": BASE,
            "listed": not row.get("deleted"),
            "ticket_owner_id": row.get("owner"),
            "ticket_updated_at": BASE + dt.timedelta(minutes=row.get("minute", 0)),
            "ticket_created_at": BASE + dt.timedelta(minutes=row.get("minute", 0)),
            "ticket_priority_rank": PRIORITY_RANK[row.get("priority", "low")],
            "ticket_name_key": row["name"].lower(),
            "ticket_stage_id": row.get("stage", 1),
        }
        for n, row in enumerate(rows, 1)
        if row.get("followed")
    ]
    with engine.begin() as c:  # through the tables' types: dates stored as the service stores them
        c.execute(sa.delete(followers))
        c.execute(sa.delete(tickets))
        if values:
            c.execute(sa.insert(tickets), values)
        if follows:
            c.execute(sa.insert(followers), follows)
