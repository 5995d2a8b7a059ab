"""Benchmark: conversations and email, through the real SMTP port and the gateway.

    .venv/bin/python -m bench.conversations [--mails N] [--seconds N] [--quick]

Starts its own RabbitMQ node (free port, temporary data) and the whole suite through
``deploy.supervisor`` (SQLite, the laptop default; outgoing mail written as ``.eml`` files),
waits for ``/readyz``, then measures:

1. **inbound email**: 4 SMTP clients (``smtplib``, one connection per mail, as mail servers
   deliver) send ``--mails`` mails (each a new conversation); the rate of ``250`` answers, and
   for each mail the time from its ``250`` to its ticket being visible through the gateway
   (a watcher lists the newest tickets every 20 ms and notes when each mail's ticket first
   appears): p50/p95/max, and the sustained rate from the first ``250`` to the last ticket;
2. **reply**: ``POST /api/v1/threads/{id}/messages`` (an agent's email reply, committed with
   its outgoing mail) at 1 client: p50/p99 and rate;
3. **read a conversation**: ``GET /api/v1/tickets/{id}/threads`` of a ticket whose thread has 50
   messages, at 1 and 8 clients; and the split layout in one request
   (``GET /api/v1/tickets/{id}/workspace``).

It prints one Markdown table (progress on stderr) and stops everything it started, also on
Ctrl-C or SIGTERM. Everything listens on 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import smtplib
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from bench.run import (
    ADMIN_TOKEN,
    REQUEST_TIMEOUT,
    STOP,
    SUITE_READY_TIMEOUT,
    SUPERVISOR_STOP_GRACE,
    Cell,
    Op,
    Opener,
    Processes,
    fmt,
    free_broker_port,
    free_port,
    http_status,
    measure,
    say,
    suite_env,
    wait_until,
)
from deploy import rabbitmq

SMTP_CLIENTS = 4
WATCH_INTERVAL = 0.02
VISIBLE_TIMEOUT = 120.0
THREAD_MESSAGES = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))]


class Suite:
    """The broker and the supervised suite of one run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(work / "logs")
        self.broker = (work / "rabbitmq", free_broker_port())
        self.http_port, self.smtp_port = free_port(), free_port()
        self.gateway = f"http://127.0.0.1:{self.http_port}"
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
        )

    def start(self) -> None:
        say(f"starting RabbitMQ on 127.0.0.1:{self.broker[1]}")
        amqp_uri = rabbitmq.start(*self.broker)
        env = suite_env(
            HELPDESK_DATA_DIR=str(self.work / "suite"),
            HELPDESK_HTTP_PORT=str(self.http_port),
            HELPDESK_SMTP_PORT=str(self.smtp_port),
            HELPDESK_ADMIN_TOKEN=ADMIN_TOKEN,
            AMQP_URI=amqp_uri,
        )
        say(f"starting the suite, gateway {self.gateway}, SMTP 127.0.0.1:{self.smtp_port}")
        self.procs.start("supervisor", ["-m", "deploy.supervisor"], env)
        wait_until(
            lambda: http_status("GET", f"{self.gateway}/readyz") == 200,
            SUITE_READY_TIMEOUT,
            lambda: self.procs.failed("supervisor"),
        )
        say("suite ready")

    def stop(self) -> None:
        self.procs.stop("supervisor", SUPERVISOR_STOP_GRACE, whole_group=False)
        with contextlib.suppress(Exception):
            rabbitmq.stop(*self.broker)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.gateway + path, timeout=REQUEST_TIMEOUT, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response.json()


# -- inbound ------------------------------------------------------------------------------------


def mail(token: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Klient {token[:6]} <{token}@customers.example>"
    message["To"] = "support@localhost"
    message["Subject"] = f"Reklamacja {token}"
    message["Message-ID"] = f"<{token}@customers.example>"
    message.set_content("Dzień dobry,\npaczka nie dotarła na czas. Proszę o pomoc.\n\nPozdrawiam\n")
    return message


class Inbound:
    """Sends the mails and watches for their tickets."""

    def __init__(self, suite: Suite, count: int) -> None:
        self.suite = suite
        self.tokens = [uuid.uuid4().hex for _ in range(count)]
        self.accepted: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.errors = 0
        self.lock = threading.Lock()

    def send_all(self) -> None:
        queue = list(self.tokens)

        def client() -> None:
            while not STOP.is_set():
                with self.lock:
                    if not queue:
                        return
                    token = queue.pop()
                try:
                    with smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=30) as smtp:
                        smtp.send_message(mail(token))
                    self.accepted[token] = time.perf_counter()
                except (OSError, smtplib.SMTPException):
                    self.errors += 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(SMTP_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=VISIBLE_TIMEOUT)

    def watch(self, until: Callable[[], bool]) -> None:
        """List the newest tickets every 20 ms; note when each mail's ticket first shows."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        deadline = time.monotonic() + VISIBLE_TIMEOUT
        while not until() and time.monotonic() < deadline and not STOP.is_set():
            with contextlib.suppress(requests.RequestException):
                page = session.get(
                    f"{self.suite.gateway}/api/v1/tickets",
                    params={"sort": "-created_at", "limit": "100"},
                    timeout=REQUEST_TIMEOUT,
                ).json()
                now = time.perf_counter()
                for ticket in page.get("items", []):
                    token = ticket["name"].rpartition(" ")[2]
                    self.seen.setdefault(token, now)
            time.sleep(WATCH_INTERVAL)

    def run(self) -> dict[str, Any]:
        began = time.perf_counter()
        watcher = threading.Thread(
            target=self.watch, args=(lambda: len(self.seen) >= len(self.tokens),), daemon=True
        )
        watcher.start()
        self.send_all()
        accept_seconds = time.perf_counter() - began
        watcher.join(timeout=VISIBLE_TIMEOUT)
        delays = [(self.seen[t] - self.accepted[t]) * 1000 for t in self.accepted if t in self.seen]
        last = max(self.seen.values(), default=began)
        return {
            "accepted": len(self.accepted),
            "errors": self.errors,
            "accept_rate": len(self.accepted) / accept_seconds if accept_seconds else 0.0,
            "visible": len(delays),
            "sustained_rate": len(delays) / (last - began) if last > began else 0.0,
            "p50": percentile(delays, 0.5) if delays else float("nan"),
            "p95": percentile(delays, 0.95) if delays else float("nan"),
            "max": max(delays) if delays else float("nan"),
        }


# -- replies and reads ------------------------------------------------------------------------------


def conversation(suite: Suite, messages: int) -> tuple[int, int]:
    """A form thread (and ticket) with ``messages`` customer messages; (ticket id, thread id)."""
    body = {"channel": "form", "from": {"email": "long@customers.example"}, "subject": "Long", "body": "1"}
    made = suite.call("POST", "/api/v1/intake/messages", json=body)
    for n in range(2, messages + 1):
        suite.call(
            "POST", "/api/v1/intake/messages", json={**body, "body": str(n), "thread_id": made["thread_id"]}
        )
    return int(made["ticket_id"]), int(made["thread_id"])


def email_thread(suite: Suite, inbound: Inbound) -> int:
    token = next(iter(inbound.seen))
    page = suite.call("GET", "/api/v1/tickets", params={"q": token})
    ticket_id = page["items"][0]["id"]
    return int(suite.call("GET", f"/api/v1/tickets/{ticket_id}/threads")["items"][0]["id"])


def opener(suite: Suite, method: str, path: str, body: bytes | None, expect: int) -> Opener:
    def open_one() -> tuple[Op, Callable[[], None]]:
        session = requests.Session()
        session.headers.update(suite.http.headers)

        def op() -> None:
            response = session.request(method, suite.gateway + path, data=body, timeout=REQUEST_TIMEOUT)
            if response.status_code != expect:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

        return op, session.close

    return open_one


def row(label: str, cell: Cell) -> str:
    if not cell.ok:
        return f"| {label} | - | - | - | {cell.errors} ({cell.first_error}) |"
    p50, p99 = fmt(cell.percentile(0.5)), fmt(cell.percentile(0.99))
    return f"| {label} | {p50} | {p99} | {cell.rate:.0f} | {cell.errors} |"


def run(mails: int, seconds: float, work: Path) -> str:
    suite = Suite(work)
    try:
        suite.start()
        say(f"inbound: {mails} mails from {SMTP_CLIENTS} SMTP clients")
        inbound = Inbound(suite, mails)
        figures = inbound.run()
        thread_id = email_thread(suite, inbound)
        say("replies")
        reply = measure(
            opener(
                suite,
                "POST",
                f"/api/v1/threads/{thread_id}/messages",
                b'{"kind": "reply", "body": "Thanks!"}',
                201,
            ),
            1,
            seconds,
        )
        say(f"a conversation of {THREAD_MESSAGES} messages")
        ticket_id, _ = conversation(suite, THREAD_MESSAGES)
        reads = {
            clients: measure(
                opener(suite, "GET", f"/api/v1/tickets/{ticket_id}/threads", None, 200), clients, seconds
            )
            for clients in (1, 8)
        }
        workspace = measure(
            opener(suite, "GET", f"/api/v1/tickets/{ticket_id}/workspace", None, 200), 1, seconds
        )
    finally:
        suite.stop()
    lines = [
        f"Inbound email: {figures['accepted']}/{mails} mails accepted ({figures['errors']} refused or broken)"
        f" at {figures['accept_rate']:.0f}/s from {SMTP_CLIENTS} clients;"
        f" {figures['visible']} tickets visible,"
        f" sustained {figures['sustained_rate']:.1f} mails/s from the first 250 to the last ticket;"
        f" 250 -> ticket visible p50 {fmt(figures['p50'])} ms, p95 {fmt(figures['p95'])} ms,"
        f" max {fmt(figures['max'])} ms.",
        "",
        "| request | p50 ms | p99 ms | req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("reply POST /threads/{id}/messages, 1 client", reply),
        row(f"GET /tickets/{{id}}/threads ({THREAD_MESSAGES} messages), 1 client", reads[1]),
        row(f"GET /tickets/{{id}}/threads ({THREAD_MESSAGES} messages), 8 clients", reads[8]),
        row("GET /tickets/{id}/workspace, 1 client", workspace),
    ]
    return "\n".join(lines)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    STOP.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="200 mails, 2 s per measurement")
    args = parser.parse_args(argv)
    mails, seconds = (200, 2.0) if args.quick else (args.mails, args.seconds)
    signal.signal(signal.SIGTERM, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="hd-bench-conv-"))
    try:
        print(run(mails, seconds, work))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
