"""Benchmark: the gateway next to its two floors, on a private broker and a private suite.

    python -m bench.run [--seconds N] [--quick] [--rounds N] [--no-floors] [--no-compare]
                        [--pg] [--no-peer] [--peer-dir DIR] [--scale N] [--creates N] [--reads N]

Starts its own RabbitMQ node (free port, temporary data), the whole suite through
``deploy.supervisor`` (temporary data folder, free HTTP port, ``HELPDESK_ADMIN_TOKEN=bench-token``),
the two floors of ``bench.floor_services`` (one ``nameko run`` process each) and a bare pika
echo server, waits until ``GET /readyz`` answers 200, then measures, for a fixed time each (in
three rounds over all rows, pooled: ``--rounds``), at 1 and at 16 concurrent clients (threads;
one keep-alive ``requests.Session`` or one pika connection per thread):

(a) bare pika RPC round trip with direct reply-to (the broker floor),
(b) nameko ``@http`` handler making one RPC through nameko's ``RpcProxy`` (the framework floor),
(c) gateway ``POST /api/v1/tickets``, (d) gateway ``GET /api/v1/tickets/{id}``,
(e) ``helpdesk_client`` calling the floor's nameko ``@rpc`` echo (the client's own cost),

and prints one Markdown table: p50 and p99 latency (ms), requests/s, errors, and the ratios of
the gateway's p50 to both floors. A measurement that fails prints its error in its row and
the others go on. Everything it started is stopped at the end, also on Ctrl-C or SIGTERM.

Then (unless ``--no-compare``) ``bench.peer`` measures our suite beside django-helpdesk 2.6.1 by
one client shape, on SQLite (and with ``--pg`` on PostgreSQL too), each side from scratch, and
prints a second table: creates/s at 1 and 10 clients, server CPU per create, GET one ticket and a
list page, ours/peer and the issue's aims. ``--no-peer`` or ``HELPDESK_BENCH_PEER=0`` measures ours
alone and says so in the table's notes.
Every request loop is bounded in time and in count; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pika
import requests

from deploy import rabbitmq
from deploy.ports import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-token"
CONCURRENCY = (1, 16)
DEFAULT_SECONDS, QUICK_SECONDS = 5.0, 2.0
DEFAULT_ROUNDS = 3  # see Bench.measure_all
SUITE_READY_TIMEOUT = 180.0
FLOOR_READY_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
MAX_REQUESTS_PER_CLIENT = 200_000  # a hard cap per client and cell, whatever the speed
WARMUP_REQUESTS = 20
MAX_CONSECUTIVE_ERRORS = 20
STOP_GRACE = 15.0
SUPERVISOR_STOP_GRACE = 45.0  # it gives its own children 10 s, then stops nothing else
PAYLOAD = {"name": "bench ticket", "description": "created by python -m bench.run"}
PAYLOAD_BYTES = json.dumps(PAYLOAD).encode()
FLOOR_CONFIG = """\
AMQP_URI: "{amqp_uri}"
WEB_SERVER_ADDRESS: "127.0.0.1:{port}"
max_workers: {max_workers}
LOGGING:
  version: 1
  disable_existing_loggers: false
  handlers:
    console: {{class: logging.StreamHandler}}
  root: {{level: WARNING, handlers: [console]}}
"""

STOP = threading.Event()
"""Set on Ctrl-C or SIGTERM: every load loop ends at its next request."""


def say(text: str) -> None:
    """Progress goes to stderr, so stdout carries the table alone."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- measuring --------------------------------------------------------------------------------

Op = Callable[[], None]
"""One request; returns when its answer is complete and correct, raises otherwise."""
Opener = Callable[[], tuple[Op, Callable[[], None]]]
"""Opens one client's connection: returns (one request, close)."""


@dataclass
class Cell:
    """What one measurement at one concurrency produced."""

    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    first_error: str | None = None

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def ok(self) -> bool:
        return bool(self.latencies_ms)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed if self.elapsed > 0 else 0.0


def joined(first: Cell, more: Cell) -> Cell:
    """One cell of two measurements of the same requests: their latencies together (percentiles
    over both), their times and errors added."""
    return Cell(
        latencies_ms=[*first.latencies_ms, *more.latencies_ms],
        elapsed=first.elapsed + more.elapsed,
        errors=first.errors + more.errors,
        first_error=first.first_error or more.first_error,
    )


def _client_loop(opener: Opener, barrier: threading.Barrier, start: list[float], seconds: float) -> Cell:
    cell = Cell()
    try:
        op, close = opener()
    except Exception as exc:
        cell.errors, cell.first_error = 1, f"connect: {exc!r}"
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return cell
    try:
        for _ in range(WARMUP_REQUESTS):
            if STOP.is_set():
                break
            try:
                op()
            except Exception as exc:
                cell.first_error = cell.first_error or f"warm-up: {exc!r}"
        barrier.wait()
        end = start[0] + seconds
        consecutive = 0
        last = start[0]
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            began = time.perf_counter()
            if began >= end or STOP.is_set():
                break
            try:
                op()
            except Exception as exc:
                cell.errors += 1
                cell.first_error = cell.first_error or repr(exc)
                consecutive += 1
                if consecutive >= MAX_CONSECUTIVE_ERRORS:
                    break
            else:
                consecutive = 0
                cell.latencies_ms.append((time.perf_counter() - began) * 1000)
            last = time.perf_counter()
        cell.elapsed = last - start[0]
    except threading.BrokenBarrierError:
        pass
    finally:
        with contextlib.suppress(Exception):
            close()
    return cell


def measure(opener: Opener, clients: int, seconds: float) -> Cell:
    """Run ``clients`` threads, each opening its own connection, for ``seconds`` after warm-up."""
    start: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: start.append(time.perf_counter()), timeout=120)
    cells: list[Cell] = [Cell() for _ in range(clients)]

    def run(i: int) -> None:
        cells[i] = _client_loop(opener, barrier, start, seconds)

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"load-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds + 180  # warm-up and connecting are bounded too
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        STOP.set()  # a stuck client: release the others; the row reports it
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        STOP.clear()
    total = Cell()
    for cell in cells:
        total.latencies_ms.extend(cell.latencies_ms)
        total.errors += cell.errors
        total.first_error = total.first_error or cell.first_error
        total.elapsed = max(total.elapsed, cell.elapsed)
    return total


# -- the clients --------------------------------------------------------------------------------


def pika_echo_opener(amqp_uri: str, queue: str, timeout: float = REQUEST_TIMEOUT) -> Opener:
    """(a) One connection per client; replies come back through direct reply-to."""

    def opener() -> tuple[Op, Callable[[], None]]:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        channel = connection.channel()
        state: dict[str, Any] = {"want": None, "reply": None}

        def on_reply(_ch: Any, _method: Any, props: Any, body: bytes) -> None:
            if props.correlation_id == state["want"]:
                state["reply"] = body

        channel.basic_consume("amq.rabbitmq.reply-to", on_reply, auto_ack=True)
        ids = itertools.count()

        def op() -> None:
            state["want"], state["reply"] = str(next(ids)), None
            props = pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=state["want"])
            channel.basic_publish("", queue, PAYLOAD_BYTES, props)
            end = time.monotonic() + timeout
            while state["reply"] is None:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no echo within {timeout:g} s")
                connection.process_data_events(time_limit=left)
            if state["reply"] != PAYLOAD_BYTES:
                raise ValueError("the echo differs from the request")

        return op, connection.close

    return opener


def http_opener(method: str, url: str | Callable[[], str], expect: int, auth: bool = False) -> Opener:
    """(b)-(d) One keep-alive session per client; any other status than ``expect`` is an error."""

    def opener() -> tuple[Op, Callable[[], None]]:
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        session.headers.update(headers)
        body = PAYLOAD_BYTES if method == "POST" else None

        def op() -> None:
            target = url() if callable(url) else url
            response = session.request(method, target, data=body, timeout=REQUEST_TIMEOUT)
            if response.status_code != expect:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

        return op, session.close

    return opener


def helpdesk_client_opener(amqp_uri: str) -> Opener:
    """(e) One HelpdeskClient per client thread (as documented), no identity, plain echo."""

    def opener() -> tuple[Op, Callable[[], None]]:
        from helpdesk_client import HelpdeskClient

        client = HelpdeskClient(amqp_uri, timeout=REQUEST_TIMEOUT)

        def op() -> None:
            if client.call("bench_echo", "echo", PAYLOAD) != PAYLOAD:
                raise ValueError("the echo differs from the request")

        return op, client.close

    return opener


# -- processes ----------------------------------------------------------------------------------


def free_broker_port() -> int:
    """An AMQP port for a private node whose every other port (``deploy.rabbitmq.Node.ports``) is
    free too; chosen from 11000-15000 first, so most of its ports lie below the kernel's ephemeral
    range and no client socket takes them between this choice and the node's start."""
    return rabbitmq.free_node_port([*random.sample(range(11000, 15000), 200), *range(21000, 25000, 7)])


class Processes:
    """Child processes this run started, each in its own session, with their logs."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches only us; we stop them in order
            )
        self.started[name] = proc
        return proc

    def failed(self, name: str) -> str | None:
        """Why ``name`` is no longer running (with its log's tail), or None while it runs."""
        proc = self.started[name]
        code = proc.poll()
        if code is None:
            return None
        return f"{name} exited with {code}; last lines of {self.logs / name}.log:\n{self.tail(name)}"

    def tail(self, name: str, lines: int = 25) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, name: str, grace: float = STOP_GRACE, whole_group: bool = True) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; ``whole_group`` signals its session."""
        proc = self.started.get(name)
        if proc is None or proc.poll() is not None:
            return
        self._signal(proc, signal.SIGTERM, whole_group)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {grace:g} s; killing it")
            self._signal(proc, signal.SIGKILL, whole_group)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], signum: signal.Signals, whole_group: bool) -> None:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)


def clean_env() -> dict[str, str]:
    """Our environment minus any help desk setting that could point the suite elsewhere."""
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("HELPDESK_") or k.endswith("_DB_URL") or k in ("AMQP_URI", "GATEWAY_BIND"))
    }


BENCH_SUITE_SETTINGS = {"HELPDESK_RATE_WRITES_PER_TOKEN": "0"}
"""What every benchmarked suite runs with beside its own settings: the gateway's per-token write
limit (100 a second after a burst of 2,000, ``gateway/config.yaml``) is off. The benches measure how
fast the suite writes with one token; left on, a load faster than 100 creates a second for longer
than the burst lasts measures the limit instead (bench.creates at 233/s for 15 s had 618 answers
429). Every other limit keeps its default."""


def suite_env(**settings: str) -> dict[str, str]:
    """The environment to start a benchmarked suite in: :func:`clean_env`,
    :data:`BENCH_SUITE_SETTINGS`, then ``settings``."""
    return {**clean_env(), **BENCH_SUITE_SETTINGS, **settings}


def wait_until(check: Callable[[], bool], timeout: float, failed: Callable[[], str | None]) -> None:
    """Poll ``check`` until it is true; raise when ``failed`` explains why it never will, or at timeout."""
    deadline = time.monotonic() + timeout
    while not STOP.is_set():
        reason = failed()
        if reason:
            raise RuntimeError(reason)
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:g} s")
        time.sleep(0.5)
    raise KeyboardInterrupt


def http_status(method: str, url: str, **kwargs: Any) -> int:
    return requests.request(method, url, timeout=5, **kwargs).status_code


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    cells: dict[int, Cell] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Bench:
    seconds: float
    work: Path
    rounds: int = 1
    rows: list[Row] = field(default_factory=list)
    broker: tuple[Path, int] | None = None
    amqp_uri: str = ""
    gateway: str = ""
    floor_http: str = ""
    echo_queue: str = ""
    suite_error: str | None = None
    floor_error: str | None = None
    echo_error: str | None = None

    def __post_init__(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.work / "logs")

    def start(self) -> None:
        """Broker first (everything needs it), then suite, floors and echo server side by side."""
        port = free_broker_port()
        self.broker = (self.work / "rabbitmq", port)
        say(f"starting RabbitMQ on 127.0.0.1:{port} (data {self.broker[0]})")
        self.amqp_uri = rabbitmq.start(*self.broker)

        http_port = free_port()
        self.gateway = f"http://127.0.0.1:{http_port}"
        env = suite_env(
            HELPDESK_DATA_DIR=str(self.work / "suite"),
            HELPDESK_HTTP_PORT=str(http_port),
            HELPDESK_SMTP_PORT=str(free_port()),
            HELPDESK_ADMIN_TOKEN=ADMIN_TOKEN,
            AMQP_URI=self.amqp_uri,
        )
        say(f"starting the suite (deploy.supervisor), gateway {self.gateway}")
        self.procs.start("supervisor", ["-m", "deploy.supervisor"], env)

        floor_port = free_port()
        self.floor_http = f"http://127.0.0.1:{floor_port}/echo"
        for name, cls, workers in (("bench_echo", "EchoService", 20), ("bench_http", "HttpEchoService", 64)):
            config = self.work / f"{name}.yaml"
            # Worker pools as the suite's: 20 per service, 64 for the HTTP face (gateway/config.yaml).
            config.write_text(
                FLOOR_CONFIG.format(amqp_uri=self.amqp_uri, port=floor_port, max_workers=workers)
            )
            self.procs.start(
                name,
                ["-m", "nameko", "run", "--config", str(config), f"bench.floor_services:{cls}"],
                clean_env(),
            )
        self.echo_queue = f"bench-echo-{uuid.uuid4().hex[:8]}"
        self.procs.start("pika_echo", ["-m", "bench.pika_echo", self.amqp_uri, self.echo_queue], clean_env())

        say("waiting for the pika echo server, the nameko floor and the suite's /readyz")
        self.echo_error = self._wait("pika_echo", "pika echo server", self._echo_answers, FLOOR_READY_TIMEOUT)
        self.floor_error = self._wait_floor()
        self.suite_error = self._wait(
            "supervisor",
            "suite",
            lambda: http_status("GET", f"{self.gateway}/readyz") == 200,
            SUITE_READY_TIMEOUT,
            detail=self._readyz_detail,
        )

    def _wait(
        self,
        name: str,
        label: str,
        check: Callable[[], bool],
        timeout: float,
        detail: Callable[[], str] | None = None,
    ) -> str | None:
        """Wait for process ``name`` to pass ``check``; None when ready, else why not (also said)."""
        began = time.monotonic()
        try:
            wait_until(check, timeout, lambda: self.procs.failed(name))
        except RuntimeError as exc:
            more = detail() if detail else ""
            say(f"{label} not ready: {exc}" + (f"\n{more}" if more else ""))
            reason = f"{label} not ready: {str(exc).splitlines()[0]}"
            return f"{reason}; {more.splitlines()[0]}" if more else reason
        say(f"{label} ready after {time.monotonic() - began:.1f} s more")
        return None

    def _wait_floor(self) -> str | None:
        def failed() -> str | None:
            return self.procs.failed("bench_echo") or self.procs.failed("bench_http")

        began = time.monotonic()
        try:
            wait_until(
                lambda: http_status("POST", self.floor_http, data=PAYLOAD_BYTES) == 200,
                FLOOR_READY_TIMEOUT,
                failed,
            )
        except RuntimeError as exc:
            say(f"nameko floor not ready: {exc}")
            return f"nameko floor not ready: {str(exc).splitlines()[0]}"
        say(f"nameko floor ready after {time.monotonic() - began:.1f} s more")
        return None

    def _echo_answers(self) -> bool:
        # Until the server has declared its queue, requests vanish: ask often, wait briefly.
        op, close = pika_echo_opener(self.amqp_uri, self.echo_queue, timeout=0.5)()
        try:
            op()
            return True
        finally:
            close()

    def _readyz_detail(self) -> str:
        try:
            response = requests.get(f"{self.gateway}/readyz", timeout=5)
            readyz = f"GET /readyz -> {response.status_code} {response.text[:500]}"
        except requests.RequestException as exc:
            readyz = f"GET /readyz failed: {exc!r}"
        return f"{readyz}\nlast supervisor output:\n{self.procs.tail('supervisor', 40)}"

    def first_ticket(self) -> str:
        """Create the ticket (d) reads; return its URL."""
        response = requests.post(
            f"{self.gateway}/api/v1/tickets",
            data=PAYLOAD_BYTES,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/v1/tickets -> HTTP {response.status_code}: {response.text[:300]}")
        return f"{self.gateway}/api/v1/tickets/{response.json()['id']}"

    def plan(self) -> Iterator[tuple[Row, Callable[[], Opener]]]:
        def fails(reason: str | None) -> Callable[[], Opener]:
            def raise_it() -> Opener:
                raise RuntimeError(reason)

            return raise_it

        yield (
            Row("a", "(a) bare pika RPC, direct reply-to (broker floor)"),
            fails(self.echo_error)
            if self.echo_error
            else lambda: pika_echo_opener(self.amqp_uri, self.echo_queue),
        )
        yield (
            Row("b", "(b) nameko @http -> RpcProxy -> @rpc echo (framework floor)"),
            fails(self.floor_error)
            if self.floor_error
            else lambda: http_opener("POST", self.floor_http, 200),
        )
        yield (
            Row("c", "(c) gateway POST /api/v1/tickets"),
            fails(self.suite_error)
            if self.suite_error
            else lambda: http_opener("POST", f"{self.gateway}/api/v1/tickets", 201, auth=True),
        )
        yield (
            Row("d", "(d) gateway GET /api/v1/tickets/{id}"),
            fails(self.suite_error)
            if self.suite_error
            else lambda: http_opener("GET", self.first_ticket(), 200, auth=True),
        )
        yield (
            Row("e", "(e) helpdesk_client -> nameko @rpc echo"),
            fails(self.floor_error) if self.floor_error else lambda: helpdesk_client_opener(self.amqp_uri),
        )

    def measure_all(self) -> None:
        """Each row at each concurrency, in ``rounds`` rounds of ``seconds / rounds`` (the rows'
        order reversed from one round to the next), each cell's rounds pooled (:func:`joined`): a
        ratio of two rows is then of measurements interleaved over the whole run, not of two
        slices taken a row apart. In one 2-s slice each, the gateway's GET against the nameko
        floor at one client moved from 0.83x to 1.39x between runs of the same code."""
        measured: list[tuple[Row, Opener]] = []
        for row, make_opener in self.plan():
            self.rows.append(row)
            try:
                measured.append((row, make_opener()))
            except Exception as exc:
                row.error = str(exc) or repr(exc)
                say(f"{row.label}: skipped: {row.error}")
        slice_seconds = self.seconds / self.rounds
        for turn in range(self.rounds):
            for row, opener in measured if turn % 2 == 0 else measured[::-1]:
                for clients in CONCURRENCY:
                    if STOP.is_set():
                        raise KeyboardInterrupt
                    say(f"{row.label}: {clients} client(s) for {slice_seconds:.3g} s")
                    try:
                        cell = measure(opener, clients, slice_seconds)
                    except Exception as exc:  # the harness itself failed: report it, go on
                        cell = Cell(errors=1, first_error=repr(exc))
                    before = row.cells.get(clients)
                    row.cells[clients] = cell if before is None else joined(before, cell)
                    if not cell.ok:
                        say(f"  failed: {cell.first_error}")
                    elif cell.errors:
                        say(f"  {cell.errors} error(s), first: {cell.first_error}")

    def stop(self) -> None:
        """Stop all we started, children before the broker they use."""
        for name in ("pika_echo", "bench_http", "bench_echo"):
            self.procs.stop(name)
        if "supervisor" in self.procs.started:
            say("stopping the suite")
            # Only the supervisor itself: it stops its children (each in its own session).
            self.procs.stop("supervisor", SUPERVISOR_STOP_GRACE, whole_group=False)
            self._kill_orphans()
        if self.broker is not None:
            say("stopping RabbitMQ")
            try:
                rabbitmq.stop(*self.broker)
            except Exception as exc:
                say(f"RabbitMQ did not stop cleanly: {exc!r}")

    def _kill_orphans(self) -> None:
        # Only reached if the supervisor was killed before reaping: its pid files name our children.
        for pid_file in (self.work / "suite" / "run").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError, ProcessLookupError):
                pid = int(pid_file.read_text().strip())
                say(f"killing leftover child {pid_file.stem} ({pid})")
                os.killpg(pid, signal.SIGKILL)


# -- the table ----------------------------------------------------------------------------------


def cell_text(text: str | None, limit: int = 160) -> str:
    """``text`` made safe for one Markdown table cell."""
    flat = " ".join((text or "").split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def fmt(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(row: Row, floor: Row | None, clients: int) -> str:
    mine, base = row.cells.get(clients), floor.cells.get(clients) if floor else None
    if not (mine and mine.ok and base and base.ok):
        return "-"
    return f"{mine.percentile(0.5) / base.percentile(0.5):.1f}x"


def render(rows: list[Row], seconds: float, rounds: int = 1) -> str:
    """The results as one Markdown table, with a header naming machine, date and settings."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = _cpu_model()
    lines = [
        f"Help desk bench - {platform.node()}, nproc {len(os.sched_getaffinity(0))}"
        f" ({cpu}), Python {platform.python_version()}, {now}",
        f"{seconds:g} s per cell"
        + (f" (in {rounds} rounds of {seconds / rounds:.2g} s over all rows)" if rounds > 1 else "")
        + f" after {WARMUP_REQUESTS} warm-up requests per client; clients are threads"
        " in one process (requests.Session keep-alive / one pika connection each)",
        "",
        "| measurement | c=1 p50 ms | c=1 p99 ms | c=1 req/s | c=16 p50 ms | c=16 p99 ms | c=16 req/s"
        " | errors | p50 / (a) c=1, c=16 | p50 / (b) c=1, c=16 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_key = {row.key: row for row in rows}
    notes: list[str] = []
    for row in rows:
        if row.error:
            lines.append(f"| {row.label} | error: {cell_text(row.error)} | | | | | | | | |")
            continue
        cols: list[str] = []
        errors = 0
        for clients in CONCURRENCY:
            cell = row.cells.get(clients)
            if cell is None or not cell.ok:
                reason = cell.first_error if cell else "not measured (interrupted)"
                cols += [f"error: {cell_text(reason)}", "", ""]
            else:
                cols += [fmt(cell.percentile(0.5)), fmt(cell.percentile(0.99)), f"{cell.rate:.0f}"]
            if cell is not None:
                errors += cell.errors
                if cell.errors and cell.ok:
                    notes.append(
                        f"{row.label}, c={clients}: {cell.errors} error(s),"
                        f" first: {cell_text(cell.first_error)}"
                    )
        vs = ["", ""]
        if row.key in ("c", "d", "e"):
            vs = [
                f"{ratio(row, by_key.get(floor), 1)}, {ratio(row, by_key.get(floor), 16)}"
                for floor in ("a", "b")
            ]
            if row.key == "e":
                vs[1] = ""
        lines.append(f"| {row.label} | {' | '.join(cols)} | {errors} | {vs[0]} | {vs[1]} |")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    STOP.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, help=f"measuring time per cell (default {DEFAULT_SECONDS:g})"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per cell")
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"each cell's time split into this many rounds over all rows, pooled (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")
    parser.add_argument("--no-floors", action="store_true", help="only ours beside the peer")
    parser.add_argument("--no-compare", action="store_true", help="skip ours beside the peer (bench.peer)")
    from bench import peer  # bench.peer imports this module

    peer.add_arguments(parser)
    args = parser.parse_args(argv)
    seconds = args.seconds or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    if not 0 < seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be in [1, 10]")
    peer.check_arguments(parser, args)

    signal.signal(signal.SIGTERM, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    work.chmod(0o755)  # the PostgreSQL clusters of --pg run as their own user
    bench = Bench(seconds, work, rounds=args.rounds)
    interrupted = False
    if not args.no_floors:
        try:
            bench.start()
            bench.measure_all()
        except KeyboardInterrupt:
            interrupted = True
            STOP.set()
            say("interrupted; stopping everything")
        except Exception as exc:
            say(f"bench failed: {exc!r}")
            bench.rows.append(Row("x", "bench set-up", error=repr(exc)))
        finally:
            # A second Ctrl-C must not leave a broker or a suite behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            bench.stop()
    if bench.rows:
        print(render(bench.rows, seconds, bench.rounds), flush=True)
    failed = interrupted or any(r.error or not all(c.ok for c in r.cells.values()) for r in bench.rows)
    if not (args.no_compare or interrupted):
        # Its own stacks, one at a time; Ctrl-C is handled inside (it stops what it started).
        signal.signal(signal.SIGINT, peer.stop_on_signal)
        signal.signal(signal.SIGTERM, peer.stop_on_signal)
        try:
            table = peer.compare_from(args, work / "compare")
        except KeyboardInterrupt:
            STOP.set()
            table = "ours beside the peer: interrupted"
        interrupted = interrupted or STOP.is_set()
        failed = failed or interrupted or "NOT MEASURED" in table
        print(("\n" if bench.rows else "") + table, flush=True)
    if args.keep or failed:
        say(f"logs kept in {work} (ours in logs/, the suite's in suite/logs/)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
