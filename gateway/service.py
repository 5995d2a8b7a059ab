"""The gateway: the only HTTP face of the help desk.

Handlers are thin: parse and validate the request with the producing service's
contract schema, make as few RPCs as the answer needs (one for a ticket read),
and shape the response. Authentication happens in :mod:`gateway.http` before a
handler runs; authorisation happens in the services that own the data.
"""

from __future__ import annotations

import json
import time
from typing import Any

import eventlet
from werkzeug.wrappers import Request, Response

from gateway import openapi
from gateway.http import json_object, json_response, page_limit, route
from services.chassis.errors import DeadlineExceeded, HelpdeskError, ServiceUnavailable
from services.chassis.rpc import Broker, ServiceRpc
from services.conversations import contract as conversations_contract
from services.notifications import contract as notifications_contract
from services.permissions import contract as permissions_contract
from services.retention import contract as retention_contract
from services.tickets import contract as tickets_contract

SERVICES = (
    permissions_contract.SERVICE_NAME,
    tickets_contract.SERVICE_NAME,
    conversations_contract.SERVICE_NAME,
    notifications_contract.SERVICE_NAME,
    retention_contract.SERVICE_NAME,
)
READY_TIMEOUT = 2.0


def _etag(ticket: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{ticket["version"]}"'}


class GatewayService:
    """HTTP API (``/api/v1``), health and readiness, and the OpenAPI document."""

    name = "gateway"

    link = Broker()
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)
    notifications = ServiceRpc(notifications_contract.SERVICE_NAME)
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME)

    # health ---------------------------------------------------------------
    @route("GET", "/healthz", public=True, summary="Liveness: the gateway process answers.", tag="health")
    def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    @route("GET", "/readyz", public=True, summary="Readiness: 503 until the broker and every service answer.", tag="health")
    def readyz(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        if not self.link.connected:
            checks = {name: "broker unreachable" for name in SERVICES}
        else:
            pool = eventlet.GreenPool(len(SERVICES))

            def ping(name: str) -> tuple[str, str]:
                try:
                    self.link.call(name, "ping", (), {}, {}, time.time() + READY_TIMEOUT)
                    return name, "ok"
                except (ServiceUnavailable, DeadlineExceeded) as exc:
                    return name, exc.detail
                except HelpdeskError as exc:
                    return name, f"error: {exc.detail}"

            checks = dict(pool.imap(ping, SERVICES))
        ready = all(v == "ok" for v in checks.values())
        return json_response({"status": "ready" if ready else "unavailable", "services": checks}, 200 if ready else 503)

    @route("GET", "/api/v1/openapi.json", public=True, summary="This document.", tag="health")
    def openapi_document(self, request: Request) -> Response:
        return Response(json.dumps(openapi.build(GatewayService)), mimetype="application/json")

    # tickets --------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets",
        summary="Create a ticket (accepts Idempotency-Key).",
        body=tickets_contract.TicketCreateSchema,
        returns=tickets_contract.TicketSchema,
        status=201,
        tag="tickets",
    )
    def create_ticket(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key") or None
        ticket = self.tickets.create_ticket(json_object(request), idempotency_key=key)
        return json_response(ticket, 201, {**_etag(ticket), "Location": f"/api/v1/tickets/{ticket['id']}"})

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>",
        summary="A ticket; opening it marks it read for the caller.",
        returns=tickets_contract.TicketSchema,
        tag="tickets",
    )
    def get_ticket(self, request: Request, ticket_id: int) -> Response:
        ticket = self.tickets.get_ticket(ticket_id)
        return json_response(ticket, headers=_etag(ticket))

    @route("GET", "/api/v1/pipelines", summary="Pipelines with their ordered stages.", returns=tickets_contract.PipelineSchema, many=True, tag="tickets")
    def list_pipelines(self, request: Request) -> Response:
        return json_response(self.tickets.list_pipelines())

    # notifications --------------------------------------------------------
    @route(
        "GET",
        "/api/v1/notifications",
        summary="The caller's in-app feed, newest first.",
        returns=notifications_contract.FeedItemSchema,
        query={"limit": "1-100, default 25", "cursor": "opaque cursor from next_cursor"},
        tag="notifications",
    )
    def list_notifications(self, request: Request) -> Response:
        limit = page_limit(request)
        return json_response(self.notifications.list_feed(limit=limit, cursor=request.args.get("cursor") or None))

    @route("POST", "/api/v1/notifications/<int:item_id>/read", summary="Mark a feed item read.", returns=notifications_contract.FeedItemSchema, tag="notifications")
    def read_notification(self, request: Request, item_id: int) -> Response:
        return json_response(self.notifications.mark_read(item_id))
