"""Benchmark: the tickets store's reads alone, CPU per page, per board and per ticket.

    .venv/bin/python -m bench.store_reads [--tickets 100] [--calls 300]

No broker, no service: a :class:`~services.tickets.store.TicketStore` on its own SQLite file in one
thread, ``--tickets`` tickets created through it, then each read below called ``--calls`` times
after a warm-up, three rounds, the best round's process CPU per call printed. The statements the
store runs are counted by an engine event (deterministic). What this isolates is the part of a read
that the service's own code decides (building statements, running them, the wire form of each
row); the whole request through the gateway is ``bench.tickets`` (PostgreSQL, 1,000 and 1,000,000
tickets) and ``bench.run``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def counting_store(db_file: Path) -> tuple[Any, Any, list[int]]:
    """A migrated tickets store on its own SQLite file, its engine, and the count of statements
    it has run (``[n]``, reset by the caller), counted by an engine event."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nameko imports eventlet, which announces its deprecation
        from sqlalchemy import event

        from deploy.migrate import upgrade
        from services.chassis.clock import SYSTEM_CLOCK
        from services.chassis.db import SessionFactory, make_engine
        from services.tickets.store import TicketStore

    url = f"sqlite:///{db_file}"
    upgrade("tickets", url)
    engine = make_engine(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: object) -> None:
        statements[0] += 1

    return TicketStore(SessionFactory(engine), clock=SYSTEM_CLOCK), engine, statements


def measure(call: Callable[[], Any], calls: int, statements: list[int]) -> tuple[float, float]:
    """Best of three rounds: CPU ms per call, statements per call."""
    for _ in range(min(50, calls)):
        call()
    best = float("inf")
    counted = 0.0
    for _ in range(3):
        statements[0] = 0
        began = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - began) / calls)
        counted = statements[0] / calls
    return 1000 * best, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nameko imports eventlet, which announces its deprecation
        from services.tickets.domain import EVERYTHING, Scope, TicketFilter, parse_sort

    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-store-reads-"))
    store, engine, statements = counting_store(work / "tickets.db")
    for i in range(args.tickets):
        data = {
            "name": f"refund {i}",
            "priority": "high" if i % 2 else "low",
            "owner_id": 7 if i % 3 == 0 else None,
        }
        store.tickets.create(actor_id=1, data=data)
    owned = Scope(everything=False, owner_ids=frozenset({7}), unassigned=True)
    newest = parse_sort(None)

    def table(scope: Scope, flt: Any, limit: int) -> Callable[[], Any]:
        def call() -> Any:
            return store.lists.table(scope=scope, user_id=7, flt=flt, sort=newest, limit=limit, cursor=None)

        return call

    cases: list[tuple[str, Callable[[], Any]]] = []
    for label, flt in (
        ("no filter", TicketFilter()),
        ("view=unread", TicketFilter(view="unread")),
        ("q=refund", TicketFilter(q="refund")),
        ("status and priority", TicketFilter(status=1, priority="high")),
    ):
        for limit in (1, 25):
            cases.append((f"page of {limit}, {label}, everything", table(EVERYTHING, flt, limit)))
    cases.append(("page of 25, no filter, owned-only agent", table(owned, TicketFilter(), 25)))
    cases.append(
        (
            "board (first pipeline, 25 a column)",
            lambda: store.lists.board(
                scope=EVERYTHING, user_id=7, flt=TicketFilter(), sort=newest, limit=25, pipeline_id=None
            ),
        )
    )

    def one() -> Any:
        return store.tickets.get(scope=EVERYTHING, user_id=1, ticket_id=1)

    cases.append(("one ticket (GET, already read)", one))
    lines = [
        f"The tickets store's reads alone ({args.tickets} tickets, SQLite file, one thread, best of"
        f" 3 rounds of {args.calls} calls)",
        "",
        "| read | CPU ms per call | statements per call |",
        "| --- | ---: | ---: |",
    ]
    for label, call in cases:
        cpu, counted = measure(call, args.calls, statements)
        lines.append(f"| {label} | {cpu:.3f} | {counted:.1f} |")
    engine.dispose()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
