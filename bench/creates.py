"""Benchmark: where the time of a ticket create goes, with a sampling profiler (py-spy).

    .venv/bin/python -m bench.creates [--clients 10] [--seconds 15] [--no-profile] [--keep]

Starts, from scratch, a private RabbitMQ node and the whole suite on its default SQLite files
(``deploy.supervisor``, ``HELPDESK_ADMIN_TOKEN=bench-token``), then:

1. **Throughput and CPU** (no profiler attached): ``--clients`` threads in a closed loop, each
   request on a new TCP connection (``Connection: close``, the client shape of the peer
   benchmark in ``../shared/tools/peer``), ``POST /api/v1/tickets`` as the admin for
   ``--seconds``. Measured: creates/s, p50/p99, and the CPU time (user + system, from
   ``/proc/<pid>/stat``) each process of the suite spent, divided by the creates made: the
   gateway, each service, the supervisor, RabbitMQ (``beam.smp``). The load generator's own CPU
   is printed apart. After the load it waits for the outbox relays and consumers to drain (their
   CPU counts: every create's event is part of its cost).
   **Event latency**: for each ticket the load made, from its ``created_at`` in the tickets
   database to the ``created_at`` of the ``ticket_created`` notification the notifications
   service stored for the admin (both stamped inside their transactions, on one clock): p50, p99
   and max, under the load and unloaded (``UNLOADED`` creates one at a time, 50 ms apart, before
   the load).
   **The broker's work per create**: RabbitMQ's own counters (its management API) before and after
   the load: publishes, confirms, deliveries with and without acknowledgement, message-store
   writes, and the publishes into each queue. Its statistics are emitted every 5 s, so each
   reading waits for one emission after the traffic it must include.
2. **Profile** (unless ``--no-profile``): the same load again while ``py-spy record`` samples the
   gateway, tickets and notifications processes (100 Hz, non-idle threads). Each sample pauses
   the process for an instant: with ``--nonblocking`` py-spy read stacks while they changed and
   put 15 % of the tickets service's samples on one dictionary lookup.
   For each it prints the share of samples by the package of the innermost frame (where the CPU
   is spent: SQLAlchemy, kombu/amqp, marshmallow, eventlet...) and our functions with the largest
   inclusive share (what spends it).

Everything it started is stopped at the end, also on Ctrl-C; ``--keep`` keeps logs and profiles.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import STOP, _cpu_model, say
from bench.tickets import ADMIN_TOKEN, CLEANING, SqliteStack, Stack, connect, memory_table, stop_on_signal
from deploy import rabbitmq
from deploy.broker_users import Management

DEFAULT_CLIENTS = 10
DEFAULT_SECONDS = 15.0
WARMUP = 50
UNLOADED = 100
UNLOADED_GAP = 0.05
"""Seconds between the unloaded creates (after each answer): the event of one is stored before the next."""
DRAIN_TIMEOUT = 30.0
PROFILED = ("gateway", "tickets", "notifications", "permissions")
PROFILE_RATE = 100
TICK = os.sysconf("SC_CLK_TCK")
BODY = json.dumps({"name": "load", "description": "printer on fire " * 8, "priority": "high"}).encode()


# -- processes and their CPU ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its waited-for children, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / TICK


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


# -- the load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    elapsed: float = 0.0

    @property
    def created(self) -> int:
        return self.codes[201]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def create_once(host: str, port: int) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        headers = {
            "Authorization": f"Bearer {ADMIN_TOKEN}",
            "Connection": "close",
            "Content-Type": "application/json",
        }
        conn.request("POST", "/api/v1/tickets", body=BODY, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def address(gateway: str) -> tuple[str, int]:
    host, port = gateway.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def load(gateway: str, clients: int, seconds: float) -> Load:
    host, port = address(gateway)
    result = Load()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline and not STOP.is_set():
            began = time.perf_counter()
            try:
                code = create_once(host, port)
            except OSError:
                code = 0
            took = (time.perf_counter() - began) * 1000
            with lock:
                result.codes[code] += 1
                if code == 201:
                    result.latencies.append(took)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    result.elapsed = time.monotonic() - began
    return result


def _rows(stack: Stack, service: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """``sql`` (``?`` placeholders) on ``service``'s database, SQLite file or PostgreSQL."""
    import sqlite3

    if stack.pg is None:
        with contextlib.closing(sqlite3.connect(stack.work / "suite" / f"{service}.db", timeout=5)) as conn:
            return list(conn.execute(sql, args))
    with contextlib.closing(connect(stack.pg_port, service)) as pg:
        cur = pg.cursor()
        cur.execute(sql.replace("?", "%s"), args)
        return list(cur.fetchall())


def _moment(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def newest_ticket(stack: Stack) -> int:
    return int(_rows(stack, "tickets", "SELECT coalesce(max(id), 0) FROM tickets")[0][0])


@dataclass
class Latency:
    """Event latency of the tickets created after ``after`` (ms), and how many had no notification."""

    millis: list[float]
    missing: int

    def percentile(self, q: float) -> float | None:
        ordered = sorted(self.millis)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None

    def row(self, label: str) -> str:
        """A Markdown row: label, events, p50, p99, max, how many had no notification."""
        if not self.millis:
            return f"| {label} | 0 | - | - | - | {self.missing} |"
        return (
            f"| {label} | {len(self.millis):,} | {self.percentile(0.5):.1f} | {self.percentile(0.99):.1f} |"
            f" {max(self.millis):.1f} | {self.missing} |"
        )


def event_latency(stack: Stack, after: int, upto: int) -> Latency:
    """From each ticket's ``created_at`` (id in ``(after, upto]``) to its ``ticket_created``
    notification's (see the module docstring)."""
    window = (after, upto)
    made = {
        int(i): _moment(at)
        for i, at in _rows(
            stack, "tickets", "SELECT id, created_at FROM tickets WHERE id > ? AND id <= ?", window
        )
    }
    told = {
        int(i): _moment(at)
        for i, at in _rows(
            stack,
            "notifications",
            "SELECT ticket_id, min(created_at) FROM feed_items WHERE type = 'ticket_created'"
            " AND ticket_id > ? AND ticket_id <= ? GROUP BY ticket_id",
            window,
        )
    }
    millis = [(told[i] - at).total_seconds() * 1000 for i, at in made.items() if i in told]
    return Latency(millis, missing=len(made) - len(millis))


def unloaded(gateway: str, count: int) -> None:
    """``count`` creates one at a time, ``UNLOADED_GAP`` apart (the event latency unloaded)."""
    host, port = address(gateway)
    for _ in range(count):
        if STOP.is_set():
            return
        create_once(host, port)
        time.sleep(UNLOADED_GAP)


SERVICES_WITH_OUTBOX = ("tickets", "conversations", "notifications", "permissions", "retention")


def pending_events(stack: Stack) -> int:
    """Outbox rows not yet published, over every service's database (SQLite files or PostgreSQL)."""
    total = 0
    if stack.pg is None:
        import sqlite3

        for db in (stack.work / "suite").glob("*.db"):
            with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").fetchone():
                    query = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                    total += conn.execute(query).fetchone()[0]
        return total
    for name in SERVICES_WITH_OUTBOX:
        with contextlib.suppress(Exception), contextlib.closing(connect(stack.pg_port, name)) as conn:
            cur = conn.cursor()
            cur.execute("SELECT to_regclass('outbox') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                total += cur.fetchone()[0]
    return total


def drain(stack: Stack, timeout: float = DRAIN_TIMEOUT) -> float:
    """Seconds until every outbox is empty (the relays published every event), at most
    ``timeout``, plus a second for the consumers to finish what the last events started."""
    began = time.monotonic()
    while time.monotonic() - began < timeout and not STOP.is_set() and pending_events(stack):
        time.sleep(0.2)
    time.sleep(1.0)
    return time.monotonic() - began


# -- the profile ------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def package_of(path: str) -> str:
    """A frame's file as a package: ``sqlalchemy``, ``kombu``, ``services.chassis.rpc``, ``stdlib``..."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    for root in ("services/", "gateway/", "deploy/"):
        if path.startswith(root) or f"/{root}" in path:
            tail = root + path.split(root, 1)[1]
            return tail.removesuffix(".py").replace("/", ".")
    if path.startswith("/") or "/" not in path:  # the interpreter's own modules
        return "stdlib." + path.rsplit("/", 1)[-1].removesuffix(".py")
    return path.split("/", 1)[0]


def summarize(raw: Path, top: int = 12) -> list[str]:
    """Share of samples by the innermost frame's package, and our functions' inclusive shares."""
    leaf: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for f in stack_text.split(";") if (m := _FRAME.match(f))]
        if not frames:
            continue
        total += count
        leaf[package_of(frames[-1]["file"])] += count
        seen = set()
        for m in frames:
            pkg = package_of(m["file"])
            if pkg.startswith(("services.", "gateway.")):
                name = f"{pkg}.{m['func']}"
                if name not in seen:
                    seen.add(name)
                    ours[name] += count
    if not total:
        return ["(no samples)"]
    out = [f"{total:,} samples; innermost frame by package:"]
    out += [f"  {100 * n / total:5.1f}%  {pkg}" for pkg, n in leaf.most_common(top)]
    out.append("our functions, inclusive:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in ours.most_common(top)]
    return out


def profile(stack: SqliteStack, pids: dict[str, int], clients: int, seconds: float) -> dict[str, list[str]]:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return {"-": [f"py-spy is not installed in {spy.parent} (requirements-dev.txt)"]}
    out_dir = stack.work / "profiles"
    out_dir.mkdir(exist_ok=True)
    running = {}
    for name in PROFILED:
        if name not in pids:
            continue
        target = out_dir / f"{name}.txt"
        args = [str(spy), "record", "--pid", str(pids[name]), "--rate", str(PROFILE_RATE)]
        args += ["--format", "raw", "--duration", str(int(seconds) + 2), "--output", str(target)]
        running[name] = (subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), target)
    time.sleep(1.0)
    result = load(stack.gateway, clients, seconds)
    say(f"profiled load: {result.created / result.elapsed:.0f} creates/s")
    found = {}
    for name, (proc, target) in running.items():
        try:
            _, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = b"timed out"
        found[name] = summarize(target) if target.exists() else [f"py-spy failed: {err.decode()[-300:]}"]
    return found


# -- the broker's counters --------------------------------------------------------------------------

STATS_EMISSION = 5.5
"""Seconds to wait before reading the broker's counters: RabbitMQ's management statistics are
emitted every 5 s (``collect_statistics_interval``), so a reading made sooner can miss traffic."""
BROKER_COUNTERS = ("publish", "confirm", "deliver", "deliver_no_ack", "ack", "disk_writes")
_NAME_SUFFIX = re.compile(r"-[0-9a-f]{32}$")


def broker_counts(stack: Stack) -> dict[str, int] | None:
    """The node's message counters and each queue's publishes (a reply or broadcast queue's name
    without its random suffix), read after one statistics emission; None if the API does not
    answer (the bench goes on without them)."""
    if stack.broker is None:
        return None
    time.sleep(STATS_EMISSION)
    api = Management(f"http://127.0.0.1:{rabbitmq.Node(*stack.broker).management_port}", "guest", "guest")
    try:
        overview = api.get("overview")
        queues = api.get("queues")
    except (OSError, ValueError) as exc:
        say(f"the broker's counters are not available: {exc}")
        return None
    stats = overview.get("message_stats") or {}
    counts = {name: int(stats.get(name, 0)) for name in BROKER_COUNTERS}
    for queue in queues:
        key = f"queue {_NAME_SUFFIX.sub('-*', queue['name'])}"
        counts[key] = counts.get(key, 0) + int((queue.get("message_stats") or {}).get("publish", 0))
    return counts


def broker_table(before: dict[str, int], after: dict[str, int], creates: int) -> list[str]:
    """What the broker did per create between two readings of :func:`broker_counts`: the node's
    counters, then every queue that received messages, most first."""
    n = max(creates, 1)
    per = {name: (after.get(name, 0) - before.get(name, 0)) / n for name in after}
    lines = [
        "The broker's work per create (RabbitMQ's counters around the load):",
        "",
        "| " + " | ".join(BROKER_COUNTERS) + " |",
        "| " + " | ".join("---:" for _ in BROKER_COUNTERS) + " |",
        "| " + " | ".join(f"{per.get(name, 0.0):.2f}" for name in BROKER_COUNTERS) + " |",
        "",
        "| queue | messages in, per create |",
        "| --- | ---: |",
    ]
    queues = sorted(
        ((name.removeprefix("queue "), value) for name, value in per.items() if name.startswith("queue ")),
        key=lambda item: -item[1],
    )
    lines += [f"| {name} | {value:.3f} |" for name, value in queues if value > 0]
    return lines


# -- the tickets store alone ------------------------------------------------------------------------

STORE_CREATES = 300


def store_costs(work: Path, n: int = STORE_CREATES) -> list[str]:
    """Statements and CPU per create in the tickets store alone (its own SQLite file, one thread, no
    broker): the part of a create the service's code decides, counted exactly; and what the outbox
    relay spends per event publishing those creates' events (its publisher is a stub here)."""
    from bench.store_reads import counting_store

    store, engine, statements = counting_store(work / "store-bench.db")
    data = {"name": "load", "description": "printer on fire " * 8, "priority": "high"}
    for _ in range(20):  # warm SQLAlchemy's statement cache
        store.tickets.create(actor_id=1, data=data)
    statements[0] = 0
    began = time.process_time()
    for _ in range(n):
        store.tickets.create(actor_id=1, data=data)
    cpu = time.process_time() - began
    engine.dispose()
    return [
        "",
        f"The tickets store alone ({n} creates, one thread, SQLite file, no broker):",
        "",
        "| statements per create (BEGIN/COMMIT not counted) | CPU ms per create |",
        "| ---: | ---: |",
        f"| {statements[0] / n:.1f} | {1000 * cpu / n:.2f} |",
    ]


# -- the run ----------------------------------------------------------------------------------------


def report(
    clients: int, seconds: float, result: Load, cpu: dict[str, float], client_cpu: float, drained: float
) -> list[str]:
    n = max(result.created, 1)
    others = {code: count for code, count in result.codes.items() if code != 201}
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"Creates bench - {platform.node()}, nproc {len(os.sched_getaffinity(0))} ({_cpu_model()}),"
        f" Python {platform.python_version()}, SQLite, {now}, load average {load_avg}",
        f"{clients} clients, closed loop, a new connection per request, {seconds:g} s;"
        f" outboxes drained {drained:.1f} s after the load",
        "",
        "| creates | creates/s | p50 ms | p99 ms | other answers |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {result.created:,} | {result.created / result.elapsed:.1f} | {result.percentile(0.5):.1f} |"
        f" {result.percentile(0.99):.1f} | {others or '-'} |",
        "",
        "| process | CPU s | CPU ms per create |",
        "| --- | ---: | ---: |",
    ]
    for name, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {used:.2f} | {1000 * used / n:.2f} |")
    total = sum(cpu.values())
    lines.append(f"| **suite, all processes** | {total:.2f} | {1000 * total / n:.2f} |")
    lines.append(f"| (load generator, not counted) | {client_cpu:.2f} | {1000 * client_cpu / n:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.creates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.seconds <= 300:
        parser.error("--clients must be in [1, 64] and --seconds in (0, 300]")
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-creates-"))
    work.chmod(0o755)
    stack = SqliteStack(work)
    lines: list[str] = []
    try:
        stack.start()
        host, port = address(stack.gateway)
        for _ in range(WARMUP):
            create_once(host, port)
        drain(stack)
        say(f"{UNLOADED} creates one at a time (event latency unloaded)")
        first = newest_ticket(stack)
        unloaded(stack.gateway, UNLOADED)
        quiet_end = newest_ticket(stack)
        drain(stack)
        pids = stack.pids()
        counted = broker_counts(stack)
        say(f"measuring {args.clients} clients for {args.seconds:g} s ({', '.join(pids)})")
        before, own_before = cpu_of(pids), time.process_time()
        result = load(stack.gateway, args.clients, args.seconds)
        own_cpu = time.process_time() - own_before
        drained = drain(stack)
        after = cpu_of(pids)
        cpu = {name: after[name] - before[name] for name in pids}
        counted_after = broker_counts(stack) if counted is not None else None
        say(f"{result.created / result.elapsed:.0f} creates/s")
        lines = report(args.clients, args.seconds, result, cpu, own_cpu, drained)
        lines += [
            "",
            "Event latency, ticket created -> its ticket_created notification stored (ms):",
            "",
            "| | events | p50 | p99 | max | without notification |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            event_latency(stack, first, quiet_end).row("unloaded, one create at a time"),
            event_latency(stack, quiet_end, newest_ticket(stack)).row(
                f"under the {args.clients}-client load"
            ),
        ]
        if counted is not None and counted_after is not None:
            lines += ["", *broker_table(counted, counted_after, result.created)]
        lines += ["", *memory_table(stack, f"after {UNLOADED + WARMUP + result.created:,} creates")]
        lines += store_costs(work)
        if not args.no_profile and not STOP.is_set():
            say("profiling the same load with py-spy")
            for name, text in profile(stack, pids, args.clients, args.seconds).items():
                lines += [
                    "",
                    f"Profile of {name} (py-spy, {PROFILE_RATE} Hz, non-idle threads):",
                    "```",
                    *text,
                    "```",
                ]
    except KeyboardInterrupt:
        STOP.set()
        say("interrupted")
    finally:
        CLEANING.set()
        try:
            stack.stop()
        finally:
            CLEANING.clear()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines), flush=True)
    return 0 if lines else 1


if __name__ == "__main__":
    sys.exit(main())
