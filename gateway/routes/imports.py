"""Imports from another help desk (``POST /api/v1/imports/tickets``), one batch a request.

The ``helpdesk import hubspot`` command reads an export, resolves pipelines, stages and
owners through the API, and sends the rows here in batches; the tickets service creates or
updates each ticket by its external id (so a rerun changes nothing) and answers one result
per item. Account access is required; ``dry_run`` reports and writes nothing.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from gateway.http import json_object, json_response, route
from services.chassis.rpc import ServiceRpc
from services.tickets import contract as tickets_contract

IMPORT_TIMEOUT = 120.0
"""A batch of 500 changed tickets takes seconds, not the few an ordinary call is given."""


class ImportRoutes:
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)

    @route(
        "POST",
        "/api/v1/imports/tickets",
        summary="Import a batch of tickets from another help desk by external id (account access; "
        "dry_run reports what would change). One result per item; a bad item fails alone.",
        body=tickets_contract.ImportBatchSchema,
        returns=tickets_contract.ImportResultSchema,
        tag="imports",
    )
    def import_tickets(self, request: Request) -> Response:
        tickets = self.tickets.with_timeout(IMPORT_TIMEOUT)
        return json_response(tickets.import_tickets(json_object(request)))

    @route(
        "POST",
        "/api/v1/tickets/search",
        summary="Search tickets: filter_groups (OR of ANDs of field/operator/value), query, sort, "
        "limit and cursor; the same access rule as every list.",
        body=tickets_contract.TicketSearchSchema,
        returns=tickets_contract.TicketPageSchema,
        tag="tickets",
    )
    def search_tickets(self, request: Request) -> Response:
        return json_response(self.tickets.search_tickets(json_object(request)))
