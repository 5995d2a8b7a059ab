"""bench.tickets: reading the statements of one request from PostgreSQL's log, prepared ones too;
a cell measured in rounds (bench.run's, which bench.tickets shares)."""

from __future__ import annotations

from bench.run import Cell, joined
from bench.tickets import parse_log

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
