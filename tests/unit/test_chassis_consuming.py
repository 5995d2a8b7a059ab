"""The guarded consumer's checks: what nameko would crash the container on is refused or absorbed."""

from __future__ import annotations

from typing import Any

import amqp.exceptions
import pytest

from services.chassis.consuming import GuardedQueueConsumer, context_problem, parse_deadline


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"call_id_stack": []},
        {"call_id_stack": ["gateway.tickets.1", "tickets.create_ticket.2"]},
        {"deadline": 1700000000.5},
        {"deadline": "1700000000.5"},
        {"identity": "anything: the identity check judges it", "language": "pl"},
    ],
)
def test_well_formed_context_passes(context: dict[str, Any]) -> None:
    assert context_problem(context) is None


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"call_id_stack": "gateway.tickets.1"}, "call_id_stack"),
        ({"call_id_stack": [1, 2]}, "call_id_stack"),
        ({"call_id_stack": [None]}, "call_id_stack"),
        ({"call_id_stack": ["x"] * 1000}, "call_id_stack"),
        ({"deadline": "soon"}, "deadline"),
        ({"deadline": "nan"}, "deadline"),
        ({"deadline": "inf"}, "deadline"),
        ({"deadline": True}, "deadline"),
        ({"deadline": [1]}, "deadline"),
        ({"deadline": {"at": 1}}, "deadline"),
    ],
)
def test_malformed_context_is_named(context: dict[str, Any], named: str) -> None:
    problem = context_problem(context)
    assert problem is not None and named in problem


def test_parse_deadline_reads_numbers_and_numeric_text_only() -> None:
    assert parse_deadline(12.5) == 12.5
    assert parse_deadline(12) == 12.0
    assert parse_deadline(b"12.5") == 12.5
    assert parse_deadline("1e3") == 1000.0
    assert parse_deadline("") is None
    assert parse_deadline(None) is None
    assert parse_deadline("1e400") is None


class BrokerGone:
    """A message whose connection went away under it: settling it fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    class channel:  # the attribute a kombu message has
        connection = True

    def ack(self) -> None:
        raise self.error

    def requeue(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        BrokenPipeError(32, "Broken pipe"),
        ConnectionResetError(104, "Connection reset by peer"),
        amqp.exceptions.ConnectionForced("CONNECTION_FORCED - broker shutdown"),
        amqp.exceptions.RecoverableConnectionError("connection already closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_settling_a_message_on_a_lost_connection_does_not_raise(error: Exception) -> None:
    """nameko catches only amqp's ConnectionError; a socket error from the ack escaped into the
    worker's thread and killed the container. The message is the broker's to deliver again."""
    consumer = GuardedQueueConsumer()
    consumer.ack_message(BrokerGone(error))
    consumer.requeue_message(BrokerGone(error))
