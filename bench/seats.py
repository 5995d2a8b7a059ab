"""Benchmark: the seat features at scale, through the gateway of the whole suite, on PostgreSQL and SQLite.

    .venv/bin/python -m bench.seats [--db postgresql,sqlite] [--sla-sizes 1000,100000]
                                    [--rec-sizes 10000,100000] [--seconds N] [--keep]

For each database and size, from scratch: the suite under ``deploy.supervisor`` (on a private
PostgreSQL cluster, or on its default SQLite files), a private RabbitMQ node, an admin token
(``HELPDESK_ADMIN_TOKEN=bench-token``) and, through the gateway, an agent with a service seat
who sees every ticket. Then one of:

* **SLA** (``--sla-sizes``): an SLA policy (first reply 60 min, close 30 days, 24/7) through the
  gateway; N open tickets written straight into the tickets database, their clocks computed by
  the domain's own ``decide`` (70 % answered, the rest already past their first-reply goal, so
  every one has an alarm: its close goal, 1-29 days ahead); then 20 probe tickets whose close
  goal falls due 20-39 s later, one a second. Measured: for each probe, the breach's latency
  after its due moment, as the timestamps say (``sla_breached`` recorded in the outbox, published
  by the relay, put in the owner's feed by the notifications service), and that each breach is
  announced once; then ``GET /api/v1/tickets?sort=sla_due_at`` (and with ``sla_state=breached``)
  as the seated agent, one client for a fixed time.
* **Recommendations** (``--rec-sizes``): N closed tickets with their conversations (a customer
  message, the agent's answer) generated from ``bench.reply_corpus`` and written straight into
  the tickets and conversations databases with their search documents and stem counts; then the
  corpus's 20 labelled queries arrive through ``POST /api/v1/intake/messages`` like any new
  ticket (the service indexes them from its own events). Measured: how many queries get their
  labelled kind's answer in the top 3, and ``GET /api/v1/tickets/{id}/reply-recommendations``
  round-robin over the 20, one client for a fixed time.

It prints Markdown tables; progress goes to stderr. Everything it started is stopped, also on
Ctrl-C; ``--keep`` keeps the logs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench import reply_corpus
from bench.run import STOP, Cell, _cpu_model, fmt, measure, say
from bench.tickets import ADMIN_TOKEN, Api, SqliteStack, Stack, api_opener, fixed, make_stack
from deploy import postgres

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # nameko imports eventlet, which announces its deprecation
    from sqlalchemy import Engine, create_engine, insert, text

    from services.chassis.words import language, terms
    from services.tickets.domain.sla import Facts, Policy, TicketTimes, decide
    from services.tickets.domain.ticket import PRIORITY_RANK, search_text

DEFAULT_DBS = ("postgresql", "sqlite")
DEFAULT_SLA_SIZES = (1_000, 100_000)
DEFAULT_REC_SIZES = (10_000, 100_000)
DEFAULT_SECONDS = 5.0
PROBES = 20
PROBE_LEAD = 20.0  # seconds from the end of seeding to the first probe's due moment
FIRST_REPLY, CLOSE = 60 * 60, 30 * 86400
CHUNK = 5000


# -- the suite on either database -----------------------------------------------------------------


def engine_of(stack: Stack, service: str) -> Engine:
    if isinstance(stack, SqliteStack):
        return create_engine(f"sqlite:///{stack.work / 'suite' / service}.db", connect_args={"timeout": 60})
    return create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{stack.pg_port}/{service}")


def bulk(engine: Engine, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` into ``table``: COPY on PostgreSQL, batched INSERTs on SQLite."""
    if not rows:
        return
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(insert(table), list(rows[i : i + CHUNK]))
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_copy_value(row[c]) for c in columns])
    buffer.seek(0)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        # the private cluster commits asynchronously; VACUUM cannot mark pages all-visible (no
        # index-only scans for the lists' counts) before the commit record is flushed
        cur.execute("SET synchronous_commit = on")
        cur.copy_expert(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        cur.close()
        raw.commit()
    finally:
        raw.close()


def _copy_value(value: Any) -> Any:
    """A value as COPY reads it: NULL is ``\\N`` (so an empty string stays one)."""
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def seated_agent(api: Api) -> tuple[int, str]:
    """An agent with a seat who sees every ticket, and a token of theirs."""
    body = {
        "name": "Seated Agent",
        "email": "seated.agent@bench.example",
        "permissions": ["service_access"],
        "access_level": "everything",
        "seat": True,
    }
    user_id = int(api.call("POST", "/api/v1/users", body, 201)["id"])
    token = api.call("POST", f"/api/v1/users/{user_id}/tokens", {"label": "bench"}, 201)["token"]
    return user_id, str(token)


def _models() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from services.conversations import models as conversations
        from services.notifications import models as notifications
        from services.tickets import models as tickets

        return tickets, conversations, notifications


# -- SLA ------------------------------------------------------------------------------------------


@dataclass
class SlaRun:
    db: str
    size: int
    seeded_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)  # stage -> seconds after due
    announced: int = 0
    duplicates: int = 0
    other_breaches: int = 0
    recompute_seconds: float | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    matched: dict[str, str] = field(default_factory=dict)
    failure: str | None = None


def ticket_row(
    *,
    policy: Policy,
    stage: int,
    created: dt.datetime,
    replied: dt.datetime | None,
    owner: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """A ticket's columns with its SLA clocks as the tickets service would have computed them."""
    change = decide(
        policy,
        Facts.start(stage, created),
        TicketTimes(created, replied, None),
        closed_stage_ids=frozenset(),
        now=now,
    )
    name, description = "SLA bench ticket", "seeded by python -m bench.seats"
    return {
        "name": name,
        "description": description,
        "search_text": search_text(name, description),
        "pipeline_id": 1,
        "stage_id": stage,
        "priority": "medium",
        "priority_rank": PRIORITY_RANK["medium"],
        "owner_id": owner,
        "source": "api",
        "created_by": 1,
        "created_at": created,
        "updated_at": replied or created,
        "version": 1,
        "unread_seq": 1,
        "first_reply_at": replied,
        "last_agent_message_at": replied,
        **change.values,
    }


def run_sla(run: SlaRun, seconds: float, keep: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-seats-sla-{run.db}-{run.size}-"))
    work.chmod(0o755)
    stack = make_stack(run.db, work)
    tickets_models, _conversations, notifications_models = _models()
    try:
        stack.start()
        admin = Api(stack.gateway, ADMIN_TOKEN)
        agent_id, token = seated_agent(admin)
        made = admin.call(
            "POST",
            "/api/v1/sla-policies",
            {"name": "Bench", "first_reply_minutes": FIRST_REPLY // 60, "close_minutes": CLOSE // 60},
            201,
        )
        stages = [
            s["id"] for s in admin.call("GET", "/api/v1/pipelines")[0]["stages"] if s["state"] == "OPEN"
        ]
        policy = Policy(made["id"], made["version"], {"first_reply": FIRST_REPLY, "close": CLOSE})
        tickets_db = engine_of(stack, "tickets")
        began = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        rng = random.Random(run.size)
        rows = []
        for _ in range(run.size - PROBES):
            created = now - dt.timedelta(seconds=rng.uniform(3600, 29 * 86400))
            replied = created + dt.timedelta(seconds=rng.uniform(300, 3000)) if rng.random() < 0.7 else None
            owner = agent_id if rng.random() < 0.5 else None
            rows.append(
                ticket_row(
                    policy=policy,
                    stage=rng.choice(stages),
                    created=created,
                    replied=replied,
                    owner=owner,
                    now=now,
                )
            )
        bulk(tickets_db, tickets_models.tickets, rows)
        analyze(tickets_db)
        run.seeded_seconds = time.monotonic() - began
        say(f"SLA {run.db} {run.size:,}: seeded {len(rows):,} open tickets in {run.seeded_seconds:.1f} s")
        first_due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PROBE_LEAD)
        dues = [first_due + dt.timedelta(seconds=i) for i in range(PROBES)]
        probes = [
            ticket_row(
                policy=policy,
                stage=stages[0],
                created=due - dt.timedelta(seconds=CLOSE),
                replied=due - dt.timedelta(seconds=CLOSE - 600),
                owner=agent_id,
                now=dt.datetime.now(dt.UTC),
            )
            for due in dues
        ]
        bulk(tickets_db, tickets_models.tickets, probes)
        with tickets_db.connect() as conn:
            probe_ids = [
                int(r[0])
                for r in conn.execute(text("SELECT id FROM tickets ORDER BY id DESC LIMIT :n"), {"n": PROBES})
            ]
        say(f"SLA {run.db} {run.size:,}: {PROBES} probes fall due from {first_due:%H:%M:%S}; waiting")
        wait = (dues[-1] - dt.datetime.now(dt.UTC)).total_seconds() + 8
        if STOP.wait(max(0.0, wait)):
            raise KeyboardInterrupt
        collect_breaches(
            run, tickets_db, engine_of(stack, "notifications"), set(probe_ids), notifications_models
        )
        measure_lists(run, stack.gateway, token, seconds)
        run.recompute_seconds = time_recompute(admin, made["id"], tickets_db)
        admin.close()
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        run.failure = str(exc) or repr(exc)
        say(f"SLA {run.db} {run.size:,}: failed: {run.failure}")
    finally:
        stack.stop()
        if keep or run.failure:
            say(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def collect_breaches(
    run: SlaRun, tickets_db: Engine, notifications_db: Engine, probes: set[int], _models: Any
) -> None:
    """Latencies after the due moment, from the outbox (recorded, published) and the feed (delivered)."""
    with tickets_db.connect() as conn:
        rows = conn.execute(
            text("SELECT payload, created_at, published_at FROM outbox WHERE event_type = 'sla_breached'")
        ).all()
    with notifications_db.connect() as conn:
        fed = conn.execute(
            text(
                "SELECT ticket_id, min(created_at) FROM feed_items"
                " WHERE type = 'sla_breached' GROUP BY ticket_id"
            )
        ).all()
    delivered = {int(r[0]): _moment(r[1]) for r in fed}
    seen: Counter[tuple[int, str]] = Counter()
    stages: dict[str, list[float]] = {"recorded": [], "published": [], "in the feed": []}
    for payload, created, published in rows:
        event = json.loads(payload)
        seen[(event["ticket_id"], event["goal"])] += 1
        if event["ticket_id"] not in probes:
            run.other_breaches += 1
            continue
        due = _moment(event["due_at"])
        stages["recorded"].append((_moment(created) - due).total_seconds())
        if published is not None:
            stages["published"].append((_moment(published) - due).total_seconds())
        if event["ticket_id"] in delivered:
            stages["in the feed"].append((delivered[event["ticket_id"]] - due).total_seconds())
    run.latencies = stages
    run.announced = len(stages["recorded"])
    run.duplicates = sum(n - 1 for n in seen.values() if n > 1)
    say(f"SLA {run.db} {run.size:,}: {run.announced}/{PROBES} probe breaches; {run.duplicates} duplicates")


def time_recompute(admin: Api, policy_id: int, tickets_db: Engine) -> float:
    """Seconds from a policy change until every open ticket's clocks follow it (the recompute job)."""
    began = time.monotonic()
    admin.call("PATCH", f"/api/v1/sla-policies/{policy_id}", {"close_minutes": CLOSE // 60 - 60})
    while time.monotonic() - began < 900:
        with tickets_db.connect() as conn:
            if conn.execute(text("SELECT next_ticket_id FROM sla_recompute WHERE id = 1")).scalar() is None:
                return time.monotonic() - began
        if STOP.wait(0.2):
            raise KeyboardInterrupt
    raise RuntimeError("the recompute after a policy change did not finish in 900 s")


def measure_lists(run: SlaRun, gateway: str, token: str, seconds: float) -> None:
    base = f"{gateway}/api/v1/tickets"
    for key, url in (
        ("sort", f"{base}?sort=sla_due_at&limit=25"),
        ("breached", f"{base}?sla_state=breached&sort=sla_due_at&limit=25"),
    ):
        probe = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        probe.raise_for_status()
        doc = probe.json()
        first = doc["items"][0]["sla"] if doc["items"] else None
        run.matched[key] = f"total {doc['total']:,}; first due {first and first['next_due_at']}"
        if STOP.wait(2.0):
            raise KeyboardInterrupt
        say(f"SLA {run.db} {run.size:,}: {url} for {seconds:g} s")
        request = ("GET", url, None)
        run.cells[key] = measure(api_opener(token, 200, fixed(request)), 1, seconds)


# -- recommendations ------------------------------------------------------------------------------


@dataclass
class RecRun:
    db: str
    size: int
    seeded_seconds: float = 0.0
    hits: int = 0
    misses: list[str] = field(default_factory=list)
    cell: Cell | None = None
    failure: str | None = None


def run_recommendations(run: RecRun, seconds: float, keep: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-seats-rec-{run.db}-{run.size}-"))
    work.chmod(0o755)
    stack = make_stack(run.db, work)
    try:
        stack.start()
        admin = Api(stack.gateway, ADMIN_TOKEN)
        _agent_id, token = seated_agent(admin)
        closed = next(
            s["id"] for s in admin.call("GET", "/api/v1/pipelines")[0]["stages"] if s["state"] == "CLOSED"
        )
        began = time.monotonic()
        kinds = seed_corpus(stack, run.size, closed)
        run.seeded_seconds = time.monotonic() - began
        say(f"recommendations {run.db} {run.size:,}: seeded in {run.seeded_seconds:.1f} s")
        queries = []
        for label, subject, body in reply_corpus.QUERIES:
            intake = {
                "channel": "form",
                "from": {"email": "asker@example.com", "name": "Asker"},
                "subject": subject,
                "body": body,
            }
            queries.append(
                (label, int(admin.call("POST", "/api/v1/intake/messages", intake, 201)["ticket_id"]))
            )
        admin.close()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        for label, ticket_id in queries:
            items = _recommend(session, stack.gateway, ticket_id)
            found = [kinds.get(i["source_ticket_id"], "?") for i in items[:3]]
            if label in found:
                run.hits += 1
            else:
                run.misses.append(f"{label} -> {found}")
        session.close()
        say(f"recommendations {run.db} {run.size:,}: {run.hits}/{len(queries)} in the top 3")
        cycle = itertools.cycle([t for _l, t in queries])
        url = f"{stack.gateway}/api/v1/tickets/{{}}/reply-recommendations"

        def per_client() -> Callable[[], tuple[str, str, bytes | None]]:
            return lambda: ("GET", url.format(next(cycle)), None)

        if STOP.wait(2.0):
            raise KeyboardInterrupt
        run.cell = measure(api_opener(token, 200, per_client), 1, seconds)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        run.failure = str(exc) or repr(exc)
        say(f"recommendations {run.db} {run.size:,}: failed: {run.failure}")
    finally:
        stack.stop()
        if keep or run.failure:
            say(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _recommend(session: requests.Session, gateway: str, ticket_id: int) -> list[dict[str, Any]]:
    """The recommendations for a new ticket, once the service has indexed it (its own events)."""
    deadline = time.monotonic() + 20
    while True:
        response = session.get(f"{gateway}/api/v1/tickets/{ticket_id}/reply-recommendations", timeout=30)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.2)


def seed_corpus(stack: Stack, size: int, closed_stage: int) -> dict[int, str]:
    """``size`` closed tickets with their threads, messages and search documents; ticket id -> kind."""
    tickets_models, conversations, _notifications = _models()
    tickets_db, conversations_db = engine_of(stack, "tickets"), engine_of(stack, "conversations")
    now = dt.datetime.now(dt.UTC)
    generated = reply_corpus.generate(size)
    with tickets_db.connect() as conn:
        first = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM tickets")).scalar() or 0) + 1000
    ticket_rows, thread_rows, message_rows, docs = [], [], [], []
    counts: Counter[str] = Counter()
    for n, item in enumerate(generated):
        ticket_id, at = first + n, now - dt.timedelta(minutes=size - n)
        ticket_rows.append(
            {
                "id": ticket_id,
                "name": item.subject,
                "description": "",
                "search_text": search_text(item.subject, ""),
                "pipeline_id": 1,
                "stage_id": closed_stage,
                "priority": "medium",
                "priority_rank": PRIORITY_RANK["medium"],
                "source": "email",
                "created_by": 1,
                "created_at": at,
                "updated_at": at,
                "closed_at": at,
                "version": 1,
                "unread_seq": 1,
            }
        )
        thread_rows.append(
            {
                "id": ticket_id,
                "subject": item.subject,
                "channel": "email",
                "location": "helpdesk",
                "ticket_id": ticket_id,
                "ticket_pending": False,
                "attach_seq": 1,
                "customer_name": "Customer",
                "customer_email": f"c{n}@example.com",
                "message_count": 2,
                "created_at": at,
                "updated_at": at,
                "last_message_at": at,
            }
        )
        for offset, (kind, body) in enumerate((("customer", item.body), ("reply", item.answer))):
            message_rows.append(
                {
                    "id": 2 * ticket_id + offset,
                    "thread_id": ticket_id,
                    "kind": kind,
                    "channel": "email",
                    "author_id": None if kind == "customer" else 1,
                    "from_name": "",
                    "to_json": "[]",
                    "cc_json": "[]",
                    "subject": item.subject,
                    "text": body,
                    "quoted": "",
                    "references_json": "[]",
                    "mentions_json": "[]",
                    "delivery_attempts": 0,
                    "created_at": at,
                }
            )
        customer = f"{item.subject}\n{item.body}"
        lang = language(f"{customer}\n{item.answer}")
        problem, answer = terms(customer, lang), terms(item.answer, lang)
        counts.update(set(problem) | set(answer))
        docs.append(
            {
                "ticket_id": ticket_id,
                "problem_terms": " ".join(problem),
                "answer_terms": " ".join(answer),
                "language": lang,
                "resolved": True,
                "updated_at": at,
            }
        )
    bulk(tickets_db, tickets_models.tickets, ticket_rows)
    bulk(conversations_db, conversations.threads, thread_rows)
    bulk(conversations_db, conversations.messages, message_rows)
    bulk(conversations_db, conversations.search_docs, docs)
    with conversations_db.begin() as conn:  # the suite indexed nothing yet: the counts start here
        conn.execute(text("DELETE FROM search_terms"))
    bulk(
        conversations_db,
        conversations.search_terms,
        [{"term": t, "docs": c} for t, c in counts.items()] + [{"term": "", "docs": size}],
    )
    if tickets_db.dialect.name == "postgresql":
        with tickets_db.begin() as conn:
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
            )
        with conversations_db.begin() as conn:
            for table in ("threads", "messages"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
    analyze(tickets_db)
    analyze(conversations_db)
    return {first + n: item.kind for n, item in enumerate(generated)}


# -- the report -----------------------------------------------------------------------------------


def _ms(cell: Cell | None) -> tuple[str, str, str]:
    if cell is None or not cell.ok:
        return ("error", "", "")
    return (fmt(cell.percentile(0.5)), fmt(cell.percentile(0.99)), f"{cell.rate:.0f}")


def render(slas: list[SlaRun], recs: list[RecRun], seconds: float) -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"Seat features bench - {platform.node()}, nproc {len(os.sched_getaffinity(0))} ({_cpu_model()}), "
        f"Python {platform.python_version()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, "
        f"load average {load}",
        f"{seconds:g} s per list cell, one client, keep-alive, after warm-up; through the gateway",
    ]
    if slas:
        lines += [
            "",
            "SLA breach latency after the due moment (s), the 20 probes:",
            "",
            "| database | open tickets | announced | duplicates | recorded p50 / max"
            " | published p50 / max | in the feed p50 / max |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in slas:
            cols = []
            for stage in ("recorded", "published", "in the feed"):
                found = r.latencies.get(stage) or []
                cols.append(f"{statistics.median(found):.2f} / {max(found):.2f}" if found else "-")
            state = f"FAILED: {r.failure}" if r.failure else f"{r.announced}/{PROBES}"
            lines.append(f"| {r.db} | {r.size:,} | {state} | {r.duplicates} | {' | '.join(cols)} |")
        lines += ["", "A policy change (PATCH close_minutes) until every open ticket's clocks follow it:", ""]
        lines += [
            f"- {r.db}, {r.size:,} open tickets: {r.recompute_seconds:.1f} s"
            for r in slas
            if r.recompute_seconds is not None
        ]
        lines += [
            "",
            "Lists as the seated agent (ms):",
            "",
            "| database | open tickets | request | p50 | p99 | req/s | matched |",
            "| --- | ---: | --- | ---: | ---: | ---: | --- |",
        ]
        for r in slas:
            for key, label in (
                ("sort", "GET /tickets?sort=sla_due_at"),
                ("breached", "GET /tickets?sla_state=breached&sort=sla_due_at"),
            ):
                p50, p99, rate = _ms(r.cells.get(key))
                lines.append(
                    f"| {r.db} | {r.size:,} | {label} | {p50} | {p99} | {rate} | {r.matched.get(key, '')} |"
                )
    if recs:
        lines += [
            "",
            "Reply recommendations (GET /tickets/{id}/reply-recommendations, the 20 labelled queries):",
            "",
            "| database | closed tickets | seeded s | right answer in top 3 | p50 ms | p99 ms | req/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for rr in recs:
            p50, p99, rate = _ms(rr.cell)
            hits = f"FAILED: {rr.failure}" if rr.failure else f"{rr.hits}/{len(reply_corpus.QUERIES)}"
            lines.append(
                f"| {rr.db} | {rr.size:,} | {rr.seeded_seconds:.0f} | {hits} | {p50} | {p99} | {rate} |"
            )
        misses = [f"{rr.db} {rr.size:,}: {m}" for rr in recs for m in rr.misses]
        if misses:
            lines += ["", "Misses (labelled kind -> kinds of the top 3):", *(f"- {m}" for m in misses)]
    return "\n".join(lines)


def _sizes(text_: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text_.split(",") if part.strip()]


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    def stop(_signum: int, _frame: Any) -> None:
        STOP.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seats", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", default=",".join(DEFAULT_DBS), help="postgresql and/or sqlite, comma-separated"
    )
    parser.add_argument(
        "--sla-sizes", type=_sizes, default=list(DEFAULT_SLA_SIZES), help="open tickets (0 to skip)"
    )
    parser.add_argument(
        "--rec-sizes", type=_sizes, default=list(DEFAULT_REC_SIZES), help="closed tickets (0 to skip)"
    )
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="measuring time per cell")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs) afterwards")
    args = parser.parse_args(argv)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    if set(dbs) - set(DEFAULT_DBS):
        parser.error("--db takes postgresql and/or sqlite")
    slas: list[SlaRun] = []
    recs: list[RecRun] = []
    code = 0
    try:
        with _signals():
            for db in dbs:
                for size in (s for s in args.sla_sizes if s > PROBES):
                    slas.append(SlaRun(db, size))
                    run_sla(slas[-1], args.seconds, args.keep)
                for size in (s for s in args.rec_sizes if s > 0):
                    recs.append(RecRun(db, size))
                    run_recommendations(recs[-1], args.seconds, args.keep)
    except KeyboardInterrupt:
        say("interrupted; everything started was stopped")
        code = 130
    print(render(slas, recs, args.seconds), flush=True)
    _ = postgres  # the PostgreSQL stack comes from bench.tickets.Stack
    return code


if __name__ == "__main__":
    sys.exit(main())
