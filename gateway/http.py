"""HTTP plumbing of the gateway: routes that authenticate, parse and answer in one format.

:func:`route` replaces nameko's ``http``. Before a worker is spawned the route
authenticates the bearer token (through :class:`TokenCache`) unless it is public,
validates the query string with the route's query schema (422 before any RPC), and
puts the caller's signed identity into the worker context, so every RPC the handler
makes carries it. Errors of any kind become problem+json.

A route declares everything about itself once: its query, body and response
schemas, the statuses it may answer beyond the common ones, whether it takes an
``Idempotency-Key`` or an ``If-Match``. The gateway validates with those schemas and
the OpenAPI document is generated from the same declaration, so the two cannot drift.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterable
from functools import partial
from typing import Any

from eventlet.event import Event
from marshmallow import Schema
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from gateway.auth import TokenCache
from gateway.problems import response_for_exception
from services.chassis.errors import BadRequest, HelpdeskError, ValidationFailed
from services.chassis.idempotency import MAX_KEY_LENGTH, REPLAYED
from services.chassis.identity import CONTEXT_KEY
from services.chassis.schema import load

MAX_BODY_BYTES = 1024 * 1024


class PayloadTooLarge(HelpdeskError):
    status = 413
    title = "Payload too large"


class _ProblemWsgiApp(WsgiApp):
    """nameko's WSGI app, answering unknown paths and wrong methods with problem+json."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # eventlet de-chunks the input but does not say so; without this Werkzeug reads nothing
            environ["wsgi.input_terminated"] = True
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            rv = provider.handle_request(request)
        except HTTPException as exc:
            rv = response_for_exception(exc)
            if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
                rv.headers["Allow"] = ", ".join(exc.valid_methods)
        return rv(environ, start_response)


class GatewayWebServer(WebServer):
    """nameko's web server with problem+json for unknown routes and Nagle switched off.

    eventlet writes responses through a 16 KiB buffer; with Nagle on, the last piece of a
    larger keep-alive response waits for the client's delayed ACK (~40 ms).
    """

    def get_wsgi_app(self) -> Any:
        return _ProblemWsgiApp(self)

    def process_request(self, sock: Any, address: Any) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(sock, address)


COMMON_ERRORS = (400, 401, 403, 404, 422, 429, 503, 504)
"""Statuses any authenticated route may answer (bad input, auth, access, limits, outages)."""
BODY_ERRORS = (413, 415)
"""Statuses any route that reads a body may answer."""


class Route(HttpRequestHandler):
    """An HTTP entrypoint with authentication, validation, problem+json errors and OpenAPI metadata.

    ``query``, ``body`` and ``returns`` are marshmallow schema classes (normally the
    owning service's contract schemas); ``errors`` are statuses the route may answer
    beyond :data:`COMMON_ERRORS`; ``idempotent`` and ``if_match`` declare the headers.
    """

    server = GatewayWebServer()
    tokens = TokenCache()

    def __init__(  # noqa: PLR0913 - a route is declared by its keyword arguments, once
        self,
        method: str,
        url: str,
        *,
        summary: str,
        tag: str,
        public: bool = False,
        query: type[Schema] | None = None,
        body: type[Schema] | None = None,
        returns: type[Schema] | None = None,
        many: bool = False,
        status: int = 200,
        errors: Iterable[int] = (),
        idempotent: bool = False,
        if_match: bool = False,
        media_type: str = "application/json",
        **kwargs: Any,
    ) -> None:
        self.public = public
        self.media_type = media_type
        self.summary = summary
        self.tag = tag
        self.query_schema = query
        self.body_schema = body
        self.returns = returns
        self.many = many
        self.status = status
        self.idempotent = idempotent
        self.if_match = if_match
        self._query_loader = query() if query is not None else None
        super().__init__(method, url, **kwargs)
        self.errors = self._errors(errors)

    def _errors(self, extra: Iterable[int]) -> tuple[int, ...]:
        found = set(extra)
        if not self.public:
            found.update(COMMON_ERRORS)
        if self.body_schema is not None or self.method in ("POST", "PUT", "PATCH"):
            found.update(BODY_ERRORS)
        if self.idempotent:
            found.add(409)
        if self.if_match:
            found.add(412)
        found.discard(self.status)
        return tuple(sorted(found))

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        try:
            context_data: dict[str, Any] = {}
            if not self.public:
                context_data[CONTEXT_KEY] = self.tokens.identity_for(request.headers.get("Authorization"))
            if self._query_loader is not None:
                load(self._query_loader, query_args(request))
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=context_data,
                handle_result=partial(self.handle_result, event),
            )
            result = event.wait()
            return self.response_from_result(result)
        except Exception as exc:
            return response_for_exception(exc)

    def response_from_exception(self, exc: Exception) -> Response:
        return response_for_exception(exc)


route = Route.decorator


def check_routes(service_cls: type) -> type:
    """Refuse a gateway class whose route mixins reuse a handler name or a (method, path).

    Mixins are combined by inheritance, so a second handler of the same name would
    silently hide the first; this runs when the class is built (use it as a decorator).
    """
    names: dict[str, str] = {}
    paths: dict[tuple[str, str], str] = {}
    for cls in reversed(service_cls.__mro__):
        for name, member in vars(cls).items():
            routes = [e for e in getattr(member, "nameko_entrypoints", ()) if isinstance(e, Route)]
            if not routes:
                continue
            if name in names and names[name] != cls.__qualname__:
                raise TypeError(f"route handler {name!r} is defined in {names[name]} and {cls.__qualname__}")
            names[name] = cls.__qualname__
            for r in routes:
                for method in r.method.split(","):
                    where = paths.setdefault((method, r.url), name)
                    if where != name:
                        raise TypeError(f"{method} {r.url} is handled by both {where!r} and {name!r}")
    return service_cls


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; a replayed idempotent answer says so in ``Idempotent-Replayed: true``."""
    headers = dict(headers or {})
    if isinstance(data, dict) and data.pop(REPLAYED, False):
        headers["Idempotent-Replayed"] = "true"
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=headers)


def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    """The request's JSON body: 413 when too large, 400 when not JSON, None when empty and allowed."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        if allow_empty:
            return None
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from exc


def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; the owning service validates its fields."""
    data = read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    return data


def action_body(request: Request) -> None:
    """Action endpoints take no body; empty and ``{}`` are both accepted."""
    data = read_json(request, allow_empty=True)
    if data not in (None, {}):
        raise ValidationFailed(errors={"_body": ["this action takes no body"]})


def optional_object(request: Request) -> dict[str, Any]:
    """A JSON object body, where an empty body counts as ``{}``."""
    data = read_json(request, allow_empty=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    return data


def query_args(request: Request) -> dict[str, str]:
    """Query parameters for the owning service; an empty value counts as absent.

    The route has already validated them with its query schema; the service loads
    them again with the same schema (any broker client may call it directly).
    """
    return {name: value for name, value in request.args.items() if value != ""}


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, None when absent; 422 when it is not printable text up to 200."""
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            errors={"Idempotency-Key": [f"must be printable text of at most {MAX_KEY_LENGTH} characters"]}
        )
    return key
