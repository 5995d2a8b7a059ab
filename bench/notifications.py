"""Benchmark: notifications end to end, live updates, and idle streams, on the whole suite.

    python -m bench.notifications --amqp-uri amqp://guest:guest@127.0.0.1:5714/ [--events 20]

Makes a fresh vhost on the given broker (its management API on port + 10000), starts the whole
suite through ``deploy.supervisor`` (temporary data folder, free HTTP and SMTP ports, no relay:
mail goes to ``.eml`` files), and measures:

(a) **notifications per second, event published -> stored**: one ticket with ``--followers``
    followers (users made for it); ``--events`` conversations ``message_added`` events (a customer
    message) are published straight to the broker, as the conversations relay would; the clock runs
    from the first publish until every notification (``events x followers``) is in the
    notifications database. Each also queues an email (new messages are emailed by default);
    when the last ``.eml`` file was written is reported too.
(b) **change -> SSE message**: one client on ``GET /api/v1/stream``; ``--changes`` PATCHes of one
    ticket, one at a time; the time from sending each PATCH to reading its ``ticket_updated`` (matched
    by version) on the stream: p50, p95, max.
(c) **idle streams**: ``GET /api/v1/tickets/{id}`` p50 (one keep-alive client, ``--gets``
    requests) with ``--streams`` idle SSE connections open, against the mean of the p50 before they
    were opened and after they were closed, and the ratio.

Prints one Markdown table. Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from nameko.standalone.events import event_dispatcher

from bench.run import suite_env
from deploy.ports import free_port
from tests.sse import SseClient

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-notifications-token"
READY_TIMEOUT = 180.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Vhost:
    """A fresh vhost on the broker of ``amqp_uri`` (created and deleted through its management API)."""

    def __init__(self, amqp_uri: str) -> None:
        parts = urlsplit(amqp_uri)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 5672
        self.name = f"bench-{uuid.uuid4().hex[:10]}"
        self._api("PUT", f"vhosts/{quote(self.name, safe='')}")
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        self._api("PUT", f"permissions/{quote(self.name, safe='')}/guest", perms)
        self.uri = f"amqp://guest:guest@{self.host}:{self.port}/{quote(self.name, safe='')}"

    def _api(self, method: str, path: str, body: Any = None) -> None:
        request = urllib.request.Request(
            f"http://{self.host}:{self.port + 10000}/api/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def delete(self) -> None:
        with contextlib.suppress(OSError):
            self._api("DELETE", f"vhosts/{quote(self.name, safe='')}")


class Suite:
    """The whole help desk under ``deploy.supervisor``, in a temporary data folder."""

    def __init__(self, amqp_uri: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="hd-bench-notify-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = suite_env(
            HELPDESK_DATA_DIR=str(self.data),
            HELPDESK_HTTP_PORT=str(self.port),
            HELPDESK_SMTP_PORT=str(free_port()),
            HELPDESK_ADMIN_TOKEN=ADMIN_TOKEN,
            AMQP_URI=amqp_uri,
        )
        self.log = open(self.data / "supervisor.out", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.supervisor"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the supervisor exited with {self.proc.returncode}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base + "/readyz", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the suite did not become ready")
            time.sleep(0.5)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


def stored(suite: Suite) -> int:
    with contextlib.closing(sqlite3.connect(suite.data / "notifications.db", timeout=10)) as db:
        return int(db.execute("SELECT count(*) FROM feed_items WHERE type = 'new_message'").fetchone()[0])


def mails(suite: Suite) -> int:
    return len(list((suite.data / "mail-out").glob("*.eml"))) if (suite.data / "mail-out").exists() else 0


def throughput(suite: Suite, amqp_uri: str, followers: int, events: int) -> dict[str, float]:
    """(a): see the module docstring."""
    ticket = suite.call("POST", "/api/v1/tickets", json={"name": "followed by many"})
    for n in range(followers):
        user = suite.call(
            "POST",
            "/api/v1/users",
            json={
                "name": f"Follower {n}",
                "email": f"follower{n}@bench.test",
                "permissions": ["service_access"],
                "access_level": "everything",
            },
        )
        token = suite.call("POST", f"/api/v1/users/{user['id']}/tokens", json={})["token"]
        suite.call("PUT", f"/api/v1/tickets/{ticket['id']}/follow", token=token)
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    expected = followers * events
    now = dt.datetime.now(dt.UTC).isoformat()  # followers are those who followed by the change
    began = time.monotonic()
    for n in range(events):
        dispatch(
            "conversations",
            "message_added",
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": now,
                "thread_id": 1,
                "ticket_id": ticket["id"],
                "message_id": n + 1,
                "kind": "customer",
                "channel": "email",
                "author_id": None,
                "auto": None,
                "mentions": [],
                "at": now,
            },
        )
    published = time.monotonic() - began
    deadline = began + 300
    while stored(suite) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    done = time.monotonic() - began
    count = stored(suite)
    while mails(suite) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    mailed = time.monotonic() - began
    return {
        "notifications": count,
        "expected": expected,
        "seconds": done,
        "per_second": count / done,
        "publish_seconds": published,
        "mails": mails(suite),
        "mail_seconds": mailed,
    }


def sse_latency(suite: Suite, changes: int) -> dict[str, float]:
    """(b): see the module docstring."""
    ticket = suite.call("POST", "/api/v1/tickets", json={"name": "watched live"})
    client = SseClient("127.0.0.1", suite.port, ADMIN_TOKEN)
    assert client.next_event(10) is not None  # hello
    received: dict[int, float] = {}

    def read() -> None:
        while len(received) < changes:
            event = client.next_event(15)
            if event is None:
                return
            data = event["data"]
            if event["event"] == "ticket_updated" and data.get("ticket_id") == ticket["id"]:
                received[int(data["version"])] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent: dict[int, float] = {}
    for n in range(changes):
        began = time.monotonic()
        updated = suite.call(
            "PATCH", f"/api/v1/tickets/{ticket['id']}", json={"priority": "high" if n % 2 == 0 else "low"}
        )
        sent[updated["version"]] = began
        deadline = time.monotonic() + 5
        while updated["version"] not in received and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.02)
    reader.join(timeout=20)
    client.close()
    latencies = [(received[v] - sent[v]) * 1000 for v in sent if v in received]
    return {
        "changes": changes,
        "seen": len(latencies),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
    }


def get_p50(suite: Suite, ticket_id: int, count: int) -> float:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    timings = []
    for n in range(count + 20):
        began = time.perf_counter()
        response = session.get(f"{suite.base}/api/v1/tickets/{ticket_id}", timeout=10)
        assert response.status_code == 200
        if n >= 20:  # warm-up
            timings.append((time.perf_counter() - began) * 1000)
    session.close()
    return statistics.median(timings)


def open_stream(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    request = (
        "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"event: hello" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("a stream closed before its hello")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"a stream was refused: {head[:100]!r}")
    return sock


def idle_streams(suite: Suite, streams: int, gets: int) -> dict[str, float]:
    """(c): see the module docstring."""
    ticket = suite.call("POST", "/api/v1/tickets", json={"name": "read while streams idle"})
    before = get_p50(suite, ticket["id"], gets)
    opened = [open_stream(suite.port) for _ in range(streams)]
    time.sleep(2.0)
    with_streams = get_p50(suite, ticket["id"], gets)
    for sock in opened:
        sock.close()
    time.sleep(2.0)
    after = get_p50(suite, ticket["id"], gets)
    without = (before + after) / 2
    return {"streams": streams, "without": without, "with": with_streams, "ratio": with_streams / without}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--amqp-uri", default=os.environ.get("HELPDESK_BENCH_AMQP_URI"), required=False)
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--gets", type=int, default=500)
    args = parser.parse_args(argv)
    if not args.amqp_uri:
        parser.error("--amqp-uri (or HELPDESK_BENCH_AMQP_URI) names the broker")
    vhost = Vhost(args.amqp_uri)
    say(f"vhost {vhost.name}; starting the suite")
    suite = Suite(vhost.uri)
    try:
        say("(a) notifications per second")
        a = throughput(suite, vhost.uri, args.followers, args.events)
        say("(b) change -> SSE message")
        b = sse_latency(suite, args.changes)
        say("(c) idle streams")
        c = idle_streams(suite, args.streams, args.gets)
    finally:
        suite.stop()
        vhost.delete()
    print("| measure | figure |\n| --- | --- |")
    print(
        f"| (a) {a['notifications']:.0f}/{a['expected']:.0f} notifications ({args.events} customer"
        f" messages x {args.followers} followers), event published -> stored | {a['per_second']:.0f}/s"
        f" ({a['seconds']:.2f} s; published in {a['publish_seconds']:.2f} s; {a['mails']:.0f} mails"
        f" written by {a['mail_seconds']:.2f} s) |"
    )
    print(
        f"| (b) change -> SSE message, {b['seen']:.0f}/{b['changes']:.0f} PATCHes | p50 {b['p50']:.1f} ms, "
        f"p95 {b['p95']:.1f} ms, max {b['max']:.1f} ms |"
    )
    print(
        f"| (c) GET /api/v1/tickets/{{id}} p50, without / with {c['streams']:.0f} idle SSE streams | "
        f"{c['without']:.2f} ms / {c['with']:.2f} ms (x{c['ratio']:.2f}) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
