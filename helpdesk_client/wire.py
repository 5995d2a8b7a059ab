"""nameko's RPC wire format, as plain functions (no connection, no eventlet).

A request is published to the ``nameko-rpc`` topic exchange with routing key
``<service>.<method>`` and body ``{"args": [...], "kwargs": {...}}`` serialised the way
nameko serialises (kombu's JSON, so datetimes, decimals and UUIDs round-trip as they do
between services). Context travels as ``nameko.<key>`` headers: the signed identity in
``nameko.identity`` and the absolute deadline (UNIX seconds) in ``nameko.deadline``.

A reply is ``{"result": ..., "error": null | {"exc_type", "exc_path", "exc_args", "value"}}``;
an error is rebuilt with :func:`nameko.exceptions.deserialize`, so every class registered
by :mod:`services.chassis.errors` arrives as an instance of the same class.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.data
from kombu.utils.json import dumps, loads
from nameko.exceptions import deserialize

# Registers the wire errors with nameko's registry, so deserialize() rebuilds them.
from services.chassis.errors import HelpdeskError

RPC_EXCHANGE = "nameko-rpc"
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
IDENTITY_HEADER = "nameko.identity"
DEADLINE_HEADER = "nameko.deadline"
TRANSIENT = 1


def _encode_value_with_doubles(pieces: list[bytes], value: Any, _encode: Any = pika.data.encode_value) -> int:
    if isinstance(value, float):
        pieces.append(struct.pack(">cd", b"d", value))
        return 9
    return _encode(pieces, value)


# pika decodes AMQP doubles ('d') but refuses to encode a float, while the chassis (through
# py-amqp) sends and expects nameko.deadline as one. Teaching pika's table encoder doubles
# keeps the header's wire type identical to what services send each other. encode_table
# looks encode_value up in its module at each call, so this reaches every header.
if getattr(pika.data.encode_value, "__name__", "") != _encode_value_with_doubles.__name__:
    pika.data.encode_value = _encode_value_with_doubles


@dataclass(frozen=True)
class Request:
    """One RPC request ready to publish: where it goes, its bytes and its AMQP properties."""

    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties
    correlation_id: str = field(default="")


def routing_key(service: str, method: str) -> str:
    """The routing key nameko's RPC consumer of ``service`` dispatches to ``method``."""
    if not service or not method or "." in service or "." in method:
        raise ValueError(f"bad RPC target {service!r}.{method!r}")
    return f"{service}.{method}"


def encode_body(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> bytes:
    """The request body nameko's ``Rpc`` entrypoint expects."""
    return dumps({"args": list(args), "kwargs": dict(kwargs)}).encode(CONTENT_ENCODING)


def expiration_ms(deadline: float, now: float) -> str:
    """RabbitMQ per-message TTL for a request that is worthless after ``deadline``.

    Never below 1 ms: RabbitMQ treats "0" as "deliver now or drop", which would refuse a
    request that still has a sliver of time while a consumer is briefly busy.
    """
    return str(max(1, int((deadline - now) * 1000)))


def build_request(  # noqa: PLR0913 - everything a request carries, by keyword
    service: str,
    method: str,
    args: tuple[Any, ...] | list[Any],
    kwargs: dict[str, Any],
    *,
    reply_to: str,
    deadline: float,
    now: float,
    identity: str | None = None,
    correlation_id: str | None = None,
    extra_headers: dict[str, Any] | None = None,
) -> Request:
    """Build the request for ``service.method(*args, **kwargs)``.

    The result carries the deadline as header and as message TTL (so an expired request
    is dropped by the broker, or refused by the service before it runs), the identity
    header when one is given, and a fresh correlation id unless one is given.
    """
    correlation_id = correlation_id or uuid.uuid4().hex
    headers: dict[str, Any] = dict(extra_headers or {})
    headers[DEADLINE_HEADER] = deadline
    if identity:
        headers[IDENTITY_HEADER] = identity
    properties = pika.BasicProperties(
        content_type=CONTENT_TYPE,
        content_encoding=CONTENT_ENCODING,
        # Transient: a request is dead after its deadline (seconds), long before a broker
        # restart could bring a persisted copy back, and persistence costs a disk write.
        delivery_mode=TRANSIENT,
        reply_to=reply_to,
        correlation_id=correlation_id,
        expiration=expiration_ms(deadline, now),
        headers=headers,
    )
    return Request(
        exchange=RPC_EXCHANGE,
        routing_key=routing_key(service, method),
        body=encode_body(args, kwargs),
        properties=properties,
        correlation_id=correlation_id,
    )


class MalformedReply(HelpdeskError):
    """A reply arrived that is not nameko's ``{"result", "error"}`` shape."""

    title = "Malformed reply"


def decode_reply(body: bytes) -> Any:
    """Return the result of a reply, or raise the remote error it carries.

    Errors registered with nameko (every :mod:`services.chassis.errors` class, nameko's
    own ``MethodNotFound``...) are raised as the same class with the same arguments;
    others arrive as :class:`nameko.exceptions.RemoteError`.
    """
    try:
        payload = loads(body.decode(CONTENT_ENCODING))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedReply(f"The reply is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or ("result" not in payload and "error" not in payload):
        raise MalformedReply("The reply has neither result nor error.")
    error = payload.get("error")
    if error:
        if not isinstance(error, dict):
            raise MalformedReply("The reply's error is not an object.")
        raise deserialize(error)
    return payload.get("result")
