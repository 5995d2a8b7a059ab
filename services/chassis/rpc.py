"""RPC with deadlines, verified callers and typed errors, on nameko's wire format.

Server side, :func:`rpc` replaces ``nameko.rpc.rpc``. Before a worker is spawned it

* refuses a request whose ``deadline`` header has passed (the caller has given up,
  so running it would only do work nobody waits for),
* refuses a request without a valid signed identity unless the method is declared
  ``public=True``, and
* answers a malformed request (a body that is not JSON or not ``{"args", "kwargs"}``, a
  deadline that is not a number, a call-id stack nameko could not use) with
  :class:`BadRequest`, so no input reaches nameko in a shape that would crash the container.

Client side, :class:`ServiceRpc` replaces ``nameko.rpc.RpcProxy``. Every call has a
deadline (its own timeout, capped by any deadline inherited from the current
request), and the caller gets :class:`DeadlineExceeded` when it passes, or
:class:`ServiceUnavailable` at once while the broker is unreachable. Replies come
through :class:`BrokerLink`, which owns its own connection and reconnects forever,
so a broker outage never kills the container that uses it (the gateway relies on
this to keep answering ``/readyz`` with 503).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import eventlet
from eventlet.event import Event
from kombu import Connection, Consumer, Exchange, Queue, binding, serialization
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.exceptions import UnserializableValueError, deserialize, serialize
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange

from services.chassis import config as cfg
from services.chassis import metrics, tracing
from services.chassis.consuming import (
    DEADLINE_KEY,
    RECONNECT_POLICY,
    GuardedQueueConsumer,
    connected,
    context_problem,
    declare_if_allowed,
    parse_deadline,
)
from services.chassis.errors import (
    BadRequest,
    DeadlineExceeded,
    HelpdeskError,
    ServiceUnavailable,
    Unauthenticated,
)
from services.chassis.identity import CONTEXT_KEY, Caller, SystemIdentity, Verifier
from services.chassis.publishing import TRANSIENT, HeldPublisher, write
from services.chassis.queues import RPC_DELIVERY_LIMIT, durable_arguments, queue_type
from services.chassis.request_channel import REFUSED, UNROUTABLE, RequestChannel
from services.chassis.secrets import identity_secret, require_identity_secret
from services.chassis.signatures import SignatureOnce

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
LINK_WAIT = 1.0
"""A call made while the link is reconnecting (a broker node just died, the process just started)
waits this long (within its deadline) for it before answering ServiceUnavailable."""
PROBE_AFTER = 5.0
"""A link that has received no reply for this long sends itself one through the RPC exchange..."""
PROBE_TIMEOUT = 10.0
"""...and reconnects (on a new reply queue) if that probe has not come back within this long: a
connection can stay up while its reply path does not (a binding or consumer gone with a broker
node), and without this every call through it would time out until the process restarted."""
PROBE_PREFIX = "link-probe-"
LINK_READY_LINE = "ready: broker link up"
"""Logged (INFO) when a container's link first connects (``services.registry`` repeats it)."""


class _Verifiers:
    """One Verifier per secret, shared by every extension in a process."""

    _by_secret: dict[str, Verifier] = {}

    @classmethod
    def secret(cls, config: dict[str, Any]) -> str:
        return identity_secret(config)

    @classmethod
    def get(cls, config: dict[str, Any]) -> Verifier:
        secret = cls.secret(config)
        verifier = cls._by_secret.get(secret)
        if verifier is None:
            verifier = cls._by_secret[secret] = Verifier(secret)
        return verifier


class ExpectedErrorFilter(logging.Filter):
    """On ``nameko.containers``: a worker's deliberate error is not a fault.

    nameko logs an expected exception as a WARNING with its traceback; a caller's mistake
    (a :class:`HelpdeskError` below 500) becomes one INFO line without it, a deliberate 5xx
    (unavailable, deadline) a WARNING without it. Anything else keeps its ERROR and traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HelpdeskError):
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO if exc.status < 500 else logging.WARNING
            record.levelname = logging.getLevelName(record.levelno)
        return True


def rpc_exchange(config: dict[str, Any], *, passive: bool = False) -> Exchange:
    """nameko's RPC exchange; ``passive`` for a binding that only asserts it exists."""
    exchange = get_rpc_exchange(config)
    return Exchange(exchange.name, type=exchange.type, durable=exchange.durable, passive=passive)


REPLY_ATTEMPTS = 3
"""A reply is written at most this often, each on a new connection after a failed write, within
about a second (:class:`HeldPublisher`): nameko's default retry policy (3 retries, 2 s apart and
growing) held a worker for ~12 s and then killed the container; a reply that cannot go out in a
second will not be waited for anyway."""
SEND_ATTEMPTS = 2
"""A request whose write fails (the connection just broke) is sent once more on the link's next
connection, if that comes within the call's deadline and ``LINK_WAIT``."""


class _Responder(Responder):
    """nameko's responder, serializing its reply once (nameko encodes the result twice: once to
    check that it can, once to send it) and writing it on the process's :class:`HeldPublisher`.

    No publisher confirm for a reply: its queue is the caller's exclusive, non-durable one, which
    a broker failure ends together with the caller's connection, so a confirm would prove nothing
    the caller can use (waiting for it was 7 % of the tickets service's CPU per create). A lost
    reply is the caller's deadline; the write it answers is committed."""

    def send_response(self, result: Any, exc_info: Any) -> tuple[Any, Any]:
        error = serialize(exc_info[1]) if exc_info is not None else None
        properties = self.message.properties
        serializer = serialization.registry.type_to_name[properties["content_type"]]
        try:
            content_type, encoding, body = serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:
            # a result that cannot be encoded is the worker's error, sent as nameko would send it
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            content_type, encoding, body = serialization.dumps({"result": None, "error": error}, serializer)
        publisher = HeldPublisher.shared(
            self.amqp_uri,
            attempts=REPLY_ATTEMPTS,
            ssl=self.ssl,
            login_method=self.login_method,
            delivery_mode=TRANSIENT,
        )
        publisher.publish_body(
            body,
            content_type=content_type,
            content_encoding=encoding,
            exchange=self.exchange,
            routing_key=properties["reply_to"],
            correlation_id=properties.get("correlation_id"),
        )
        return result, exc_info


class HelpdeskRpcConsumer(RpcConsumer):
    """nameko's RPC queue consumer on the :class:`GuardedQueueConsumer`; a request nobody can be
    answered for (no ``reply_to``) is dropped with a warning, one whose body cannot be decoded
    is answered with :class:`BadRequest`, and a reply the broker does not take (it went away
    meanwhile) is given up after a second instead of killing the container: the request stays
    unacknowledged, so the broker delivers it again (its deadline decides whether it runs)."""

    queue_consumer = GuardedQueueConsumer()

    def setup(self) -> None:
        """nameko's set-up, with the ``nameko-rpc`` exchange only asserted to exist (declared here
        if the service's broker user may, otherwise by the deploy step)."""
        if self.queue is None:
            with connected(cfg.required(self.container.config, cfg.AMQP_URI)) as conn:
                declare_if_allowed(conn, get_rpc_exchange(self.container.config))
        super().setup()
        self.queue.exchange = rpc_exchange(self.container.config, passive=True)
        # nameko declares rpc-<service> itself: durable, and classic unless the config says quorum
        kind = queue_type(self.container.config)
        self.queue.queue_arguments = durable_arguments(kind, delivery_limit=RPC_DELIVERY_LIMIT)

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        config = self.container.config
        responder = _Responder(
            config[cfg.AMQP_URI],
            get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except Exception as exc:
            log.warning("could not reply to %s: %s", message.delivery_info.get("routing_key"), exc)
            return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def handle_message(self, body: Any, message: Any) -> None:
        if not message.properties.get("reply_to"):
            key = message.delivery_info.get("routing_key")
            log.warning("dropping an RPC request without reply_to (%s)", key)
            self.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)

    def handle_undecodable(self, message: Any, error: Exception) -> None:
        if not message.properties.get("reply_to"):
            self.queue_consumer.ack_message(message)
            return
        # nameko answers in the request's content type; the answer to this one is JSON like any other
        message.properties["content_type"] = "application/json"
        self.refuse(message, BadRequest(f"The request body cannot be decoded: {error}"))

    def refuse(self, message: Any, error: HelpdeskError) -> None:
        """Answer ``message`` with ``error`` without running anything."""
        try:
            raise error
        except HelpdeskError:
            self.handle_result(message, None, sys.exc_info())


class HelpdeskRpc(SignatureOnce, Rpc):
    """nameko's RPC entrypoint plus deadline and identity checks before any work is done."""

    rpc_consumer = HelpdeskRpcConsumer()

    def __init__(self, public: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("expected_exceptions", HelpdeskError)
        self.public = public
        super().__init__(**kwargs)

    def setup(self) -> None:
        containers_log = logging.getLogger("nameko.containers")
        if not any(isinstance(f, ExpectedErrorFilter) for f in containers_log.filters):
            containers_log.addFilter(ExpectedErrorFilter())
        super().setup()

    def bind(self, container: Any, method_name: str) -> HelpdeskRpc:
        """Exit at once if the container has no usable identity secret: binding happens before
        nameko opens any broker connection, so a misconfigured service never half-starts."""
        if not self.public:
            require_identity_secret(container.config, container.service_name)
        return super().bind(container, method_name)

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            self.admit(body, self.unpack_message_headers(message))
        except HelpdeskError as error:
            service = metrics.service_of(self)
            metrics.RPC_REFUSED.labels(service, self.method_name, type(error).__name__).inc()
            self.rpc_consumer.refuse(message, error)
            return
        super().handle_message(body, message)

    def admit(self, body: Any, context: dict[str, Any]) -> None:
        """Raise the error a request is answered with instead of being run, if any."""
        well_formed = isinstance(body, dict) and isinstance(body.get("args"), list)
        if not (well_formed and isinstance(body.get("kwargs"), dict)):
            raise BadRequest('An RPC request body is a JSON object {"args": [...], "kwargs": {...}}.')
        problem = context_problem(context)
        if problem is not None:
            raise BadRequest(f"The request is malformed: {problem}.")
        deadline = context.get(DEADLINE_KEY)
        if deadline is not None and (parse_deadline(deadline) or 0.0) < time.time():
            raise DeadlineExceeded("The request expired before it was executed.")
        if not self.public:
            _Verifiers.get(self.container.config).verify(context.get(CONTEXT_KEY))


rpc = HelpdeskRpc.decorator


class CurrentCaller(DependencyProvider):
    """Gives each worker the verified :class:`Caller` of its request, or None.

    Non-public RPC methods are only reached with a valid identity (the entrypoint
    checks), so there the value is never None.
    """

    def bind(self, container: Any, attr_name: str) -> CurrentCaller:
        """The same start-up check as :meth:`HelpdeskRpc.bind`."""
        require_identity_secret(container.config, container.service_name)
        return super().bind(container, attr_name)

    def setup(self) -> None:
        self.verifier = _Verifiers.get(self.container.config)

    def get_dependency(self, worker_ctx: Any) -> Caller | None:
        assertion = worker_ctx.data.get(CONTEXT_KEY)
        if not assertion:
            return None
        try:
            return self.verifier.verify(assertion)
        except Unauthenticated:
            return None


def require_caller(caller: Caller | None) -> Caller:
    """Return the caller, or refuse the call when there is none."""
    if caller is None:
        raise Unauthenticated("This call needs a caller identity.")
    return caller


class _Pending:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event: Event = Event()


class ReplyPathLost(Exception):
    """The link's own probe did not come back: its reply queue no longer receives."""


class BrokerLink(SharedExtension):
    """One long-lived consuming connection per container, reconnected forever.

    It receives RPC replies on an exclusive reply queue and, for whoever registered
    them, broadcast events on exclusive queues bound to other services' event
    exchanges. After every (re)connection the ``on_connect`` callbacks run, so a
    cache fed by broadcasts can drop everything it may have missed meanwhile.

    Every connection gets queues of a new name (a queue left behind on a broker node that
    died can never be mistaken for the new one), and the link proves its reply path while
    connected: after ``PROBE_AFTER`` seconds without a reply it sends itself a probe through
    the RPC exchange, and reconnects if the probe is not back within ``PROBE_TIMEOUT``.

    Requests go out on the same connection (:mod:`services.chassis.request_channel`), so the
    loop that reads the replies also reads the broker's confirmations and returns.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, _Pending] = {}
        self._broadcasts: list[tuple[str, tuple[str, ...], Callable[[str, dict[str, Any]], None]]] = []
        self._on_connect: list[Callable[[], None]] = []
        self._connected = False
        self._announced = False
        self._running = False
        self.routing_key = uuid.uuid4().hex
        self._gt: Any = None
        self._last_reply = 0.0
        self._probe: tuple[str, float] | None = None  # correlation id and when it was sent
        self._requests = RequestChannel(self._refused)
        self._generation = 0  # connections made so far; a send that failed waits for the next

    @property
    def connected(self) -> bool:
        return self._connected

    def setup(self) -> None:
        self.amqp_uri = cfg.required(self.container.config, cfg.AMQP_URI)
        self.exchange = get_rpc_exchange(self.container.config)

    def subscribe_broadcast(
        self,
        source_exchange: str,
        event_types: Iterable[str],
        handler: Callable[[str, dict[str, Any]], None],
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        """Deliver ``event_types`` from ``source_exchange`` to ``handler(event_type, body)``."""
        self._broadcasts.append((source_exchange, tuple(event_types), handler))
        if on_connect is not None:
            self._on_connect.append(on_connect)

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._gt = self.container.spawn_managed_thread(self._run)
            with eventlet.Timeout(10, False):
                while not self._connected:
                    eventlet.sleep(0.02)

    def stop(self) -> None:
        self._running = False
        if self._gt is not None:
            self._gt.kill()
        super().stop()

    def kill(self) -> None:
        self.stop()

    @staticmethod
    def reply_queue_name(service: str, routing_key: str) -> str:
        return f"rpc.reply-{service}-{routing_key}"

    @staticmethod
    def broadcast_queue_name(source_exchange: str, service: str, routing_key: str) -> str:
        return f"bcast-{source_exchange}--{service}-{routing_key}"

    def _queues(self) -> list[Queue]:
        name = self.reply_queue_name(self.container.service_name, self.routing_key)
        rpc = rpc_exchange(self.container.config, passive=True)
        queues = [Queue(name, exchange=rpc, routing_key=self.routing_key, exclusive=True, auto_delete=True)]
        for source, event_types, _handler in self._broadcasts:
            exchange = Exchange(source, type="topic", durable=True, passive=True)
            qname = self.broadcast_queue_name(source, self.container.service_name, self.routing_key)
            # one queue with one binding per event type (several Queue objects of one name
            # would leave only the last binding in place)
            bindings = [binding(exchange, routing_key=et) for et in sorted(set(event_types))]
            queues.append(Queue(qname, bindings=bindings, exclusive=True, auto_delete=True))
        return queues

    def _run(self) -> None:
        backoff = RECONNECT_POLICY["interval_start"]
        while self._running:
            try:
                with Connection(self.amqp_uri, heartbeat=20) as conn:
                    # one attempt: the back-off below is ours, bounded, and reset on success
                    conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
                    self._declare_exchanges(conn)
                    self.routing_key = uuid.uuid4().hex
                    self._probe, self._last_reply = None, time.monotonic()
                    channel = conn.channel()
                    consumer = Consumer(
                        channel,
                        self._queues(),
                        callbacks=[self._on_message],
                        no_ack=True,
                        accept=["json"],
                        on_decode_error=self._on_undecodable,
                    )
                    self._requests.open(conn)
                    self._generation += 1
                    with consumer:
                        if not self._announced:  # the first connection, however late it comes
                            self._announced = True
                            log.info(LINK_READY_LINE)
                        self._connected = True
                        backoff = RECONNECT_POLICY["interval_start"]
                        for callback in self._on_connect:
                            callback()
                        while self._running:
                            # heartbeats must go out on a busy link too, not only after an idle second
                            with contextlib.suppress(TimeoutError):
                                conn.drain_events(timeout=1)
                            with self._requests.writing():
                                self._requests.renew_if_refused()
                                conn.heartbeat_check()
                                self._check_reply_path(channel)
                    self._requests.close()
            except Exception as exc:  # any broker failure: report, fail waiters, reconnect
                if self._connected:
                    log.warning("broker link lost (%s: %s); reconnecting", type(exc).__name__, exc)
                self._connected = False
                self._requests.close()
                self._fail_pending()
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_POLICY["interval_max"])
        self._connected = False

    def _on_undecodable(self, message: Any, error: Exception) -> None:
        # replies and broadcasts are not acked (no_ack): nothing to park, nothing to crash the link over
        log.error(
            "ignoring an undecodable message from %s (%s): %s",
            message.delivery_info.get("exchange"),
            message.content_type,
            error,
        )

    def _declare_exchanges(self, conn: Connection) -> None:
        """Declare the exchanges the link binds to where its user may; elsewhere the deploy step did,
        and the bindings only assert that they exist."""
        declare_if_allowed(conn, rpc_exchange(self.container.config))
        for source, _event_types, _handler in self._broadcasts:
            declare_if_allowed(conn, Exchange(source, type="topic", durable=True))

    def _check_reply_path(self, channel: Any) -> None:
        """Send a probe after a quiet spell; ReplyPathLost if the last one has not come back."""
        now = time.monotonic()
        if self._probe is not None:
            if now - self._probe[1] > PROBE_TIMEOUT:
                raise ReplyPathLost(f"no probe back through {self.routing_key} in {PROBE_TIMEOUT:g}s")
            return
        if now - self._last_reply < PROBE_AFTER:
            return
        correlation_id = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        self._probe = (correlation_id, now)
        write(
            channel,
            b"{}",
            exchange=self.exchange.name,
            routing_key=self.routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            properties={"correlation_id": correlation_id},
        )

    def _refused(self, correlation_id: str, reason: str) -> None:
        """The broker returned or refused a request (see RequestChannel): its caller fails now."""
        waiter = self._pending.pop(correlation_id, None)
        if waiter is not None and not waiter.event.ready():
            waiter.event.send({"error": None, reason: True})

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.event.ready():
                waiter.event.send({"error": None, "lost": True})

    def _on_message(self, body: Any, message: Any) -> None:
        exchange = message.delivery_info.get("exchange")
        if exchange == self.exchange.name:
            self._last_reply = time.monotonic()
            correlation_id = message.properties.get("correlation_id")
            if self._probe is not None and correlation_id == self._probe[0]:
                self._probe = None
                return
            waiter = self._pending.pop(correlation_id, None)
            if waiter is not None:
                waiter.event.send(body)
            return
        routing_key = message.delivery_info.get("routing_key")
        for source, event_types, handler in self._broadcasts:
            if source == exchange and routing_key in event_types:
                try:
                    handler(routing_key, body)
                except Exception:
                    log.exception("broadcast handler failed for %s/%s", source, routing_key)

    def client(
        self, service: str, *, identity: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> ServiceClient:
        """A client of ``service`` for code outside a worker (caches, readiness, schedules)."""
        context = {CONTEXT_KEY: identity} if identity else {}
        return ServiceClient(self, service, context, timeout)

    def call(
        self,
        service: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        headers: dict[str, Any],
        deadline: float,
    ) -> Any:
        """Send one request and wait for its reply until ``deadline`` (timed and counted)."""
        began = time.perf_counter()
        outcome = "ok"
        try:
            return self._call(service, method, args, kwargs, headers=headers, deadline=deadline)
        except DeadlineExceeded:
            outcome = "timeout"
            raise
        except ServiceUnavailable:
            outcome = "unavailable"
            raise
        except Exception as exc:
            outcome = metrics.outcome_of(exc)
            raise
        finally:
            caller = metrics.service_of(self)
            metrics.RPC_SECONDS.labels(caller, service, method).observe(time.perf_counter() - began)
            metrics.RPC_CALLS.labels(caller, service, method, outcome).inc()

    def _await_link(self, deadline: float) -> None:
        """Wait up to ``LINK_WAIT`` (never past ``deadline``) for a link that is reconnecting, so a
        call made during a failover succeeds; ServiceUnavailable if the broker stays away."""
        if not self._connected:
            until = min(deadline, time.time() + LINK_WAIT)
            while not self._connected and time.time() < until:
                eventlet.sleep(0.02)
        if not self._connected:
            raise ServiceUnavailable("The message broker cannot be reached.")

    def _send(
        self,
        service: str,
        routing_key: str,
        payload: dict[str, Any],
        *,
        headers: dict[str, Any],
        deadline: float,
        correlation_id: str,
    ) -> _Pending:
        """Send the request on the link (once more on its next connection if the write fails);
        the waiter its reply, or its refusal, will reach."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            self._await_link(deadline)
            generation = self._generation
            waiter = self._pending[correlation_id] = _Pending()
            try:
                self._requests.send(
                    payload,
                    exchange=self.exchange.name,
                    routing_key=routing_key,
                    correlation_id=correlation_id,
                    reply_to=self.routing_key,
                    headers=headers,
                    expiration=max(0.001, deadline - time.time()),
                    timeout=deadline - time.time(),
                )
                return waiter
            except TimeoutError:
                self._pending.pop(correlation_id, None)
                raise DeadlineExceeded(f"{routing_key}: the request could not be sent in time.") from None
            except Exception as exc:
                self._pending.pop(correlation_id, None)
                if attempt == SEND_ATTEMPTS:
                    raise ServiceUnavailable(f"Could not send the request to {service}: {exc}") from exc
                self._await_reconnection(generation, deadline)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _await_reconnection(self, generation: int, deadline: float) -> None:
        """Wait up to ``LINK_WAIT`` (never past ``deadline``) for a connection after ``generation``."""
        until = min(deadline, time.time() + LINK_WAIT)
        while (self._generation == generation or not self._connected) and time.time() < until:
            eventlet.sleep(0.02)

    def _call(
        self,
        service: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        headers: dict[str, Any],
        deadline: float,
    ) -> Any:
        if deadline <= time.time():
            raise DeadlineExceeded(f"{service}.{method}: the deadline passed before the call was made.")
        headers = {**headers, f"nameko.{DEADLINE_KEY}": deadline}
        if traceparent := tracing.current_traceparent():  # the caller's span is the callee's parent
            headers[f"nameko.{tracing.TRACEPARENT}"] = traceparent
        correlation_id = uuid.uuid4().hex
        waiter = self._send(
            service,
            f"{service}.{method}",
            {"args": list(args), "kwargs": kwargs},
            headers=headers,
            deadline=deadline,
            correlation_id=correlation_id,
        )
        body = None
        with eventlet.Timeout(max(0.0, deadline - time.time()), False):
            body = waiter.event.wait()
        if body is None:
            self._pending.pop(correlation_id, None)
            raise DeadlineExceeded(f"{service}.{method} did not answer in time.")
        if body.get("lost"):
            raise ServiceUnavailable("The broker connection was lost during the call.")
        if body.get(UNROUTABLE):
            raise ServiceUnavailable(f"The {service} service is not available.")
        if body.get(REFUSED):
            raise ServiceUnavailable(f"The broker refused the request to {service}.")
        error = body.get("error")
        if error:
            raise deserialize(error)
        return body.get("result")


class ServiceClient:
    """Calls one service: ``client.method(*args, **kwargs)``, the one way any code in the suite does.

    Inside a worker it comes from :class:`ServiceRpc` and carries the worker's caller
    and deadline; elsewhere from :meth:`BrokerLink.client`. Every call has a deadline
    and raises the callee's own error classes.
    """

    def __init__(
        self,
        link: BrokerLink,
        service: str,
        context: dict[str, Any],
        timeout: float,
        system: Callable[[], str] | None = None,
    ) -> None:
        self._link = link
        self._service = service
        self._context = context
        self._timeout = timeout
        self._system = system

    def with_identity(self, assertion: str) -> ServiceClient:
        """The same client, acting as the caller that ``assertion`` names."""
        context = {**self._context, CONTEXT_KEY: assertion}
        return ServiceClient(self._link, self._service, context, self._timeout, self._system)

    def as_system(self) -> ServiceClient:
        """The same client, acting as the calling service itself (for lookups the caller's
        own permissions should not hide, such as whether a would-be owner exists)."""
        if self._system is None:
            raise RuntimeError("this client has no system identity to act with")
        return self.with_identity(self._system())

    def with_timeout(self, timeout: float) -> ServiceClient:
        return ServiceClient(self._link, self._service, self._context, timeout, self._system)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return partial(self._call, method)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        deadline = time.time() + self._timeout
        inherited = self._context.get(DEADLINE_KEY)
        if inherited is not None:
            deadline = min(deadline, float(inherited))
        headers = {f"nameko.{k}": v for k, v in self._context.items() if v is not None and k != DEADLINE_KEY}
        return self._link.call(self._service, method, args, kwargs, headers=headers, deadline=deadline)


class ServiceRpc(DependencyProvider):
    """Dependency giving a worker a :class:`ServiceClient` for ``target_service``.

    The worker's context (its caller identity, its deadline) travels with every call.
    """

    link = BrokerLink()

    def __init__(self, target_service: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target_service = target_service
        self.timeout = timeout

    def setup(self) -> None:
        secret = _Verifiers.secret(self.container.config)
        service = self.container.service_name
        self._system = SystemIdentity(service, secret)

    def get_dependency(self, worker_ctx: Any) -> ServiceClient:
        context = dict(worker_ctx.context_data)
        return ServiceClient(self.link, self.target_service, context, self.timeout, self._system)


class Broker(DependencyProvider):
    """Dependency giving a worker the container's :class:`BrokerLink` (readiness, raw calls)."""

    link = BrokerLink()

    def get_dependency(self, worker_ctx: Any) -> BrokerLink:
        return self.link
