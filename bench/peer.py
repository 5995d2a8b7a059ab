"""Benchmark: our suite beside django-helpdesk 2.6.1 (the peer), by one client shape, in one run.

    .venv/bin/python -m bench.peer [--pg] [--no-peer] [--scale 2000] [--creates 500] [--reads 40]

``make bench`` (``bench.run``) calls this after its floors. The peer is measured by its own tool,
``../shared/tools/peer`` (``run.sh``: installs django-helpdesk into a venv under this run's temporary
folder, seeds ``--scale`` tickets, serves them with ``gunicorn -w 2``, loads them with its
``load.py`` and stops what it started); its figures are read from the JSON lines ``load.py``
writes. Nothing of that tool is copied here: it is called, so both sides stay the tool's.

Ours is measured the same way, on the same machine but never at the same time: once before the
peer and once after it, and each of our figures is the two runs together (see :func:`merge`). The
machine's speed drifts over minutes (the CPU each of our processes spent per create moved by a
quarter between two runs ten minutes apart, the gateway's too, whose work per request is fixed), so
one run of each side compared a fast phase with a slow one as often as not; bracketing the peer
cancels a drift that is steady over the three runs, and two runs of ours halve the spread of the
side that moves most. When the peer is not measured (``--no-peer``, or it failed) ours runs once.
Each run:
the suite (``deploy.supervisor``) on a private RabbitMQ node and its SQLite files (or, with
``--pg``, a private PostgreSQL cluster), ``--scale`` tickets created through the gateway, then
the tool's ``ours.py`` (closed loop, a new TCP connection per request) for creates at 1 and 10
clients and GET one ticket at 1 and 10 clients. ``ours.py`` has no list scenario, so the list page
is driven here with the same shape: a new connection per request, a random page of 25 (the peer
asks ``?page=P``; our lists are keyset pages, so the cursors of every page are collected first and
a random one is asked for).

Server CPU per create: ours is the user + system time, from ``/proc/<pid>/stat``, of every process
of the suite (gateway, each service, the supervisor, RabbitMQ and, with ``--pg``, PostgreSQL with
its exited backends), taken before a create row and after the outboxes have drained (the events a
create causes are part of its cost), divided by the creates made. The peer's is what its
``load.py`` measures: gunicorn's master and workers (and PostgreSQL's processes with ``--pg``).

The table holds both sides, the ratio ours/peer and the issue's aims (creates/s at 10 clients at
least 3x the peer's, CPU per create at most 1/3). ``--no-peer`` (or ``HELPDESK_BENCH_PEER=0``)
measures ours alone; a peer that cannot be installed or run leaves its column empty with the
reason printed under the table, never silently.

Under it, ours alone (the peer sends no events): the event latency from a ticket's ``created_at``
to the ``created_at`` of the ``ticket_created`` notification stored for the admin
(``bench.creates.event_latency``), unloaded (a fifth of ``--creates`` made one at a time, 50 ms
apart, as ``bench.creates`` makes its unloaded row) and during each create row, with the issue's
aims for its p99: 100 ms unloaded, 500 ms under the 10 clients' load. The 1-client row is printed
without an aim: its closed loop is a load (it keeps about three quarters of two cores busy, which
the notes print), not the idle suite the unloaded aim is about.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.creates import UNLOADED_GAP, Latency, cpu_of, drain, event_latency, newest_ticket, unloaded
from bench.run import REPO_ROOT, STOP, _cpu_model, say
from bench.tickets import ADMIN_TOKEN, CLEANING, Stack, make_stack, stop_on_signal

PEER_TOOL = Path(os.environ.get("HELPDESK_PEER_TOOL", str(REPO_ROOT.parent / "shared" / "tools" / "peer")))
DEFAULT_SCALE, DEFAULT_CREATES, DEFAULT_READS = 2000, 500, 40  # the peer reads in O(tickets)
CLIENTS = (1, 10)
PEER_TIMEOUT = 3600.0
OURS_TIMEOUT = 900.0
DRAIN_TIMEOUT = 60.0
IDLE_SECONDS = 5.0
SEED_CLIENTS = 4
WARMUP_CREATES, WARMUP_GETS = 20, 5
CREATE_AIM = 3.0


# -- figures --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One load row: latencies in ms, throughput, CPU per request, answers by status."""

    n: int
    rps: float
    p50: float
    p99: float
    cpu_ms: float | None = None
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(v for k, v in self.codes.items() if not k.startswith("2"))


@dataclass
class Side:
    """What one help desk produced: rows by (scenario, clients), or why it could not be measured."""

    name: str
    rows: dict[tuple[str, int], Row] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    latency: dict[int, Latency] = field(default_factory=dict)
    """Ours: the event latency by create row's clients; ``UNLOADED`` for creates made one at a time."""


def peer_rows(jsonl: Path) -> dict[tuple[str, int], Row]:
    """The rows ``load.py`` wrote to ``jsonl`` (warm-ups skipped); CPU summed over its pid files."""
    rows: dict[tuple[str, int], Row] = {}
    for line in jsonl.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "warmup" in r.get("label", ""):
            continue
        cpu = r.get("cpu_ms_per_req")
        rows[(r["scenario"], int(r["conc"]))] = Row(
            n=int(r["n"]),
            rps=float(r["rps"] or 0.0),
            p50=float(r["p50_ms"]),
            p99=float(r["p99_ms"]),
            cpu_ms=sum(cpu.values()) if cpu else None,
            codes={str(k): int(v) for k, v in r["codes"].items()},
        )
    return rows


# -- the peer, by its own tool ----------------------------------------------------------------------


def run_peer(work: Path, db: str, scale: int, creates: int, reads: int) -> Side:
    """Run the peer tool's ``run.sh`` into ``work`` and read its results; the reason if it fails."""
    side = Side("django-helpdesk 2.6.1")
    run_sh = PEER_TOOL / "run.sh"
    if not run_sh.exists():
        side.error = f"peer tool not found at {PEER_TOOL} (set HELPDESK_PEER_TOOL)"
        return side
    work.mkdir(parents=True, exist_ok=True)
    results = work / "results"
    before = set(results.glob(f"{db}-*.jsonl")) if results.exists() else set()
    log = work / f"run-{db}.log"
    env = dict(os.environ, PEER_N_CREATE=str(creates), PEER_N_READ=str(reads), PEER_VERBOSE="1")
    args = ["bash", str(run_sh), str(work), str(scale)] + (["--pg"] if db == "pg" else [])
    say(f"peer: {' '.join(args)} (log {log})")
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            while proc.poll() is None:
                if STOP.is_set() or time.monotonic() - began > PEER_TIMEOUT:
                    side.error = "interrupted" if STOP.is_set() else f"timed out after {PEER_TIMEOUT:g} s"
                    return side
                time.sleep(0.5)
        finally:
            _stop_peer(proc)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        errors = [ln for ln in text.splitlines() if "ERROR" in ln or "error" in ln.lower()]
        side.error = f"run.sh exited with {proc.returncode}: " + (
            errors[-1] if errors else " / ".join(text.splitlines()[-3:])
        )
        return side
    made = sorted(set(results.glob(f"{db}-*.jsonl")) - before)
    if not made:
        side.error = f"run.sh wrote no results in {results}"
        return side
    side.rows = peer_rows(made[-1])
    say(f"peer measured in {time.monotonic() - began:.0f} s")
    title = next((ln for ln in text.splitlines() if ln.startswith("peer: ")), "")
    if title:
        side.notes.append(title)
    return side


def _stop_peer(proc: subprocess.Popen[bytes]) -> None:
    """TERM, so that ``run.sh`` stops its gunicorn and cluster by pid; KILL only if it hangs."""
    if proc.poll() is not None:
        return
    CLEANING.set()  # a second Ctrl-C must not cut this short
    try:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    finally:
        CLEANING.clear()


# -- ours, by the same client shape -------------------------------------------------------------------


def ours_py(gateway: str, scenario: str, n: int, clients: int, ids: str = "1-1") -> Row:
    """One row of the peer tool's ``ours.py`` against ``gateway``."""
    args = [sys.executable, str(PEER_TOOL / "ours.py"), "--base", gateway, "--token", ADMIN_TOKEN, scenario]
    args += ["--n", str(n), "--conc", str(clients), "--ids", ids]
    done = subprocess.run(args, capture_output=True, text=True, timeout=OURS_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ours.py {scenario} exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return Row(n=int(r["n"]), rps=float(r["rps"]), p50=float(r["p50"]), p99=float(r["p99"]),
               codes={str(k): int(v) for k, v in r["codes"].items()})  # fmt: skip


def closed_loop(address: tuple[str, int], paths: list[str], n: int, clients: int) -> Row:
    """``n`` GETs of a random one of ``paths`` by ``clients`` threads, a new connection per request."""
    lock = threading.Lock()
    left = [n]
    latencies: list[float] = []
    codes: Counter[str] = Counter()

    def client(seed: int) -> None:
        rnd = random.Random(seed)
        while not STOP.is_set():
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            began = time.perf_counter()
            conn = http.client.HTTPConnection(*address, timeout=30)
            try:
                headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Connection": "close"}
                conn.request("GET", rnd.choice(paths), headers=headers)
                response = conn.getresponse()
                response.read()
                code = str(response.status)
            except OSError as exc:
                code = f"EXC:{type(exc).__name__}"
            finally:
                conn.close()
            took = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(took)
                codes[code] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(OURS_TIMEOUT)
    wall = time.perf_counter() - began
    ordered = sorted(latencies) or [float("nan")]

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return Row(n=len(latencies), rps=len(latencies) / wall if wall else 0.0, p50=pick(0.5), p99=pick(0.99),
               codes=dict(codes))  # fmt: skip


def seed(gateway: str, count: int) -> list[int]:
    """Create ``count`` tickets through the gateway (keep-alive, a few threads); their ids."""
    ids: list[int] = []
    lock = threading.Lock()
    left = [count]
    failures: list[str] = []
    body = {"name": "seeded", "description": "printer on fire " * 8, "priority": "medium"}

    def client() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            while not STOP.is_set() and not failures:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                response = session.post(f"{gateway}/api/v1/tickets", json=body, timeout=30)
                if response.status_code != 201:
                    failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    return
                with lock:
                    ids.append(int(response.json()["id"]))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(SEED_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"seeding failed: {failures[0]}")
    return sorted(ids)


def page_paths(gateway: str, limit: int = 25) -> list[str]:
    """The path of every page of the default ticket list (25 a page), walked once by cursor."""
    paths = [f"/api/v1/tickets?limit={limit}"]
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        while True:
            response = session.get(gateway + paths[-1], timeout=30)
            response.raise_for_status()
            cursor = response.json().get("next_cursor")
            if not cursor:
                return paths
            paths.append(f"/api/v1/tickets?limit={limit}&cursor={urllib.parse.quote(cursor, safe='')}")


def all_pids(stack: Stack) -> dict[str, int]:
    """Every process of the suite: the supervisor's children, itself, RabbitMQ, PostgreSQL."""
    pids = stack.pids()
    if stack.pg is not None:
        with contextlib.suppress(OSError, ValueError):
            pids["postgres"] = int((stack.pg[0] / "pgdata" / "postmaster.pid").read_text().split()[0])
    return pids


def idle_cpu(pids: dict[str, int], seconds: float = IDLE_SECONDS) -> float:
    """CPU ms a second the processes ``pids`` spend with no request (relays' polls, heartbeats)."""
    before, began = cpu_of(pids), time.monotonic()
    time.sleep(seconds)
    after = cpu_of(pids)
    return 1000 * sum(after[k] - before[k] for k in pids) / (time.monotonic() - began)


def run_ours(work: Path, db: str, scale: int, creates: int, reads: int) -> Side:
    """Our suite from scratch, ``scale`` tickets, then the same rows as the peer's."""
    side = Side("ours")
    stack = make_stack("postgresql" if db == "pg" else "sqlite", work)
    try:
        stack.start()
        address = _address(stack.gateway)
        say(f"ours: seeding {scale} tickets through the gateway")
        began = time.monotonic()
        ids = seed(stack.gateway, scale)
        paths = page_paths(stack.gateway)
        say(f"ours: seeded in {time.monotonic() - began:.0f} s ({len(paths)} list pages); draining")
        drain(stack, DRAIN_TIMEOUT)
        id_range = f"{ids[0]}-{ids[-1]}"
        ours_py(stack.gateway, "get", WARMUP_GETS, 1, id_range)
        for clients in CLIENTS:
            say(f"ours: GET one ticket, {clients} client(s), {reads}")
            side.rows[("get", clients)] = ours_py(stack.gateway, "get", reads, clients, id_range)
            say(f"ours: list page, {clients} client(s), {reads}")
            side.rows[("list", clients)] = closed_loop(address, paths, reads, clients)
        ours_py(stack.gateway, "create", WARMUP_CREATES, 1)
        drain(stack, DRAIN_TIMEOUT)
        pids = all_pids(stack)
        idle = idle_cpu(pids)
        side.notes.append(f"ours: idle, the suite spends {idle:.0f} ms of CPU a second (counted above too)")
        paced, first = max(1, creates // 5), newest_ticket(stack)
        say(f"ours: {paced} creates {UNLOADED_LABEL} (event latency unloaded)")
        unloaded(stack.gateway, paced)
        drain(stack, DRAIN_TIMEOUT)
        side.latency[UNLOADED] = event_latency(stack, first, newest_ticket(stack))
        for clients in CLIENTS:
            say(f"ours: create, {clients} client(s), {creates}")
            before, first = cpu_of(pids), newest_ticket(stack)
            row = ours_py(stack.gateway, "create", creates, clients)
            drained = drain(stack, DRAIN_TIMEOUT)
            after = cpu_of(pids)
            made = max(1, row.codes.get("201", 0))
            spent = {k: 1000 * (after[k] - before[k]) / made for k in pids}
            row.cpu_ms = sum(spent.values())
            side.notes.append(
                f"ours: create, {clients} client(s), CPU ms/create by process: "
                + ", ".join(
                    f"{k} {ms:.1f}" for k, ms in sorted(spent.items(), key=lambda kv: -kv[1]) if ms >= 0.05
                )
                + f"; the suite kept {row.cpu_ms * row.rps / 1000:.2f} CPUs busy"
            )
            side.rows[("create", clients)] = row
            side.notes.append(f"ours: create, {clients} client(s): outboxes drained {drained:.1f} s after")
            side.latency[clients] = event_latency(stack, first, newest_ticket(stack))
        side.notes.append(f"ours: CPU summed over {', '.join(sorted(pids))}")
    except KeyboardInterrupt:
        STOP.set()
        side.error = "interrupted"
    except Exception as exc:
        side.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        say(f"ours failed: {exc}")
    finally:
        CLEANING.set()
        try:
            stack.stop()
        finally:
            CLEANING.clear()
    return side


def merge(first: Side, second: Side) -> Side:
    """Two runs of one side as one: each row's requests counted together, its rate their count over
    their summed time, its CPU per request weighted by requests, its p50 and p99 the mean of the
    two runs' (a percentile of two runs' samples would need the samples, which ``ours.py`` does not
    give), the event latencies pooled. A second run that failed leaves the first alone, with why."""
    if second.error:
        first.notes.append(f"ours, second run: NOT MEASURED: {second.error}; the figures are the first run's")
        return first
    merged = Side(first.name, notes=list(dict.fromkeys([*first.notes, *second.notes])))
    for key in first.rows.keys() & second.rows.keys():
        a, b = first.rows[key], second.rows[key]
        n = a.n + b.n
        seconds = sum(r.n / r.rps for r in (a, b) if r.rps)
        cpu = None
        if a.cpu_ms is not None and b.cpu_ms is not None:
            cpu = (a.cpu_ms * a.n + b.cpu_ms * b.n) / n
        merged.rows[key] = Row(
            n=n,
            rps=n / seconds if seconds else 0.0,
            p50=(a.p50 + b.p50) / 2,
            p99=(a.p99 + b.p99) / 2,
            cpu_ms=cpu,
            codes=dict(Counter(a.codes) + Counter(b.codes)),
        )
        if a.rps and b.rps and key[0] == "create":
            merged.notes.append(
                f"ours, create, {key[1]} client(s): {a.rps:.1f} and {b.rps:.1f} creates/s,"
                f" {_num(a.cpu_ms)} and {_num(b.cpu_ms)} CPU ms/create (before and after the peer)"
            )
    for clients in first.latency.keys() & second.latency.keys():
        x, y = first.latency[clients], second.latency[clients]
        merged.latency[clients] = Latency(x.millis + y.millis, x.missing + y.missing)
    return merged


def _address(gateway: str) -> tuple[str, int]:
    host, port = gateway.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


# -- the table --------------------------------------------------------------------------------------

Metric = tuple[str, str, int, Callable[[Row], float | None], str, Callable[[float], bool] | None]
METRICS: tuple[Metric, ...] = (
    ("creates/s, 1 client", "create", 1, lambda r: r.rps, "", None),
    ("creates/s, 10 clients", "create", 10, lambda r: r.rps, ">= 3x", lambda x: x >= CREATE_AIM),
    ("server CPU ms/create, 1 client", "create", 1, lambda r: r.cpu_ms, "", None),
    ("server CPU ms/create, 10 clients", "create", 10, lambda r: r.cpu_ms, "<= 0.33x", lambda x: 3 * x <= 1),
    ("GET one ticket p50 ms, 1 client", "get", 1, lambda r: r.p50, "", None),
    ("GET one ticket p99 ms, 1 client", "get", 1, lambda r: r.p99, "", None),
    ("GET one ticket p50 ms, 10 clients", "get", 10, lambda r: r.p50, "", None),
    ("list page of 25 p50 ms, 1 client", "list", 1, lambda r: r.p50, "", None),
    ("list page of 25 p50 ms, 10 clients", "list", 10, lambda r: r.p50, "", None),
)


def _num(value: float | None) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


UNLOADED = 0
"""The key of the event latency of creates made one at a time, apart (no client load)."""
UNLOADED_LABEL = f"one at a time, {UNLOADED_GAP * 1000:.0f} ms apart"
LATENCY_AIMS = {UNLOADED: 100.0, 10: 500.0}
"""Issue 9's aims for the event latency's p99: unloaded, and under the 10 clients' load."""


def render(db: str, scale: int, creates: int, reads: int, ours: Side, peer: Side) -> str:
    """One Markdown table: ours, the peer, ours/peer and the aim; failures and notes under it."""
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    dbname = "SQLite (WAL) for both" if db == "sqlite" else "PostgreSQL for both"
    lines = [
        f"Ours beside the peer - nproc {len(os.sched_getaffinity(0))} ({_cpu_model()}), {dbname}, {now},"
        f" load average at the end {load}",
        f"{scale:,} tickets seeded on each side; {creates} creates and {reads} reads per row; one client"
        " shape (closed loop, a new TCP connection per request); one side at a time, ours before and after"
        " the peer (our figures are both runs together)",
        "",
        "| measurement | ours | django-helpdesk 2.6.1 | ours / peer | aim | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for label, scenario, clients, get, aim, met in METRICS:
        mine, theirs = ours.rows.get((scenario, clients)), peer.rows.get((scenario, clients))
        a = get(mine) if mine else None
        b = get(theirs) if theirs else None
        ratio = a / b if a is not None and b else None
        verdict = ("yes" if met(ratio) else "no") if met and ratio is not None else ""
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"| {label} | {_num(a)} | {_num(b)} | {shown} | {aim} | {verdict} |")
    if ours.latency:
        lines += [
            "",
            "Ours, event latency: ticket created -> its ticket_created notification stored (ms), unloaded"
            " and during each create row above:",
            "",
            "| | events | p50 | p99 | max | without notification | aim (p99) | met |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
        ]
        for clients, latency in sorted(ours.latency.items()):
            goal, p99 = LATENCY_AIMS.get(clients), latency.percentile(0.99)
            reached = "" if goal is None or p99 is None else ("yes" if p99 <= goal else "no")
            shown = "-" if goal is None else f"<= {goal:g} ms"
            label = f"unloaded ({UNLOADED_LABEL})" if clients == UNLOADED else f"{clients} client(s)"
            lines.append(f"{latency.row(label)} {shown} | {reached} |")
    lines.append("")
    for side in (ours, peer):
        if side.error:
            lines.append(f"- {side.name}: NOT MEASURED: {side.error}")
        for (scenario, clients), row in sorted(side.rows.items()):
            if row.failed:
                lines.append(f"- {side.name}: {scenario}, {clients} client(s): non-2xx answers {row.codes}")
        lines += [f"- {note}" for note in side.notes]
    lines.append(
        "- CPU per create: ours = every process of the suite from /proc (events drained);"
        " the peer's = gunicorn master + workers" + (" + PostgreSQL" if db == "pg" else "") + " (its load.py)"
    )
    if db == "pg":
        lines.append(
            "- Not alike: our private cluster runs with fsync=off and synchronous_commit=off"
            " (deploy/postgres.py), the peer's with both on"
        )
    return "\n".join(lines)


def peer_skipped() -> str | None:
    """Why the peer is not to be run (``HELPDESK_BENCH_PEER=0``), or None."""
    if os.environ.get("HELPDESK_BENCH_PEER", "1") in ("0", "no", "off", "false"):
        return "skipped: HELPDESK_BENCH_PEER=0"
    return None


def compare(
    work: Path,
    dbs: tuple[str, ...] = ("sqlite",),
    scale: int = DEFAULT_SCALE,
    creates: int = DEFAULT_CREATES,
    reads: int = DEFAULT_READS,
    skip_peer: str | None = None,
    peer_dir: Path | None = None,
) -> str:
    """Ours, the peer, ours again (once without the peer), for each database; the tables, one
    after the other."""
    skip_peer = skip_peer or peer_skipped()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # PostgreSQL (ours and the peer's) runs as its own user and must enter it
    tables = []
    for db in dbs:
        if STOP.is_set():
            break
        ours = run_ours(work / f"ours-{db}", db, scale, creates, reads)
        if skip_peer:
            peer = Side("django-helpdesk 2.6.1", error=skip_peer)
        else:
            try:
                peer = run_peer(peer_dir or work / "peer", db, scale, creates, reads)
            except KeyboardInterrupt:  # the tables of the databases done so far are kept
                STOP.set()
                tables.append(f"{db}: interrupted while the peer ran")
                break
        if peer.error:
            say(f"peer ({db}): {peer.error}")
        elif not ours.error and not STOP.is_set():
            ours = merge(ours, run_ours(work / f"ours-{db}-again", db, scale, creates, reads))
        tables.append(render(db, scale, creates, reads, ours, peer))
    return "\n\n".join(tables)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``bench.run`` shares with this module."""
    parser.add_argument("--pg", action="store_true", help="also compare on PostgreSQL (both sides)")
    parser.add_argument("--no-peer", action="store_true", help="ours alone (or HELPDESK_BENCH_PEER=0)")
    parser.add_argument("--peer-dir", type=Path, help="keep the peer's install here")
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="tickets seeded on each side")
    parser.add_argument("--creates", type=int, default=DEFAULT_CREATES, help="creates per create row")
    parser.add_argument("--reads", type=int, default=DEFAULT_READS, help="requests per GET/list row")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 25 <= args.scale <= 1_000_000 or not all(1 <= n <= 100_000 for n in (args.creates, args.reads)):
        parser.error("--scale must be in [25, 1000000], --creates and --reads in [1, 100000]")


def compare_from(args: argparse.Namespace, work: Path) -> str:
    return compare(
        work,
        ("sqlite", "pg") if args.pg else ("sqlite",),
        args.scale,
        args.creates,
        args.reads,
        skip_peer="skipped: --no-peer" if args.no_peer else None,
        peer_dir=args.peer_dir,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-peer-"))
    try:
        text = compare_from(args, work)
    except KeyboardInterrupt:
        STOP.set()
        text = "interrupted"
    print(text, flush=True)
    if args.keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 130 if STOP.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
