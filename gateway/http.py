"""HTTP plumbing of the gateway: routes that authenticate, parse and answer in one format.

:func:`route` replaces nameko's ``http``. Before a worker is spawned the route
authenticates the bearer token (through :class:`TokenCache`) unless it is public,
and puts the caller's signed identity into the worker context, so every RPC the
handler makes carries it. Errors of any kind become problem+json. Routes also
keep what the OpenAPI document says about them.
"""

from __future__ import annotations

import contextlib
import json
import socket
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
from services.chassis.identity import CONTEXT_KEY

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
            request.path_values = values  # type: ignore[attr-defined]
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


class Route(HttpRequestHandler):
    """An HTTP entrypoint with authentication, problem+json errors and OpenAPI metadata."""

    server = GatewayWebServer()
    tokens = TokenCache()

    def __init__(
        self,
        method: str,
        url: str,
        *,
        public: bool = False,
        summary: str = "",
        body: type[Schema] | None = None,
        returns: type[Schema] | None = None,
        many: bool = False,
        status: int = 200,
        query: dict[str, str] | None = None,
        tag: str = "",
        **kwargs: Any,
    ) -> None:
        self.public = public
        self.summary = summary
        self.body_schema = body
        self.returns = returns
        self.many = many
        self.status = status
        self.query = query or {}
        self.tag = tag
        super().__init__(method, url, **kwargs)

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        try:
            context_data: dict[str, Any] = {}
            if not self.public:
                context_data[CONTEXT_KEY] = self.tokens.identity_for(request.headers.get("Authorization"))
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
            return self.response_from_result(result)  # type: ignore[no-any-return]
        except Exception as exc:
            return response_for_exception(exc)

    def response_from_exception(self, exc: Exception) -> Response:
        return response_for_exception(exc)


route = Route.decorator


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
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


def query_int(
    request: Request, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(errors={name: ["must be an integer"]}) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValidationFailed(errors={name: [f"must be between {lo} and {hi}"]})
    return value


def page_limit(request: Request) -> int:
    """``?limit=`` for lists: default 25; outside 1-100 answers 422 (never clamped)."""
    value = query_int(request, "limit", 25, 1, 100)
    assert value is not None
    return value
