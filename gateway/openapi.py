"""The OpenAPI 3 document, generated from the gateway's routes and the contract schemas."""

from __future__ import annotations

import inspect
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.http import Route

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def routes_of(service_cls: type) -> list[tuple[str, Route]]:
    found = []
    for attr, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                found.append((attr, entrypoint))
    return sorted(found, key=lambda item: (item[1].url, item[1].method))


def _schema_name(schema: type) -> str:
    return schema.__name__.removesuffix("Schema")


def build(service_cls: type) -> dict[str, Any]:
    spec = APISpec(
        title="Help desk gateway",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "HTTP API of the help desk. Errors are RFC 9457 problem+json."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", PROBLEM)
    seen: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}
    for attr, r in routes_of(service_cls):
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", r.url)
        params: list[dict[str, Any]] = [
            {
                "name": m.group(2),
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if m.group(1) == "int" else "string"},
            }
            for m in _PATH_PARAM.finditer(r.url)
        ]
        params += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in r.query.items()
        ]
        for schema in (r.body_schema, r.returns):
            # a schema nested in one registered earlier was registered with it, under the same name
            schema_name = _schema_name(schema) if schema is not None else ""
            if schema is not None and schema_name not in seen and schema_name not in spec.components.schemas:
                spec.components.schema(_schema_name(schema), schema=schema)
                seen.add(_schema_name(schema))
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "OK"}
        if r.returns is not None:
            ref = {"$ref": f"#/components/schemas/{_schema_name(r.returns)}"}
            ok["content"] = {
                "application/json": {"schema": {"type": "array", "items": ref} if r.many else ref}
            }
        responses[str(r.status)] = ok
        for code in ("400", "401", "403", "404", "422") if not r.public else ():
            responses[code] = {
                "description": "problem",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        operation: dict[str, Any] = {
            "operationId": attr,
            "summary": r.summary,
            "parameters": params,
            "responses": responses,
        }
        if r.tag:
            operation["tags"] = [r.tag]
        if r.public:
            operation["security"] = []
        if r.body_schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(r.body_schema)}"}
                    }
                },
            }
        for method in r.method.split(","):
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document
