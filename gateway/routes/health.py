"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import functools

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Request, Response

from gateway.http import json_response, route
from services import registry
from services.chassis import metrics
from services.chassis.errors import DeadlineExceeded, HelpdeskError, ServiceUnavailable
from services.chassis.parallel import together
from services.chassis.rpc import Broker

SERVICES = tuple(entry.name for entry in registry.SERVICES)  # readiness pings exactly these
READY_TIMEOUT = 2.0


class LivenessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(Schema):
    """``ready`` (200) or ``unavailable`` (503), with each service's answer to a ping."""

    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class HealthRoutes:
    link = Broker()

    @route(
        "GET",
        "/healthz",
        public=True,
        summary="Liveness: the gateway process answers.",
        returns=LivenessSchema,
        tag="health",
    )
    def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    @route(
        "GET",
        "/readyz",
        public=True,
        summary="Readiness: 503 until the broker and every service answer.",
        returns=ReadinessSchema,
        alternate=(503,),
        tag="health",
    )
    def readyz(self, request: Request) -> Response:
        if not self.link.connected:
            checks = {name: "broker unreachable" for name in SERVICES}
        else:
            checks = dict(together(*(functools.partial(self._ping, name) for name in SERVICES)))
        ready = all(v == "ok" for v in checks.values())
        return json_response(
            {"status": "ready" if ready else "unavailable", "services": checks}, 200 if ready else 503
        )

    def _ping(self, name: str) -> tuple[str, str]:
        try:
            self.link.client(name, timeout=READY_TIMEOUT).ping()
            return name, "ok"
        except (ServiceUnavailable, DeadlineExceeded) as exc:
            return name, exc.detail
        except HelpdeskError as exc:
            return name, f"error: {exc.detail}"

    @route(
        "GET",
        "/metrics",
        public=True,
        summary="Prometheus metrics of this gateway process (text exposition format).",
        content_type="text/plain",
        tag="health",
    )
    def prometheus_metrics(self, request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})

    @route("GET", "/api/v1/openapi.json", public=True, summary="This document.", tag="health")
    def openapi_document(self, request: Request) -> Response:
        from gateway import openapi

        return Response(openapi.document_text(type(self)), mimetype="application/json")
