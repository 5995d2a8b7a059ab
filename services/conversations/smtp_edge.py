"""The SMTP edge: receives inbound mail and publishes it, saying 250 only once the broker has it.

Run as ``python -m services.conversations.smtp_edge``. An aiosmtpd server listens on
``HELPDESK_SMTP_HOST`` (127.0.0.1) port ``HELPDESK_SMTP_PORT`` (2525) and advertises ``SIZE``.
For each mail it

1. refuses what breaks :class:`~.mail.limits.MailLimits` (``HELPDESK_MAIL_MAX_BYTES`` and the
   other ``HELPDESK_MAIL_MAX_*`` settings): 552 for size, 554 for structure; a mail that makes
   the check itself fail gets 554 and one log line, never a crash;
2. publishes a :data:`~.contract.MAIL_RECEIVED` event holding the envelope and the exact bytes
   (an :class:`~.contract.InboundMailSchema` payload) to the topic exchange
   ``conversations.events``, persistent, ``mandatory`` and publisher-confirmed, with the
   headers and encoding of the chassis's outbox relay, so the service consumes it with
   ``@subscribe`` (retries, dead-letter queue) like any event;
3. answers 250 only after the broker confirmed it, else ``451 4.3.0``: the sending server keeps
   the mail and retries, so nothing accepted is ever lost. A mail the broker returns because no
   queue is bound (``python -m deploy.topology`` has not run yet) gets 451 too.

It decides nothing else: auto-replies, lists and bounces are published like any mail, since the
service records them on their threads. Broker work happens in one thread that owns the pika
connection (reconnecting when needed, keeping it alive while idle), away from the event loop.
It declares the exchange (as the services do) but never a queue: queues are the subscribers'.
SIGTERM or SIGINT: stop accepting connections, let mails in flight finish (up to
``HELPDESK_SMTP_DRAIN_SECONDS``, 30), close the broker link, exit 0.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as dt
import logging
import os
import queue
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import Counter, start_http_server

from services.chassis.wire import EVENT_ID_HEADER, PRODUCER_HEADER, event_exchange_name
from services.conversations.contract import MAIL_RECEIVED, SERVICE_NAME, InboundMailSchema
from services.conversations.mail.limits import MailLimits, MailRejected, check_limits, limits_from_env

log = logging.getLogger("services.conversations.smtp_edge")

MAX_RECIPIENTS = 100
IDLE_KEEPALIVE_SECONDS = 5.0
EVENT_EXCHANGE = event_exchange_name(SERVICE_NAME)
"""The service's event exchange: topic, durable, declared as ``services.chassis.outbox.event_exchange``
does (that module is not imported: the chassis's publishing side is eventlet code, this process
is asyncio)."""


MESSAGES = Counter(
    "helpdesk_smtp_messages",
    "Mail the SMTP edge was offered, by result: accepted (published), refused (5xx), deferred (451).",
    ["result"],
)
METRICS_BIND = "127.0.0.1:9106"


@dataclass(frozen=True)
class EdgeSettings:
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    host: str = "127.0.0.1"
    port: int = 2525
    metrics_bind: str = METRICS_BIND
    """Where ``/metrics`` is served (``HELPDESK_SMTP_METRICS_BIND``, host:port; ``0``: nowhere)."""
    limits: MailLimits = field(default_factory=MailLimits)
    drain_seconds: float = 30.0
    publish_timeout: float = 20.0


def _number(environ: Mapping[str, str], name: str, default: float, *, port: bool = False) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text) if not port else int(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if value <= 0 or (port and value > 65535):
        raise ValueError(f"{name} is out of range: {text!r}")
    return value


def settings_from_env(environ: Mapping[str, str]) -> EdgeSettings:
    """Settings from ``AMQP_URI``, ``HELPDESK_SMTP_HOST``/``_PORT``/``_DRAIN_SECONDS`` and the
    ``HELPDESK_MAIL_MAX_*`` limits; a bad value raises ValueError naming it."""
    return EdgeSettings(
        amqp_uri=environ.get("AMQP_URI", "").strip() or EdgeSettings.amqp_uri,
        host=environ.get("HELPDESK_SMTP_HOST", "").strip() or EdgeSettings.host,
        port=int(_number(environ, "HELPDESK_SMTP_PORT", EdgeSettings.port, port=True)),
        limits=limits_from_env(environ),
        drain_seconds=_number(environ, "HELPDESK_SMTP_DRAIN_SECONDS", EdgeSettings.drain_seconds),
        metrics_bind=environ.get("HELPDESK_SMTP_METRICS_BIND", "").strip() or METRICS_BIND,
    )


def _describe(error: BaseException) -> str:
    text = str(error).strip() or ", ".join(repr(arg) for arg in error.args) or "no details"
    return f"{type(error).__name__}: {text}"


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not confirm the message."""


class NotRouted(BrokerUnavailable):
    """The broker returned the message: no queue is bound for it (topology not declared yet)."""


class Publisher:
    """Publishes :data:`MAIL_RECEIVED` events from one thread that owns the broker connection.

    ``publish`` may be called from any thread; it returns a future that completes once the
    broker confirmed the message, or fails with :class:`BrokerUnavailable` (:class:`NotRouted`
    when the broker returned it). A failure on a connection that was already open is retried
    once on a fresh one (the broker may have restarted); a returned message is not retried.
    """

    def __init__(
        self, amqp_uri: str, exchange: str = EVENT_EXCHANGE, routing_key: str = MAIL_RECEIVED
    ) -> None:
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.routing_key = routing_key
        self._jobs: queue.Queue[tuple[bytes, str, concurrent.futures.Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="broker-publisher", daemon=True)
        self._connection: Any = None
        self._channel: Any = None

    def start(self) -> None:
        self._thread.start()

    def publish(self, body: bytes, event_id: str) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._jobs.put((body, event_id, future))
        return future

    def stop(self, timeout: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._connect()
        except BrokerUnavailable as error:
            log.warning("broker unreachable at start (%s); mail gets 451 until it is back", error)
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_KEEPALIVE_SECONDS)
            except queue.Empty:
                self._keepalive()
                continue
            if job is None:
                break
            body, event_id, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                self._publish(body, event_id)
            except BrokerUnavailable as error:
                future.set_exception(error)
            except Exception as error:  # never let the thread die: the next mail reconnects
                self._close()
                future.set_exception(BrokerUnavailable(_describe(error)))
            else:
                future.set_result(None)
        self._close()

    def _connect(self) -> Any:
        if self._channel is not None and self._channel.is_open and self._connection.is_open:
            return self._channel
        self._close()
        candidates = []
        for uri in (part.strip() for part in self.amqp_uri.split(";") if part.strip()):
            params = pika.URLParameters(uri)  # a cluster's nodes, ;-separated, tried in turn
            params.connection_attempts = 1
            params.socket_timeout = 5
            params.stack_timeout = 10
            params.blocked_connection_timeout = 15
            params.heartbeat = 30
            candidates.append(params)
        try:
            connection = pika.BlockingConnection(candidates)
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(self.exchange, exchange_type="topic", durable=True, auto_delete=False)
        except (pika.exceptions.AMQPError, OSError) as error:
            raise BrokerUnavailable(_describe(error)) from error
        self._connection, self._channel = connection, channel
        log.info("broker link open, exchange %s declared", self.exchange)
        return channel

    def _publish(self, body: bytes, event_id: str) -> None:
        reused = self._channel is not None
        for attempt in (1, 2):
            channel = self._connect()
            try:
                channel.basic_publish(
                    exchange=self.exchange,
                    routing_key=self.routing_key,
                    body=body,
                    properties=pika.BasicProperties(
                        delivery_mode=pika.DeliveryMode.Persistent,
                        content_type="application/json",  # as kombu's json serializer says
                        content_encoding="utf-8",
                        priority=0,
                        message_id=event_id,
                        headers={EVENT_ID_HEADER: event_id, PRODUCER_HEADER: SERVICE_NAME},
                    ),
                    mandatory=True,
                )
                return
            except pika.exceptions.UnroutableError as error:  # the channel stays usable
                raise NotRouted(
                    f"no queue is bound to {self.exchange} for {self.routing_key}"
                    " (has python -m deploy.topology run?)"
                ) from error
            except (pika.exceptions.AMQPError, OSError) as error:
                self._close()
                if attempt == 2 or not reused:
                    raise BrokerUnavailable(_describe(error)) from error
                log.info("publish on the open broker link failed (%s); retrying", _describe(error))

    def _keepalive(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except (pika.exceptions.AMQPError, OSError) as error:
            log.warning("broker link lost while idle: %s", _describe(error))
            self._close()

    def _close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def event_body(edge_id: uuid.UUID, mail_from: str, rcpt_tos: list[str], peer: str, raw: bytes) -> bytes:
    """The :data:`MAIL_RECEIVED` payload of one accepted mail (an :class:`InboundMailSchema` document)."""
    received_at = dt.datetime.now(dt.UTC)
    document = {
        "event_id": str(edge_id),
        "occurred_at": received_at.isoformat(),
        "edge_id": edge_id,
        "received_at": received_at,
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "peer": peer,
        "raw_b64": base64.b64encode(raw).decode("ascii"),
    }
    return InboundMailSchema().dumps(document).encode("utf-8")


class EdgeHandler:
    """aiosmtpd handler: limits, then publish, then answer."""

    def __init__(self, settings: EdgeSettings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_flight += 1
        self.idle.clear()
        try:
            return await self._deliver(session, envelope)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()

    async def _deliver(self, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        rcpt_tos = list(envelope.rcpt_tos)
        peer = _peer(session)
        about = f"from=<{mail_from}> rcpt={len(rcpt_tos)} bytes={len(raw)} peer={peer}"
        limits = self.settings.limits
        try:
            if len(raw) > limits.max_bytes:
                raise MailRejected(552, "5.3.4", "Message too big for system")
            await asyncio.to_thread(check_limits, raw, limits)
        except MailRejected as rejected:
            log.info("refused %s: %s", about, rejected.smtp_reply)
            MESSAGES.labels("refused").inc()
            return rejected.smtp_reply
        except Exception as error:  # a parser failure on hostile input: refuse this mail, keep serving
            log.error("refused %s: the limits check failed: %s: %s", about, type(error).__name__, error)
            MESSAGES.labels("refused").inc()
            return "554 5.6.0 Message could not be read"
        edge_id = uuid.uuid4()
        try:
            body = await asyncio.to_thread(event_body, edge_id, mail_from, rcpt_tos, peer, raw)
            confirmed = asyncio.wrap_future(self.publisher.publish(body, str(edge_id)))
            await asyncio.wait_for(confirmed, self.settings.publish_timeout)
        except (BrokerUnavailable, TimeoutError) as error:
            log.warning("deferred %s: broker did not take it: %s", about, error or "timed out")
            MESSAGES.labels("deferred").inc()
            return "451 4.3.0 Cannot queue the message now, try again later"
        log.info("accepted %s edge_id=%s", about, edge_id)
        MESSAGES.labels("accepted").inc()
        return f"250 2.0.0 OK queued as {edge_id}"


class EdgeSMTP(SMTP):
    """aiosmtpd's protocol, with its own size refusals given enhanced codes and logged, and
    each session registered so that shutdown can close the idle ones."""

    sessions: set[EdgeSMTP] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        EdgeSMTP.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        EdgeSMTP.sessions.discard(self)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            peer = _peer(self.session) if self.session is not None else "?"
            log.info("refused peer=%s: 552 5.3.4 over the size limit (%s)", peer, status[11:])
            status = "552 5.3.4 Message too big for system"
        await super().push(status)


async def serve(settings: EdgeSettings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status.

    The stop signals are ours before the SMTP port opens: a caller that sees the port open and
    signals at once gets the orderly stop and exit status 0, never the interpreter's default (a
    SIGINT before the handler was installed killed the edge with status -2).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    publisher = Publisher(settings.amqp_uri)
    publisher.start()
    handler = EdgeHandler(settings, publisher)
    hostname = socket.gethostname()

    def session() -> EdgeSMTP:
        return EdgeSMTP(
            handler,
            data_size_limit=settings.limits.max_bytes,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident="helpdesk smtp edge",
        )

    # before the SMTP port opens: an open port means started
    start_metrics_server(settings.metrics_bind)
    try:
        server = await loop.create_server(session, settings.host, settings.port)
    except OSError as error:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, error)
        publisher.stop()
        return 1
    log.info(
        "smtp edge listening on %s:%s, SIZE %d, publishing %s to %s",
        settings.host,
        settings.port,
        settings.limits.max_bytes,
        MAIL_RECEIVED,
        EVENT_EXCHANGE,
    )
    await stop.wait()
    server.close()
    log.info("stopping: no new connections; %d mails in flight", handler.in_flight)
    try:
        await asyncio.wait_for(handler.idle.wait(), settings.drain_seconds)
    except TimeoutError:
        log.warning("stopping with %d mails still in flight (not answered 250)", handler.in_flight)
    for protocol in list(EdgeSMTP.sessions):
        if protocol.transport is not None:
            protocol.transport.close()
    await asyncio.to_thread(publisher.stop)
    log.info("stopped")
    return 0


def start_metrics_server(bind: str) -> None:
    """Serve ``/metrics`` from a thread of its own on ``bind`` (``host:port``); ``0`` or a port
    already taken costs nothing but a log line."""
    host, _, port = bind.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return
    try:
        start_http_server(int(port), addr=host or "127.0.0.1")
    except OSError as error:
        log.warning("metrics server not started on %s: %s", bind, error)
        return
    log.info("metrics on http://%s/metrics", bind)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command otherwise
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # its connection errors are ours to report
    try:
        settings = settings_from_env(os.environ)
    except ValueError as error:
        log.error("bad setting: %s", error)
        return 2
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
