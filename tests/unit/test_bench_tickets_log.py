"""bench.tickets: reading the statements of one request from PostgreSQL's log, prepared ones too;
a cell measured in rounds (bench.run's, which bench.tickets shares); the like-for-like reads."""

from __future__ import annotations

import json

from bench.run import Cell, joined
from bench.tickets import (
    Plan,
    Prepared,
    Request,
    SizeRun,
    answer_size,
    fixed,
    like_for_like,
    parse_log,
    with_limit,
)

LOG = """\
@@bench tickets@@ LOG:  duration: 0.050 ms  statement: BEGIN
@@bench tickets@@ LOG:  duration: 0.400 ms  statement: PREPARE helpdesk_ab AS SELECT count(*) AS count_1
\tFROM (SELECT 1 AS one FROM tickets WHERE tickets.stage_id = $1 LIMIT 1001) AS anon_1
@@bench tickets@@ LOG:  duration: 1.250 ms  statement: EXECUTE helpdesk_ab(4)
@@bench tickets@@ LOG:  duration: 0.300 ms  statement: DEALLOCATE helpdesk_old; PREPARE helpdesk_cd AS \
SELECT tickets.id FROM tickets ORDER BY tickets.id LIMIT 26
@@bench tickets@@ LOG:  duration: 0.500 ms  statement: EXECUTE helpdesk_cd
@@bench notifications@@ LOG:  duration: 0.500 ms  statement: SELECT 2
@@bench tickets@@ LOG:  duration: 0.700 ms  statement: SELECT tickets.id FROM tickets \
WHERE tickets.search_text LIKE '%refund%' LIMIT 101
@@bench tickets@@ LOG:  duration: 0.200 ms  statement: EXECUTE helpdesk_seen_before(1)
"""


def test_a_prepare_is_not_counted_and_its_executes_carry_it() -> None:
    prepared = {"helpdesk_seen_before": "PREPARE helpdesk_seen_before AS SELECT $1"}
    found = parse_log(LOG, prepared=prepared)
    assert [(s.sql.split("(")[0], s.ms) for s in found] == [
        ("EXECUTE helpdesk_ab", 1.25),
        ("EXECUTE helpdesk_cd", 0.5),
        ("SELECT tickets.id FROM tickets WHERE tickets.search_text LIKE '%refund%' LIMIT 101", 0.7),
        ("EXECUTE helpdesk_seen_before", 0.2),
    ]
    count, page, search, earlier = found
    assert count.main and count.flat.startswith("SELECT count(*)") and "stage_id = $1" in count.flat
    assert page.main and page.prepare is not None and page.prepare.startswith("PREPARE helpdesk_cd AS SELECT")
    assert search.prepare is None and search.main
    assert (count.first_run, page.first_run, search.first_run, earlier.first_run) == (
        True,
        True,
        False,
        False,
    )
    assert earlier.flat == "SELECT $1" and set(prepared) == {
        "helpdesk_seen_before",
        "helpdesk_ab",
        "helpdesk_cd",
    }


def test_an_execute_of_a_statement_prepared_earlier_is_not_a_first_run() -> None:
    """A later stretch of the log, the statements prepared before: the steady state."""
    prepared: dict[str, str] = {}
    parse_log(LOG, prepared=prepared)
    again = parse_log(
        "@@bench tickets@@ LOG:  duration: 0.150 ms  statement: EXECUTE helpdesk_ab(4)\n"
        "@@bench tickets@@ LOG:  duration: 0.100 ms  statement: EXECUTE helpdesk_cd\n",
        prepared=prepared,
    )
    assert [(s.ms, s.first_run, s.main) for s in again] == [(0.15, False, True), (0.1, False, True)]


def test_rounds_of_a_cell_are_one_cell() -> None:
    """A read measured in rounds is reported as one cell: every latency of every round in its
    percentiles, the rounds' times and errors added (the rate over all of them)."""
    first = Cell(latencies_ms=[5.0, 1.0, 3.0], elapsed=1.0)
    second = Cell(latencies_ms=[2.0, 4.0], elapsed=1.5, errors=1, first_error="HTTP 500")
    both = joined(first, second)
    assert sorted(both.latencies_ms) == [1.0, 2.0, 3.0, 4.0, 5.0] and both.percentile(0.5) == 3.0
    assert (both.elapsed, both.errors, both.first_error) == (2.5, 1, "HTTP 500")
    assert both.rate == 2.0


def _plan(key: str, url: str, clients: int = 1) -> Plan:
    request = ("GET", url, None)
    return Plan(key, f"GET {key}", clients, "token", 200, fixed(request), request)


def _size(size: int, answered: dict[str, int | None], plans: list[Plan]) -> Prepared:
    run = SizeRun(size, answered=answered, labels=[(p.key, p.label, p.clients) for p in plans])
    return Prepared(run, stack=None, work=None, todo=plans)  # type: ignore[arg-type]


def test_an_answer_size_is_a_pages_items_or_a_boards_shortest_column() -> None:
    assert answer_size({"items": [{}, {}, {}], "total": 3}) == 3
    assert (
        answer_size({"columns": [{"items": [{}, {}]}, {"items": [{}, {}, {}, {}]}, {"items": [{}, {}]}]}) == 2
    )
    assert answer_size({"columns": [{"items": [{}]}, {"items": []}]}) == 0
    assert answer_size({"columns": []}) == 0
    assert answer_size({"id": 1}) is None


def test_a_limit_goes_into_a_gets_query_or_a_searchs_body() -> None:
    tickets, board = "http://h/api/v1/tickets", "http://h/api/v1/tickets/board"
    assert with_limit(("GET", f"{tickets}?q=a&limit=25&sort=id", None), 3) == (
        "GET",
        f"{tickets}?q=a&sort=id&limit=3",
        None,
    )
    assert with_limit(("GET", f"{board}?pipeline_id=1", None), 4) == (
        "GET",
        f"{board}?pipeline_id=1&limit=4",
        None,
    )
    limited = with_limit(("POST", f"{tickets}/search", b'{"query": "a", "limit": 25}'), 2)
    assert limited is not None and json.loads(limited[2] or b"") == {"query": "a", "limit": 2}
    assert with_limit(("POST", f"{tickets}/search", b"[]"), 2) is None
    assert with_limit(("PATCH", f"{tickets}/1", b"{}"), 2) is None


def test_like_for_like_repeats_only_the_reads_that_answer_more_at_a_larger_size() -> None:
    search: Request = ("POST", "http://x/api/v1/tickets/search", b'{"query": "refund"}')

    def plans(base: str) -> list[Plan]:
        return [
            _plan("following", f"{base}/tickets?view=following&limit=25"),
            _plan("open", f"{base}/tickets?view=open&limit=25"),
            _plan("none", f"{base}/tickets?q=zzqx&limit=25"),
            _plan("board", f"{base}/tickets/board?pipeline_id=1"),
            _plan("eight", f"{base}/tickets?view=open&limit=25", clients=8),
            Plan("search", "POST search", 1, "token", 200, fixed(search), search),
        ]

    small_answers: dict[str, int | None] = {"following": 1, "open": 25, "none": 0, "board": 5, "search": 13}
    large_answers: dict[str, int | None] = {"following": 25, "open": 25, "none": 0, "board": 25, "search": 25}
    small = _size(1_000, {**small_answers, "eight": 1}, plans("http://a"))
    large = _size(1_000_000, {**large_answers, "eight": 25}, plans("http://b"))

    added = like_for_like([large, small])

    assert added == ["following:like", "board:like", "search:like"]  # not: same answers, none, 8 clients
    for size, base in ((small, "http://a"), (large, "http://b")):
        keys = [p.key for p in size.todo]
        assert keys == [
            "following", "following:like", "open", "none", "board", "board:like", "eight",
            "search", "search:like",
        ]  # fmt: skip
        assert [k for k, _label, _clients in size.run.labels] == keys
        again = {p.key: p for p in size.todo}
        assert again["following:like"].probe == ("GET", f"{base}/tickets?view=following&limit=1", None)
        assert again["following:like"].per_client()() == again["following:like"].probe
        assert again["board:like"].probe[1] == f"{base}/tickets/board?pipeline_id=1&limit=5"
        assert again["board:like"].like_for_like and not again["board:like"].capture
        assert "limit=1 (as many as at 1,000)" in again["following:like"].label
        assert "limit=5 a column (as many as at 1,000)" in again["board:like"].label
        assert json.loads(again["search:like"].probe[2] or b"") == {"query": "refund", "limit": 13}
