"""The gateway's HTTP server: nameko's WebServer on eventlet.wsgi, hardened at the protocol level.

Everything here happens before a route sees the request, and every answer it gives is
problem+json with an ``X-Request-Id``, like the routes' own:

* **Limits.** A request line of :data:`MAX_REQUEST_LINE` bytes or more answers 414; a header
  line of 8 KiB or more, headers over :data:`MAX_HEADER_BYTES` in all, or more than 100 of
  them answer 431 (eventlet's own answers to the first two are bare 414/400 without a body,
  so ours are checked first).
* **Parsing.** The request line (the standard library's rules) and the headers
  (:func:`read_headers`) are parsed here, in one pass over the header block; the standard
  library's parser went through the email package's feed parser for the same result.
* **Framing.** More than one ``Content-Length``, one that is not plain digits, a
  ``Transfer-Encoding`` other than ``chunked`` or beside a ``Content-Length``, a bare CR
  inside a header line, a folded (obs-fold) line or a malformed field name answer 400: each is
  how a request gets read one way here and another way by a proxy in front.
* **Timeouts.** A connection waits at most ``idle_timeout`` for a request to start (between
  keep-alive requests too), then has ``header_timeout`` to send its request line and headers
  (a 408, whatever the pace it drips them at), and every socket read or write gives up after
  ``io_timeout``; a body must arrive within ``body_timeout`` (see :func:`gateway.http.read_json`).
  So idle or half-sent connections are closed instead of piling up.
* **Paths.** ``<int:...>`` in a route is :class:`IdConverter`: ASCII digits, 1 to 2**63-1,
  anything else (``0``, ``007``, ``١٢``, 20 digits) does not match, so it answers 404.
* **Logs.** eventlet's access log is off; :class:`GatewayWsgiApp` writes one line per request
  (see :mod:`gateway.logs`), with the request id it generates or accepts and returns.
* **Traces and metrics.** Each request is a span (a child of the client's W3C ``traceparent``
  when it sends one, see :mod:`services.chassis.tracing`), and is counted and timed by method,
  route template and status (:mod:`services.chassis.metrics`).

The settings come from the ``HTTP`` section of the gateway's config (``gateway/config.yaml``).
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import logging
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import partial
from http import HTTPStatus
from typing import Any

import eventlet
from eventlet import wsgi
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, ValidationError
from werkzeug.routing.converters import BaseConverter
from werkzeug.wrappers import Request, Response

from gateway import logs
from gateway.problems import PROBLEM_JSON, TYPE_BASE, response_for_exception, slug
from services.chassis import metrics, tracing
from services.chassis.schema import MAX_ID

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100
MAX_HEADER_LINE_READ = 65537
"""What one read of a header line asks for; eventlet's reader refuses a line of 8 KiB or more."""
REQUEST_ID_KEY = "helpdesk.request_id"
BODY_TIMEOUT_KEY = "helpdesk.body_timeout"
TRACEPARENT_KEY = "helpdesk.traceparent"
"""The request's span as a ``traceparent`` value: routes pass it on to their worker, and so to every
RPC the worker makes."""
ROUTE_KEY = "helpdesk.route"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; anything else a client invents is counted as ``other``."""
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_RUNOUT_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class HttpSettings:
    """Seconds a connection may take at each stage (see the module docstring)."""

    idle_timeout: float = 30.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    io_timeout: float = 30.0

    @classmethod
    def from_config(cls, raw: Any) -> HttpSettings:
        values = dict(raw) if isinstance(raw, Mapping) else {}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown HTTP settings: {', '.join(sorted(unknown))}")
        settings = cls(**{k: float(v) for k, v in values.items()})
        if (
            min(settings.idle_timeout, settings.header_timeout, settings.body_timeout, settings.io_timeout)
            <= 0
        ):
            raise ValueError("HTTP timeouts must be positive")
        return settings


def at_most(limit: int) -> str:
    """A regex of the decimal numbers from 1 to ``limit``, without leading zeros."""
    digits = str(limit)
    shorter = f"[1-9][0-9]{{0,{len(digits) - 2}}}" if len(digits) > 1 else ""
    same_length = [digits]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            same_length.append(f"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{rest}}}")
    return "(?:" + "|".join(filter(None, [shorter, *same_length])) + ")"


class IdConverter(BaseConverter):
    """A path id: ASCII digits without a leading zero, 1 to 2**63-1; anything else is no match (404).

    Werkzeug's ``int`` takes any size and any Unicode digit (``١٢`` is 12), so a path could
    carry an id no table can hold into a query, or name one ticket two ways. The bound is in the
    regex itself: a converter that refuses a value after matching makes werkzeug answer 405 or
    404 depending on the order its rules were added in.
    """

    regex = at_most(MAX_ID)
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


CONVERTERS = {"int": IdConverter}
"""The gateway's URL converters: ``<int:...>`` in any route means an id."""


def problem_bytes(status: int, detail: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection."""
    title = HTTPStatus(status).phrase
    body = json.dumps(
        {"type": TYPE_BASE + slug(title), "title": title, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-Id: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _HeadersTimedOut(Exception):
    """The request line and headers did not arrive within ``header_timeout``."""


class _BadHeaderLine(Exception):
    """A header line that parsers disagree about (bare CR, obs-fold, malformed name)."""


class _HeadersTooLarge(Exception):
    pass


class _TooManyHeaders(Exception):
    pass


_VERSION = re.compile(r"HTTP/([0-9]{1,10})\.([0-9]{1,10})")


def read_headers(fp: Any) -> http.client.HTTPMessage:
    """The header block from ``fp`` (eventlet's reader, which refuses a line of 8 KiB or more), up
    to its empty line, as the standard library's parser would make it for well-formed input: the
    same ``HTTPMessage``, each value without its leading blanks and its line end.

    Parsed here in one pass because the standard library hands the block to the email package's
    feed parser, ~6 % of the gateway's CPU a request. Lines a smuggler would send are refused
    (:class:`_BadHeaderLine`): a bare CR or a NUL, a folded line, a name that is not a token or
    no colon; more than :data:`MAX_HEADER_BYTES` in all is :class:`_HeadersTooLarge`, more than
    :data:`MAX_HEADERS` lines :class:`_TooManyHeaders`."""
    message = http.client.HTTPMessage()
    total = count = 0
    while True:
        line: bytes = fp.readline(MAX_HEADER_LINE_READ)
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise _HeadersTooLarge()
        content = line[:-2] if line.endswith(b"\r\n") else line.removesuffix(b"\n")
        if not content:
            return message
        count += 1
        if count > MAX_HEADERS:
            raise _TooManyHeaders()
        if b"\r" in content or b"\0" in content:
            raise _BadHeaderLine("a header line holds a bare CR or a NUL")
        if content[:1] in (b" ", b"\t"):
            raise _BadHeaderLine("folded (obs-fold) header lines are not accepted")
        name, colon, value = content.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise _BadHeaderLine("a header line is not 'Name: value'")
        message.set_raw(name.decode("ascii"), value.decode("iso-8859-1").lstrip(" \t"))


def framing_problem(headers: Any) -> str | None:
    """Why the body's framing is ambiguous, or None (RFC 9112 section 6)."""
    lengths = headers.get_all("Content-Length") or []
    encodings = headers.get_all("Transfer-Encoding") or []
    if len(lengths) > 1:
        return "more than one Content-Length header"
    if lengths and not _DIGITS.fullmatch(lengths[0].strip()):
        return "Content-Length must be a number of bytes"
    if encodings and lengths:
        return "Content-Length and Transfer-Encoding are not allowed together"
    if len(encodings) > 1 or (encodings and encodings[0].strip().lower() != "chunked"):
        return "the only Transfer-Encoding accepted is chunked"
    return None


class GatewayProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol with the limits, framing checks and timeouts of the module docstring."""

    _deadline: Any = None
    rfile: Any

    @property
    def settings(self) -> HttpSettings:
        return getattr(self.server, "settings", None) or HttpSettings()

    def handle_one_request(self) -> None:
        self._deadline = None
        try:
            super().handle_one_request()
        finally:
            self._cancel_deadline()
            # eventlet's environ holds a closure over this protocol (``eventlet.set_idle``): a
            # cycle that kept every connection's objects (socket, buffers, headers) alive until
            # the garbage collector came round, ~40 objects a request for it to walk.
            self.environ = None

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _wait_for_request(self) -> bool:
        """Wait up to ``idle_timeout`` for the first byte of a request; False when none came."""
        try:
            self.connection.settimeout(self.settings.idle_timeout)
            return bool(self.rfile.peek(1))
        except (TimeoutError, OSError, ValueError):
            return False

    def _read_request_line(self) -> bytes | str:
        if self.rfile.closed or not self._wait_for_request():
            self.close_connection = 1
            return ""
        self._deadline = eventlet.Timeout(self.settings.header_timeout, _HeadersTimedOut())
        try:
            line: bytes = super()._read_request_line()
        except _HeadersTimedOut:
            self.raw_requestline = b""
            self.refuse(408, "The request line did not arrive in time.")
            return ""
        if len(line) >= self.server.url_length_limit:
            self.raw_requestline = line[:200]
            self.refuse(414, f"The request line is longer than {MAX_REQUEST_LINE - 1} bytes.")
            return ""
        return line

    def parse_request(self) -> bool:
        """The request line (the standard library's rules) and the headers (:func:`read_headers`),
        then the framing checks; False, with the problem answered, when any of them fails."""
        try:
            if not self._parse_request_line():
                return False
            self.headers = read_headers(self.rfile)
        except (wsgi.HeaderLineTooLong, wsgi.HeadersTooLarge, _HeadersTooLarge):
            return self.refuse(
                431, f"A header line is 8 KiB or more, or all are over {MAX_HEADER_BYTES} bytes."
            )
        except _TooManyHeaders:
            return self.refuse(431, f"More than {MAX_HEADERS} header lines.")
        except _BadHeaderLine as exc:
            return self.refuse(400, f"Malformed headers: {exc}.")
        except _HeadersTimedOut:
            return self.refuse(408, "The headers did not arrive in time.")
        finally:
            self._cancel_deadline()
        problem = framing_problem(self.headers)
        if problem is not None:
            return self.refuse(400, f"Ambiguous request framing: {problem}.")
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if (
            self.headers.get("Expect", "").lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return bool(self.handle_expect_100())
        return True

    def _parse_request_line(self) -> bool:
        """``command``, ``path`` and ``request_version`` from the request line, by the standard
        library's rules (HTTP/0.9 is a GET without a version; 2.0 or later answers 505); False,
        with the problem answered, for a line it would refuse."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = _VERSION.fullmatch(words[-1])
            if version is None:
                return self.refuse(400, f"Bad request version ({words[-1]!r}).")
            number = int(version[1]), int(version[2])
            if number >= (2, 0):
                return self.refuse(505, f"Invalid HTTP version ({version[1]}.{version[2]}).")
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            self.request_version = words[-1]
        if not 2 <= len(words) <= 3:
            return self.refuse(400, f"Bad request syntax ({self.requestline[:200]!r}).")
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                return self.refuse(400, f"Bad HTTP/0.9 request type ({command[:40]!r}).")
        self.command = command
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's error answers (bad request line, too many headers), as problem+json."""
        self.refuse(code, explain or message or HTTPStatus(code).phrase)

    def refuse(self, status: int, detail: str) -> bool:
        """Answer ``status`` before any route runs, log it like any request, and close."""
        self._cancel_deadline()
        self.close_connection = 1
        request_id = logs.request_id(None)
        with contextlib.suppress(OSError):
            self.wfile.write(problem_bytes(status, detail, request_id))
            self.wfile.flush()
        requestline = str(getattr(self, "raw_requestline", b"") or b"", "iso-8859-1").rstrip("\r\n")
        method, _, rest = requestline.partition(" ")
        logs.access_line(
            request_id=request_id,
            method=method or "-",
            target=rest.rpartition(" ")[0] or rest or "-",
            status=status,
            seconds=0.0,
            client=str(self.client_address[0]),
        )
        return False


class GatewayWsgiApp(WsgiApp):
    """nameko's WSGI app with problem+json for unknown paths and wrong methods, a request id
    on every answer, and one access line per request."""

    def __init__(self, server: Any, settings: HttpSettings) -> None:
        super().__init__(server)
        self.settings = settings

    def __call__(self, environ: Any, start_response: Any) -> Any:
        began = time.monotonic()
        span = tracing.start(environ.get("HTTP_TRACEPARENT"), name="gateway.http", kind="server")
        token = tracing.activate(span)
        try:
            return self._answer(environ, start_response, began, span)
        finally:
            tracing.deactivate(token)

    def _answer(self, environ: Any, start_response: Any, began: float, span: tracing.Span) -> Any:
        environ[TRACEPARENT_KEY] = span.traceparent()
        request_id = environ[REQUEST_ID_KEY] = logs.request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[BODY_TIMEOUT_KEY] = self.settings.body_timeout
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # eventlet de-chunks the input but does not say so; without this Werkzeug reads nothing
            environ["wsgi.input_terminated"] = True
        response = self.dispatch(environ, request_id)
        response.headers["X-Request-Id"] = request_id
        seconds = time.monotonic() - began
        method = environ.get("REQUEST_METHOD", "-")
        logs.access_line(
            request_id=request_id,
            method=method,
            target=logs.environ_target(environ),
            status=response.status_code,
            seconds=seconds,
            client=environ.get("REMOTE_ADDR", "-"),
        )
        route = environ.get(ROUTE_KEY, "unmatched")
        if method not in _METHODS:
            method = "other"
        metrics.HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(method, route).observe(seconds)
        span.attributes.update({"http.request.method": method, "http.route": route})
        span.attributes["http.response.status_code"] = response.status_code
        tracing.finish(span, f"HTTP {response.status_code}" if response.status_code >= 500 else None)
        return response(environ, start_response)

    def dispatch(self, environ: Any, request_id: str) -> Response:
        request = Request(environ, shallow=True)
        try:
            adapter = self.url_map.bind_to_environ(environ)
            provider, values = adapter.match()
            environ[ROUTE_KEY] = provider.url
            request.path_values = values
            response: Response = provider.handle_request(request)
            return response
        except HTTPException as exc:
            response = response_for_exception(exc, request_id)
            if exc.code == 405 and getattr(exc, "valid_methods", None):
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        except Exception as exc:
            return response_for_exception(exc, request_id)


class GatewayWebServer(WebServer):
    """nameko's web server with the protocol, app and settings above, and Nagle switched off.

    eventlet writes responses through a 16 KiB buffer; with Nagle on, the last piece of a
    larger keep-alive response waits for the client's delayed ACK (~40 ms).
    """

    @property
    def settings(self) -> HttpSettings:
        return HttpSettings.from_config(self.container.config.get("HTTP"))

    def unregister_provider(self, provider: Any) -> None:
        """A route's entrypoint stops (the container is stopping): stop taking connections now, not
        after the running requests (another instance on the port takes the new ones), and answer
        every request still arriving on a kept-alive connection with ``Connection: close``, so the
        container's wait for its workers ends instead of being fed by clients for ever."""
        self.stop_taking_connections()
        super().unregister_provider(provider)

    def stop_taking_connections(self) -> None:
        if not getattr(self, "_is_accepting", False):
            return
        self._is_accepting = False
        if getattr(self, "_serv", None) is not None:
            self._serv.keepalive = 0  # eventlet then closes each connection after its response
        if getattr(self, "_gt", None) is not None:
            self._gt.kill()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()

    def make_url_map(self) -> Map:
        url_map = Map(converters=CONVERTERS)
        for provider in self._providers:
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map

    def get_wsgi_app(self) -> Any:
        return GatewayWsgiApp(self, self.settings)

    def get_wsgi_server(
        self, sock: Any, wsgi_app: Any, protocol: Any = GatewayProtocol, debug: bool = False
    ) -> Any:
        settings = self.settings
        server = wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=GatewayProtocol,
            debug=False,
            log=logging.getLogger("gateway.wsgi"),
            log_output=False,
            keepalive=settings.idle_timeout,
            socket_timeout=settings.io_timeout,
            url_length_limit=MAX_REQUEST_LINE,
        )
        server.settings = settings
        return server

    def run(self) -> None:
        """Accept connections; running out of file descriptors pauses accepting instead of
        ending it (nameko's loop would stop serving for good on the first EMFILE)."""
        pauses = logs.Throttled(log)
        while self._is_accepting:
            try:
                sock, addr = self._sock.accept()
            except OSError as exc:
                if exc.errno not in _RUNOUT_ERRNOS:
                    raise
                pauses.warning("accept", "cannot accept connections (%s); pausing 0.1 s", exc)
                eventlet.sleep(0.1)
                continue
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self.process_request, sock, addr))

    def process_request(self, sock: Any, address: Any) -> None:
        """Serve one connection; whatever goes wrong with it closes it and nothing else (an error
        escaping a managed thread would stop the whole gateway)."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            super().process_request(sock, address)
        except OSError:
            pass
        except Exception:
            log.exception("connection from %s failed", address[0] if address else "?")
        finally:
            with contextlib.suppress(OSError):
                sock.close()
