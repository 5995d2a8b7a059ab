"""The OpenAPI 3 document, generated once from the gateway's route declarations.

Each :class:`~gateway.http.Route` names its query, body and response schemas (the
owning services' contract schemas), the statuses it may answer and the headers it
takes; this module turns exactly that into the document, so what the gateway
validates and what the document promises come from one place.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from gateway.http import PROTOCOL_ERRORS, Route
from gateway.sessions import SESSION_COOKIE
from services.chassis.schema import BIDI_CONTROLS, MAX_ID, CleanEmail, CleanText, Timestamp

_PATH_PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "422 only: field path -> messages, flattened (``team_ids.0``, "
            "``associations.contacts.1``; ``_body`` for the body as a whole, ``_schema`` for rules "
            "across fields)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "retry_after": {"type": "integer", "minimum": 1, "description": "429 only: as Retry-After"},
    },
}

REQUEST_ID_HEADER = {
    "description": "The request's id, as logged by the gateway: the client's own X-Request-Id when it "
    "sent a sane one (1-128 characters of A-Z a-z 0-9 . _ : -), else a new one.",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The ticket\'s version as a strong entity tag (e.g. "3"); send it back in If-Match.',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Location": {
        "description": "Where the new resource lives.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "true when this is the stored answer to an earlier request with the same key.",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    },
}
ERROR_HEADER_DEFS: dict[str, dict[str, Any]] = {
    "Allow": {"description": "The methods the path takes.", "required": True, "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "Bearer challenge.", "required": True, "schema": {"type": "string"}},
    "Retry-After": {
        "description": "Whole seconds until the request may be made again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
}
ERROR_HEADERS: dict[int, tuple[str, ...]] = {401: ("WWW-Authenticate",), 429: ("Retry-After",)}


def _header_refs(names: list[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


STATUS_TEXT = {
    202: "Accepted: the work goes on; Location names where to follow it",
    301: "Moved: the object was absorbed into another (Location names it)",
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Malformed request: bad JSON, invalid UTF-8, nesting too deep, ambiguous framing or headers",
    405: "The path exists but not with this method; Allow lists the methods it takes",
    408: "The request line, headers or body did not arrive in time",
    401: "Missing or invalid token",
    403: "Not allowed to do this to something you can see",
    404: "Does not exist, or you may not see it",
    409: "Conflict (an Idempotency-Key reused with another request, or a concurrent change)",
    412: "If-Match does not match the current ETag",
    413: "Body too large",
    414: "The request line (URL) is 8 KiB or longer",
    207: "Partly done: the answer lists what failed",
    415: "Body is not application/json",
    422: "Validation failed; errors maps each field path to its messages",
    429: "Too many requests; Retry-After says when to try again",
    431: "A header line is 8 KiB or longer, or the headers are too large or too many",
    503: "The broker or a service is unavailable",
    501: "Not implemented by this help desk yet",
    504: "A service did not answer in time",
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Replaying a create with the same key returns the first answer "
    "(with Idempotent-Replayed: true); the same key with another body is a 409.",
    "schema": {"type": "string", "maxLength": 200, "pattern": "^[\\x20-\\x7e]*$"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The ETag you read (e.g. "3"), several separated by commas, or *; a stale one '
    "answers 412 and changes nothing, and so does anything else (a weak tag can never match).",
    "schema": {"type": "string", "pattern": r'^ *(\*|"[0-9]{1,18}"( *, *"[0-9]{1,18}")*) *$'},
}
CLEAN_TEXT_PATTERN = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f" + "".join(f"\\u{ord(ch):04x}" for ch in sorted(BIDI_CONTROLS)) + "]*$"
)
"""What :class:`CleanText` refuses, as a JSON Schema pattern: control and bidi-override characters."""


def _clean_text_pattern(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    return {"pattern": CLEAN_TEXT_PATTERN} if isinstance(field, CleanText) else {}


EMPTY_OBJECT = {"type": "object", "additionalProperties": False, "maxProperties": 0}
PROBLEM_JSON = "application/problem+json"

DESCRIPTION = """HTTP API of the help desk.

* Every call but the public ones sends `Authorization: Bearer <token>`, or the `helpdesk_session`
  cookie that signing in (`POST /api/v1/sessions`) sets in a browser. A POST, PUT, PATCH or DELETE
  made with the cookie also sends `X-CSRF-Token` (the `helpdesk_csrf` cookie's value) and no
  `Origin` but the gateway's own, else 403 (problem type `.../csrf-check-failed`).
* Bodies are `application/json` (UTF-8); anything else with a body answers 415, bodies over
  1 MiB 413, malformed JSON (or nesting deeper than 32 levels, invalid Unicode, numbers out of
  range) 400.
* Errors are RFC 9457 `application/problem+json` with `type`, `title`, `status`, `detail`; a 422
  adds `errors`: field path -> messages, flattened (`team_ids.0`, `associations.contacts.1`).
* Lists take `limit` (1-100, default 25) and an opaque `cursor`, and answer
  `{items, next_cursor, total}`.
* Every answer carries `X-Request-Id` (send your own, 1-128 characters of `A-Z a-z 0-9 . _ : -`,
  to find a request in the gateway's log).
* Failed authentications (per client address and per token) and writes (per token) are rate
  limited: 429 with `Retry-After`.
* Any request may be refused before a route runs: 400 (ambiguous framing, malformed headers),
  408 (too slow), 414 (request line of 8 KiB or more), 431 (headers too large).
"""

TAG_ORDER = ("tickets", "pipelines", "people", "notifications", "health", "docs", "web")
"""The order the API reference lists operations in: the API first, the web pages last."""

_DOCUMENTS: dict[type, str] = {}


def routes_of(service_cls: type) -> list[tuple[str, Route]]:
    found = []
    for attr, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                found.append((attr, entrypoint))
    return sorted(found, key=lambda item: (item[1].url, item[1].method))


def _schema_name(schema: type) -> str:
    return schema.__name__.removesuffix("Schema")


def path_parameter(converter: str | None, arguments: str | None, name: str) -> dict[str, Any]:
    """The OpenAPI parameter of one ``<converter(arguments):name>`` of a route's URL."""
    if converter == "int":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif converter == "any":
        schema = {"type": "string", "enum": [item.strip() for item in (arguments or "").split(",")]}
    elif converter == "path":
        schema = {"type": "string", "minLength": 1, "pattern": "^[^?#]+$"}
    else:
        schema = {"type": "string", "minLength": 1, "pattern": "^[^/?#]+$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _template(url: str) -> str:
    return _PATH_PARAM.sub(lambda m: "{" + m.group(3) + "}", url)


class _Builder:
    def __init__(self) -> None:
        self.plugin = MarshmallowPlugin()
        self.spec = APISpec(
            title="Help desk gateway",
            version="1.0.0",
            openapi_version="3.0.3",
            plugins=[self.plugin],
            info={"description": DESCRIPTION},
        )
        self.plugin.map_to_openapi_type(Timestamp, "string", "date-time")
        self.plugin.map_to_openapi_type(CleanEmail, "string", "email")
        assert self.plugin.converter is not None
        self.plugin.converter.add_attribute_function(_clean_text_pattern)
        self.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
        self.spec.components.security_scheme(
            "session",
            {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": "The browser session POST /api/v1/sessions sets; writes also need "
                "X-CSRF-Token (the helpdesk_csrf cookie's value).",
            },
        )
        self.spec.components.schema("Problem", PROBLEM)
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        self.spec.components.response(
            "MethodNotAllowed",
            {
                "description": STATUS_TEXT[405],
                "content": problem,
                "headers": _header_refs(["X-Request-Id", "Allow"]),
            },
        )
        for code in PROTOCOL_ERRORS:
            self.spec.components.response(
                f"Protocol{code}",
                {
                    "description": STATUS_TEXT[code],
                    "content": problem,
                    "headers": {"X-Request-Id": REQUEST_ID_HEADER},
                },
            )

    def ref(self, schema: type[Schema]) -> dict[str, str]:
        name = _schema_name(schema)
        if name not in self.spec.components.schemas:
            self.spec.components.schema(name, schema=schema)
        return {"$ref": f"#/components/schemas/{name}"}

    def parameters(self, r: Route) -> list[dict[str, Any]]:
        params = [path_parameter(m.group(1), m.group(2), m.group(3)) for m in _PATH_PARAM.finditer(r.url)]
        if r.query_schema is not None:
            converter = self.plugin.converter
            assert converter is not None
            for param in converter.schema2parameters(r.query_schema, location="query"):
                # the gateway reads ?name= (an empty value) as if the parameter were absent
                params.append({**param, "allowEmptyValue": True})
        if r.idempotent:
            params.append(IDEMPOTENCY_KEY)
        if r.if_match:
            params.append(IF_MATCH)
        return params

    def success(self, r: Route) -> dict[str, Any]:
        ok: dict[str, Any] = {"description": "OK" if r.status < 300 else STATUS_TEXT.get(r.status, "")}
        if r.returns is not None:
            ref = self.ref(r.returns)
            body = {"type": "array", "items": ref} if r.many else ref
            ok["content"] = {r.content_type: {"schema": body}}
        elif r.content_type != "application/json" and r.status != 204:
            ok["content"] = {r.content_type: {"schema": {"type": "string"}}}
        ok["headers"] = _header_refs(["X-Request-Id", *r.response_headers])
        return ok

    def error(self, r: Route, code: int) -> dict[str, Any]:
        error_schema = getattr(r, "error_schema", None)  # routes in another API's error format (HubSpot)
        if code in PROTOCOL_ERRORS and error_schema is None:
            return {"$ref": f"#/components/responses/Protocol{code}"}
        headers = _header_refs(["X-Request-Id", *ERROR_HEADERS.get(code, ())])
        if code == 304:
            return {"description": STATUS_TEXT[code], "headers": headers}
        if code in r.alternate or code < 300:  # another success (207: a batch's partial success)
            answer = self.success(r)
            return {**answer, "description": STATUS_TEXT.get(code, answer["description"])}
        problem: dict[str, Any] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if error_schema is not None:
            # the route's own errors take that API's body; what fails before the route runs (the
            # HTTP layer, an unknown path segment) is still problem+json
            problem[getattr(r, "error_media_type", "application/json")] = {"schema": self.ref(error_schema)}
        return {"description": STATUS_TEXT.get(code, "problem"), "content": problem, "headers": headers}

    def operation(self, attr: str, r: Route) -> dict[str, Any]:
        responses: dict[str, Any] = {str(r.status): self.success(r)}
        for code in r.errors:
            responses[str(code)] = self.error(r, code)
        responses["405"] = {"$ref": "#/components/responses/MethodNotAllowed"}
        operation: dict[str, Any] = {
            "operationId": attr,
            "summary": r.summary,
            "tags": [r.tag],
            "parameters": self.parameters(r),
            "responses": responses,
        }
        if r.public:
            operation["security"] = []
        if r.body_schema is not None:
            operation["requestBody"] = {
                "required": not r.optional_body,
                "content": {"application/json": {"schema": self.ref(r.body_schema)}},
            }
        elif r.action:
            operation["requestBody"] = {
                "required": False,
                "description": "No body: send none, or an empty object.",
                "content": {"application/json": {"schema": EMPTY_OBJECT}},
            }
        return operation

    def links(self, routes: list[tuple[str, Route]]) -> dict[str, dict[str, Any]]:
        """Link each top-level create (``POST /api/v1/things`` answering 201) to the operations on
        ``/api/v1/things/{id}...``, so clients and stateful testers know where its ``id`` goes."""
        paths = {(_template(r.url), m.lower()): attr for attr, r in routes for m in r.method.split(",")}
        found: dict[str, dict[str, Any]] = {}
        for attr, r in routes:
            if r.method != "POST" or r.status != 201 or "<" in r.url or not r.links:
                continue
            links: dict[str, Any] = {}
            for (path, _method), target in sorted(paths.items()):
                match = re.fullmatch(re.escape(_template(r.url)) + r"/\{(\w+)\}(/.*)?", path)
                if match and "{" not in (match.group(2) or ""):
                    links[target] = {
                        "operationId": target,
                        "parameters": {match.group(1): "$response.body#/id"},
                    }
            if links:
                found[attr] = links
        return found

    def build(self, service_cls: type) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        routes = routes_of(service_cls)
        links = self.links(routes)
        for attr, r in routes:
            path = _template(r.url)
            operation = self.operation(attr, r)
            if attr in links:
                operation["responses"][str(r.status)]["links"] = links[attr]
            for method in r.method.split(","):
                paths.setdefault(path, {})[method.lower()] = operation
        for path, operations in paths.items():
            self.spec.path(path=path, operations=operations)
        document = self.spec.to_dict()
        document["security"] = [{"bearer": []}, {"session": []}]
        document["tags"] = [{"name": tag} for tag in TAG_ORDER if tag in {r.tag for _, r in routes}]
        headers = {"X-Request-Id": REQUEST_ID_HEADER, **HEADERS, **ERROR_HEADER_DEFS}
        document["components"]["headers"] = headers
        return document


def build(service_cls: type) -> dict[str, Any]:
    """The OpenAPI document of ``service_cls``'s routes (a new one each call; see :func:`document_text`)."""
    return _Builder().build(service_cls)


def document_text(service_cls: type) -> str:
    """The document as JSON text, built on first use and kept (routes never change while running)."""
    text = _DOCUMENTS.get(service_cls)
    if text is None:
        text = _DOCUMENTS[service_cls] = json.dumps(build(service_cls))
    return text
