"""Ticket routes: create, read, pipelines (table, board, follow, read state to come)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.http import json_object, json_response, route
from services.chassis.rpc import ServiceRpc
from services.tickets import contract as tickets_contract


def etag_header(ticket: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{ticket["version"]}"'}


class TicketRoutes:
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)

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
        return json_response(ticket, 201, {**etag_header(ticket), "Location": f"/api/v1/tickets/{ticket['id']}"})

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>",
        summary="A ticket; opening it marks it read for the caller.",
        returns=tickets_contract.TicketSchema,
        tag="tickets",
    )
    def get_ticket(self, request: Request, ticket_id: int) -> Response:
        ticket = self.tickets.get_ticket(ticket_id)
        return json_response(ticket, headers=etag_header(ticket))

    @route(
        "GET",
        "/api/v1/pipelines",
        summary="Pipelines with their ordered stages.",
        returns=tickets_contract.PipelineSchema,
        many=True,
        tag="tickets",
    )
    def list_pipelines(self, request: Request) -> Response:
        return json_response(self.tickets.list_pipelines())
