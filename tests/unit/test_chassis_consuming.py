"""The guarded consumer's checks: what nameko would crash the container on is refused or absorbed."""

from __future__ import annotations

from typing import Any

import amqp.exceptions
import eventlet
import pytest

from services.chassis.amqp_io import BufferedTCPTransport
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


class _Wire:
    """A py-amqp channel's view of its transport: acks written through the chassis's buffered
    transport, each write recorded."""

    def __init__(self, fail: bool = False) -> None:
        self.writes: list[bytes] = []
        self.fail = fail
        transport = BufferedTCPTransport.__new__(BufferedTCPTransport)
        transport.sock = type("Socket", (), {"sendall": staticmethod(self._record), "recv": None})()
        transport.connected = True
        transport._read_buffer = b""
        transport._setup_transport()
        self.connection = type("Connection", (), {"transport": transport})()

    def _record(self, data: bytes) -> None:
        if self.fail:
            raise BrokenPipeError("the broker went away")
        self.writes.append(data)


class _Acked:
    def __init__(self, channel: _Wire, tag: int) -> None:
        self.channel = channel
        self.tag = tag

    def ack(self) -> None:
        self.channel.connection.transport.write(f"ack{self.tag};".encode())


def test_acks_made_in_one_turn_of_the_hub_are_written_together() -> None:
    consumer = GuardedQueueConsumer()
    channel = _Wire()
    finished: list[int] = []

    def worker(tag: int) -> None:
        consumer.ack_message(_Acked(channel, tag))
        finished.append(tag)

    threads = [eventlet.spawn(worker, tag) for tag in (1, 2, 3)]
    for thread in threads:
        thread.wait()
    assert channel.writes == [b"ack1;ack2;ack3;"]
    assert sorted(finished) == [1, 2, 3]

    consumer.ack_message(_Acked(channel, 4))  # alone in its turn: written before it returns
    assert channel.writes[-1] == b"ack4;"


def test_a_batch_is_acked_in_one_write_per_channel_and_a_failed_write_does_not_raise() -> None:
    consumer = GuardedQueueConsumer()
    one, other, gone = _Wire(), _Wire(), _Wire(fail=True)
    consumer.ack_messages([_Acked(one, 1), _Acked(other, 2), _Acked(one, 3), _Acked(gone, 4)])
    assert one.writes == [b"ack1;ack3;"]
    assert other.writes == [b"ack2;"]
    assert gone.writes == []
