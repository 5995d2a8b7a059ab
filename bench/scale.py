"""Benchmark: create and GET throughput through the gateway with one and with two instances of
tickets and of the gateway, on PostgreSQL.

    make bench-scale                      # its own RabbitMQ node and PostgreSQL cluster
    .venv/bin/python -m bench.scale [--amqp-uri URI --pg-url URL] [--seconds 15] [--clients 16]

Without ``--amqp-uri`` and ``--pg-url`` it starts a private RabbitMQ node and PostgreSQL cluster
in a temporary folder (``deploy.rabbitmq``, ``deploy.postgres``) and stops them at the end.

For each layout (``tickets=1,gateway=1`` then ``tickets=2,gateway=2``, the other services once):
fresh databases on ``--pg-url`` (a server URL without a database), a fresh vhost-less run of
``deploy.supervisor`` with ``AMQP_URI`` (guest on a test broker is fine) and ``HELPDESK_SCALE``,
ready when ``/readyz`` answers 200; 100 tickets made first; then ``--clients`` threads, each with a
keep-alive session, for ``--seconds`` each: GET of a random ticket; the CPU-bound call straight
over the broker; then create (last: the events of creates keep the services busy afterwards). The
CPU-bound call: ``--rpc-clients`` processes, each a
:class:`helpdesk_client.HelpdeskClient`, calling ``tickets.list_tickets`` for a page of 100 (the
tickets service builds and serialises 100 tickets per call; the gateway is not involved, so the
tickets instances are the bottleneck). Prints one Markdown row per layout and phase: requests/s,
p50 and p99 ms, errors. The machine's cores are the ceiling: on 2 shared cores a second instance
can only use what the first leaves idle (with RabbitMQ, PostgreSQL and the clients beside them).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.run import Cell, free_broker_port, free_port, say, suite_env
from deploy import postgres, rabbitmq
from services import registry

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-scale-token-0123456789abcdef"


def start(amqp_uri: str, pg_url: str, scale: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    data = Path(tempfile.mkdtemp(prefix="hd-bench-scale-"))
    port = free_port()
    env = suite_env(
        AMQP_URI=amqp_uri,
        HELPDESK_DATA_DIR=str(data),
        HELPDESK_HTTP_PORT=str(port),
        HELPDESK_SMTP_PORT=str(free_port()),
        HELPDESK_ADMIN_TOKEN=TOKEN,
        HELPDESK_SCALE=scale,
        PYTHONWARNINGS="ignore",
    )
    for s in registry.SERVICES:
        if s.db_url_variable:
            env[s.db_url_variable] = postgres.create_database(
                pg_url, f"bench_scale_{s.name}_{uuid.uuid4().hex[:6]}"
            )
    out = open(data / "supervisor.out", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.supervisor"], cwd=ROOT, env=env, stdout=out, stderr=out
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base, data
        except requests.RequestException:
            pass
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    raise RuntimeError(f"not ready; see {data}/supervisor.out")


def measure(base: str, clients: int, seconds: float, work: str, ids: list[int]) -> Cell:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def run() -> None:
        session = requests.Session()
        mine: list[float] = []
        while time.monotonic() < stop:
            began = time.monotonic()
            try:
                if work == "get":
                    r = session.get(
                        f"{base}/api/v1/tickets/{random.choice(ids)}", headers=headers, timeout=30
                    )
                    ok = r.status_code == 200
                else:
                    body = {"name": "bench scale", "description": "x"}
                    r = session.post(f"{base}/api/v1/tickets", json=body, headers=headers, timeout=30)
                    ok = r.status_code == 201
            except requests.RequestException:
                ok = False
            if ok:
                mine.append(time.monotonic() - began)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Cell([x * 1000 for x in latencies], seconds, errors[0])


def rpc_worker(amqp_uri: str, seconds: float, out: Any) -> None:
    """One client process: ``tickets.list_tickets`` (a page of 100) in a loop for ``seconds``."""
    from helpdesk_client import HelpdeskClient

    latencies: list[float] = []
    errors = 0
    with HelpdeskClient(amqp_uri, token=TOKEN, timeout=30) as client:
        tickets = client.service("tickets")
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            began = time.monotonic()
            try:
                page = tickets.list_tickets({"limit": 100})
                ok = len(page["items"]) == 100
            except Exception:
                ok = False
            if ok:
                latencies.append(time.monotonic() - began)
            else:
                errors += 1
    out.put((latencies, errors))


def measure_rpc(amqp_uri: str, clients: int, seconds: float) -> Cell:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=rpc_worker, args=(amqp_uri, seconds, out)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    errors = 0
    for _ in procs:
        mine, failed = out.get(timeout=seconds + 120)
        latencies.extend(mine)
        errors += failed
    for proc in procs:
        proc.join(30)
    return Cell([x * 1000 for x in latencies], seconds, errors)


def row(layout: str, call: str, cell: Cell) -> str:
    """One Markdown row: requests/s, p50 and p99 ms (- when nothing succeeded), errors."""
    p50, p99 = (f"{cell.percentile(q):.0f}" for q in (0.5, 0.99)) if cell.ok else ("-", "-")
    return f"| {layout} | {call} | {cell.rate:.0f} | {p50} | {p99} | {cell.errors} |"


@contextlib.contextmanager
def servers(amqp_uri: str | None, pg_url: str | None) -> Iterator[tuple[str, str]]:
    """The given broker and database server, or private ones started here (and stopped after)."""
    if amqp_uri and pg_url:
        yield amqp_uri, pg_url
        return
    if amqp_uri or pg_url:
        raise SystemExit("give both --amqp-uri and --pg-url, or neither (private servers are started)")
    work = Path(tempfile.mkdtemp(prefix="hd-scale-"))
    work.chmod(0o755)  # the cluster's server user (postgres, when we are root) must reach pg/
    broker, pg_port = (work / "rabbitmq", free_broker_port()), free_port()
    say(f"starting RabbitMQ on 127.0.0.1:{broker[1]} and PostgreSQL on 127.0.0.1:{pg_port} in {work}")
    try:
        uri = rabbitmq.start(*broker)
        yield uri, postgres.start(work / "pg", pg_port)
    finally:
        say("stopping RabbitMQ and PostgreSQL")
        with contextlib.suppress(Exception):
            rabbitmq.stop(*broker)
        with contextlib.suppress(Exception):
            postgres.stop(work / "pg")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--amqp-uri")
    parser.add_argument("--pg-url")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rpc-clients", type=int, default=4)
    args = parser.parse_args()
    with servers(args.amqp_uri, args.pg_url) as (amqp_uri, pg_url):
        return run(amqp_uri, pg_url, args)


def run(amqp_uri: str, pg_url: str, args: argparse.Namespace) -> int:
    print("| layout | call | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- | --- |")
    for scale in ("tickets=1,gateway=1", "tickets=2,gateway=2"):
        proc, base, _data = start(amqp_uri, pg_url, scale)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            ids = [
                requests.post(
                    f"{base}/api/v1/tickets", json={"name": f"seed {i}"}, headers=headers, timeout=30
                ).json()["id"]
                for i in range(100)
            ]
            time.sleep(2)
            get = measure(base, args.clients, args.seconds, "get", ids)
            print(row(scale, "get", get), flush=True)
            rpc = measure_rpc(amqp_uri, args.rpc_clients, args.seconds)
            print(row(scale, "rpc list_tickets (100)", rpc), flush=True)
            create = measure(base, args.clients, args.seconds, "create", ids)
            print(row(scale, "create", create), flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
