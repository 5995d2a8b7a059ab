"""Benchmark: lifecycle actions through the gateway, on PostgreSQL.

    .venv/bin/python -m bench.lifecycle [--merges 20] [--bulk 1000,10000] [--purge 100000]
                                        [--batch 500] [--pause 0.5] [--keep]

One private stack (``bench.tickets.Stack``: PostgreSQL cluster, RabbitMQ node, the whole suite
under ``deploy.supervisor``, ``HELPDESK_ADMIN_TOKEN=bench-token``), then, as the bootstrap admin:

1. **merge**: ``--merges`` pairs of tickets, each ticket with 20 threads of one message written
   straight into the conversations database; the pairs are merged one after the other through
   ``POST /api/v1/tickets/merge``: p50, p90 and max of the answer (which comes once the 40
   threads sit on the survivor, ``in_progress`` null);
2. **bulk delete**: for each size of ``--bulk``, that many fresh tickets with one thread each;
   ``POST /api/v1/tickets/bulk-delete`` and ``GET /api/v1/jobs/{id}`` every 0.2 s until done: the
   first answer's time, the wall time to the end, and tickets per second;
3. **purge**: ``--purge`` tickets in the recycle bin since 91 days (each with one deleted thread of
   one message) written straight into the databases; two gateway reads (``GET`` of a live ticket
   and the table's first page, one client alternating them) measured unloaded for 10 s, then
   ``POST /api/v1/retention/runs`` and the same reads until the run is done: wall time, items per
   second, and the reads' p50 while it ran against unloaded (the goal is at most 1.5x). The purge
   paces itself by ``--batch`` (items per call to an owner) and ``--pause`` (seconds between
   batches): the retention service's ``PURGE_BATCH`` and ``PURGE_PAUSE``.

Progress goes to stderr; the figures as Markdown to stdout. Everything started is stopped at the
end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.run import STOP, _cpu_model, say
from bench.tickets import ADMIN_TOKEN, Api, Stack, connect, stop_on_signal

THREADS_PER_SIDE = 20
RETENTION_DAYS = 90
SAMPLE_SECONDS = 10.0


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.lines.append("| " + " | ".join(str(c) for c in cells) + " |")


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


# -- seeding straight into the databases ----------------------------------------------------------


def seed_tickets(
    pg_port: int, count: int, *, deleted_days_ago: float | None = None, name: str = "bench"
) -> list[int]:
    """``count`` tickets in the first stage of the first pipeline (in the bin since that many days)."""
    now = dt.datetime.now(dt.UTC)
    deleted = None if deleted_days_ago is None else now - dt.timedelta(days=deleted_days_ago)
    conn = connect(pg_port, "tickets")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id, pipeline_id FROM stages ORDER BY pipeline_id, position, id LIMIT 1")
            stage_id, pipeline_id = cur.fetchone()
            cur.execute(
                "INSERT INTO tickets (name, description, pipeline_id, stage_id, priority, priority_rank,"
                " source, created_by, created_at, updated_at, version, unread_seq, merge_count, deleted_at,"
                " deleted_by, search_text)"
                " SELECT %s || ' ' || n, 'seeded', %s, %s, 'medium', 1, 'email', 1, %s, %s, 1, 1, 0, %s, %s,"
                " lower(%s || ' ' || n) || E'\\nseeded'"
                " FROM generate_series(1, %s) AS n RETURNING id",
                (name, pipeline_id, stage_id, now, now, deleted, 1 if deleted else None, name, count),
            )
            return sorted(r[0] for r in cur.fetchall())
    finally:
        conn.close()


def seed_threads(pg_port: int, ticket_ids: list[int], per_ticket: int, *, deleted: bool = False) -> None:
    """``per_ticket`` email threads of one customer message on each ticket."""
    now = dt.datetime.now(dt.UTC)
    conn = connect(pg_port, "conversations")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO threads (subject, channel, location, ticket_id, ticket_pending, attach_seq,"
                " customer_name, customer_email, message_count, created_at, updated_at, last_message_at,"
                " deleted_at)"
                " SELECT 'seeded', 'email', 'helpdesk', t, false, 0, 'Cora', 'cora' || t || '@example.com',"
                " 1, %s, %s, %s, %s FROM unnest(%s::int[]) AS t, generate_series(1, %s)",
                (now, now, now, now if deleted else None, ticket_ids, per_ticket),
            )
            cur.execute(
                "INSERT INTO messages (thread_id, kind, channel, from_name, from_email, to_json, cc_json,"
                " subject, text, quoted, references_json, mentions_json, delivery_attempts, created_at)"
                " SELECT id, 'customer', 'email', 'Cora', customer_email, '[]', '[]', 'seeded',"
                " 'the printer is on fire', '', '[]', '[]', 0, %s"
                " FROM threads WHERE ticket_id = ANY(%s) AND message_count = 1"
                " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.id)",
                (now, ticket_ids),
            )
    finally:
        conn.close()


def analyze(pg_port: int) -> None:
    for database in ("tickets", "conversations"):
        conn = connect(pg_port, database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("ANALYZE")
        finally:
            conn.close()


# -- measurements ---------------------------------------------------------------------------------


def measure_merges(stack: Stack, api: Api, pairs: int, figures: Figures) -> None:
    ids = seed_tickets(stack.pg_port, 2 * pairs, name="merge")
    seed_threads(stack.pg_port, ids, THREADS_PER_SIDE)
    analyze(stack.pg_port)
    took: list[float] = []
    for primary, secondary in zip(ids[::2], ids[1::2], strict=True):
        began = time.perf_counter()
        survivor = api.call(
            "POST", "/api/v1/tickets/merge", {"primary_id": primary, "secondary_id": secondary}
        )
        took.append(time.perf_counter() - began)
        assert survivor["in_progress"] is None and survivor["merged_ticket_ids"] == [secondary], survivor
    threads = api.call("GET", f"/api/v1/tickets/{ids[0]}/threads")["total"]
    assert threads == 2 * THREADS_PER_SIDE, threads
    say(f"merges: p50 {_ms(took, 0.5)} ms")
    figures.add(
        f"merge, {THREADS_PER_SIDE} threads on each side ({pairs} merges, one after the other)",
        f"p50 {_ms(took, 0.5)} ms, p90 {_ms(took, 0.9)} ms, max {_ms(took, 1.0)} ms",
        f"{len(took) / sum(took):.1f} merges/s",
    )


def measure_bulk_delete(stack: Stack, api: Api, size: int, figures: Figures) -> None:
    ids = seed_tickets(stack.pg_port, size, name=f"bulk{size}")
    seed_threads(stack.pg_port, ids, 1)
    analyze(stack.pg_port)
    began = time.perf_counter()
    response = api.session.post(
        f"{api.base}/api/v1/tickets/bulk-delete", json={"ids": ids, "confirm_count": len(ids)}, timeout=60
    )
    first = time.perf_counter() - began
    assert response.status_code in (200, 202), response.text[:300]
    job = response.json()
    while job["state"] == "running" and not STOP.is_set():
        time.sleep(0.2)
        job = api.call("GET", f"/api/v1/jobs/{job['id']}")
    wall = time.perf_counter() - began
    assert job["state"] == "done" and job["done"] == size, job
    say(f"bulk delete {size:,}: {wall:.1f} s")
    figures.add(
        f"bulk delete of {size:,} tickets (one thread each)",
        f"first answer {first * 1000:.0f} ms (HTTP {response.status_code}), done after {wall:.1f} s",
        f"{size / wall:,.0f} tickets/s",
    )


class Reader(threading.Thread):
    """One client alternating two gateway reads, keeping (moment, seconds) of each."""

    def __init__(self, base: str, ticket_id: int) -> None:
        super().__init__(daemon=True, name="reader")
        self.base = base
        self.ticket_id = ticket_id
        self.samples: list[tuple[float, str, float]] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        paths = (("get", f"/api/v1/tickets/{self.ticket_id}"), ("table", "/api/v1/tickets?limit=25"))
        n = 0
        while not self.halt.is_set() and not STOP.is_set():
            kind, path = paths[n % 2]
            n += 1
            began = time.perf_counter()
            try:
                ok = session.get(self.base + path, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                self.samples.append((began, kind, time.perf_counter() - began))
            else:
                self.errors += 1
            time.sleep(0.02)
        session.close()

    def between(self, start: float, end: float, kind: str) -> list[float]:
        return [d for t, k, d in self.samples if start <= t < end and k == kind]


def measure_purge(stack: Stack, api: Api, size: int, figures: Figures, batch: int, pause: float) -> None:
    live = seed_tickets(stack.pg_port, 200, name="live")
    chunk = 20_000
    for start in range(0, size, chunk):
        ids = seed_tickets(
            stack.pg_port, min(chunk, size - start), deleted_days_ago=RETENTION_DAYS + 1, name="old"
        )
        seed_threads(stack.pg_port, ids, 1, deleted=True)
        say(f"seeded {start + len(ids):,} of {size:,} tickets in the bin")
    analyze(stack.pg_port)
    reader = Reader(api.base, live[0])
    reader.start()
    time.sleep(2.0)
    quiet_start = time.perf_counter()
    time.sleep(SAMPLE_SECONDS)
    quiet_end = time.perf_counter()
    began = time.perf_counter()
    response = api.session.post(f"{api.base}/api/v1/retention/runs", json={"dry_run": False}, timeout=60)
    assert response.status_code in (200, 202), response.text[:300]
    run = response.json()
    while run["state"] == "running" and not STOP.is_set():
        time.sleep(1.0)
        run = api.call("GET", f"/api/v1/retention/runs/{run['id']}")
    wall = time.perf_counter() - began
    reader.halt.set()
    reader.join(timeout=35)
    purged = run["purged"].get("bin_ticket", 0)
    assert purged == size, run
    say(f"purge {size:,}: {wall:.1f} s")
    figures.add(
        f"purge of {size:,} expired recycle-bin tickets (a thread and a message each),"
        f" batch {batch}, pause {pause:g} s",
        f"{wall:.1f} s",
        f"{purged / wall:,.0f} tickets/s",
    )
    for kind, label in (("get", "GET /api/v1/tickets/{id}"), ("table", "GET /api/v1/tickets?limit=25")):
        quiet = reader.between(quiet_start, quiet_end, kind)
        busy = reader.between(began, began + wall, kind)
        ratio = statistics.median(busy) / statistics.median(quiet) if quiet and busy else float("nan")
        figures.add(
            f"{label} while the purge runs vs unloaded (1 client)",
            f"p50 {_ms(busy, 0.5)} ms vs {_ms(quiet, 0.5)} ms (p90 {_ms(busy, 0.9)} vs {_ms(quiet, 0.9)})",
            f"{ratio:.2f}x ({len(busy)} vs {len(quiet)} samples, {reader.errors} errors)",
        )


@contextlib.contextmanager
def stack_running(work: Path, env: dict[str, str]) -> Iterator[Stack]:
    stack = Stack(work, env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--merges", type=int, default=20)
    parser.add_argument(
        "--bulk", default="1000,10000", help="bulk delete sizes, comma-separated ('' for none)"
    )
    parser.add_argument("--purge", type=int, default=100_000, help="expired tickets to purge (0 for none)")
    parser.add_argument("--batch", type=int, default=500, help="the purge's batch (PURGE_BATCH)")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between purge batches (PURGE_PAUSE)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    bulk = [int(x) for x in args.bulk.split(",") if x.strip()]
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    env = {
        "HELPDESK_RETENTION_BATCH": str(args.batch),
        "HELPDESK_RETENTION_PAUSE": str(args.pause),
        "HELPDESK_RETENTION_EVERY_SECONDS": "86400",
    }
    figures = Figures()
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-lifecycle-"))
    work.chmod(0o755)
    began = dt.datetime.now(dt.UTC)
    try:
        with stack_running(work, env) as stack:
            api = Api(stack.gateway, ADMIN_TOKEN)
            try:
                if args.merges:
                    measure_merges(stack, api, args.merges, figures)
                for size in bulk:
                    measure_bulk_delete(stack, api, size, figures)
                if args.purge:
                    measure_purge(stack, api, args.purge, figures, args.batch, args.pause)
            finally:
                api.close()
    except KeyboardInterrupt:
        STOP.set()
        say("interrupted; everything started was stopped")
    print(f"\nLifecycle bench - {_cpu_model()}, {began:%Y-%m-%d %H:%M} UTC, PostgreSQL, one client\n")
    print("| what | time | rate |")
    print("| --- | --- | --- |")
    print("\n".join(figures.lines), flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 130 if STOP.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
