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

from gateway.http import Route
from services.chassis.schema import Timestamp

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

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
            "description": "field -> messages (422 only)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

STATUS_TEXT = {
    301: "Moved: the object was absorbed into another (Location names it)",
    400: "Malformed request (bad JSON, bad headers)",
    401: "Missing or invalid token",
    403: "Not allowed to do this to something you can see",
    404: "Does not exist, or you may not see it",
    409: "Conflict (an Idempotency-Key reused with another request, or a concurrent change)",
    412: "If-Match does not match the current ETag",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Validation failed; errors maps each field to its messages",
    429: "Too many requests; Retry-After says when to try again",
    503: "The broker or a service is unavailable",
    504: "A service did not answer in time",
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Replaying a create with the same key returns the first answer "
    "(with Idempotent-Replayed: true); the same key with another body is a 409.",
    "schema": {"type": "string", "maxLength": 200},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The ETag you read (e.g. "3"); a stale one answers 412 and changes nothing.',
    "schema": {"type": "string"},
}

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


class _Builder:
    def __init__(self) -> None:
        self.plugin = MarshmallowPlugin()
        self.spec = APISpec(
            title="Help desk gateway",
            version="1.0.0",
            openapi_version="3.0.3",
            plugins=[self.plugin],
            info={"description": "HTTP API of the help desk. Errors are RFC 9457 problem+json."},
        )
        self.plugin.map_to_openapi_type(Timestamp, "string", "date-time")
        self.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
        self.spec.components.schema("Problem", PROBLEM)

    def ref(self, schema: type[Schema]) -> dict[str, str]:
        name = _schema_name(schema)
        if name not in self.spec.components.schemas:
            self.spec.components.schema(name, schema=schema)
        return {"$ref": f"#/components/schemas/{name}"}

    def parameters(self, r: Route) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = [
            {
                "name": m.group(2),
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1} if m.group(1) == "int" else {"type": "string"},
            }
            for m in _PATH_PARAM.finditer(r.url)
        ]
        if r.query_schema is not None:
            converter = self.plugin.converter
            assert converter is not None
            params += converter.schema2parameters(r.query_schema, location="query")
        if r.idempotent:
            params.append(IDEMPOTENCY_KEY)
        if r.if_match:
            params.append(IF_MATCH)
        return params

    def operation(self, attr: str, r: Route) -> dict[str, Any]:
        ok: dict[str, Any] = {"description": "OK"}
        if r.returns is not None:
            ref = self.ref(r.returns)
            body = {"type": "array", "items": ref} if r.many else ref
            ok["content"] = {r.media_type: {"schema": body}}
        responses: dict[str, Any] = {str(r.status): ok}
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for code in r.errors:
            responses[str(code)] = {"description": STATUS_TEXT.get(code, "problem"), "content": problem}
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
                "required": True,
                "content": {"application/json": {"schema": self.ref(r.body_schema)}},
            }
        return operation

    def build(self, service_cls: type) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for attr, r in routes_of(service_cls):
            path = _PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", r.url)
            operation = self.operation(attr, r)
            for method in r.method.split(","):
                paths.setdefault(path, {})[method.lower()] = operation
        for path, operations in paths.items():
            self.spec.path(path=path, operations=operations)
        document = self.spec.to_dict()
        document["security"] = [{"bearer": []}]
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
