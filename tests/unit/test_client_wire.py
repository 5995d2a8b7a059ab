"""helpdesk_client.wire: requests and replies byte for byte as nameko builds and reads them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from kombu.utils.json import loads
from nameko.exceptions import MethodNotFound, RemoteError, serialize

from helpdesk_client import wire
from services.chassis import rpc as chassis_rpc
from services.chassis.errors import DeadlineExceeded, NotFound, ValidationFailed
from services.chassis.identity import CONTEXT_KEY


def test_header_names_and_exchange_are_the_chassis_ones() -> None:
    assert f"nameko.{CONTEXT_KEY}" == wire.IDENTITY_HEADER
    assert f"nameko.{chassis_rpc.DEADLINE_KEY}" == wire.DEADLINE_HEADER
    assert chassis_rpc.get_rpc_exchange({}).name == wire.RPC_EXCHANGE


def test_build_request_carries_target_body_deadline_identity_and_reply_address() -> None:
    request = wire.build_request(
        "tickets",
        "get_ticket",
        (5,),
        {"fields": ["name"]},
        reply_to="reply-key",
        deadline=1000.75,
        now=998.0,
        identity="signed.assertion",
    )
    assert (request.exchange, request.routing_key) == ("nameko-rpc", "tickets.get_ticket")
    assert json.loads(request.body) == {"args": [5], "kwargs": {"fields": ["name"]}}
    props = request.properties
    assert props.content_type == "application/json"
    assert props.content_encoding == "utf-8"
    assert props.reply_to == "reply-key"
    assert props.correlation_id == request.correlation_id and len(request.correlation_id) == 32
    assert props.expiration == "2750"
    assert props.delivery_mode == 1
    assert props.headers == {"nameko.deadline": 1000.75, "nameko.identity": "signed.assertion"}


def test_build_request_without_identity_sends_no_identity_header() -> None:
    request = wire.build_request("permissions", "ping", (), {}, reply_to="r", deadline=10.0, now=9.0)
    assert "nameko.identity" not in request.properties.headers


def test_each_request_gets_its_own_correlation_id() -> None:
    ids = {
        wire.build_request("a", "b", (), {}, reply_to="r", deadline=10.0, now=9.0).correlation_id
        for _ in range(50)
    }
    assert len(ids) == 50


def test_expiration_never_drops_to_zero() -> None:
    assert wire.expiration_ms(10.0, 10.0) == "1"
    assert wire.expiration_ms(10.0, 12.0) == "1"
    assert wire.expiration_ms(10.0004, 10.0) == "1"
    assert wire.expiration_ms(15.0, 10.0) == "5000"


@pytest.mark.parametrize(("service", "method"), [("", "x"), ("a", ""), ("a.b", "c"), ("a", "b.c")])
def test_bad_targets_are_refused(service: str, method: str) -> None:
    with pytest.raises(ValueError):
        wire.routing_key(service, method)


def test_body_uses_kombu_json_like_nameko() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    body = wire.encode_body((when,), {})
    assert loads(body.decode())["args"] == [when]


def _reply(result: object = None, error: Exception | None = None) -> bytes:
    return json.dumps({"result": result, "error": serialize(error) if error else None}).encode()


def test_decode_reply_returns_the_result() -> None:
    assert wire.decode_reply(_reply({"id": 5})) == {"id": 5}
    assert wire.decode_reply(_reply(None)) is None


def test_decode_reply_rebuilds_validation_failed_with_its_errors() -> None:
    body = _reply(error=ValidationFailed("bad body", errors={"name": ["Missing data."]}))
    with pytest.raises(ValidationFailed) as info:
        wire.decode_reply(body)
    assert info.value.errors == {"name": ["Missing data."]}
    assert info.value.detail == "bad body"
    assert info.value.status == 422


@pytest.mark.parametrize("error", [NotFound("no ticket 5"), DeadlineExceeded("late"), MethodNotFound("nope")])
def test_decode_reply_raises_registered_errors_as_their_class(error: Exception) -> None:
    with pytest.raises(type(error)):
        wire.decode_reply(_reply(error=error))


def test_decode_reply_turns_unregistered_errors_into_remote_error() -> None:
    with pytest.raises(RemoteError) as info:
        wire.decode_reply(_reply(error=KeyError("boom")))
    assert info.value.exc_type == "KeyError"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"{}", b'{"error": "text"}', b"\xff"])
def test_decode_reply_refuses_malformed_replies(body: bytes) -> None:
    with pytest.raises(wire.MalformedReply):
        wire.decode_reply(body)


def test_the_deadline_header_goes_on_the_wire_as_an_amqp_double() -> None:
    import pika.data
    from amqp.serialization import loads as amqp_loads

    pieces: list[bytes] = []
    pika.data.encode_table(pieces, {"nameko.deadline": 1795620753.125889, "n": 3, "s": "x"})
    # Decoded as the services decode it (py-amqp, under kombu and nameko).
    (decoded,), _ = amqp_loads("F", b"".join(pieces), 0)
    assert decoded == {"nameko.deadline": 1795620753.125889, "n": 3, "s": "x"}
