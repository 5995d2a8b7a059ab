"""A small Server-Sent Events client for tests and benchmarks (http.client; cooperative under eventlet).

``SseClient(host, port, token)`` opens ``GET /api/v1/stream``; :meth:`SseClient.next_event` reads
the next message (comment lines such as ``: keepalive`` are skipped) as
``{"id": ..., "event": ..., "data": <parsed JSON>}``, or None when ``timeout`` passes first.
Every message is first checked against the OpenAPI document's ``StreamMessageSchema`` (its
fields, ``data`` a JSON object), so each test that reads the stream also checks what the
document says of it.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

from gateway.schemas import StreamMessageSchema

Event = dict[str, Any]


class SseClient:
    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        *,
        last_event_id: str | None = None,
        path: str = "/api/v1/stream",
        timeout: float = 10.0,
    ) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.last_id: str | None = None
        self.ended = False

    def next_event(self, timeout: float = 5.0) -> Event | None:
        """The next message, or None after ``timeout`` seconds or when the stream ends (:attr:`ended`)."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            assert self.conn.sock is not None
            self.conn.sock.settimeout(left)
            try:
                raw = self.response.readline()
            except TimeoutError:
                return None
            if not raw:
                self.ended = True
                return None
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields or "event" in fields:
                StreamMessageSchema().load(fields)
                if "id" in fields:
                    self.last_id = fields["id"]
                data = fields.get("data")
                assert data is None or isinstance(json.loads(data), dict), f"not a JSON object: {data}"
                return {
                    "id": fields.get("id"),
                    "event": fields.get("event"),
                    "data": json.loads(data) if data else None,
                }

    def events_until(self, done: Callable[[list[Event]], bool], timeout: float = 10.0) -> list[Event]:
        """Messages until ``done(messages)`` holds or ``timeout`` passes."""
        found: list[Event] = []
        deadline = time.monotonic() + timeout
        while not done(found):
            event = self.next_event(max(0.01, deadline - time.monotonic()))
            if event is None:
                break
            found.append(event)
        return found

    def quiet(self, seconds: float) -> list[Event]:
        """Everything that arrives within ``seconds``."""
        return self.events_until(lambda _found: False, seconds)

    def close(self) -> None:
        self.response.close()
        self.conn.close()
