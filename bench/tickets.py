"""Benchmark: the tickets API at several data sizes, on PostgreSQL, side by side.

    .venv/bin/python -m bench.tickets [--sizes 1000,100000] [--seconds N] [--quick] [--keep]
                                      [--one-at-a-time]

For each size, from scratch: a private PostgreSQL cluster (``deploy.postgres``, temporary folder,
free port) with one database per service, a private RabbitMQ node (``deploy.rabbitmq``) and the
whole suite through ``deploy.supervisor`` (every ``<SERVICE>_DB_URL`` on that cluster,
``HELPDESK_ADMIN_TOKEN=bench-token``), ready when ``GET /readyz`` answers 200. Then:

1. people, through the gateway: 49 owner agents (``service_access``, owned), the measured
   owned-only agent (an owner too, ``include_unassigned``), an ``everything`` agent, three teams
   with the owners as members, and an API token for each measured agent;
2. N tickets written straight into the tickets database with COPY (HTTP creates would take too
   long): ids in creation order, ~85 % spread over the 50 owners and the rest unassigned, team
   ids, every stage of the first pipeline (OPEN stages 45 %, CLOSED 55 %, ``closed_at`` set
   exactly on CLOSED ones), all priorities with ``priority_rank`` from
   ``services.tickets.domain.PRIORITY_RANK``, a few deleted and merged tickets, read marks
   (creator at ``read_seq`` 1, owners ~70 %, the everything agent ~50 %; ``read_seq`` never above
   ``unread_seq``) and follows; then the id sequence is moved past them and VACUUM ANALYZE runs.
   From 100,000 tickets the tables' secondary indexes are dropped before the COPY and built again
   after it (the same definitions, read from ``pg_indexes``) and the copy skips the foreign-key
   triggers (``session_replication_role = replica``; the generated rows are consistent): a million
   rows load in minutes instead of growing a dozen indexes and checking keys row by row;
3. measured through the gateway, one keep-alive ``requests.Session`` per client, for a fixed time
   each (5 s, ``--quick`` 2 s) after a 2 s pause and 20 warm-up requests per client: reads first
   (open a ticket the agent has read, the table filtered by stage and sorted by ``-updated_at`` as
   each agent and with 8 clients, the board, also on a new connection per request, the unread
   view, every other default view, the priority and owner filters, every sort, and ``q``: a
   common word (also on the board, and sorted by name, where its matches sit together), a rare
   one, one that matches nothing, also as a page of one), the search API
   (``POST /tickets/search``: a common word for each agent, and with two filter groups), then
   writes (create, priority PATCH), so the reads see exactly N tickets. Every size's stack runs
   at once: steps 1-2 for each size first, then each read is measured at every size
   in turn (the order reversed from one read to the next), so the two p50s of a ratio are taken
   seconds apart, not a size's whole run apart while the machine's speed drifts, and in three
   rounds (``--rounds``) whose measurements are pooled. A read whose answer at the smallest size
   holds fewer tickets than at a larger one is then measured again at every size with ``limit``
   at that smaller count (its label says ``limit=N (as many as at 1,000)``): the data's growth
   without the answer's (:func:`like_for_like`);
   ``--one-at-a-time`` runs each size from start to stop instead (half the memory).

It prints one Markdown table with a column group per size (p50/p99 ms, req/s) and the ratio of
the p50s; the SQL each read request ran at every size (caught by turning
``log_min_duration_statement=0`` on briefly in the private cluster), its statements and the sum
of their logged durations, with the ratio (what grows with the data, less disturbed by the other
processes on the machine than the HTTP figures); what each list matched; and, at the largest size,
``EXPLAIN (ANALYZE, BUFFERS)`` of the list, count and board statements; and at each size the resident
memory of every process of the suite and of RabbitMQ once all of it has run. At the largest size a
mixed load follows (``--mixed-seconds``, 600 s, ``--quick`` 60 s: 8 clients sending every request
kind above at random, a fifth of them writes), with the RSS of every process read at its start,
every two minutes and end, so memory that grows with use shows as a rising row. Progress goes to stderr.

    .venv/bin/python -m bench.tickets --sizes 1000,1000000 --quick --mixed-seconds 600   # issue 9

Everything it started is stopped at the end, also on Ctrl-C or SIGTERM. Loops are
bounded in count and time; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from bench.run import (
    REQUEST_TIMEOUT,
    STOP,
    SUITE_READY_TIMEOUT,
    SUPERVISOR_STOP_GRACE,
    WARMUP_REQUESTS,
    Cell,
    Op,
    Opener,
    Processes,
    _cpu_model,
    cell_text,
    fmt,
    free_broker_port,
    free_port,
    joined,
    measure,
    say,
    suite_env,
    wait_until,
)
from deploy import postgres, rabbitmq
from services import registry
from services.chassis.prepared import PLAN_ONCE_SETTINGS

ADMIN_TOKEN = "bench-token"
DEFAULT_SIZES = (1_000, 100_000)
MAX_SIZE = 1_000_000
DEFAULT_SECONDS, QUICK_SECONDS = 5.0, 2.0
DEFAULT_ROUNDS = 3  # see run_paired
OWNERS = 50  # the owned-only agent is one of them
TEAMS = ("Support L1", "Support L2", "Billing")
CONCURRENT_CLIENTS = 8
# Idle time before each cell: lets the outbox relays and consumers catch up.
PAUSE_BEFORE_CELL = 2.0
MIXED_SECONDS, QUICK_MIXED_SECONDS = 600.0, 60.0
MIXED_CLIENTS = 8
MIXED_SAMPLE_SECONDS = 120.0  # RSS read this often during a long mixed load (a short one: each quarter)
MIXED_WRITE_SHARE = 0.2  # creates and priority changes; the rest is every read measured above
READY_AGAIN_TIMEOUT = 30.0  # before each cell, for the suite to be ready again after a failure
PAGE_CAPTURE_TIMEOUT = 5.0
CAPTURE_PROBES = 25  # a plan's probes until one runs nothing first on its connection (a pool of 10-20)
LOG_PREFIX = "@@bench %d@@ "
SUBJECTS = (
    "Cannot log in",
    "Invoice is wrong",
    "Refund request",
    "Password reset link expired",
    "Export to CSV fails",
    "Feature request: dark mode",
    "Order arrived damaged",
    "Question about pricing",
    "App crashes on start",
    "Change billing address",
    "Two-factor code not received",
    "Slow dashboard",
    "Cancel my subscription",
    "Integration with Slack",
    "Missing email notifications",
)
_WORDS_TEXT = (
    "customer account order invoice payment error page login mobile browser update please since"
    " yesterday again urgent thanks team support screen report data export import setting user"
    " email phone version release help issue problem request"
)
WORDS = tuple(_WORDS_TEXT.split())
CATEGORIES = ("billing", "bug", "question", "feature", None)
PRIORITY_WEIGHTS = {"low": 25, "medium": 45, "high": 20, "urgent": 10}
SOURCE_NAMES = ("email", "chat", "form", "api")


# -- the suite on PostgreSQL ----------------------------------------------------------------------


class Stack:
    """PostgreSQL cluster, RabbitMQ node and suite of one size, all private to this run."""

    def __init__(self, work: Path, extra_env: dict[str, str] | None = None) -> None:
        self.work = work
        self.extra_env = dict(extra_env or {})  # more settings for the suite (bench.lifecycle's retention)
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(work / "logs")
        self.pg: tuple[Path, int] | None = None
        self.broker: tuple[Path, int] | None = None
        self.gateway = ""

    @property
    def pg_port(self) -> int:
        assert self.pg is not None
        return self.pg[1]

    @property
    def pg_log(self) -> Path:
        assert self.pg is not None
        return self.pg[0] / "postgres.log"

    def start(self) -> None:
        """Databases, broker, suite; returns once ``/readyz`` answers 200."""
        urls = self.databases()
        port = free_broker_port()
        self.broker = (self.work / "rabbitmq", port)
        say(f"starting RabbitMQ on 127.0.0.1:{port}")
        amqp_uri = rabbitmq.start(*self.broker)

        http_port = free_port()
        self.gateway = f"http://127.0.0.1:{http_port}"
        env = suite_env(
            HELPDESK_DATA_DIR=str(self.work / "suite"),
            HELPDESK_HTTP_PORT=str(http_port),
            HELPDESK_SMTP_PORT=str(free_port()),
            HELPDESK_ADMIN_TOKEN=ADMIN_TOKEN,
            AMQP_URI=amqp_uri,
            **urls,
        )
        env.update(self.extra_env)
        say(f"starting the suite on {self.kind} (deploy.supervisor), gateway {self.gateway}")
        self.procs.start("supervisor", ["-m", "deploy.supervisor"], env)
        began = time.monotonic()
        self.wait_ready(SUITE_READY_TIMEOUT)
        say(f"suite ready after {time.monotonic() - began:.1f} s")

    kind = "PostgreSQL"

    def databases(self) -> dict[str, str]:
        """Start this run's PostgreSQL cluster, one database per service: their URL settings."""
        pg_dir, pg_port = self.work / "pg", free_port()
        say(f"starting PostgreSQL on 127.0.0.1:{pg_port} (data {pg_dir})")
        self.pg = (pg_dir, pg_port)
        postgres.start(pg_dir, pg_port)
        return {
            key: postgres.create_database(pg_port, svc.name)
            for svc in registry.SERVICES
            if (key := svc.db_url_variable)
        }

    def wait_ready(self, timeout: float) -> None:
        """Return once ``/readyz`` answers 200; RuntimeError if the supervisor exits or at timeout."""
        try:
            wait_until(
                lambda: requests.get(f"{self.gateway}/readyz", timeout=5).status_code == 200,
                timeout,
                lambda: self.procs.failed("supervisor"),
            )
        except RuntimeError as exc:
            exited = self.procs.failed("supervisor") is not None  # then its log's tail is in exc already
            tail = "" if exited else f"\nlast supervisor output:\n{self.procs.tail('supervisor', 40)}"
            raise RuntimeError(f"the suite is not ready: {exc}{tail}") from None

    def stop(self) -> None:
        """Suite, then broker, then cluster; each step runs even if an earlier one failed."""
        if "supervisor" in self.procs.started:
            say("stopping the suite")
            with _reported("the suite"):
                self.procs.stop("supervisor", SUPERVISOR_STOP_GRACE, whole_group=False)
                self._kill_orphans()
        if self.broker is not None:
            say("stopping RabbitMQ")
            with _reported("RabbitMQ"):
                rabbitmq.stop(*self.broker)
        if self.pg is not None:
            say("stopping PostgreSQL")
            with _reported("PostgreSQL"):
                postgres.stop(self.pg[0])

    def pids(self) -> dict[str, int]:
        """The suite's processes by name (the supervisor's pid files), the supervisor and RabbitMQ."""
        pids = {
            pid_file.stem: int(pid_file.read_text().strip())
            for pid_file in sorted((self.work / "suite" / "run").glob("*.pid"))
        }
        if "supervisor" in self.procs.started:
            pids["supervisor"] = self.procs.started["supervisor"].pid
        if self.broker is not None:
            with_pid = self.broker[0] / "rabbitmq.pid"
            if with_pid.exists():
                pids["rabbitmq"] = int(with_pid.read_text().strip())
        return pids

    def _kill_orphans(self) -> None:
        # Only reached if the supervisor was killed before reaping: its pid files name our children.
        for pid_file in (self.work / "suite" / "run").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError, ProcessLookupError):
                pid = int(pid_file.read_text().strip())
                say(f"killing leftover child {pid_file.stem} ({pid})")
                os.killpg(pid, signal.SIGKILL)


class SqliteStack(Stack):
    """The suite on its default SQLite files (``$DATA/<service>.db``, what ``make run`` uses) and a
    private broker."""

    kind = "SQLite"

    def databases(self) -> dict[str, str]:
        return {}


def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (``VmRSS``), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def memory_table(stack: Stack, when: str) -> list[str]:
    """RSS of each process of the suite and of RabbitMQ, as a Markdown table. PostgreSQL is left
    out: each backend maps the shared buffers, so a sum over its processes means nothing."""
    lines = [f"Resident memory (RSS) {when}:", "", "| process | RSS MiB |", "| --- | ---: |"]
    for name, pid in sorted(stack.pids().items()):
        rss = rss_mib(pid)
        lines.append(f"| {name} | {'gone' if rss is None else f'{rss:.1f}'} |")
    return lines


def make_stack(db: str, work: Path) -> Stack:
    """A :class:`Stack` on ``db`` (``postgresql``; anything else: SQLite)."""
    return Stack(work) if db == "postgresql" else SqliteStack(work)


@contextlib.contextmanager
def _reported(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        say(f"{what} did not stop cleanly: {exc!r}")


def connect(port: int, database: str) -> Any:
    """A psycopg2 connection to ``database`` of the private cluster."""
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=database)


# -- people through the gateway -------------------------------------------------------------------


class Api:
    """A keep-alive session for set-up calls; any unexpected status raises with the answer."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.session.request(method, self.base + path, json=body, timeout=REQUEST_TIMEOUT)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path} -> HTTP {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.session.close()


@dataclass
class People:
    """Who the data belongs to and who is measured."""

    admin_id: int
    owned_agent: tuple[int, str]  # (user id, token): access_level owned, include_unassigned
    all_agent: tuple[int, str]  # (user id, token): access_level everything
    owner_ids: list[int]  # OWNERS users, the owned-only agent first
    team_of: dict[int, int]  # owner id -> team id
    team_ids: list[int]
    pipeline_id: int
    stages: list[dict[str, Any]]  # of the first pipeline, in order: id, label, state


def create_people(gateway: str) -> People:
    """Users, teams and tokens through the gateway, as an admin would make them."""
    api = Api(gateway, ADMIN_TOKEN)
    try:
        admin_id = api.call("GET", "/api/v1/me")["id"]

        def user(name: str, email: str, **extra: Any) -> int:
            body = {"name": name, "email": email, "permissions": ["service_access"], **extra}
            return int(api.call("POST", "/api/v1/users", body, 201)["id"])

        def token(user_id: int) -> str:
            return str(api.call("POST", f"/api/v1/users/{user_id}/tokens", {"label": "bench"}, 201)["token"])

        owned = user(
            "Owned Agent", "owned.agent@bench.example", access_level="owned", include_unassigned=True
        )
        everything = user("All Agent", "all.agent@bench.example", access_level="everything")
        owners = [owned] + [
            user(f"Owner {i:02d}", f"owner{i:02d}@bench.example", access_level="owned")
            for i in range(1, OWNERS)
        ]
        team_ids = [int(api.call("POST", "/api/v1/teams", {"name": name}, 201)["id"]) for name in TEAMS]
        team_of: dict[int, int] = {}
        for t, team_id in enumerate(team_ids):
            members = owners[t :: len(team_ids)]
            api.call("PUT", f"/api/v1/teams/{team_id}/members", {"user_ids": members})
            team_of.update({m: team_id for m in members})
        first = api.call("GET", "/api/v1/pipelines")[0]
        return People(
            admin_id=admin_id,
            owned_agent=(owned, token(owned)),
            all_agent=(everything, token(everything)),
            owner_ids=owners,
            team_of=team_of,
            team_ids=team_ids,
            pipeline_id=int(first["id"]),
            stages=list(first["stages"]),
        )
    finally:
        api.close()


# -- seeding --------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """What was seeded, and the pools the measurements draw from."""

    size: int
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    read_by_all_agent: list[int] = field(default_factory=list)  # listed, fully read by the agent
    priorities: dict[int, str] = field(default_factory=dict)  # listed ticket id -> priority


TICKET_COLUMNS = (
    "id", "name", "description", "pipeline_id", "stage_id", "priority", "priority_rank", "category",
    "owner_id", "team_id", "source", "created_by", "created_at", "updated_at", "closed_at", "version",
    "unread_seq", "merged_into_id", "deleted_at", "sla_next_due_at", "search_text",
)  # fmt: skip
NO_SLA_DUE = "9999-12-31T00:00:00+00:00"  # services.tickets.domain.sla.FOREVER: no running clock
COL = {name: i for i, name in enumerate(TICKET_COLUMNS)}
READ_COLUMNS = ("ticket_id", "user_id", "read_seq")
FOLLOWER_COLUMNS = (
    "ticket_id", "user_id", "created_at", "listed", "ticket_owner_id", "ticket_updated_at",
    "ticket_created_at", "ticket_priority_rank", "ticket_name_key", "ticket_stage_id",
)  # fmt: skip


def _models() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nameko imports eventlet, which announces its deprecation
        from services.tickets import models

        return models


def _ticket_rules() -> Any:
    """``services.tickets.domain.ticket`` (priority ranks, ``search_text``): the bench writes rows
    the way the service would, by its own rules."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nameko imports eventlet, which announces its deprecation
        from services.tickets.domain import ticket

        return ticket


def check_columns(table: Any, given: Sequence[str]) -> None:
    """Refuse to seed when the model has a required column we do not fill, or lacks one we fill."""
    names = {c.name for c in table.c}
    unknown = [c for c in given if c not in names]
    missing = [
        c.name
        for c in table.c
        if c.name not in given and not c.nullable and c.default is None and c.server_default is None
    ]
    if unknown or missing:
        raise RuntimeError(
            f"bench.tickets is out of date with services/tickets/models.py, table {table.name}:"
            f" unknown columns {unknown}, required columns not filled {missing}"
        )


Rows = list[tuple[Any, ...]]


def generate(size: int, people: People, first_id: int, now: dt.datetime) -> tuple[Rows, Rows, Rows]:
    """Rows of tickets, ticket_reads and ticket_followers for ``size`` tickets (deterministic)."""
    rng = random.Random(size)
    rules = _ticket_rules()
    rank, search_text = dict(rules.PRIORITY_RANK), rules.search_text
    open_stages = [s for s in people.stages if s["state"] == "OPEN"]
    closed_stages = [s for s in people.stages if s["state"] == "CLOSED"]
    stage_pool = open_stages + closed_stages
    stage_weights = [45 / len(open_stages)] * len(open_stages) + (
        [55 / len(closed_stages)] * len(closed_stages) if closed_stages else []
    )
    priorities, priority_weights = list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values())
    all_agent = people.all_agent[0]
    year = 365 * 86400.0
    ages = sorted((rng.random() * year for _ in range(size)), reverse=True)  # oldest first
    tickets: Rows = []
    reads: Rows = []
    follows: Rows = []
    for i, age in enumerate(ages):
        ticket_id = first_id + i
        created = now - dt.timedelta(seconds=age)
        updated = created + dt.timedelta(seconds=min(age, rng.expovariate(1 / (3 * 86400))))
        stage = rng.choices(stage_pool, stage_weights)[0]
        priority = rng.choices(priorities, priority_weights)[0]
        owner = rng.choice(people.owner_ids) if rng.random() < 0.85 else None
        team = people.team_of.get(owner) if owner is not None else rng.choice([*people.team_ids, None])
        unread_seq = rng.choices((1, 2, 3, 4), (70, 20, 7, 3))[0]
        deleted = updated + dt.timedelta(hours=1) if rng.random() < 0.005 else None
        merged = first_id + rng.randrange(i) if i > 10 and deleted is None and rng.random() < 0.003 else None
        creator = owner if owner is not None and rng.random() < 0.5 else people.admin_id
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15)))  # a 25-row page < 16 KB
        name, description = f"{rng.choice(SUBJECTS)} ({ticket_id})", f"{words}."
        tickets.append(
            (
                ticket_id,
                name,
                description,
                people.pipeline_id,
                stage["id"],
                priority,
                rank[priority],
                rng.choice(CATEGORIES),
                owner,
                team,
                rng.choice(SOURCE_NAMES),
                creator,
                created.isoformat(),
                updated.isoformat(),
                updated.isoformat() if stage["state"] == "CLOSED" else None,
                1 + rng.randrange(6),
                unread_seq,
                merged,
                deleted.isoformat() if deleted else None,
                NO_SLA_DUE,
                search_text(name, description),
            )
        )
        marks = {creator: 1}  # create_ticket marks it read for its creator at unread_seq 1
        for reader, share in ((owner, 0.7), (all_agent, 0.5)):
            if reader is not None and rng.random() < share:
                marks[reader] = unread_seq if rng.random() < 0.8 else rng.randint(1, unread_seq)
        reads.extend((ticket_id, user_id, seq) for user_id, seq in marks.items())
        for follower, share in ((owner, 0.1), (all_agent, 0.03)):
            if follower is not None and rng.random() < share:
                listed = deleted is None and merged is None  # the copies restamp_follows keeps
                follows.append(
                    (
                        *(ticket_id, follower, created.isoformat(), listed, owner, updated.isoformat()),
                        *(created.isoformat(), rank[priority], name.lower(), stage["id"]),  # ASCII: lower()
                    )
                )
    return tickets, reads, follows


def _copy(
    cur: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], texts: Sequence[str] = ()
) -> None:
    """COPY ``rows`` in; None is NULL, and so is "" except in the ``texts`` columns."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)  # None -> unquoted empty -> NULL
    buffer.seek(0)
    options = f", FORCE_NOT_NULL ({', '.join(texts)})" if texts else ""
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv{options})", buffer)


VACUUM_ATTEMPTS = 5
"""VACUUM marks a page all-visible (so index-only scans skip the table) only once no transaction
older than its rows is open; one of the running suite's sometimes is (which one was not caught),
and a 1,000-ticket size was measured with none marked. So the seed vacuums again, a little later, until
nearly all are (the table's line says how many were)."""
ALL_VISIBLE_SHARE = (
    "SELECT relallvisible::float / greatest(relpages, 1) FROM pg_class WHERE relname = 'tickets'"
)
REBUILD_INDEXES_FROM = 100_000  # tickets: from this size, COPY into bare tables and index after
SEEDED_TABLES = ("tickets", "ticket_reads", "ticket_followers")


def _drop_indexes(cur: Any) -> list[str]:
    """Drop the seeded tables' indexes that back no constraint (primary keys stay); their definitions.

    Building an index once over a million rows is several times faster than growing it row by row.
    """
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        (list(SEEDED_TABLES),),
    )
    found = cur.fetchall()
    for name, _definition in found:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in found]


def seed(pg_port: int, size: int, people: People) -> Dataset:
    """Write ``size`` tickets with read marks and follows in one transaction, then VACUUM ANALYZE."""
    models = _models()
    check_columns(models.tickets, TICKET_COLUMNS)
    check_columns(models.reads, READ_COLUMNS)
    check_columns(models.followers, FOLLOWER_COLUMNS)
    began = time.monotonic()
    conn = connect(pg_port, "tickets")
    try:
        with conn, conn.cursor() as cur:
            # The cluster commits asynchronously; VACUUM cannot mark pages all-visible (so no index-only
            # scans) before the commit record is flushed. A synchronous commit here avoids that race.
            cur.execute("SET synchronous_commit = on")
            cur.execute("SELECT coalesce(max(id), 0) FROM tickets")
            first_id = int(cur.fetchone()[0]) + 1
            tickets, reads, follows = generate(size, people, first_id, dt.datetime.now(dt.UTC))
            say(f"generated {len(tickets):,} tickets in {time.monotonic() - began:.1f} s; copying")
            rebuilt = _drop_indexes(cur) if size >= REBUILD_INDEXES_FROM else []
            if rebuilt:  # generated rows are consistent: skip the foreign-key triggers row by row
                cur.execute("SET session_replication_role = replica")
            _copy(cur, "tickets", TICKET_COLUMNS, tickets)
            _copy(cur, "ticket_reads", READ_COLUMNS, reads)
            _copy(cur, "ticket_followers", FOLLOWER_COLUMNS, follows)
            if rebuilt:
                say(f"copied in {time.monotonic() - began:.1f} s; rebuilding {len(rebuilt)} indexes")
                cur.execute("SET session_replication_role = DEFAULT")
                cur.execute("SET maintenance_work_mem = '512MB'")
                for definition in rebuilt:
                    cur.execute(definition)
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"
            )
        conn.autocommit = True
        with conn.cursor() as cur:
            for attempt in range(VACUUM_ATTEMPTS):
                for table in SEEDED_TABLES:
                    cur.execute(f"VACUUM (ANALYZE) {table}")
                cur.execute(ALL_VISIBLE_SHARE)
                all_visible = float(cur.fetchone()[0])
                if all_visible >= 0.99:
                    break
                time.sleep(0.5 * (attempt + 1))  # for the suite's open transaction to end
    finally:
        conn.close()
    data = Dataset(size, seconds=time.monotonic() - began)
    all_agent = people.all_agent[0]
    seq = {t[COL["id"]]: t[COL["unread_seq"]] for t in tickets}
    listed = {
        t[COL["id"]]: t[COL["priority"]]
        for t in tickets
        if t[COL["merged_into_id"]] is None and t[COL["deleted_at"]] is None
    }
    data.priorities = listed
    data.read_by_all_agent = [
        tid for tid, uid, read_seq in reads if uid == all_agent and tid in listed and read_seq == seq[tid]
    ]
    data.counts = {
        "tickets": len(tickets),
        "unassigned": sum(1 for t in tickets if t[COL["owner_id"]] is None),
        "closed": sum(1 for t in tickets if t[COL["closed_at"]] is not None),
        "deleted": sum(1 for t in tickets if t[COL["deleted_at"]] is not None),
        "merged": sum(1 for t in tickets if t[COL["merged_into_id"]] is not None),
        "reads": len(reads),
        "follows": len(follows),
        "all-visible % of tickets pages": round(100 * all_visible),
    }
    say(f"seeded {size:,} tickets in {data.seconds:.1f} s ({data.counts})")
    seed_conversations(pg_port, tickets)
    return data


DOC_COLUMNS = ("ticket_id", "problem_terms", "answer_terms", "language", "resolved", "updated_at", "words")
CUSTOMERS = 40_000  # distinct senders' addresses among the seeded conversations
DOC_WORDS = 5000  # services.conversations.store.search.MAX_DOC_WORDS


def seed_conversations(pg_port: int, tickets: Sequence[tuple[Any, ...]]) -> None:
    """A search document (and its sender) per seeded ticket in the conversations database, as a
    conversation of its subject and one customer message (the description) from one of
    :data:`CUSTOMERS` senders would leave: what ``q`` finds through ``matching_tickets``. The
    stems are left empty (reply recommendations are measured by ``bench.seats``)."""
    from services.chassis.words import document_words

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from services.conversations import models as conversation_models
    check_columns(conversation_models.search_docs, DOC_COLUMNS)
    began = time.monotonic()
    rows, senders = [], []
    for t in tickets:
        sender = f"customer{t[COL['id']] % CUSTOMERS}@example.org"
        senders.append((sender, t[COL["id"]]))
        words = document_words([t[COL["name"]], f"{sender} {t[COL['description']]}"], limit=DOC_WORDS)
        rows.append(
            (t[COL["id"]], "", "", "en", t[COL["closed_at"]] is not None, t[COL["updated_at"]], words)
        )
    conn = connect(pg_port, "conversations")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET synchronous_commit = on")
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname NOT IN"
                " (SELECT conname FROM pg_constraint) AND tablename IN ('search_docs', 'search_senders')"
            )
            indexes = cur.fetchall() if len(rows) >= REBUILD_INDEXES_FROM else []
            for name, _definition in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            _copy(cur, "search_docs", DOC_COLUMNS, rows, texts=("problem_terms", "answer_terms", "words"))
            _copy(cur, "search_senders", ("address", "ticket_id"), senders)
            cur.execute("SET maintenance_work_mem = '512MB'")
            for _name, definition in indexes:
                cur.execute(definition)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) search_docs")
            cur.execute("VACUUM (ANALYZE) search_senders")
    finally:
        conn.close()
    say(f"seeded {len(rows):,} conversations' search documents in {time.monotonic() - began:.1f} s")


# -- measurements ---------------------------------------------------------------------------------

Request = tuple[str, str, bytes | None]  # method, URL, body
"""One HTTP request a load client sends."""


def api_opener(
    token: str, expect: int, per_client: Callable[[], Callable[[], Request]], keep_alive: bool = True
) -> Opener:
    """One session per client, keep-alive unless told; ``per_client()`` gives its next-request source."""

    def opener() -> tuple[Op, Callable[[], None]]:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        if not keep_alive:
            session.headers["Connection"] = "close"
        next_request = per_client()

        def op() -> None:
            method, url, body = next_request()
            response = session.request(method, url, data=body, timeout=REQUEST_TIMEOUT)
            if response.status_code != expect:
                raise RuntimeError(f"{method} {url} -> HTTP {response.status_code}: {response.text[:200]}")

        return op, session.close

    return opener


def fixed(request: Request) -> Callable[[], Callable[[], Request]]:
    return lambda: lambda: request


@dataclass
class Plan:
    """One measured request kind."""

    key: str
    label: str
    clients: int
    token: str
    expect: int
    per_client: Callable[[], Callable[[], Request]]
    probe: Request  # sent once before measuring (must answer ``probe_expect``); says what it matched
    probe_expect: int = 200
    capture: bool = False  # log its SQL at the largest size
    explain: bool = False  # EXPLAIN its list/count statements
    keep_alive: bool = True
    write: bool = False  # measured after the reads (and after the SQL capture)
    like_for_like: bool = False  # a read asked again for as many tickets as the smallest size gave


def plans(gateway: str, people: People, data: Dataset) -> list[Plan]:
    """Reads first, writes last, so every read sees exactly the seeded tickets."""
    api = f"{gateway}/api/v1/tickets"
    owned_token, all_token = people.owned_agent[1], people.all_agent[1]
    first_stage = people.stages[0]
    by_stage = f"{api}?status={first_stage['id']}&sort=-updated_at&limit=25"
    pid = people.pipeline_id
    board = f"{gateway}/api/v1/tickets/board?pipeline_id={pid}"
    unread = f"{api}?view=unread&sort=-updated_at&limit=25"
    seeds = itertools.count(1)
    read_pool = data.read_by_all_agent or sorted(data.priorities)

    def random_read() -> Callable[[], Request]:
        rng = random.Random(next(seeds))
        return lambda: ("GET", f"{api}/{rng.choice(read_pool)}", None)

    lock = threading.Lock()
    patch_pool = sorted(data.priorities)

    def toggle_priority() -> Callable[[], Request]:
        rng = random.Random(1000 + next(seeds))

        def request() -> Request:
            ticket_id = rng.choice(patch_pool)
            with lock:
                new = "low" if data.priorities[ticket_id] == "high" else "high"
                data.priorities[ticket_id] = new
            return "PATCH", f"{api}/{ticket_id}", json.dumps({"priority": new}).encode()

        return request

    create = json.dumps({"name": "bench ticket", "description": "created by python -m bench.tickets"})
    stage = f"status=<{first_stage['label']}>"

    def get(key: str, label: str, token: str, url: str, clients: int = 1, **options: Any) -> Plan:
        request: Request = ("GET", url, None)
        return Plan(key, label, clients, token, 200, fixed(request), request, **options)

    listing = f"GET /tickets?{stage}&sort=-updated_at"
    board_label = f"GET /tickets/board?pipeline_id={pid}"
    return [
        Plan(
            "get",
            "GET /tickets/{id} (everything agent, random ticket it has read)",
            1,
            all_token,
            200,
            random_read,
            ("GET", f"{api}/{read_pool[0]}", None),
            capture=True,
        ),
        get("list_owned", f"{listing}, owned-only agent", owned_token, by_stage, capture=True, explain=True),
        get("list_all", f"{listing}, everything agent", all_token, by_stage, capture=True, explain=True),
        get("list_all_c8", "same, everything agent", all_token, by_stage, clients=CONCURRENT_CLIENTS),
        get("board_all", f"{board_label}, everything agent", all_token, board, capture=True, explain=True),
        get("board_owned", f"{board_label}, owned-only agent", owned_token, board, capture=True),
        # a common word on the board: past the search cap each column counts as far as its page
        get(
            "board_q",
            f"{board_label}&q=refund, everything agent",
            all_token,
            f"{board}&q=refund",
            capture=True,
        ),
        get("board_q_owned", f"{board_label}&q=refund, owned-only agent", owned_token, f"{board}&q=refund"),
        # sorted by name its matches sit together: each column's bounded walk is cut before them
        get(
            "board_q_name_owned",
            f"{board_label}&q=refund&sort=name, owned-only agent",
            owned_token,
            f"{board}&q=refund&sort=name",
        ),
        # the board in a default view: its columns' totals and pages as the view gives them
        get("board_open", f"{board_label}&view=open, everything agent", all_token, f"{board}&view=open"),
        get(
            "board_unassigned_owned",
            f"{board_label}&view=unassigned, owned-only agent",
            owned_token,
            f"{board}&view=unassigned",
        ),
        get(
            "board_mine_owned",
            f"{board_label}&view=mine, owned-only agent",
            owned_token,
            f"{board}&view=mine",
        ),
        get(
            "board_following",
            f"{board_label}&view=following, everything agent (follows 3 %)",
            all_token,
            f"{board}&view=following",
        ),
        # filtered boards: each column's count from an index of its own stage (migration 0020)
        get(
            "board_priority_owned",
            f"{board_label}&priority=urgent, owned-only agent",
            owned_token,
            f"{board}&priority=urgent",
        ),
        get(
            "board_unread_owned",
            f"{board_label}&view=unread, owned-only agent",
            owned_token,
            f"{board}&view=unread",
        ),
        get(
            "board_following_id_owned",
            f"{board_label}&view=following&sort=id, owned-only agent",
            owned_token,
            f"{board}&view=following&sort=id",
        ),
        # sorted by name, an owned-only agent's columns walk each owner's tickets of the stage in
        # that order (migration 0021)
        get(
            "board_priority_name_owned",
            f"{board_label}&priority=urgent&sort=name, owned-only agent",
            owned_token,
            f"{board}&priority=urgent&sort=name",
        ),
        get(
            "board_mine_name_owned",
            f"{board_label}&view=mine&sort=name, owned-only agent",
            owned_token,
            f"{board}&view=mine&sort=name",
        ),
        # and in the other orders but the SLA's (migration 0022)
        get(
            "board_q_priority_owned",
            f"{board_label}&q=refund&sort=-priority, owned-only agent",
            owned_token,
            f"{board}&q=refund&sort=-priority",
        ),
        get(
            "board_priority_id_owned",
            f"{board_label}&priority=urgent&sort=id, owned-only agent",
            owned_token,
            f"{board}&priority=urgent&sort=id",
        ),
        get(
            "board_close",
            "same board, everything agent, a new connection per request (Connection: close)",
            all_token,
            board,
            keep_alive=False,
        ),
        get(
            "unread",
            "GET /tickets?view=unread&sort=-updated_at, everything agent",
            all_token,
            unread,
            capture=True,
            explain=True,
        ),
        *more_reads(gateway, people, data),
        Plan(
            "create",
            "POST /tickets (everything agent, no owner)",
            1,
            all_token,
            201,
            fixed(("POST", api, create.encode())),
            ("POST", api, create.encode()),
            probe_expect=201,
            write=True,
        ),
        Plan(
            "patch",
            "PATCH /tickets/{id} priority high<->low, no If-Match (random ticket)",
            1,
            all_token,
            200,
            toggle_priority,
            ("GET", f"{api}/{patch_pool[0]}", None),
            write=True,
        ),
    ]


def more_reads(gateway: str, people: People, data: Dataset) -> list[Plan]:
    """The rest of the list's surface: every default view, the filters, every sort, and ``q``."""
    api = f"{gateway}/api/v1/tickets"
    owned_token, all_token = people.owned_agent[1], people.all_agent[1]
    owner = people.owner_ids[1]
    rare = str(max(data.priorities) // 2 or 1)  # a ticket number: its name says "(<id>)"

    def get(key: str, label: str, token: str, query: str) -> Plan:
        request: Request = ("GET", f"{api}?{query}" + ("" if "limit=" in query else "&limit=25"), None)
        return Plan(key, label, 1, token, 200, fixed(request), request, capture=True)

    everything, owned = ("everything agent", all_token), ("owned-only agent", owned_token)
    cases = [  # key, query, label (None: the query), who
        ("view_mine", "view=mine", None, owned),
        ("view_unassigned", "view=unassigned", None, everything),
        ("view_following", "view=following", None, everything),
        ("view_following_owned", "view=following", None, owned),  # 10 % of their own tickets
        ("view_following_priority", "view=following&sort=-priority", None, everything),
        ("view_open", "view=open", None, everything),
        ("unread_owned", "view=unread", None, owned),
        ("all", "sort=-updated_at", "sort=-updated_at (no filter)", everything),
        ("all_owned", "sort=-updated_at", "sort=-updated_at (no filter)", owned),
        ("priority", "priority=urgent", None, everything),
        ("priority_owned", "priority=urgent", None, owned),
        ("owner", f"owner_id={owner}", "owner_id=<an owner>", everything),
        ("sort_created", "sort=created_at", None, everything),
        ("sort_priority", "sort=-priority", None, everything),
        ("sort_name", "sort=name", None, everything),
        ("sort_id", "sort=id", None, owned),
        ("q_common", "q=refund", "q=refund (1 subject in 15)", everything),
        ("q_common_owned", "q=refund", "q=refund (1 subject in 15)", owned),
        # the same word sorted by name: its matches ("Refund request (N)") sit together in name
        # order, so a page that walks that order past the cap reads every name before them
        (
            "q_common_name",
            "q=refund&sort=name",
            "q=refund&sort=name (its matches together in name order)",
            everything,
        ),
        ("q_rare", f"q={rare}", "q=<one ticket's number>", everything),
        # found through the conversations service only: a sender's address (1 ticket in 40,000)
        ("q_sender", "q=customer7@example.org", "q=<a sender's address>", everything),
        ("q_none", "q=zzqx", "q=zzqx (matches nothing)", everything),
        # a page of one of a word the planner has no statistics for: it used to walk every row
        ("q_none_one", "q=zzqx&limit=1", "q=zzqx&limit=1 (matches nothing)", everything),
    ]
    reads = [
        get(key, f"GET /tickets?{label or query}, {who}", token, query)
        for key, query, label, (who, token) in cases
    ]
    return reads + search_reads(gateway, people)


def search_reads(gateway: str, people: People) -> list[Plan]:
    """The search API (``POST /tickets/search``): a common word alone, for each agent, and with two
    filter groups (urgent, or in the first stage) for the agent seeing everything. It asks the
    conversations service while it searches the tickets' own text, as a list's ``q`` does."""
    url = f"{gateway}/api/v1/tickets/search"
    groups = [
        {"filters": [{"field": "priority", "operator": "EQ", "value": "urgent"}]},
        {"filters": [{"field": "status", "operator": "EQ", "value": people.stages[0]["id"]}]},
    ]
    cases = [  # key, body, label, token
        ("search_q", {"query": "refund"}, '{"query": "refund"}, everything agent', people.all_agent[1]),
        (
            "search_q_owned",
            {"query": "refund"},
            '{"query": "refund"}, owned-only agent',
            people.owned_agent[1],
        ),
        (
            "search_groups",
            {"query": "refund", "filter_groups": groups},
            '{"query": "refund", filter_groups: urgent, or the first stage}, everything agent',
            people.all_agent[1],
        ),
    ]
    plans: list[Plan] = []
    for key, body, label, token in cases:
        request: Request = ("POST", url, json.dumps(body).encode())
        plans.append(
            Plan(key, f"POST /tickets/search {label}", 1, token, 200, fixed(request), request, capture=True)
        )
    return plans


def probe(plan: Plan) -> tuple[str, int | None]:
    """Send the plan's probe once; what it matched (raises on a wrong status), and its answer's
    size in tickets (:func:`answer_size`)."""
    method, url, body = plan.probe
    response = requests.request(
        method,
        url,
        data=body,
        headers={"Authorization": f"Bearer {plan.token}", "Content-Type": "application/json"},
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code != plan.probe_expect:
        raise RuntimeError(f"probe {method} {url} -> HTTP {response.status_code}: {response.text[:300]}")
    doc, size = response.json(), f"{len(response.content) / 1000:.1f} kB"
    if "columns" in doc:
        totals = "/".join(f"{c['total']:,}{'+' if c.get('total_capped') else ''}" for c in doc["columns"])
        items = sum(len(c["items"]) for c in doc["columns"])
        return f"column totals {totals}; {items} items; {size}", answer_size(doc)
    if "items" in doc:
        capped = "+" if doc.get("total_capped") else ""
        return f"total {doc['total']:,}{capped}; {len(doc['items'])} items; {size}", answer_size(doc)
    return size, None


def answer_size(doc: Any) -> int | None:
    """The largest ``limit`` under which ``doc`` (a list page or a board) is a full answer: its
    items, or its shortest column's (a board's limit is per column: asked with it, every column
    holds that many tickets wherever the stage has them); None for anything else."""
    if isinstance(doc, dict) and isinstance(doc.get("columns"), list):
        return min((len(column["items"]) for column in doc["columns"]), default=0)
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return len(doc["items"])
    return None


def with_limit(request: Request, limit: int) -> Request | None:
    """``request`` asking for ``limit`` tickets a page (or a board column) instead of its own
    limit: in a GET's query, in a POST's JSON body (a search); None for any other request."""
    method, url, body = request
    if method == "GET":
        base, _, query = url.partition("?")
        kept = [part for part in query.split("&") if part and not part.startswith("limit=")]
        return method, f"{base}?{'&'.join([*kept, f'limit={limit}'])}", body
    if method == "POST" and body is not None:
        asked = json.loads(body)
        if isinstance(asked, dict):
            return method, url, json.dumps({**asked, "limit": limit}).encode()
    return None


LIKE_FOR_LIKE_SUFFIX = ":like"


def like_for_like(sizes: Sequence[Prepared]) -> list[str]:
    """Reads whose answer at the smallest size holds fewer tickets than at a larger one, asked
    again at every size with ``limit`` at the smallest size's count (for a board, its shortest
    column's: :func:`answer_size`): plans added to each size after the read they repeat, keys
    returned. A board with an empty column at the smallest size has no such limit.

    A read's ratio divides its p50 at a million tickets by its p50 at a thousand; when the
    thousand-ticket answer holds one ticket and the million-ticket one 25, that ratio also
    counts 24 more tickets' wire forms, 15-20 kB more through RabbitMQ and HTTP. The same read
    with the same number of tickets at both sizes shows what the data's growth alone costs."""
    smallest = min(sizes, key=lambda ready: ready.run.size)
    added: list[str] = []
    for plan in smallest.reads:
        fewest = smallest.run.answered.get(plan.key)
        if plan.like_for_like or plan.clients != 1 or not plan.keep_alive or plan.write:
            continue
        if not fewest or all((size.run.answered.get(plan.key) or 0) <= fewest for size in sizes):
            continue
        if with_limit(plan.probe, fewest) is None:
            continue
        for size in sizes:
            theirs = next((p for p in size.reads if p.key == plan.key), None)
            request = None if theirs is None else with_limit(theirs.probe, fewest)
            if theirs is None or request is None:
                continue
            per = " a column" if "/board" in request[1] else ""
            label = f"{theirs.label}, limit={fewest}{per} (as many as at {smallest.run.size:,})"
            again = dataclasses.replace(
                theirs,
                key=plan.key + LIKE_FOR_LIKE_SUFFIX,
                label=label,
                per_client=fixed(request),
                probe=request,
                capture=False,
                explain=False,
                like_for_like=True,
            )
            size.todo.insert(size.todo.index(theirs) + 1, again)
            at = next(i for i, (key, _label, _clients) in enumerate(size.run.labels) if key == plan.key)
            size.run.labels.insert(at + 1, (again.key, again.label, again.clients))
        added.append(plan.key + LIKE_FOR_LIKE_SUFFIX)
    return added


@dataclass
class SizeRun:
    """What one size produced."""

    size: int
    data: Dataset | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    matched: dict[str, str] = field(default_factory=dict)
    answered: dict[str, int | None] = field(default_factory=dict)  # tickets in the probe's answer
    errors: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    statements: dict[str, list[Statement]] = field(default_factory=dict)
    plans_text: list[str] = field(default_factory=list)
    labels: list[tuple[str, str, int]] = field(default_factory=list)  # (key, label, clients) measured
    memory: list[str] = field(default_factory=list)  # memory_table() at the end of the size
    mixed: list[str] = field(default_factory=list)  # mixed_report(), at the largest size


def measure_all(run: SizeRun, todo: list[Plan], seconds: float, stack: Stack, *, again: bool = False) -> None:
    """Probe, pause, measure each plan in order; a failing plan is recorded and the others go on.
    ``again``: another round of plans measured already (no probe, no pause; what it measures
    joins their cells: :func:`joined`).

    Before each plan the suite must be ready again (its supervisor restarts a crashed child);
    if the supervisor itself has exited, RuntimeError ends the size.
    """
    for plan in todo:
        if STOP.is_set():
            raise KeyboardInterrupt
        if again and plan.key not in run.cells:
            continue  # skipped the first time
        stack.wait_ready(READY_AGAIN_TIMEOUT)
        if not again:
            try:
                run.matched[plan.key], run.answered[plan.key] = probe(plan)
            except Exception as exc:
                run.errors[plan.key] = str(exc) or repr(exc)
                say(f"{plan.label}: skipped: {run.errors[plan.key]}")
                continue
            if STOP.wait(PAUSE_BEFORE_CELL):
                raise KeyboardInterrupt
        say(f"{run.size:,}: {plan.label}: {plan.clients} client(s) for {seconds:.3g} s")
        opener = api_opener(plan.token, plan.expect, plan.per_client, plan.keep_alive)
        try:
            cell = measure(opener, plan.clients, seconds)
        except Exception as exc:  # the harness itself failed: report it, go on
            cell = Cell(errors=1, first_error=repr(exc))
        run.cells[plan.key] = joined(run.cells[plan.key], cell) if again else cell
        if not cell.ok:
            say(f"  failed: {cell.first_error}")
        else:
            say(f"  p50 {cell.percentile(0.5):.1f} ms, {cell.rate:.0f} req/s, {cell.errors} error(s)")


# -- the mixed load ---------------------------------------------------------------------------------


@dataclass
class Mixed:
    """What the mixed load at the largest size produced: its requests and the RSS it left."""

    seconds: float
    cell: Cell | None = None
    samples: list[tuple[float, dict[str, float | None]]] = field(default_factory=list)  # (s, name -> MiB)
    per_kind: dict[str, int] = field(default_factory=dict)


def mixed_opener(todo: list[Plan], counts: dict[str, int], lock: threading.Lock) -> Opener:
    """Each client sends every kind of request measured above, at random: writes
    ``MIXED_WRITE_SHARE`` of the time, each read kind equally often otherwise; one keep-alive
    session per client, each request with its plan's token."""
    pool = [p for p in todo if p.keep_alive and p.clients == 1 and not p.like_for_like]
    writes = [p for p in pool if p.write]
    reads = [p for p in pool if not p.write]
    weights = [MIXED_WRITE_SHARE / len(writes)] * len(writes) + [(1 - MIXED_WRITE_SHARE) / len(reads)] * len(
        reads
    )
    seeds = itertools.count(7)

    def opener() -> tuple[Op, Callable[[], None]]:
        session = requests.Session()
        session.headers["Content-Type"] = "application/json"
        rng = random.Random(next(seeds))
        sources = [(plan, plan.per_client()) for plan in [*writes, *reads]]

        def op() -> None:
            plan, next_request = rng.choices(sources, weights)[0]
            method, url, body = next_request()
            headers = {"Authorization": f"Bearer {plan.token}"}
            response = session.request(method, url, data=body, headers=headers, timeout=REQUEST_TIMEOUT)
            if response.status_code != plan.expect:
                raise RuntimeError(f"{method} {url} -> HTTP {response.status_code}: {response.text[:200]}")
            with lock:
                counts[plan.key] = counts.get(plan.key, 0) + 1

        return op, session.close

    return opener


LIVE_BACKLOG = "live backlog (entries)"
"""A row of the mixed load's memory table: the gateway's ``helpdesk_live_backlog_entries``, the
events it keeps for streams that resume (``gateway.live.BACKLOG_SECONDS`` of them), which its RSS
follows until they are that old."""


def rss_of(stack: Stack) -> dict[str, float | None]:
    sample: dict[str, float | None] = {name: rss_mib(pid) for name, pid in sorted(stack.pids().items())}
    sample[LIVE_BACKLOG] = gauge_value(f"{stack.gateway}/metrics", "helpdesk_live_backlog_entries")
    return sample


def gauge_value(url: str, name: str) -> float | None:
    """The first sample of ``name`` on a Prometheus text page; None if unreadable."""
    try:
        text = requests.get(url, timeout=REQUEST_TIMEOUT).text
    except requests.RequestException:
        return None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            with contextlib.suppress(ValueError):
                return float(line.rsplit(" ", 1)[1])
    return None


def mixed_load(stack: Stack, todo: list[Plan], seconds: float) -> Mixed:
    """``MIXED_CLIENTS`` clients sending a mix of every request above for ``seconds``, with the
    RSS of every process read before, every two minutes (a short load: every quarter) and after:
    memory that grows with the
    load (a cache without a limit, a table nobody prunes held in memory) shows as a rising row."""
    mixed = Mixed(seconds)
    lock = threading.Lock()
    stack.wait_ready(READY_AGAIN_TIMEOUT)
    say(f"mixed load: {MIXED_CLIENTS} clients for {seconds:g} s")
    mixed.samples.append((0.0, rss_of(stack)))
    result: list[Cell] = []
    worker = threading.Thread(
        target=lambda: result.append(
            measure(mixed_opener(todo, mixed.per_kind, lock), MIXED_CLIENTS, seconds)
        ),
        daemon=True,
        name="mixed-load",
    )
    began = time.monotonic()
    worker.start()
    every = MIXED_SAMPLE_SECONDS if seconds >= 4 * MIXED_SAMPLE_SECONDS else seconds / 4
    n = 1
    while began + every * n < began + seconds - every / 2:
        if STOP.wait(max(0.0, began + every * n - time.monotonic())):
            break
        mixed.samples.append((time.monotonic() - began, rss_of(stack)))
        n += 1
    worker.join()
    mixed.cell = result[0] if result else Cell(errors=1, first_error="the load did not finish")
    mixed.samples.append((time.monotonic() - began, rss_of(stack)))
    cell = mixed.cell
    if cell.ok:
        p50 = cell.percentile(0.5)
        say(f"  mixed: {len(cell.latencies_ms):,} requests, p50 {p50:.1f} ms, {cell.errors} error(s)")
    return mixed


def mixed_report(mixed: Mixed, size: int) -> list[str]:
    cell = mixed.cell or Cell()
    lines = [
        f"Mixed load at {size:,} tickets: {MIXED_CLIENTS} clients for {mixed.seconds:g} s, every request"
        f" kind above at random ({MIXED_WRITE_SHARE:.0%} writes)",
        "",
        "| requests | req/s | p50 ms | p99 ms | errors |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    if cell.ok:
        lines.append(
            f"| {len(cell.latencies_ms):,} | {cell.rate:.0f} | {fmt(cell.percentile(0.5))}"
            f" | {fmt(cell.percentile(0.99))} | {cell.errors} |"
        )
    else:
        lines.append(f"| 0 | - | - | - | {cell.errors}: {cell.first_error} |")
    if cell.first_error:
        lines += ["", f"first error: {cell.first_error}"]
    names = sorted({name for _at, sample in mixed.samples for name in sample})
    header = " | ".join(f"{at / 60:.1f} min" for at, _sample in mixed.samples)
    lines += [
        "",
        "Resident memory (RSS, MiB) during the mixed load, and its growth from start to end; last, the"
        " events the gateway keeps for live streams that resume (its memory follows them):",
        "",
        f"| process | {header} | growth |",
        "| --- |" + " ---: |" * (len(mixed.samples) + 1),
    ]
    for name in [*(n for n in names if n != LIVE_BACKLOG), LIVE_BACKLOG]:
        values = [sample.get(name) for _at, sample in mixed.samples]
        shape = "{:,.0f}" if name == LIVE_BACKLOG else "{:.1f}"
        cells = " | ".join("gone" if v is None else shape.format(v) for v in values)
        first, last = values[0], values[-1]
        growth = "-" if first is None or last is None else (shape.replace("{:", "{:+")).format(last - first)
        lines.append(f"| {name} | {cells} | {growth} |")
    return lines


# -- SQL capture and plans ------------------------------------------------------------------------


@dataclass
class Statement:
    """One statement the tickets service ran, as PostgreSQL logged it. ``prepare`` is the ``PREPARE``
    of a statement planned once (``services.chassis.prepared``), which ``sql`` executes."""

    sql: str
    ms: float
    prepare: str | None = None
    first_run: bool = False  # an EXECUTE of a statement prepared in the same stretch of log

    @property
    def flat(self) -> str:
        """The statement's SQL on one line (a prepared one's own, ``$n`` for its parameters)."""
        text = self.prepare.split(" AS ", 1)[1] if self.prepare else self.sql
        return " ".join(text.split())

    @property
    def main(self) -> bool:
        """A list page, a count or the board's column totals (not the per-row look-ups)."""
        text = self.flat
        return " FROM tickets" in text and ("count(" in text or " LIMIT " in text)


_ENTRY = re.compile(r"^@@bench (?P<db>[^@]*)@@ (?P<rest>.*)$")
_LOGGED = re.compile(r"duration: (?P<ms>[\d.]+) ms\s+(?:statement|execute [^:]*): (?P<sql>.*)", re.S)
_SKIP = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SELECT 1\s*$|SET |SHOW |select pg_|select current_)", re.I)
_BACKGROUND = re.compile(r"\b(outbox|processed_events)\b")  # the relay polls its outbox every second


_PREPARE = re.compile(r"^\s*(?:DEALLOCATE \w+;\s*)?(?P<prepare>PREPARE (?P<name>\w+) AS .*)$", re.S)
_EXECUTE = re.compile(r"^\s*EXECUTE (?P<name>\w+)")


def parse_log(
    text: str, database: str = "tickets", prepared: dict[str, str] | None = None
) -> list[Statement]:
    """The statements of ``database`` in a log written with LOG_PREFIX (multi-line entries joined).

    A ``PREPARE`` (a statement planned once, readied on one connection) is not counted: it is
    kept in ``prepared`` (by name, across calls), and each ``EXECUTE`` of it carries it; one
    prepared in ``text`` itself is that statement's first run on its connection (``first_run``),
    its generic plan made in it."""
    prepared = {} if prepared is None else prepared
    readied_here: set[str] = set()
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _ENTRY.match(line)
        if match:
            entries.append((match["db"], [match["rest"]]))
        elif entries:
            entries[-1][1].append(line)
    found = []
    for db, lines in entries:
        logged = _LOGGED.search("\n".join(lines))
        if db != database or not logged:
            continue
        sql = logged["sql"].strip()
        if readied := _PREPARE.match(sql):
            prepared[readied["name"]] = readied["prepare"]
            readied_here.add(readied["name"])
            continue
        executes = _EXECUTE.match(sql)
        name = executes["name"] if executes else None
        statement = Statement(
            sql, float(logged["ms"]), prepared.get(name) if name else None, first_run=name in readied_here
        )
        if not _SKIP.match(statement.flat) and not _BACKGROUND.search(statement.flat):
            found.append(statement)
    return found


def terminate_sessions(pg_port: int, database: str = "tickets") -> None:
    """End the service's connections to ``database``: its pool opens new ones (each pinged after a
    second unused, ``services.chassis.db.PING_AFTER_IDLE``), which prepare their statements again
    while the log shows it."""
    conn = connect(pg_port, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
    finally:
        conn.close()


def _set_statement_log(pg_port: int, on: bool) -> None:
    conn = connect(pg_port, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if on:
                cur.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
                cur.execute(f"ALTER SYSTEM SET log_line_prefix = '{LOG_PREFIX}'")
            else:
                cur.execute("ALTER SYSTEM RESET log_min_duration_statement")
                cur.execute("ALTER SYSTEM RESET log_line_prefix")
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()


def capture(stack: Stack, todo: list[Plan]) -> dict[str, list[Statement]]:
    """Each capturing plan's statements in the steady state, logged; logging is off again after.

    The tickets service's connections are ended first, so that the log shows what they prepare
    (``services.chassis.prepared``: the log names a statement planned once by its ``EXECUTE``
    alone). A plan is then probed until one probe runs no statement for the first time on its
    connection (the pool hands its connections out in turn, each preparing its own), at most
    ``CAPTURE_PROBES`` times: a first run makes its generic plan, which the steady state does
    not (a board at 1,000 tickets: 18.4 ms of logged SQL on fresh connections, ~5 after). If
    every probe ran something for the first time, the last is kept and says so."""
    _set_statement_log(stack.pg_port, True)
    try:
        time.sleep(1.0)  # sessions pick the reload up between statements
        terminate_sessions(stack.pg_port)  # so that the log shows what the statements prepared are
        time.sleep(1.5)
        caught: dict[str, list[Statement]] = {}
        prepared: dict[str, str] = {}
        for plan in todo:
            if not plan.capture:
                continue
            probes = 0
            deadline = time.monotonic() + PAGE_CAPTURE_TIMEOUT
            while probes < CAPTURE_PROBES and not STOP.is_set():
                offset = stack.pg_log.stat().st_size
                try:
                    probe(plan)
                except Exception as exc:  # e.g. a 504: its statements are still in the log
                    say(f"capture: {plan.key}: {exc}")
                time.sleep(0.3)
                with open(stack.pg_log, errors="replace") as log:
                    log.seek(offset)
                    statements = parse_log(log.read(), prepared=prepared)
                if not statements:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.5)  # the service's sessions had not reloaded yet
                    continue
                probes += 1
                caught[plan.key] = statements
                if not any(s.first_run for s in statements):
                    break
        return caught
    finally:
        _set_statement_log(stack.pg_port, False)


def explain(pg_port: int, statement: Statement) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of ``statement``, run twice; the second (warm) plan's lines. One
    planned once is prepared here as the service prepared it and explained with its generic plan."""
    conn = connect(pg_port, "tickets")
    try:
        with conn.cursor() as cur:
            if statement.prepare:
                for setting, value in PLAN_ONCE_SETTINGS.items():
                    cur.execute(f"SET {setting} = {value}")
                cur.execute(statement.prepare)
            for _ in range(2):
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}")
                lines = [row[0] for row in cur.fetchall()]
        conn.rollback()
        return lines
    finally:
        conn.close()


_SCAN = re.compile(
    r"((?:Parallel )?(?:Seq Scan|Index Scan(?: Backward)?|Index Only Scan(?: Backward)?|"
    r"Bitmap Index Scan|Bitmap Heap Scan)(?: using \S+)? on \S+)"
)


def summarize(lines: list[str]) -> str:
    """One line: top node and its rows, scans used, rows filtered away, buffers, execution time."""
    text = "\n".join(lines)
    top = lines[0].split("  (")[0].strip() if lines else "?"
    rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", lines[0]) if lines else None
    scans = list(dict.fromkeys(_SCAN.findall(text)))
    removed = sum(int(n) for n in re.findall(r"Rows Removed by (?:Filter|Join Filter): (\d+)", text))
    buffers = re.search(r"Buffers: (shared [^\n]*)", text)
    executed = re.search(r"Execution Time: ([\d.]+) ms", text)
    return (
        f"{top} -> {rows[1] if rows else '?'} rows; {'; '.join(scans) or 'no scan'}; "
        f"removed by filter {removed:,}; {buffers[1] if buffers else 'no buffers'}; "
        f"{executed[1] if executed else '?'} ms"
    )


def short_sql(sql: str) -> str:
    """The statement on one line, with a long select list shortened."""
    flat = " ".join(sql.split())
    match = re.match(r"SELECT (.*?) FROM ", flat)
    if match and len(match[1]) > 80:
        flat = f"SELECT <{match[1].count(',') + 1} columns> FROM " + flat[match.end() :]
    return flat


def plans_report(run: SizeRun, todo: list[Plan], pg_port: int) -> list[str]:
    """Statements per captured request, then EXPLAIN of the main ones (Markdown)."""
    out = [
        f"### SQL per request at {run.size:,} tickets (from the PostgreSQL log)",
        "",
        "| request | statements | sum of logged durations ms | main (list/count) statements ms |",
        "| --- | ---: | ---: | --- |",
    ]
    labels = {p.key: p.label for p in todo}
    for key, statements in run.statements.items():
        mains = ", ".join(f"{s.ms:.2f}" for s in statements if s.main) or "-"
        total = sum(s.ms for s in statements)
        out.append(
            f"| {cell_text(labels[key])} | {len(statements)} | {total:.2f}{_first(statements)} | {mains} |"
        )
    detail: list[str] = []
    summary = ["", f"### EXPLAIN (ANALYZE, BUFFERS) at {run.size:,} tickets, one line each", ""]
    for plan in todo:
        pages_shown = 0  # the first page statement in full (a board's pages are one statement)
        for n, statement in enumerate(run.statements.get(plan.key, []), 1):
            try:
                lines = explain(pg_port, statement)
            except Exception as exc:
                summary.append(f"- {plan.key} #{n}: EXPLAIN failed: {cell_text(repr(exc))}")
                continue
            summary.append(f"- {plan.key} #{n}: {summarize(lines)}")
            is_page = "count(" not in statement.flat
            if plan.explain and statement.main and not (is_page and pages_shown):
                pages_shown += is_page
                detail += [
                    "",
                    f"#### {plan.key} #{n}: {plan.label}",
                    "",
                    "```",
                    short_sql(statement.flat),
                    "",
                    *lines,
                    "```",
                ]
    return out + summary + ["", f"### Plans of the list, count and board statements at {run.size:,}", *detail]


# -- the report -----------------------------------------------------------------------------------


def render(
    runs: list[SizeRun], todo_labels: list[tuple[str, str, int]], seconds: float, rounds: int = 1
) -> str:
    """The table (a column group per size), what each list matched, and the data sets."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Tickets bench - {platform.node()}, nproc {len(os.sched_getaffinity(0))} ({_cpu_model()}),"
        f" Python {platform.python_version()}, PostgreSQL {_pg_version()}, {now},"
        f" load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"{seconds:g} s per cell"
        + (f" (reads in {rounds} rounds of {seconds / rounds:.2g} s, sizes in turn)" if rounds > 1 else "")
        + f" after {WARMUP_REQUESTS} warm-up requests per client; clients are threads"
        " in one process, one keep-alive requests.Session each",
    ]
    for run in runs:
        if run.data is not None:
            lines.append(
                f"{run.size:,} tickets: seeded in {run.data.seconds:.1f} s;"
                + ", ".join(f" {k} {v:,}" for k, v in run.data.counts.items())
            )
        if run.failure:
            lines.append(f"{run.size:,} tickets: FAILED: {cell_text(run.failure, 400)}")
    sizes = [f"{r.size:,}" for r in runs]
    head = "| measurement | clients | " + " | ".join(f"{s} p50 ms | {s} p99 ms | {s} req/s" for s in sizes)
    ratio_head = "".join(f" | p50 {size} / {sizes[0]}" for size in sizes[1:])
    lines += [
        "",
        head + " | errors" + ratio_head + " |",
        "| --- | ---: |" + " ---: | ---: | ---: |" * len(runs) + " ---: |" + " ---: |" * (len(runs) - 1),
    ]
    notes: list[str] = []
    for key, label, clients in todo_labels:
        cols: list[str] = []
        errors = 0
        for run in runs:
            cell = run.cells.get(key)
            if cell is None or not cell.ok:
                why = run.errors.get(key) or (cell.first_error if cell else run.failure or "not measured")
                cols += [f"error: {cell_text(why, 80)}", "", ""]
            else:
                cols += [fmt(cell.percentile(0.5)), fmt(cell.percentile(0.99)), f"{cell.rate:.0f}"]
            if cell is not None:
                errors += cell.errors
                if cell.errors and cell.ok:
                    first_error = cell_text(cell.first_error)
                    notes.append(f"{label} at {run.size:,}: {cell.errors} error(s), first: {first_error}")
        ratio = ""
        first = runs[0].cells.get(key)
        for run in runs[1:]:
            last = run.cells.get(key)
            if first is not None and last is not None and first.ok and last.ok:
                ratio += f" | {last.percentile(0.5) / first.percentile(0.5):.2f}x"
            else:
                ratio += " | -"
        lines.append(f"| {label} | {clients} | {' | '.join(cols)} | {errors}{ratio} |")
    if notes:
        lines += ["", *notes]
    lines += sql_table(runs, todo_labels)
    lines += ["", "What each request matched and the size of its answer (one probe before measuring):", ""]
    lines += ["| measurement | " + " | ".join(sizes) + " |", "| --- |" + " --- |" * len(runs)]
    for key, label, _clients in todo_labels:
        found = [run.matched.get(key, "") for run in runs]
        if any(found):
            lines.append(f"| {label} | " + " | ".join(found) + " |")
    for run in runs:
        if run.memory:
            lines += ["", *run.memory]
        if run.mixed:
            lines += ["", *run.mixed]
    return "\n".join(lines)


def _first(statements: Sequence[Statement]) -> str:
    """A mark for a capture that still ran a statement for the first time on its connection."""
    return "*" if any(s.first_run for s in statements) else ""


def sql_table(runs: list[SizeRun], todo_labels: list[tuple[str, str, int]]) -> list[str]:
    """The database's own time per request at each size (logged durations of one probe, summed):
    what grows with the data, without the noise of the Python processes sharing the machine."""
    if not any(run.statements for run in runs):
        return []
    sizes = [f"{r.size:,}" for r in runs]
    out = [
        "",
        "SQL per request, from the PostgreSQL log (one probe each in the steady state, no statement"
        " run for the first time on its connection, * where none was found; statements and the sum"
        " of their logged durations):",
        "",
        "| measurement | "
        + " | ".join(f"{s} statements | {s} SQL ms" for s in sizes)
        + "".join(f" | SQL ms {size} / {sizes[0]}" for size in sizes[1:])
        + " |",
        "| --- |" + " ---: | ---: |" * len(runs) + " ---: |" * (len(runs) - 1),
    ]
    for key, label, _clients in todo_labels:
        found = [run.statements.get(key) for run in runs]
        if not any(found):
            continue
        cols = [f"{len(st)} | {sum(x.ms for x in st):.2f}{_first(st)}" if st else "- | -" for st in found]
        a = sum(x.ms for x in found[0]) if found[0] else 0.0
        ratio = "".join(
            f" | {sum(x.ms for x in later) / a:.2f}x" if a > 0 and later else " | -" for later in found[1:]
        )
        out.append(f"| {label} | " + " | ".join(cols) + ratio + " |")
    return out


def _pg_version() -> str:
    with contextlib.suppress(Exception):
        return postgres._bin().parent.name
    return "?"


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A size whose suite is running with its tickets seeded: what its cells are measured on."""

    run: SizeRun
    stack: Stack
    work: Path
    todo: list[Plan] = field(default_factory=list)
    failed: bool = False

    @property
    def reads(self) -> list[Plan]:
        return [p for p in self.todo if not p.write]


@contextlib.contextmanager
def _recorded(ready: Prepared) -> Iterator[None]:
    """A step of ``ready``'s size: what fails in it is recorded in its run and ends its steps (the
    size is still stopped by :func:`finish`); Ctrl-C marks it failed and goes on up."""
    try:
        yield
    except KeyboardInterrupt:
        ready.failed = True
        raise
    except Exception as exc:
        ready.failed = True
        ready.run.failure = str(exc) or repr(exc)
        say(f"{ready.run.size:,}: failed: {ready.run.failure}")


def prepare(ready: Prepared) -> None:
    """Start ``ready``'s stack, make its people, seed its tickets and plan its requests; a failure
    is recorded in its run. The caller holds ``ready`` before this starts anything, so that
    :func:`finish` stops whatever it started also when Ctrl-C cuts it short (the cluster and the
    broker of a size interrupted while starting were left running)."""
    run = ready.run
    size = run.size
    with _recorded(ready):
        ready.stack.start()
        people = create_people(ready.stack.gateway)
        say(f"{size:,}: people ready ({len(people.owner_ids)} owners, {len(people.team_ids)} teams)")
        run.data = seed(ready.stack.pg_port, size, people)
        ready.todo = plans(ready.stack.gateway, people, run.data)
        run.labels = [(p.key, p.label, p.clients) for p in ready.todo]


def finish(
    ready: Prepared, seconds: float, explain_plans: bool, keep: bool, mixed_seconds: float = 0.0
) -> None:
    """After the reads: the SQL capture (and plans), the writes, memory, the mixed load; then stop."""
    run, stack = ready.run, ready.stack
    try:
        with _recorded(ready):
            _finish_steps(ready, seconds, explain_plans, mixed_seconds)
    finally:
        CLEANING.set()  # a Ctrl-C or SIGTERM now only sets STOP: the stack is stopped in full
        try:
            stack.stop()
        finally:
            CLEANING.clear()
        failed = ready.failed or bool(run.errors) or any(c.errors or not c.ok for c in run.cells.values())
        if keep or failed:
            say(
                f"{run.size:,}: logs kept in {ready.work}"
                " (ours in logs/, the suite's in suite/logs/, pg/postgres.log)"
            )
        else:
            shutil.rmtree(ready.work, ignore_errors=True)


def _finish_steps(ready: Prepared, seconds: float, explain_plans: bool, mixed_seconds: float) -> None:
    """:func:`finish`'s steps before the stop."""
    run, stack = ready.run, ready.stack
    if not ready.failed and not STOP.is_set():  # before the writes, on exactly the seeded tickets
        say(f"{run.size:,}: capturing SQL" + (" and EXPLAIN plans" if explain_plans else ""))
        try:
            run.statements = capture(stack, ready.reads)
            if explain_plans:
                run.plans_text = plans_report(run, ready.reads, stack.pg_port)
        except Exception as exc:
            run.plans_text = [f"SQL capture failed: {exc!r}"]
            say(run.plans_text[0])
    if not ready.failed:
        measure_all(run, [p for p in ready.todo if p.write], seconds, stack)
        run.memory = memory_table(stack, f"after loading {run.size:,} tickets and every measurement")
        if mixed_seconds > 0 and not STOP.is_set():
            run.mixed = mixed_report(mixed_load(stack, ready.todo, mixed_seconds), run.size)


def run_size(
    run: SizeRun, seconds: float, work: Path, explain_plans: bool, keep: bool, mixed_seconds: float = 0.0
) -> None:
    """One size from scratch to stopped, into ``run``; failures are recorded there, Ctrl-C propagates."""
    ready = Prepared(run, Stack(work), work)
    try:
        prepare(ready)
        with _recorded(ready):
            if not ready.failed:
                measure_all(run, ready.reads, seconds, ready.stack)
    finally:
        finish(ready, seconds, explain_plans, keep, mixed_seconds)


def run_paired(
    runs: list[SizeRun],
    works: list[Path],
    seconds: float,
    keep: bool,
    mixed_seconds: float = 0.0,
    rounds: int = 1,
) -> None:
    """Every size at once: all stacks started and seeded first, then each read measured at every
    size in turn (the order reversed from one read to the next), so the two figures a ratio
    divides are taken a few seconds apart rather than a size's whole run apart. The machine's
    speed drifts over minutes (nameko's own floor moved 2.8-3.8 ms between runs of one hour), and
    measured one size after the other a 1.3x aim met or missed with that drift.

    ``rounds``: the reads are measured that many times over, each for ``seconds / rounds``
    (the order of the sizes reversed from one round to the next), and each cell's rounds are
    one cell (:func:`joined`). In one round of 5 s a cell at a size moved by up to 40 % between
    two runs of the same code (a million tickets' view of open tickets: 5.5 then 7.9 ms), with
    whatever the machine or the other cells had left in the database's cache at that moment.

    Then the reads :func:`like_for_like` adds, in the same way; then each size's SQL capture,
    writes and memory, the smaller sizes first; the largest gets the plans and the mixed load."""
    ready: list[Prepared] = []
    try:
        for run, work in zip(runs, works, strict=True):
            if STOP.is_set():
                raise KeyboardInterrupt
            ready.append(Prepared(run, Stack(work), work))
            prepare(ready[-1])
        live = [r for r in ready if not r.failed]
        keys = [p.key for p in live[0].reads] if live else []
        _in_turn(live, keys, seconds, rounds)
        live = [r for r in ready if not r.failed]
        if len(live) > 1 and not STOP.is_set():
            _in_turn(live, like_for_like(live), seconds, rounds)
    finally:
        largest = max(ready, key=lambda r: r.run.size, default=None)
        for size in sorted(ready, key=lambda r: r.run.size):
            try:
                finish(
                    size,
                    seconds,
                    explain_plans=size is largest,
                    keep=keep,
                    mixed_seconds=mixed_seconds if size is largest else 0.0,
                )
            except KeyboardInterrupt:
                STOP.set()  # the other stacks are still stopped


def _in_turn(sizes: list[Prepared], keys: Sequence[str], seconds: float, rounds: int) -> None:
    """The reads ``keys`` measured at every size in turn, in ``rounds`` (see :func:`run_paired`)."""
    for turn in range(rounds):
        for n, key in enumerate(keys):
            for size in sizes if (n + turn) % 2 == 0 else sizes[::-1]:
                plan = next((p for p in size.reads if p.key == key), None)
                if plan is None or size.failed:
                    continue
                with _recorded(size):
                    measure_all(size.run, [plan], seconds / rounds, size.stack, again=turn > 0)


CLEANING = threading.Event()
"""Set while a stack is being stopped: signals then only set STOP, so cleaning is never cut short."""


def stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGINT handler of the benches that load a suite: stop, and interrupt unless the
    clean-up (which must finish) is already running."""
    STOP.set()
    if not CLEANING.is_set():
        raise KeyboardInterrupt


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or any(not 1 <= s <= MAX_SIZE for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be integers in [1, {MAX_SIZE:,}]")
    return sizes


def _work(size: int) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-tickets-{size}-"))
    work.chmod(0o755)  # the cluster's server user (postgres, when we are root) must reach pg/
    return work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tickets", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="ticket counts, comma-separated (default 1000,100000)",
    )
    parser.add_argument(
        "--seconds", type=float, help=f"measuring time per cell (default {DEFAULT_SECONDS:g})"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per cell")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs) afterwards")
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"with sizes measured in turn: each read's time split into this many rounds, the sizes'"
        f" order reversed from one round to the next (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run each size from start to stop before the next (default: all sizes' stacks at once,"
        " each read measured at every size in turn)",
    )
    parser.add_argument(
        "--mixed-seconds",
        type=float,
        help=f"the mixed load at the largest size, with RSS read during it (default {MIXED_SECONDS:g},"
        f" --quick {QUICK_MIXED_SECONDS:g}; 0 skips it)",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be in [1, 10]")
    if not 0 < seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    mixed_seconds = args.mixed_seconds
    if mixed_seconds is None:
        mixed_seconds = QUICK_MIXED_SECONDS if args.quick else MIXED_SECONDS
    if not 0 <= mixed_seconds <= 3600:
        parser.error("--mixed-seconds must be in [0, 3600]")
    sizes: list[int] = args.sizes
    paired = len(sizes) > 1 and not args.one_at_a_time

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    runs: list[SizeRun] = []
    interrupted = False
    try:
        if paired:
            runs = [SizeRun(size) for size in sizes]
            run_paired(runs, [_work(size) for size in sizes], seconds, args.keep, mixed_seconds, args.rounds)
        else:
            for i, size in enumerate(sizes):
                if STOP.is_set():
                    raise KeyboardInterrupt
                work = _work(size)
                runs.append(SizeRun(size))
                largest = i == sizes.index(max(sizes))
                run_size(
                    runs[-1],
                    seconds,
                    work,
                    explain_plans=largest,
                    keep=args.keep,
                    mixed_seconds=mixed_seconds if largest else 0.0,
                )
    except KeyboardInterrupt:
        interrupted = True
        STOP.set()
        say("interrupted; everything started was stopped")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    labels = next((run.labels for run in runs if run.labels), [])
    if runs:
        print(render(runs, labels, seconds, args.rounds if paired else 1), flush=True)
        for run in runs:
            if run.plans_text:
                print("", *run.plans_text, sep="\n", flush=True)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
