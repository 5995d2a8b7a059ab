"""Ticket routes: tickets (table, board, edit, bulk), their timeline, associations,
followers and read state, and pipeline configuration.

Handlers only take the request apart and shape the answer; the tickets service
validates every body and query and applies the access rule. Path order does not
matter: ``/api/v1/tickets/board`` and ``/bulk-update`` never match
``<int:ticket_id>``.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.http import idempotency_key, json_object, json_response, query_args, route
from services.chassis.errors import PreconditionFailed
from services.chassis.paging import PageQuery
from services.chassis.rpc import ServiceRpc
from services.tickets import contract as tickets_contract

BULK_TIMEOUT = 10.0
"""Seconds a bulk request may take: the service answers within a few with the job still running."""
_STRONG_ETAG = re.compile(r'"(\d{1,18})"')


def etag_header(ticket: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{ticket["version"]}"'}


def if_match_versions(header: str | None) -> list[int] | None:
    """The versions an ``If-Match`` header accepts; None when absent or ``*``.

    Only strong ETags of this API (``"3"``) can match; anything else, weak tags
    included, can never match and answers 412 like a stale one.
    """
    if header is None:
        return None
    if header.strip() == "*":
        return None
    versions = []
    for tag in header.split(","):
        match = _STRONG_ETAG.fullmatch(tag.strip())
        if match is None:
            raise PreconditionFailed('If-Match must be "*" or strong ETags such as "3".')
        versions.append(int(match.group(1)))
    return versions


class TicketRoutes:
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)

    # tickets --------------------------------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets",
        summary="Create a ticket (accepts Idempotency-Key).",
        idempotent=True,
        body=tickets_contract.TicketCreateSchema,
        returns=tickets_contract.TicketSchema,
        status=201,
        errors=(403,),
        headers=("ETag", "Location", "Idempotent-Replayed"),
        tag="tickets",
    )
    def create_ticket(self, request: Request) -> Response:
        key = idempotency_key(request)
        ticket = self.tickets.create_ticket(json_object(request), idempotency_key=key)
        return json_response(
            ticket, 201, {**etag_header(ticket), "Location": f"/api/v1/tickets/{ticket['id']}"}
        )

    @route(
        "GET",
        "/api/v1/tickets",
        summary="Table layout: the tickets the caller may see, filtered, sorted and paginated.",
        returns=tickets_contract.TicketPageSchema,
        query=tickets_contract.TicketQuerySchema,
        errors=(403, 404),  # 404: a view_id naming no saved view the caller may use
        tag="tickets",
    )
    def list_tickets(self, request: Request) -> Response:
        return json_response(self.tickets.list_tickets(query_args(request)))

    @route(
        "GET",
        "/api/v1/tickets/board",
        summary="Board layout: one column per stage of a pipeline, in stage order, each with its first page.",
        returns=tickets_contract.BoardSchema,
        query=tickets_contract.BoardQuerySchema,
        errors=(403, 404),
        tag="tickets",
    )
    def ticket_board(self, request: Request) -> Response:
        return json_response(self.tickets.board(query_args(request)))

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>",
        summary="A ticket; opening it marks it read for the caller. A ticket merged into another answers "
        "301 with Location (and merged_into in the body) naming the survivor.",
        returns=tickets_contract.TicketSchema,
        errors=(301, 403),
        headers=("ETag",),
        tag="tickets",
    )
    def get_ticket(self, request: Request, ticket_id: int) -> Response:
        ticket = self.tickets.get_ticket(ticket_id)
        return json_response(ticket, headers=etag_header(ticket))

    @route(
        "PATCH",
        "/api/v1/tickets/<int:ticket_id>",
        summary="Change fields (moving a board card = changing status); send If-Match with the ETag "
        "so a concurrent change is not overwritten (412 when stale).",
        if_match=True,
        errors=(301, 403, 409),
        body=tickets_contract.TicketPatchSchema,
        returns=tickets_contract.TicketSchema,
        headers=("ETag",),
        tag="tickets",
    )
    def update_ticket(self, request: Request, ticket_id: int) -> Response:
        body = json_object(request)
        versions = if_match_versions(request.headers.get("If-Match"))
        ticket = self.tickets.update_ticket(ticket_id, body, expected_versions=versions)
        return json_response(ticket, headers=etag_header(ticket))

    @route(
        "POST",
        "/api/v1/tickets/bulk-update",
        summary="Apply the same owner/status/priority change to many tickets (up to 10,000) as a job: up to "
        "100 are answered at once (200, one result per id), more with 202 (follow GET /api/v1/jobs/{id}). "
        "Accepts Idempotency-Key.",
        body=tickets_contract.BulkUpdateSchema,
        returns=tickets_contract.BulkJobSchema,
        idempotent=True,
        alternate=(202,),
        errors=(403,),
        headers=("Idempotent-Replayed",),
        tag="tickets",
    )
    def bulk_update(self, request: Request) -> Response:
        job = self.tickets.with_timeout(BULK_TIMEOUT).bulk_update(
            json_object(request), idempotency_key=idempotency_key(request)
        )
        if job.get("state") == "running":
            return json_response(job, 202, {"Location": f"/api/v1/jobs/{job['id']}"})
        return json_response(job)

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>/timeline",
        summary="Activity timeline, newest first.",
        returns=tickets_contract.TimelinePageSchema,
        query=PageQuery,
        errors=(403,),
        tag="tickets",
    )
    def ticket_timeline(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.timeline(ticket_id, query_args(request)))

    # associations ---------------------------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/associations/<any(contacts, companies, deals):kind>/<int:ref_id>",
        summary="Associate a contact, company or deal (kind: contacts, companies, deals); idempotent.",
        returns=tickets_contract.TicketSchema,
        errors=(403,),
        headers=("ETag",),
        tag="tickets",
    )
    def add_association(self, request: Request, ticket_id: int, kind: str, ref_id: int) -> Response:
        ticket = self.tickets.add_association(ticket_id, kind, ref_id)
        return json_response(ticket, headers=etag_header(ticket))

    @route(
        "DELETE",
        "/api/v1/tickets/<int:ticket_id>/associations/<any(contacts, companies, deals):kind>/<int:ref_id>",
        summary="Remove an association; idempotent.",
        returns=tickets_contract.TicketSchema,
        errors=(403,),
        headers=("ETag",),
        tag="tickets",
    )
    def remove_association(self, request: Request, ticket_id: int, kind: str, ref_id: int) -> Response:
        ticket = self.tickets.remove_association(ticket_id, kind, ref_id)
        return json_response(ticket, headers=etag_header(ticket))

    # follow and read state ------------------------------------------------------------------------
    @route(
        "PUT",
        "/api/v1/tickets/<int:ticket_id>/follow",
        summary="Follow the ticket (no body; idempotent).",
        returns=tickets_contract.FollowStateSchema,
        errors=(403,),
        tag="tickets",
    )
    def follow_ticket(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.follow(ticket_id))

    @route(
        "DELETE",
        "/api/v1/tickets/<int:ticket_id>/follow",
        summary="Stop following the ticket (no body; idempotent).",
        returns=tickets_contract.FollowStateSchema,
        errors=(403,),
        tag="tickets",
    )
    def unfollow_ticket(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.unfollow(ticket_id))

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>/followers",
        summary="Who follows the ticket.",
        returns=tickets_contract.FollowerPageSchema,
        query=PageQuery,
        errors=(403,),
        tag="tickets",
    )
    def ticket_followers(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.followers(ticket_id, query_args(request)))

    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/read",
        summary="Mark the ticket read for the caller (no body).",
        returns=tickets_contract.ReadStateSchema,
        errors=(403,),
        tag="tickets",
    )
    def mark_read(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.mark_read(ticket_id))

    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/unread",
        summary="Mark the ticket unread for the caller (no body).",
        returns=tickets_contract.ReadStateSchema,
        errors=(403,),
        tag="tickets",
    )
    def mark_unread(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.mark_unread(ticket_id))

    # pipelines ------------------------------------------------------------------------------------
    @route(
        "GET",
        "/api/v1/pipelines",
        summary="Pipelines with their ordered stages.",
        returns=tickets_contract.PipelineSchema,
        many=True,
        errors=(403,),
        tag="pipelines",
    )
    def list_pipelines(self, request: Request) -> Response:
        return json_response(self.tickets.list_pipelines())

    @route(
        "POST",
        "/api/v1/pipelines",
        summary="Create a pipeline with its ordered stages (account access; accepts Idempotency-Key).",
        idempotent=True,
        body=tickets_contract.PipelineCreateSchema,
        returns=tickets_contract.PipelineSchema,
        status=201,
        errors=(403,),
        headers=("Location", "Idempotent-Replayed"),
        tag="pipelines",
    )
    def create_pipeline(self, request: Request) -> Response:
        key = idempotency_key(request)
        pipeline = self.tickets.create_pipeline(json_object(request), idempotency_key=key)
        return json_response(pipeline, 201, {"Location": f"/api/v1/pipelines/{pipeline['id']}"})

    @route(
        "GET",
        "/api/v1/pipelines/<int:pipeline_id>",
        summary="A pipeline with its ordered stages.",
        returns=tickets_contract.PipelineSchema,
        errors=(403,),
        tag="pipelines",
    )
    def get_pipeline(self, request: Request, pipeline_id: int) -> Response:
        return json_response(self.tickets.get_pipeline(pipeline_id))

    @route(
        "PATCH",
        "/api/v1/pipelines/<int:pipeline_id>",
        summary="Rename a pipeline (account access).",
        body=tickets_contract.PipelinePatchSchema,
        returns=tickets_contract.PipelineSchema,
        errors=(403,),
        tag="pipelines",
    )
    def rename_pipeline(self, request: Request, pipeline_id: int) -> Response:
        return json_response(self.tickets.rename_pipeline(pipeline_id, json_object(request)))

    @route(
        "POST",
        "/api/v1/pipelines/<int:pipeline_id>/stages",
        summary="Add a stage (account access; accepts Idempotency-Key); answers the pipeline.",
        idempotent=True,
        body=tickets_contract.StageCreateSchema,
        returns=tickets_contract.PipelineSchema,
        status=201,
        errors=(403,),
        headers=("Idempotent-Replayed",),
        tag="pipelines",
    )
    def add_stage(self, request: Request, pipeline_id: int) -> Response:
        key = idempotency_key(request)
        pipeline = self.tickets.add_stage(pipeline_id, json_object(request), idempotency_key=key)
        return json_response(pipeline, 201)

    @route(
        "PATCH",
        "/api/v1/pipelines/<int:pipeline_id>/stages/<int:stage_id>",
        summary="Rename a stage (account access); its OPEN/CLOSED state is fixed.",
        body=tickets_contract.StagePatchSchema,
        returns=tickets_contract.PipelineSchema,
        errors=(403,),
        tag="pipelines",
    )
    def rename_stage(self, request: Request, pipeline_id: int, stage_id: int) -> Response:
        return json_response(self.tickets.rename_stage(pipeline_id, stage_id, json_object(request)))

    @route(
        "PUT",
        "/api/v1/pipelines/<int:pipeline_id>/stage-order",
        summary="Reorder the stages: every stage id of the pipeline, in the new order (account access).",
        body=tickets_contract.StageOrderSchema,
        returns=tickets_contract.PipelineSchema,
        errors=(403,),
        tag="pipelines",
    )
    def reorder_stages(self, request: Request, pipeline_id: int) -> Response:
        return json_response(self.tickets.reorder_stages(pipeline_id, json_object(request)))
