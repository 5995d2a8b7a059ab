"""A text search's first matches (``queries.text_probe``, ``queries.TextProbe``), on random
tickets against a real database.

For a random scope, word, filters, cap and bound, probed twice with the same words: past the cap
the probe answers ``cap + 1`` distinct matches, otherwise exactly the listed tickets of the scope
that match, each once. The first probe of words is the one whole statement; the bounded read is
tried only for words last found past the cap, and answers alone when it finds them past the cap
too; a probe it cannot serve (everything, a filter on a column its index does not carry) is the
one statement it always was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.chassis.db import SessionFactory, make_engine
from services.tickets.domain import EVERYTHING, PRIORITY_RANK, Scope, TicketFilter
from services.tickets.models import tickets
from services.tickets.store import queries
from tests.sql import statements

pytestmark = pytest.mark.db

OWNERS = [1, 2, 3]
PRIORITIES = ("low", "urgent")
TEXTS = ("toner low", "toner", "paper jam", "", "low_toner", "50% toner", "toner_jam")

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "owner": st.none() | st.sampled_from(OWNERS),
            "stage": st.integers(1, 4),
            "text": st.sampled_from(TEXTS),
        },
        optional={
            "priority": st.sampled_from(PRIORITIES),
            "deleted": st.booleans(),
            "merged": st.booleans(),
        },
    ),
    min_size=5,
    max_size=30,
)
scopes = st.builds(
    Scope, st.just(False), st.frozensets(st.sampled_from(OWNERS), min_size=1), st.booleans()
) | st.sampled_from([EVERYTHING, Scope(False), Scope(False, unassigned=True)])
filters = st.fixed_dictionaries(
    {"q": st.sampled_from(["toner", "toner", "low", "jam", "_", "toner low", "%", "zz"])},
    optional={
        "status": st.integers(1, 4),
        "priority": st.sampled_from(PRIORITIES),
        "pipeline_id": st.just(1),
    },
)

_INSERT = sa.text(
    "INSERT INTO tickets (id, name, description, pipeline_id, stage_id, priority, priority_rank, owner_id,"
    " source, created_by, created_at, updated_at, deleted_at, merged_into_id, version, unread_seq,"
    " merge_count, sla_next_due_at, search_text) VALUES (:id, :text, '', 1, :stage, :priority, :rank, :owner,"
    " 'api', 1, :now, :now, :deleted, :merged, 1, 1, 0, :now, :text)"
)


@pytest.fixture
def engine(make_db: Callable[[str], str]) -> Iterator[sa.Engine]:
    engine = make_engine(make_db("tickets"))
    yield engine
    engine.dispose()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    scope=scopes,
    asked=filters,
    cap=st.integers(0, 4),
    bound=st.integers(1, 6),
)
def test_a_text_probe_answers_the_scopes_matches_or_proves_them_past_the_cap(
    engine: sa.Engine,
    rows: list[dict[str, Any]],
    scope: Scope,
    asked: dict[str, Any],
    cap: int,
    bound: int,
) -> None:
    _insert(engine, rows)
    flt = TicketFilter.from_query(asked)
    probe = _probe(scope, flt, cap, bound)
    words = uuid.uuid4()  # these words were never probed before

    def listed(n: int, row: dict[str, Any]) -> bool:
        return not row.get("deleted") and not (row.get("merged") and n != 1)

    expected = {
        (n, row["stage"])
        for n, row in enumerate(rows, 1)
        if listed(n, row)
        and scope.allows(row["owner"])
        and all(term in row["text"] for term in flt.q_terms)
        and asked.get("status") in (None, row["stage"])
        and asked.get("priority") in (None, row.get("priority", "low"))
    }
    partial = not scope.everything and bool(scope.owner_ids or scope.unassigned)
    assert (probe.bounded is not None) == (partial and "priority" not in asked)
    for attempt in (1, 2):
        found, ran = _run(engine, probe, flt, words)
        assert len(found) == len(set(found)), found
        if len(expected) > cap:
            assert len(found) == cap + 1 and set(found) <= expected, (found, expected)
        else:
            assert set(found) == expected
        if attempt == 1 or probe.bounded is None or len(expected) <= cap:
            assert ran == ["whole"], ran  # first, unserved, or last found within the cap
        else:
            assert ran in (["bounded"], ["bounded", "whole"]), ran


def _insert(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Tickets 1, 2, ... of ``rows`` (``text``, ``owner``, ``stage``, ``priority``, ``deleted``,
    ``merged``: into ticket 1, which is never merged itself), and no others."""
    now = "2026-12-06 12:00:00"
    values = [
        {
            "id": n,
            "text": row["text"],
            "owner": row.get("owner"),
            "stage": row.get("stage", 1),
            "priority": row.get("priority", "low"),
            "rank": PRIORITY_RANK[row.get("priority", "low")],
            "now": now,
            "deleted": now if row.get("deleted") else None,
            "merged": 1 if row.get("merged") and n != 1 else None,
        }
        for n, row in enumerate(rows, 1)
    ]
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM tickets"))
        if values:
            c.execute(_INSERT, values)


def _probe(scope: Scope, flt: TicketFilter, cap: int, bound: int) -> queries.TextProbe:
    shape = queries.ListShape.of(scope, flt)
    columns = [tickets.c.id, tickets.c.stage_id]
    checked = queries.asked(shape, walked=True)
    whole, bounded = queries.text_probe(
        scope, columns, queries.asked(shape), cap, checked=checked, bound=bound
    )
    return queries.TextProbe(whole, cap, bounded)


def _run(
    engine: sa.Engine, probe: queries.TextProbe, flt: TicketFilter, words: Any
) -> tuple[list[tuple[int, int]], list[str]]:
    """The probe's rows and which of its statements ran, in order (the bounded one reads the
    scope's rows as ``scope_rows``)."""
    with statements(engine) as ran_sql, SessionFactory(engine).read() as s:
        found = [tuple(row) for row in probe.run(s, queries.list_values(1, flt), words=words)]
        ran = ["bounded" if "scope_rows" in sql else "whole" for sql in ran_sql if "FROM tickets" in sql]
    return found, ran


def test_words_past_the_cap_beyond_the_bound_are_probed_whole_again_and_forgotten(engine: sa.Engine) -> None:
    """Twenty of the agent's tickets, the newest five matching, a cap of three: the first probe is
    the whole statement, past the cap; the next reads the first ten by key, finds none, and runs
    the whole statement after; the one after that knows better and runs it alone."""
    plain = {"stage": 2, "priority": "low", "owner": 2}
    _insert(engine, [{**plain, "text": "toner" if n > 15 else "paper"} for n in range(1, 21)])
    scope = Scope(False, frozenset({2}), unassigned=True)
    flt = TicketFilter.from_query({"q": "toner"})
    probe = _probe(scope, flt, 3, 10)
    runs = [_run(engine, probe, flt, "toner") for _ in range(3)]
    assert [ran for _found, ran in runs] == [["whole"], ["bounded", "whole"], ["whole"]]
    for found, _ran in runs:
        assert len(found) == 4 and {n for n, _stage in found} <= set(range(16, 21))


def test_words_past_the_cap_within_the_bound_are_answered_by_the_bounded_read(engine: sa.Engine) -> None:
    plain = {"stage": 2, "priority": "low", "owner": None}
    _insert(engine, [{**plain, "text": "toner"} for _ in range(1, 21)])
    scope = Scope(False, frozenset({2}), unassigned=True)
    flt = TicketFilter.from_query({"q": "toner"})
    probe = _probe(scope, flt, 3, 10)
    runs = [_run(engine, probe, flt, ("toner", "within")) for _ in range(3)]
    assert [ran for _found, ran in runs] == [["whole"], ["bounded"], ["bounded"]]
    assert all(len(found) == 4 for found, _ran in runs)
