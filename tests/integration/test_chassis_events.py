"""Event subscription over a real RabbitMQ: failures are retried, parked, replayed; duplicates are ignored.

Proves that

* a handler that raises is not acked away: it is retried with the attempt header growing
  (1, 2, 3...), and after ``max_attempts`` the message is parked in ``<queue>.dead`` carrying the
  error; nothing is left in the live or retry queue;
* ``python -m deploy.dlq show|replay`` shows the error and puts the message back, and the
  now-fixed handler processes it exactly once, starting again at attempt 1;
* an event delivered twice with the same ``event_id`` (one after the other, or both at once) takes
  effect once, through the inbox (``already_processed`` / ``mark_processed``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eventlet
import pytest
from kombu import Connection
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from deploy import dlq
from services.chassis.db import Database, make_engine
from services.chassis.events import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    Subscription,
    already_processed,
    define_inbox,
    mark_processed,
    queue_name,
    subscribe,
)
from tests.broker import publish_event, wait_until
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "evt_source"
THING = "thing_happened"

headers_seen: list[dict[str, Any]] = []
processed: list[str] = []
broken = {"now": True}


class RecordingSubscription(Subscription):
    """The chassis subscription, noting the headers of every delivery it receives."""

    def handle_message(self, body: Any, message: Any) -> None:
        headers_seen.append(dict(message.headers or {}))
        super().handle_message(body, message)


class Flaky:
    name = "flaky"

    @RecordingSubscription.decorator(SOURCE, THING, max_attempts=3)
    def handle_thing(self, payload: dict[str, Any]) -> None:
        if broken["now"]:
            raise ValueError(f"cannot handle {payload['event_id']} yet")
        processed.append(payload["event_id"])


effects_metadata = MetaData()
effects = Table(
    "effects",
    effects_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)
inbox = define_inbox(effects_metadata)


class Idempotent:
    name = "idempotent"
    db = Database()

    @subscribe(SOURCE, THING)
    def handle_thing(self, payload: dict[str, Any]) -> None:
        processed.append(payload["event_id"])
        with self.db.transaction() as session:
            if already_processed(session, inbox, payload["event_id"], "handle_thing"):
                return
            session.execute(effects.insert().values(event_id=payload["event_id"]))
            mark_processed(session, inbox, payload["event_id"], "handle_thing")


def event(event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or str(uuid.uuid4()), "occurred_at": "2024-01-01T00:00:00+00:00"}


def dlq_cli(amqp_uri: str, *args: str) -> str:
    env = {**os.environ, "AMQP_URI": amqp_uri}
    done = subprocess.run(
        [sys.executable, "-m", "deploy.dlq", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"dlq {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(autouse=True)
def _reset() -> None:
    headers_seen.clear()
    processed.clear()
    broken["now"] = True


def test_failing_handler_is_retried_then_parked_and_replay_processes_it_once(
    container_factory: Any, vhost_uri: str
) -> None:
    container = container_factory(Flaky, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET})
    container.start()
    queue = queue_name(SOURCE, THING, "flaky", "handle_thing")
    event_id = str(uuid.uuid4())
    publish_event(vhost_uri, SOURCE, THING, event(event_id))

    with Connection(vhost_uri) as conn:
        wait_until(lambda: dlq.depth(conn, f"{queue}.dead") == 1, 20.0, "the message to be parked")
        assert [h.get(ATTEMPT_HEADER, 1) for h in headers_seen] == [1, 2, 3]
        assert dlq.depth(conn, queue) == 0
        assert dlq.depth(conn, f"{queue}.retry") == 0
        [parked] = dlq.peek(conn, f"{queue}.dead", 10)
        assert parked["headers"][ATTEMPT_HEADER] == 3
        assert f"ValueError: cannot handle {event_id} yet" in parked["headers"][ERROR_HEADER]
        assert event_id in parked["body"]
        assert dlq.depth(conn, f"{queue}.dead") == 1, "peeking must not consume"
    assert processed == []
    assert "ValueError" in dlq_cli(vhost_uri, "show", queue)

    broken["now"] = False  # the fix is deployed
    with entrypoint_waiter(container, "handle_thing", timeout=15):
        assert "replayed 1 messages" in dlq_cli(vhost_uri, "replay", queue)
    eventlet.sleep(1.0)  # time enough for any second delivery
    assert processed == [event_id]
    assert ATTEMPT_HEADER not in headers_seen[-1], "a replayed message starts again at attempt 1"
    assert len(headers_seen) == 4
    with Connection(vhost_uri) as conn:
        assert dlq.depth(conn, f"{queue}.dead") == 0


@pytest.mark.db
def test_redelivered_event_takes_effect_once(
    container_factory: Any, vhost_uri: str, scratch_db: Callable[[MetaData], str]
) -> None:
    url = scratch_db(effects_metadata)
    container = container_factory(
        Idempotent, {"AMQP_URI": vhost_uri, "DB_URL": url, "IDENTITY_SECRET": IDENTITY_SECRET}
    )
    container.start()
    queue = queue_name(SOURCE, THING, "idempotent", "handle_thing")
    engine = make_engine(url)

    def effects_of(event_id: str) -> int:
        with engine.connect() as conn:
            query = select(func.count()).select_from(effects).where(effects.c.event_id == event_id)
            return int(conn.scalar(query) or 0)

    try:
        one_after_other = str(uuid.uuid4())
        for _ in range(2):
            with entrypoint_waiter(container, "handle_thing", timeout=15):
                publish_event(vhost_uri, SOURCE, THING, event(one_after_other))
        assert processed == [one_after_other, one_after_other]
        assert effects_of(one_after_other) == 1

        both_at_once = str(uuid.uuid4())
        publish_event(vhost_uri, SOURCE, THING, event(both_at_once))
        publish_event(vhost_uri, SOURCE, THING, event(both_at_once))
        with Connection(vhost_uri) as conn:
            # A racing duplicate may fail its commit on the inbox key; it is then retried and skipped.
            wait_until(
                lambda: (
                    processed.count(both_at_once) >= 2
                    and dlq.depth(conn, queue) == 0
                    and dlq.depth(conn, f"{queue}.retry") == 0
                ),
                20.0,
                "both deliveries",
            )
            eventlet.sleep(1.0)
            assert dlq.depth(conn, f"{queue}.dead") == 0
        assert effects_of(both_at_once) == 1
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(inbox)) == 2
    finally:
        engine.dispose()
