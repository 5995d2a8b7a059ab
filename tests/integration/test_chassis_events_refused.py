"""Events no retry can heal go to the dead-letter queue at once, with the reason; none is acked away.

Over a real RabbitMQ (a fresh vhost per test), proves that a subscription

* parks, on first delivery and without calling the handler, a body it cannot decode (not JSON,
  another content type, a pickle, no content type at all), one that is not a JSON object with an
  ``event_id``, and one whose ``nameko.*`` headers nameko could not turn into a worker context;
* parks at once, after one call of the handler and without retries, an event its contract refuses
  (marshmallow ``ValidationError``, our ``ValidationFailed``), while a transient error is still
  retried (``test_chassis_events``);
* refuses an event whose envelope does not show that its source published it: no producer header,
  another producer named, or published straight to the queue through the default exchange; a
  replay of such an event is refused again;
* keeps the parked message byte for byte and records why, which ``python -m deploy.dlq show``
  prints; and keeps consuming afterwards.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import eventlet
import pytest
from kombu import Connection, Exchange
from marshmallow import ValidationError
from nameko.containers import ServiceContainer

from deploy import dlq
from services.chassis.errors import ValidationFailed
from services.chassis.events import ATTEMPT_HEADER, ERROR_HEADER, queue_name, subscribe
from services.chassis.outbox import event_exchange
from services.chassis.wire import PRODUCER_HEADER
from tests.broker import publish_event, publish_raw, wait_until
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "refusal_source"
THING = "thing_happened"
SERVICE = "strict"
QUEUE = queue_name(SOURCE, THING, SERVICE, "handle_thing")

CALLS: list[Any] = []


class Strict:
    name = SERVICE

    @subscribe(SOURCE, THING)
    def handle_thing(self, payload: Any) -> None:
        CALLS.append(payload)
        if payload.get("break") == "validation_error":
            raise ValidationError({"ticket_id": ["Missing data for required field."]})
        if payload.get("break") == "validation_failed":
            raise ValidationFailed(errors={"ticket_id": ["Not a valid integer."]})


def event(**extra: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": "2024-01-01T00:00:00+00:00", **extra}


@pytest.fixture
def strict(vhost_uri: str, container_factory: Any) -> ServiceContainer:
    CALLS.clear()
    container: ServiceContainer = container_factory(
        Strict, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET}
    )
    container.start()
    return container


def parked(amqp_uri: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait for ``count`` messages in the dead-letter queue and return them (left in place)."""
    with Connection(amqp_uri) as conn:
        wait_until(lambda: dlq.depth(conn, f"{QUEUE}.dead") == count, 10.0, f"{count} parked message(s)")
        assert dlq.depth(conn, QUEUE) == 0
        assert dlq.depth(conn, f"{QUEUE}.retry") == 0, "a message no retry can heal was retried"
        return dlq.peek(conn, f"{QUEUE}.dead", count + 1)


def still_consuming(container: ServiceContainer, amqp_uri: str) -> None:
    """A good event published now is handled: the bad one neither blocked nor killed the consumer."""
    good = event(label="good")
    publish_event(amqp_uri, SOURCE, THING, good)
    wait_until(lambda: good in CALLS, 10.0, "the good event after the bad one")
    assert not container._died.ready(), "the container died"


UNDECODABLE: dict[str, tuple[bytes, str | None]] = {
    "broken-json": (b'{"event_id": "x", ', "application/json"),
    "pickle": (pickle.dumps({"event_id": "x"}), "application/x-python-serialize"),
    "plain-text": (b"ticket 7 was created", "text/plain"),
    "no-content-type": (b'{"event_id": "x"}', None),
    "latin-1-in-json": ('{"event_id": "żółw"}'.encode("latin-1", "replace") + b"\xff", "application/json"),
}


@pytest.mark.parametrize("kind", sorted(UNDECODABLE))
def test_undecodable_body_is_parked_at_once_byte_for_byte(
    strict: ServiceContainer, vhost_uri: str, kind: str
) -> None:
    body, content_type = UNDECODABLE[kind]
    publish_raw(
        vhost_uri,
        body,
        exchange=event_exchange(SOURCE),
        routing_key=THING,
        content_type=content_type,
        headers={PRODUCER_HEADER: SOURCE},
    )
    [message] = parked(vhost_uri)
    assert message["headers"][ERROR_HEADER].startswith("undecodable body")
    assert as_bytes(message["body"]) == body, "the parked message must be the one that arrived"
    assert ATTEMPT_HEADER not in message["headers"]
    assert CALLS == []
    still_consuming(strict, vhost_uri)


NOT_AN_EVENT: dict[str, tuple[Any, str]] = {
    "list": ([1, 2, 3], "not a JSON object"),
    "string": ("ticket_created", "not a JSON object"),
    "null": (None, "not a JSON object"),
    "no-event-id": ({"ticket_id": 7}, "no event_id"),
    "numeric-event-id": ({"event_id": 7}, "no event_id"),
}


@pytest.mark.parametrize("kind", sorted(NOT_AN_EVENT))
def test_body_that_is_not_an_event_is_parked_at_once(
    strict: ServiceContainer, vhost_uri: str, kind: str
) -> None:
    payload, reason = NOT_AN_EVENT[kind]
    publish_event(vhost_uri, SOURCE, THING, payload)
    [message] = parked(vhost_uri)
    assert reason in message["headers"][ERROR_HEADER]
    assert json.loads(message["body"]) == payload
    assert CALLS == []
    still_consuming(strict, vhost_uri)


@pytest.mark.parametrize("kind", ["validation_error", "validation_failed"])
def test_payload_the_contract_refuses_is_parked_after_one_call_with_the_reason(
    strict: ServiceContainer, vhost_uri: str, kind: str
) -> None:
    bad = event(**{"break": kind})
    publish_event(vhost_uri, SOURCE, THING, bad)
    [message] = parked(vhost_uri)
    eventlet.sleep(0.5)  # a retry, were there one, would have come back by now
    assert [bad] == CALLS, "the handler must be called once, not retried"
    reason = message["headers"][ERROR_HEADER]
    assert reason.startswith("not retried: ")
    assert "ticket_id" in reason
    assert ATTEMPT_HEADER not in message["headers"]
    still_consuming(strict, vhost_uri)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"nameko.call_id_stack": [1, 2]}, "call_id_stack"),
        ({"nameko.call_id_stack": "not-a-list"}, "call_id_stack"),
        ({"nameko.deadline": "soon"}, "deadline"),
    ],
)
def test_headers_nameko_could_not_use_are_parked_without_killing_the_service(
    strict: ServiceContainer, vhost_uri: str, headers: dict[str, Any], reason: str
) -> None:
    publish_event(vhost_uri, SOURCE, THING, event(), headers=headers)
    [message] = parked(vhost_uri)
    assert reason in message["headers"][ERROR_HEADER]
    assert CALLS == []
    still_consuming(strict, vhost_uri)


def test_event_naming_no_producer_or_another_is_refused(strict: ServiceContainer, vhost_uri: str) -> None:
    publish_raw(
        vhost_uri,
        json.dumps(event()).encode(),
        exchange=event_exchange(SOURCE),
        routing_key=THING,
        headers={},
    )
    publish_event(vhost_uri, SOURCE, THING, event(), producer="tickets")
    first, second = parked(vhost_uri, 2)
    assert "names producer None" in first["headers"][ERROR_HEADER]
    assert "names producer 'tickets'" in second["headers"][ERROR_HEADER]
    assert CALLS == []
    still_consuming(strict, vhost_uri)


def publish_forged(amqp_uri: str) -> None:
    """An event labelled "forged" that names its producer but skips its exchange: published
    straight to the subscriber's queue."""
    publish_raw(
        amqp_uri,
        json.dumps(event(label="forged")).encode(),
        exchange=Exchange(""),
        routing_key=QUEUE,
        headers={PRODUCER_HEADER: SOURCE},
    )


def test_event_published_straight_to_the_queue_is_refused_and_replay_cannot_launder_it(
    strict: ServiceContainer, vhost_uri: str
) -> None:
    publish_forged(vhost_uri)
    [message] = parked(vhost_uri)
    assert "arrived through exchange ''" in message["headers"][ERROR_HEADER]

    shown = dlq_cli(vhost_uri, "show", QUEUE)
    assert "reason: arrived through exchange ''" in shown
    assert "forged" in shown
    assert "replayed 1 messages" in dlq_cli(vhost_uri, "replay", QUEUE)
    [again] = parked(vhost_uri)
    assert "arrived through exchange ''" in again["headers"][ERROR_HEADER]
    assert CALLS == []
    still_consuming(strict, vhost_uri)


def test_a_replay_moves_only_what_was_parked_when_it_began(strict: ServiceContainer, vhost_uri: str) -> None:
    publish_forged(vhost_uri)
    parked(vhost_uri)
    late = event(label="parked while the replay ran")

    def another_parked_meanwhile(moved: int) -> None:
        if moved == 1:  # confirmed: in the queue before the replay takes its next message
            publish_raw(
                vhost_uri, json.dumps(late).encode(), exchange=Exchange(""), routing_key=f"{QUEUE}.dead"
            )

    with Connection(vhost_uri) as conn:
        assert dlq.replay(conn, QUEUE, progress=another_parked_meanwhile) == 1
    bodies = [json.loads(as_bytes(message["body"])) for message in parked(vhost_uri, 2)]
    assert sorted(body["label"] for body in bodies) == ["forged", "parked while the replay ran"]
    assert CALLS == []


def test_dlq_show_prints_why_each_message_was_parked(strict: ServiceContainer, vhost_uri: str) -> None:
    publish_raw(
        vhost_uri, b"\x80\x04garbage", exchange=event_exchange(SOURCE), routing_key=THING, content_type=None
    )
    publish_event(vhost_uri, SOURCE, THING, event(**{"break": "validation_error"}))
    parked(vhost_uri, 2)
    shown = dlq_cli(vhost_uri, "show", QUEUE)
    # the two are handled by concurrent workers: either may be parked first
    reasons = sorted(line for line in shown.splitlines() if line.startswith("reason: "))
    assert len(reasons) == 2, shown
    assert reasons[0].startswith("reason: not retried: marshmallow.exceptions.ValidationError"), shown
    assert reasons[1].startswith("reason: undecodable body (None)"), shown
    assert "\\x80\\x04garbage" in shown


def as_bytes(body: str | bytes) -> bytes:
    """A peeked body as bytes (the AMQP library decodes what declares a text encoding)."""
    return body if isinstance(body, bytes) else body.encode("utf-8")


def dlq_cli(amqp_uri: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.dlq", *args],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": amqp_uri},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"dlq {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done.stdout
