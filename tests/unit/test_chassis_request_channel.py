"""The request channel's bookkeeping without a broker: which requests a confirmation settles,
whose callers a refusal or a return fails, and what a write cut short does to the connection."""

from __future__ import annotations

import json
import socket
from typing import Any

import eventlet
import pytest

from services.chassis.request_channel import REFUSED, UNROUTABLE, RequestChannel


class FakeConnection:
    """What RequestChannel uses of a kombu connection: channels, and the socket under them."""

    def __init__(self, publish: Any = None) -> None:
        self.publish = publish
        self.channels: list[FakeChannel] = []
        self.shut: list[int] = []
        self.transport = self
        self.sock = self
        self.client_properties: dict[str, Any] = {"capabilities": {"connection.blocked": True}}

    def channel(self) -> FakeChannel:
        self.channels.append(FakeChannel(self))
        return self.channels[-1]

    def shutdown(self, how: int) -> None:
        self.shut.append(how)


class FakeChannel:
    """What RequestChannel uses of an amqp channel: confirm mode, events, messages, publishing."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.events: dict[str, set[Any]] = {"basic_ack": set(), "basic_nack": set(), "basic_return": set()}
        self.confirming = False
        self.closed = False
        self.sent: list[tuple[Any, str, str, bool]] = []

    def confirm_select(self) -> None:
        self.confirming = True

    def close(self) -> None:
        self.closed = True

    def prepare_message(self, body: bytes, **kwargs: Any) -> Any:
        return (body, kwargs)

    def basic_publish(self, message: Any, *, exchange: str, routing_key: str, mandatory: bool) -> None:
        if self.connection.publish is not None:
            self.connection.publish()
        self.sent.append((message, exchange, routing_key, mandatory))

    def ack(self, tag: int, multiple: bool = False) -> None:
        for callback in self.events["basic_ack"]:
            callback(tag, multiple)

    def nack(self, tag: int, multiple: bool = False) -> None:
        for callback in self.events["basic_nack"]:
            callback(tag, multiple)


class Returned:
    def __init__(self, correlation_id: str) -> None:
        self.properties = {"correlation_id": correlation_id}


def opened(publish: Any = None) -> tuple[RequestChannel, FakeConnection, list[tuple[str, str]]]:
    refused: list[tuple[str, str]] = []
    requests = RequestChannel(lambda cid, reason: refused.append((cid, reason)))
    connection = FakeConnection(publish)
    requests.open(connection)
    return requests, connection, refused


def send(requests: RequestChannel, correlation_id: str, timeout: float = 5.0) -> None:
    requests.send(
        {"args": [], "kwargs": {}},
        exchange="nameko-rpc",
        routing_key="tickets.get",
        correlation_id=correlation_id,
        reply_to="reply-key",
        headers={"nameko.deadline": 1.0},
        expiration=2.5,
        timeout=timeout,
    )


def test_requests_are_mandatory_transient_json_with_their_deadline_as_ttl() -> None:
    requests, connection, _refused = opened()
    [channel] = connection.channels
    assert connection.client_properties["capabilities"]["connection.blocked"] is False, (
        "the link's loop reads the connection: publishing need not drain it first"
    )
    assert channel.confirming
    send(requests, "c1")
    [(message, exchange, routing_key, mandatory)] = channel.sent
    body, options = message
    assert exchange == "nameko-rpc" and routing_key == "tickets.get" and mandatory
    assert json.loads(body) == {"args": [], "kwargs": {}} and options["content_type"] == "application/json"
    assert options["headers"] == {"nameko.deadline": 1.0}
    assert options["properties"] == {
        "correlation_id": "c1",
        "reply_to": "reply-key",
        "delivery_mode": 1,
        "expiration": "2500",
    }


def test_confirmations_settle_one_or_every_one_up_to_a_tag_and_refusals_fail_their_callers() -> None:
    requests, connection, refused = opened()
    channel = connection.channels[0]
    for n in range(1, 7):
        send(requests, f"c{n}")
    channel.ack(2)  # one
    assert requests.unconfirmed == ["c1", "c3", "c4", "c5", "c6"]
    channel.ack(3, multiple=True)  # every one up to 3
    assert requests.unconfirmed == ["c4", "c5", "c6"]
    channel.nack(5, multiple=True)
    assert refused == [("c4", REFUSED), ("c5", REFUSED)] and requests.unconfirmed == ["c6"]
    channel.ack(5)  # settled already: nothing happens
    assert requests.unconfirmed == ["c6"] and len(refused) == 2


def test_after_a_refusal_requests_move_to_a_new_channel_and_the_old_ones_settle_where_they_were() -> None:
    requests, connection, refused = opened()
    first = connection.channels[0]
    send(requests, "c1")
    send(requests, "c2")
    requests.renew_if_refused()
    assert requests.channel is first, "no refusal, no new channel"
    first.nack(1)
    with requests.writing():
        requests.renew_if_refused()
    second = requests.channel
    assert second is not first and second.confirming and first.closed
    assert refused == [("c1", REFUSED)]
    send(requests, "c3")
    assert requests.sent == 1 and requests.unconfirmed == ["c3"], "a new channel counts its own tags"
    first.nack(2)  # the old channel's request, refused there
    second.ack(1)
    assert refused == [("c1", REFUSED), ("c2", REFUSED)] and requests.unconfirmed == []


def test_a_returned_request_fails_its_caller_before_its_confirmation() -> None:
    requests, connection, refused = opened()
    channel = connection.channels[0]
    send(requests, "c1")
    for callback in channel.events["basic_return"]:
        callback(Exception("NO_ROUTE"), "nameko-rpc", "nobody.get", Returned("c1"))
    assert refused == [("c1", UNROUTABLE)]
    channel.ack(1)
    assert requests.unconfirmed == []


def test_a_new_connection_starts_counting_afresh_and_forgets_the_old_ones_requests() -> None:
    requests, _connection, _refused = opened()
    send(requests, "c1")
    send(requests, "c2")
    requests.close()
    with pytest.raises(ConnectionError):
        send(requests, "c3")
    requests.open(FakeConnection())
    send(requests, "c4")
    assert requests.sent == 1 and requests.unconfirmed == ["c4"]


def test_a_write_that_cannot_finish_in_time_ends_the_connection() -> None:
    requests, connection, _refused = opened(publish=lambda: eventlet.sleep(1.0))
    with pytest.raises(TimeoutError):
        send(requests, "c1", timeout=0.05)
    assert connection.shut == [socket.SHUT_RDWR], "what follows half a frame would be garbage"
    assert requests.unconfirmed == []


def test_a_failed_write_ends_the_connection_and_raises() -> None:
    def reset() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    requests, connection, _refused = opened(publish=reset)
    with pytest.raises(ConnectionResetError):
        send(requests, "c1")
    assert connection.shut == [socket.SHUT_RDWR] and requests.unconfirmed == []


def test_one_writer_at_a_time_and_a_writer_waits_no_longer_than_its_time() -> None:
    requests, _connection, _refused = opened()
    with requests.writing():  # the link's loop sending a heartbeat, say, for too long
        with pytest.raises(TimeoutError):
            send(requests, "c1", timeout=0.05)
    send(requests, "c2")
    assert requests.unconfirmed == ["c2"]
