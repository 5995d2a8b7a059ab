"""A blocking RPC client for the help desk's services, for programs that are not nameko services.

Thread safety: **one client per thread.** A client owns one pika ``BlockingConnection``,
which must only be used from one thread; the first thread that uses a client becomes its
owner and any other thread gets a ``RuntimeError`` instead of a corrupted connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pika
import pika.exceptions

from helpdesk_client.events import EventCallback, Subscription
from helpdesk_client.wire import RPC_EXCHANGE, build_request, decode_reply
from services.chassis.errors import DeadlineExceeded, ServiceUnavailable, Unauthenticated

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
REFRESH_MARGIN = 30.0
"""Seconds before a token-based identity expires at which it is renewed (at most half its TTL)."""

PERMISSIONS_SERVICE = "permissions"
CONNECTION_NAME = "helpdesk_client"

ConnectionFactory = Callable[[str], Any]
"""``factory(amqp_uri)`` -> an open connection with pika ``BlockingConnection``'s interface."""


def connect(amqp_uri: str, timeout: float = DEFAULT_TIMEOUT) -> pika.BlockingConnection:
    """Open a blocking connection to ``amqp_uri`` (settings given in the URI win); a cluster's
    ``;``-separated URIs are tried in turn, so a dead node is skipped."""
    candidates = []
    for uri in (part.strip() for part in amqp_uri.split(";")):
        if not uri:
            continue
        params = pika.URLParameters(uri)
        if params.blocked_connection_timeout is None:
            # A broker in a resource alarm holds publishes forever; give up on the connection instead.
            params.blocked_connection_timeout = max(timeout, 1.0)
        params.client_properties = {"connection_name": CONNECTION_NAME}
        candidates.append(params)
    return pika.BlockingConnection(candidates if len(candidates) > 1 else candidates[0])


class HelpdeskClient:
    """Calls the help desk's services over RabbitMQ, as a given caller, with deadlines.

    Give ``token`` (an API token: the client exchanges it with ``permissions.authenticate``
    for a signed identity, and renews that identity before it expires), or ``identity`` (a
    signed assertion used as is), or neither (only ``public`` methods will accept the calls).

    Every call has a deadline, ``timeout`` seconds after it starts (or the timeout given to
    :meth:`service` or :meth:`invoke`). The request carries it as header and as message TTL, so a request
    still queued at its deadline is dropped and a service never starts it late. When the
    deadline passes without an answer the call raises :class:`DeadlineExceeded`; the
    service may or may not have run it. A request nobody can receive raises
    :class:`ServiceUnavailable` at once (it is published ``mandatory`` with publisher
    confirms), as does a broker that cannot be reached. A remote error is raised as the
    same class it was raised as (:mod:`services.chassis.errors`), with the same fields.

    The connection opens on first use and is reopened on the next call after it is lost; a
    call whose request may already have been sent is never repeated.

    Not thread-safe: use one client per thread (see the module docstring).
    """

    def __init__(
        self,
        amqp_uri: str,
        token: str | None = None,
        identity: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        connection_factory: ConnectionFactory | None = None,
    ) -> None:
        if token is not None and identity is not None:
            raise ValueError("give a token or an identity, not both")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.amqp_uri = amqp_uri
        self.timeout = float(timeout)
        self._token = token
        self._identity = identity
        self._user_id: int | None = None
        self._refresh_at = float("inf") if token is None else 0.0
        self._connect: ConnectionFactory = connection_factory or partial(connect, timeout=self.timeout)
        self._connection: Any = None
        self._channel: Any = None
        self._reply_key = ""
        self._awaiting: str | None = None
        self._reply: bytes | None = None
        self._owner: int | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def identity(self) -> str | None:
        """The signed identity the next call will carry (None until a token is first exchanged)."""
        return self._identity

    @property
    def user_id(self) -> int | None:
        """The user the token belongs to, once it has been exchanged; else None."""
        return self._user_id

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.method(*args, **kwargs)`` and return its result (see the class docs)."""
        return self.invoke(service, method, args, kwargs)

    def invoke(
        self,
        service: str,
        method: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Like :meth:`call`, with arguments passed explicitly and an optional own ``timeout``."""
        self._check_thread()
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        identity = self._current_identity(deadline)
        try:
            return self._rpc(service, method, args, kwargs or {}, deadline=deadline, identity=identity)
        except Unauthenticated:
            if self._token is not None:
                self._refresh_at = 0.0  # rejected (expired, revoked, new secret): renew next call
            raise

    def service(self, name: str, timeout: float | None = None) -> ServiceProxy:
        """``client.service("tickets").get_ticket(5)`` calls ``tickets.get_ticket(5)``."""
        return ServiceProxy(self, name, timeout)

    def refresh_identity(self) -> str:
        """Exchange the token for a fresh identity now and return it."""
        if self._token is None:
            raise ValueError("this client has no token to exchange")
        self._check_thread()
        self._authenticate(time.time() + self.timeout)
        assert self._identity is not None
        return self._identity

    def subscribe(
        self,
        source_service: str,
        event_types: list[str] | tuple[str, ...] | str,
        queue_name: str,
        callback: EventCallback,
        *,
        prefetch: int = 10,
        queue_type: str | None = None,
    ) -> Subscription:
        """Consume ``event_types`` of ``source_service`` through the durable queue ``queue_name``.

        The queue and its bindings exist when this returns, so from then on matching events
        are kept even while nobody consumes. Call ``run()`` on the result (in the thread
        that will own it) to deliver them; see :class:`Subscription` for the guarantees
        (``queue_type``: ``"quorum"`` on a cluster, ``"classic"``; by default
        ``$HELPDESK_QUEUE_TYPE``, else classic).
        It uses its own connection, so ``callback`` may make calls with this client. An
        unreachable broker raises :class:`ServiceUnavailable`.
        """
        if isinstance(event_types, str):
            event_types = (event_types,)
        try:
            connection = self._connect(self.amqp_uri)
        except pika.exceptions.AMQPError as exc:
            raise ServiceUnavailable(f"The message broker cannot be reached: {exc!r}") from exc
        return Subscription(
            connection,
            source_service,
            tuple(event_types),
            queue_name,
            callback,
            prefetch=prefetch,
            queue_type=queue_type,
        )

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        connection, self._connection, self._channel = self._connection, None, None
        self._owner = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def __enter__(self) -> HelpdeskClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _check_thread(self) -> None:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise RuntimeError("a HelpdeskClient is used by one thread only: create one client per thread")

    def _current_identity(self, deadline: float) -> str | None:
        if self._token is not None and time.time() >= self._refresh_at:
            self._authenticate(deadline)
        return self._identity

    def _authenticate(self, deadline: float) -> None:
        answer = self._rpc(
            PERMISSIONS_SERVICE, "authenticate", (self._token,), {}, deadline=deadline, identity=None
        )
        ttl = float(answer["ttl"])
        self._identity = str(answer["identity"])
        self._user_id = answer.get("user_id")
        self._refresh_at = time.time() + ttl - min(REFRESH_MARGIN, ttl / 2)

    def _rpc(
        self,
        service: str,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        *,
        deadline: float,
        identity: str | None,
    ) -> Any:
        now = time.time()
        if deadline <= now:
            raise DeadlineExceeded(f"{service}.{method}: the deadline passed before the request was sent.")
        channel = self._ready_channel()
        request = build_request(
            service,
            method,
            args,
            kwargs,
            reply_to=self._reply_key,
            deadline=deadline,
            now=now,
            identity=identity,
        )
        self._awaiting, self._reply = request.correlation_id, None
        try:
            try:
                channel.basic_publish(
                    request.exchange, request.routing_key, request.body, request.properties, mandatory=True
                )
            except pika.exceptions.UnroutableError:
                raise ServiceUnavailable(f"No {service} service is listening for {method}.") from None
            except pika.exceptions.NackError:
                # RabbitMQ 3.10 goes on refusing mandatory requests to a quorum queue, for as long
                # as the channel lives, on a channel that first sent to it during the queue's
                # leader election: the next call starts on a new connection
                self._drop_connection()
                raise ServiceUnavailable(f"The broker refused the request to {service}.{method}.") from None
            except pika.exceptions.AMQPError as exc:
                self._drop_connection()
                raise ServiceUnavailable(f"Could not send the request to {service}: {exc!r}") from exc
            while self._reply is None:
                remaining = deadline - time.time()
                if remaining <= 0:
                    raise DeadlineExceeded(f"{service}.{method} did not answer in time.")
                try:
                    self._connection.process_data_events(time_limit=remaining)
                except pika.exceptions.AMQPError as exc:
                    self._drop_connection()
                    lost = f"The broker connection was lost during {service}.{method}."
                    raise ServiceUnavailable(lost) from exc
            body = self._reply
        finally:
            self._awaiting, self._reply = None, None
        return decode_reply(body)

    def _on_reply(self, _channel: Any, _method: Any, properties: Any, body: bytes) -> None:
        # A late reply to a call that already timed out has another correlation id: dropped.
        if self._awaiting is not None and properties.correlation_id == self._awaiting:
            self._reply = body

    def _ready_channel(self) -> Any:
        """The open channel, (re)connecting first when there is none or it has died unnoticed."""
        if self._connection is not None:
            try:
                # Reads what arrived while idle, which reveals a connection the broker closed
                # (e.g. missed heartbeats) before anything is published on it.
                self._connection.process_data_events(time_limit=0)
                if self._connection.is_open and self._channel.is_open:
                    return self._channel
            except pika.exceptions.AMQPError as exc:
                log.info("broker connection lost while idle (%r); reconnecting", exc)
            self._drop_connection()
        try:
            self._open()
        except pika.exceptions.AMQPError as exc:
            self._drop_connection()
            raise ServiceUnavailable(f"The message broker cannot be reached: {exc!r}") from exc
        return self._channel

    def _open(self) -> None:
        self._connection = self._connect(self.amqp_uri)
        channel = self._connection.channel()
        channel.confirm_delivery()
        # Replies come through nameko-rpc (nameko's responder publishes them there with the
        # request's reply_to as routing key), so RabbitMQ's direct reply-to, which only the
        # default exchange can reach, never receives them: a private queue bound there does.
        channel.exchange_declare(RPC_EXCHANGE, exchange_type="topic", durable=True)
        self._reply_key = uuid.uuid4().hex
        queue = f"rpc.reply-{CONNECTION_NAME}-{self._reply_key}"
        channel.queue_declare(queue, exclusive=True, auto_delete=True)
        channel.queue_bind(queue, RPC_EXCHANGE, routing_key=self._reply_key)
        channel.basic_consume(queue, self._on_reply, auto_ack=True)
        self._channel = channel

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                if connection.is_open:
                    connection.close()
            except Exception:  # already broken: nothing left to release but the socket
                log.debug("error while closing a broken connection", exc_info=True)


class ServiceProxy:
    """Attribute access turns into calls: ``proxy.method(*args, **kwargs)``."""

    def __init__(self, client: HelpdeskClient, service: str, timeout: float | None = None) -> None:
        self._client = client
        self._service = service
        self._timeout = timeout

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._client.invoke(self._service, method, args, kwargs, timeout=self._timeout)

        call.__name__ = method
        return call

    def __repr__(self) -> str:
        return f"<ServiceProxy {self._service}>"
