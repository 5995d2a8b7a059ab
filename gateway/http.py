"""HTTP plumbing of the gateway: routes that authenticate, parse and answer in one format.

:func:`route` replaces nameko's ``http``. Before a worker is spawned the route
authenticates the bearer token (through :class:`TokenCache`) unless it is public,
throttles failed authentications and writes (:mod:`gateway.limits`, 429), refuses a body on a
write that takes none (:func:`action_body`: 415, 400 or 422, one rule for every such route),
validates the query string with the route's query schema (422 before any RPC, its ``detail``
saying the query is at fault), and puts the caller's
signed identity, the request id and the request's ``traceparent`` into the worker context, so
every RPC the handler makes carries them. Errors of any kind become problem+json; a client's mistake is never
logged as more than its access line (:mod:`gateway.logs`).

A route declares everything about itself once: its query, body and response
schemas, the statuses it may answer beyond the common ones, whether it takes an
``Idempotency-Key`` or an ``If-Match``. The gateway validates with those schemas and
the OpenAPI document is generated from the same declaration, so the two cannot drift.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import partial
from typing import Any, ClassVar

import eventlet
from eventlet.event import Event
from marshmallow import Schema
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Request, Response

from gateway.auth import TokenCache, bearer, session_credential, session_key, token_key
from gateway.limits import WRITE_METHODS, RateLimits
from gateway.logs import install_worker_filter
from gateway.problems import response_for_exception
from gateway.sessions import SessionEdge
from gateway.wsgi import BODY_TIMEOUT_KEY, REQUEST_ID_KEY, TRACEPARENT_KEY, GatewayWebServer
from services.chassis import json_codec, tracing
from services.chassis.errors import BadRequest, HelpdeskError, Unauthenticated, ValidationFailed
from services.chassis.idempotency import MAX_KEY_LENGTH, REPLAYED
from services.chassis.identity import CONTEXT_KEY
from services.chassis.schema import load, shared
from services.chassis.signatures import SignatureOnce

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
"""Deeper bodies answer 400: no contract nests more than three levels, and deep nesting is
how a small body costs a parser (or a later ``json.dumps``) its whole stack."""
QUERY_INVALID = "The query is not valid."
"""``detail`` of a 422 about query parameters (the error tree's default speaks of the body)."""
BODY_INVALID = ValidationFailed().detail
NO_BODY: Any = object()
"""What :func:`read_json` answers for an empty body when that is allowed (JSON ``null`` is None)."""
CREDENTIAL_KEY = "helpdesk.credential"
"""WSGI environ key of the credential a request authenticated with, as one string (``Bearer ...``
or ``Session ...``, see :func:`gateway.auth.session_credential`), for routes that re-check it later."""
REQUEST_ID_CONTEXT = "request_id"
"""Worker context key of the request id; it travels to services as the ``nameko.request_id`` header."""


class PayloadTooLarge(HelpdeskError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(HelpdeskError):
    status = 415
    title = "Unsupported media type"


class RequestTimeout(HelpdeskError):
    status = 408
    title = "Request timeout"


PROTOCOL_ERRORS = (400, 408, 414, 431)
"""Statuses any request may get from the HTTP server before a route runs (see gateway.wsgi)."""
AUTH_ERRORS = (401, 429, 503, 504)
"""Statuses of every authenticated route: no or a bad token, throttled, broker or service down."""
BODY_ERRORS = (408, 413, 415, 422)
"""Statuses of every route that reads a body (late, too large, not JSON, not valid)."""


class Route(SignatureOnce, HttpRequestHandler):
    """An HTTP entrypoint with authentication, validation, rate limits, problem+json errors and
    OpenAPI metadata.

    ``query``, ``body`` and ``returns`` are marshmallow schema classes (normally the owning
    service's contract schemas). A write (POST, PUT, PATCH, DELETE) without a ``body`` schema
    is an action: it takes no body, and the route refuses one (empty and ``{}`` pass) before
    anything else about the request is looked at (:func:`action_body`; ``action`` overrides
    this). ``optional_body`` marks a body that may be empty. ``headers`` name the response
    headers of a success (see :data:`gateway.openapi.HEADERS`; ``Idempotent-Replayed`` on an
    ``idempotent`` route whose replay answers the first success), ``alternate`` statuses that
    answer the success body too (``/readyz``'s 503), ``content_type`` a success that is not JSON,
    ``links=False`` a 201 whose ``id`` is not that of the things under its path (the OpenAPI
    document links a create's ``id`` to them, see :mod:`gateway.openapi`).
    ``errors`` are the statuses the route may answer beyond those that follow from the rest
    of the declaration: protocol errors (:data:`PROTOCOL_ERRORS`), authentication
    (:data:`AUTH_ERRORS`), a body
    (:data:`BODY_ERRORS`), a query (422), a path id (404), ``idempotent`` (409), ``if_match``
    (412). Routes name what only the service behind them knows: 403, a 404 for an id in the
    body, a 409 for a state conflict.
    """

    server = GatewayWebServer()
    tokens = TokenCache()
    limits = RateLimits()
    sessions = SessionEdge()
    bodyless_writes_are_actions: ClassVar[bool] = True
    """Whether a write declared without a body schema refuses a body (this API's rule; another
    API's adapter whose clients send bodies of their own there reads them itself)."""

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
        action: bool | None = None,
        optional_body: bool = False,
        headers: Iterable[str] = (),
        alternate: Iterable[int] = (),
        content_type: str = "application/json",
        links: bool = True,
        **kwargs: Any,
    ) -> None:
        self.public = public
        self.summary = summary
        self.tag = tag
        self.query_schema = query
        self.body_schema = body
        self.returns = returns
        self.many = many
        self.status = status
        self.idempotent = idempotent
        self.if_match = if_match
        writes = bool(WRITE_METHODS.intersection(method.split(",")))
        derived = self.bodyless_writes_are_actions and writes and body is None
        self.action = derived if action is None else action
        self.optional_body = optional_body
        self.response_headers = tuple(headers)
        self.alternate = tuple(alternate)
        self.content_type = content_type
        self.links = links
        self._query_loader = query() if query is not None else None
        kwargs.setdefault("expected_exceptions", HelpdeskError)
        super().__init__(method, url, **kwargs)
        self.errors = self._errors(errors)

    @property
    def reads_body(self) -> bool:
        return self.action or self.body_schema is not None

    def _errors(self, extra: Iterable[int]) -> tuple[int, ...]:
        found = set(extra) | set(PROTOCOL_ERRORS) | set(self.alternate)
        if not self.public:
            found.update(AUTH_ERRORS)
            if WRITE_METHODS.intersection(self.method.split(",")):
                found.add(403)  # a session-cookie write without its CSRF token (gateway.sessions)
        if self.reads_body:
            found.update(BODY_ERRORS)
        if self.query_schema is not None:
            found.add(422)
        if "<int:" in self.url:
            found.add(404)
        if self.idempotent:
            found.add(409)
        if self.if_match:
            found.add(412)
        found.discard(self.status)
        return tuple(sorted(found))

    def setup(self) -> None:
        install_worker_filter()
        super().setup()

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        request_id = request.environ.get(REQUEST_ID_KEY) or ""
        try:
            context_data: dict[str, Any] = {REQUEST_ID_CONTEXT: request_id}
            if traceparent := request.environ.get(TRACEPARENT_KEY):
                context_data[tracing.TRACEPARENT] = traceparent
            if not self.public:
                identity, key = self._authenticate(request)
                context_data[CONTEXT_KEY] = identity
                self.limits.check_write(request.method, key)
            self.check_request(request)
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
            return self.response_from_exception(self._placed(exc), request_id)

    def check_request(self, request: Request) -> None:
        """What the route refuses before a worker runs (once the caller is known): a body on an
        action (:func:`action_body`), then a query its schema does not accept (422 saying so)."""
        if self.action:
            action_body(request)
        if self._query_loader is not None:
            try:
                load(self._query_loader, query_args(request))
            except ValidationFailed as exc:
                raise ValidationFailed(QUERY_INVALID, exc.extra) from None

    def _placed(self, exc: Exception) -> Exception:
        """``exc``, or the same 422 saying the query is not valid when every field it names is a
        query parameter of this route (and no field of its body): a service checks a cursor or a
        sort only when it reads the list, and its error cannot know the field came in a query
        string (a search's ``cursor`` comes in a body)."""
        if not isinstance(exc, ValidationFailed) or exc.detail != BODY_INVALID or self._query_loader is None:
            return exc
        named = {str(field).split(".", 1)[0] for field in exc.errors}
        body = set(shared(self.body_schema).fields) if self.body_schema is not None else set()
        if named and named <= set(self._query_loader.fields) and not named & body:
            return ValidationFailed(QUERY_INVALID, exc.extra)
        return exc

    def _authenticate(self, request: Request) -> tuple[str, str]:
        """The caller's signed identity and credential key; failures are counted and throttled (429).

        A bearer token wins over a session cookie; a write authenticated by the cookie must pass
        the CSRF checks first (:class:`gateway.sessions.SessionEdge`, 403)."""
        header = request.headers.get("Authorization")
        address = request.remote_addr or "-"
        if not header:
            session = self.sessions.session_of(request)
            if session is None:
                raise Unauthenticated("An Authorization: Bearer token (or a session cookie) is required.")
            return self._authenticate_session(request, session, address)
        request.environ[CREDENTIAL_KEY] = header
        try:
            token = bearer(header)
        except Unauthenticated:
            self.limits.check_authentication(address, None)
            self.limits.failed_authentication(address, None)
            raise
        key = token_key(token)
        identity = self.tokens.cached(key)
        if identity is not None:
            return identity, key
        self.limits.check_authentication(address, key)
        try:
            return self.tokens.authenticate(token, key), key
        except Unauthenticated:
            self.limits.failed_authentication(address, key)
            raise

    def _authenticate_session(self, request: Request, session: str, address: str) -> tuple[str, str]:
        if request.method in WRITE_METHODS:
            self.sessions.check_csrf(request, session)
        request.environ[CREDENTIAL_KEY] = session_credential(session)
        key = session_key(session)
        identity = self.tokens.cached(key)
        if identity is not None:
            return identity, key
        self.limits.check_authentication(address, key)
        try:
            return self.tokens.authenticate_session(session, key), key
        except Unauthenticated:
            self.limits.failed_authentication(address, key)
            raise

    def response_from_exception(self, exc: Exception, request_id: str = "") -> Response:
        """The answer to ``exc``: problem+json (a route for another API's clients may override it)."""
        return response_for_exception(exc, request_id)


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
    return Response(json_codec.encode(data), status=status, mimetype="application/json", headers=headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=headers)


def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, or the 4xx that says what is wrong with it.

    413 when over 1 MiB, 408 when it does not arrive in time, 415 when a non-empty body is
    not ``application/json`` (UTF-8), 400 when it is not JSON this API can hold (see
    :func:`parse_json`); an empty body is :data:`NO_BODY` when allowed, else a 422.
    """
    raw = read_body(request)
    if not raw.strip():
        if allow_empty:
            return NO_BODY
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    require_json(request)
    return parse_json(raw)


def read_body(request: Request) -> bytes:
    """At most :data:`MAX_BODY_BYTES` of body, within the server's body timeout."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    seconds = request.environ.get(BODY_TIMEOUT_KEY)
    timer = eventlet.Timeout(seconds)
    try:
        raw: bytes = request.stream.read(MAX_BODY_BYTES + 1)
    except eventlet.Timeout as exc:
        if exc is not timer:
            raise
        raise RequestTimeout("The body did not arrive in time.") from None
    except TimeoutError:
        raise RequestTimeout("The body did not arrive in time.") from None
    except (OSError, ValueError) as exc:
        # eventlet's ChunkReadError is a ValueError: a chunk size that is not hex, a missing CRLF
        raise BadRequest(
            "The body could not be read (malformed chunked encoding or a broken connection)."
        ) from exc
    finally:
        timer.cancel()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    return raw


def require_json(request: Request) -> None:
    """415 unless the body is declared ``application/json`` (a charset, if named, must be UTF-8)."""
    charset = (request.mimetype_params.get("charset") or "utf-8").lower()
    if request.mimetype != "application/json" or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Send the body as 'Content-Type: application/json' (UTF-8).")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or a 400 that names the problem without the parser's internals.

    Refused: bytes that are not UTF-8 (encoded surrogates included), ``\\ud800`` and other
    lone surrogates in strings (no database can store them), ``NaN``/``Infinity`` and numbers
    beyond a float or Python's 4300-digit limit, and nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The body is not UTF-8 text (bad byte at offset {exc.start}).") from None
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except RecursionError:
        raise BadRequest(f"The body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(_malformed(exc)) from None
    except ValueError:
        raise BadRequest("The body holds a number out of range (too many digits, or not finite).") from None
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise BadRequest(f"The body is nested more than {MAX_JSON_DEPTH} levels deep.")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "The body holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text."
        ) from None
    return data


def _malformed(exc: json.JSONDecodeError) -> str:
    """What is wrong with malformed JSON, in our words and with where (the parser's own message,
    ``Expecting property name enclosed in double quotes``, describes its internals)."""
    where = f"line {exc.lineno}, column {exc.colno}"
    if exc.msg.startswith("Unterminated string"):
        problem = f"the text (string) that starts at {where} is never closed"
    elif exc.msg.startswith("Invalid control character"):
        problem = f"a control character such as a line break is not escaped inside the text at {where}"
    elif exc.msg.startswith("Invalid \\"):
        problem = f"a backslash escape at {where} is not one JSON knows"
    elif exc.msg == "Extra data":
        problem = f"something follows the JSON value, at {where}"
    elif exc.pos >= len(exc.doc.rstrip()):
        problem = "it ends before the JSON value is complete"
    else:
        problem = f"unexpected {json.dumps(exc.doc[exc.pos])} at {where}"
    return f"The body is not valid JSON: {problem}."


def _depth_exceeds(data: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; the owning service validates its fields."""
    data = read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    return data


def action_body(request: Request) -> None:
    """Action endpoints take no body; empty (of any content type) and ``{}`` are both accepted.

    Anything else is refused as any body is: 415 when it is not ``application/json``, 400 when
    it is not JSON, else 422 (JSON ``null`` included), so a client that meant to send
    something learns that it was not read. :class:`Route` applies this to every write
    declared without a body schema, before its query is looked at."""
    data = read_json(request, allow_empty=True)
    if data is not NO_BODY and data != {}:
        raise ValidationFailed(errors={"_body": ["this action takes no body"]})


def optional_object(request: Request) -> dict[str, Any]:
    """A JSON object body, where an empty body counts as ``{}`` (JSON ``null`` does not)."""
    data = read_json(request, allow_empty=True)
    if data is NO_BODY:
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
    """The ``Idempotency-Key`` header, None when absent; 422 unless printable ASCII up to 200 characters."""
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValidationFailed(
            errors={"Idempotency-Key": [f"must be printable ASCII of at most {MAX_KEY_LENGTH} characters"]}
        )
    return key
