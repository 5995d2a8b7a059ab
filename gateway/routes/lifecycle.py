"""Lifecycle routes: merge, split, spam and not spam, delete, bulk delete, the recycle bin and
restore, jobs, and retention runs.

Each action is a job in the tickets service (see docs/architecture.md "Sagas"); its answer
shows the state after the step that decided it, with the ticket's ``in_progress`` set until
every service has caught up, and bulk jobs answer 202 while they still run. The services
validate every body and apply the access rule and the permissions.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.http import idempotency_key, json_object, json_response, query_args, route
from gateway.routes.tickets import etag_header
from services.chassis.rpc import ServiceRpc
from services.conversations import contract as conversations_contract
from services.retention import contract as retention_contract
from services.tickets import contract as tickets_contract

BULK_TIMEOUT = 10.0
"""Seconds a bulk request may take: the service answers within a few with the job still running."""
RETENTION_TIMEOUT = 10.0


def job_response(job: dict[str, Any]) -> Response:
    """A job's answer: 200 once it finished, else 202 with where to follow it."""
    if job.get("state") == "running":
        return json_response(job, 202, {"Location": f"/api/v1/jobs/{job['id']}"})
    return json_response(job)


class LifecycleRoutes:
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)
    conversations = ServiceRpc(conversations_contract.SERVICE_NAME)
    retention = ServiceRpc(retention_contract.SERVICE_NAME, timeout=RETENTION_TIMEOUT)

    # -- merge and split ---------------------------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets/merge",
        summary="Merge secondary_id into primary_id (irreversible): the survivor keeps the primary's id and "
        "values and the older create date; threads, associations, followers, timeline and read state of "
        "both end on it. The absorbed id answers 301 naming the survivor from then on. Accepts "
        "Idempotency-Key.",
        body=tickets_contract.MergeSchema,
        returns=tickets_contract.TicketSchema,
        idempotent=True,
        errors=(403, 404, 409, 422),
        headers=("ETag", "Idempotent-Replayed"),
        tag="lifecycle",
    )
    def merge_tickets(self, request: Request) -> Response:
        ticket = self.tickets.merge_tickets(json_object(request), idempotency_key=idempotency_key(request))
        return json_response(ticket, headers=etag_header(ticket))

    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/split",
        summary="Split chosen messages (not all) of the ticket's email thread off to a new thread on a new "
        "ticket made from `ticket` (needs a seat). Closed tickets and one-message threads cannot be split. "
        "Accepts Idempotency-Key.",
        body=tickets_contract.SplitSchema,
        returns=tickets_contract.TicketSchema,
        status=201,
        idempotent=True,
        errors=(301, 403, 404, 409, 422),
        headers=("ETag", "Location", "Idempotent-Replayed"),
        tag="lifecycle",
    )
    def split_ticket(self, request: Request, ticket_id: int) -> Response:
        ticket = self.tickets.split_ticket(
            ticket_id, json_object(request), idempotency_key=idempotency_key(request)
        )
        headers = {**etag_header(ticket), "Location": f"/api/v1/tickets/{ticket['id']}"}
        return json_response(ticket, 201, headers)

    # -- spam --------------------------------------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/spam",
        summary="Mark threads of the ticket as spam (delete permission); with all of them chosen the "
        "ticket goes to the recycle bin as well (ticket_deleted). Accepts Idempotency-Key.",
        body=tickets_contract.SpamSchema,
        returns=tickets_contract.SpamResultSchema,
        idempotent=True,
        errors=(301, 403, 404, 409, 422),
        headers=("Idempotent-Replayed",),
        tag="lifecycle",
    )
    def mark_spam(self, request: Request, ticket_id: int) -> Response:
        return json_response(
            self.tickets.mark_spam(ticket_id, json_object(request), idempotency_key=idempotency_key(request))
        )

    @route(
        "GET",
        "/api/v1/spam",
        summary="The spam view (delete permission): threads marked spam, most recent first, until the "
        "retention service purges them.",
        query=conversations_contract.SpamQuerySchema,
        returns=conversations_contract.SpamThreadPageSchema,
        errors=(403, 404),
        tag="lifecycle",
    )
    def list_spam(self, request: Request) -> Response:
        return json_response(self.conversations.list_spam(query_args(request)))

    @route(
        "POST",
        "/api/v1/threads/<int:thread_id>/not-spam",
        summary="Not spam (delete permission): the thread goes back to its ticket, which is restored from "
        "the recycle bin, or made anew, if needed. Accepts Idempotency-Key.",
        returns=tickets_contract.NotSpamResultSchema,
        idempotent=True,
        errors=(403, 404, 409, 422),
        headers=("Idempotent-Replayed",),
        tag="lifecycle",
    )
    def not_spam(self, request: Request, thread_id: int) -> Response:
        return json_response(self.tickets.not_spam(thread_id, idempotency_key=idempotency_key(request)))

    # -- delete, restore, the bin ------------------------------------------------------------------------
    @route(
        "DELETE",
        "/api/v1/tickets/<int:ticket_id>",
        summary="Move the ticket with its conversations to the recycle bin (delete permission); answers "
        "it as the bin shows it.",
        returns=tickets_contract.BinItemSchema,
        errors=(301, 403, 404, 409, 422),
        tag="lifecycle",
    )
    def delete_ticket(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.tickets.delete_ticket(ticket_id))

    @route(
        "POST",
        "/api/v1/tickets/bulk-delete",
        summary="Move many tickets (up to 10,000) to the recycle bin as a job (bulk delete permission); "
        "confirm_count must equal the number of ids or nothing happens. 200 with every result when it "
        "finished at once, else 202: follow GET /api/v1/jobs/{id}. Accepts Idempotency-Key.",
        body=tickets_contract.BulkDeleteSchema,
        returns=tickets_contract.BulkJobSchema,
        idempotent=True,
        alternate=(202,),
        errors=(403, 404),
        headers=("Idempotent-Replayed",),
        tag="lifecycle",
    )
    def bulk_delete(self, request: Request) -> Response:
        client = self.tickets.with_timeout(BULK_TIMEOUT)
        return job_response(
            client.bulk_delete(json_object(request), idempotency_key=idempotency_key(request))
        )

    @route(
        "GET",
        "/api/v1/recycle-bin",
        summary="Deleted tickets the caller may see, most recently deleted first (delete, bulk delete or "
        "account access); restorable until purging begins.",
        query=tickets_contract.BinQuerySchema,
        returns=tickets_contract.BinItemPageSchema,
        errors=(403, 404),
        tag="lifecycle",
    )
    def recycle_bin(self, request: Request) -> Response:
        return json_response(self.tickets.recycle_bin(query_args(request)))

    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/restore",
        summary="Bring the ticket back from the recycle bin with its conversations, keeping their ids "
        "(account access).",
        returns=tickets_contract.TicketSchema,
        errors=(301, 403, 404, 409, 422),
        tag="lifecycle",
    )
    def restore_ticket(self, request: Request, ticket_id: int) -> Response:
        ticket = self.tickets.restore_ticket(ticket_id)
        return json_response(ticket, headers=etag_header(ticket))

    # -- pipelines and stages ----------------------------------------------------------------------------
    @route(
        "DELETE",
        "/api/v1/pipelines/<int:pipeline_id>",
        summary="Delete a pipeline (account access) once its tickets moved to the stage move_to names, "
        "as one job: 200 when done, else 202 (follow GET /api/v1/jobs/{id}). No ticket enters it meanwhile. "
        "Accepts Idempotency-Key.",
        query=tickets_contract.MoveToQuerySchema,
        returns=tickets_contract.JobSchema,
        alternate=(202,),
        idempotent=True,
        errors=(403, 404, 409, 422),
        headers=("Idempotent-Replayed",),
        tag="pipelines",
    )
    def delete_pipeline(self, request: Request, pipeline_id: int) -> Response:
        client = self.tickets.with_timeout(BULK_TIMEOUT)
        key = idempotency_key(request)
        return job_response(client.delete_pipeline(pipeline_id, query_args(request), idempotency_key=key))

    @route(
        "DELETE",
        "/api/v1/pipelines/<int:pipeline_id>/stages/<int:stage_id>",
        summary="Delete a stage (account access) once its tickets moved to the stage move_to names, as one "
        "job: 200 when done, else 202. The pipeline keeps at least one OPEN stage. Accepts Idempotency-Key.",
        query=tickets_contract.MoveToQuerySchema,
        returns=tickets_contract.JobSchema,
        alternate=(202,),
        idempotent=True,
        errors=(403, 404, 409, 422),
        headers=("Idempotent-Replayed",),
        tag="pipelines",
    )
    def delete_stage(self, request: Request, pipeline_id: int, stage_id: int) -> Response:
        client = self.tickets.with_timeout(BULK_TIMEOUT)
        key = idempotency_key(request)
        answer = client.delete_stage(pipeline_id, stage_id, query_args(request), idempotency_key=key)
        return job_response(answer)

    # -- jobs --------------------------------------------------------------------------------------------
    @route(
        "GET",
        "/api/v1/jobs/<int:job_id>",
        summary="A job's progress, outcome and first 100 per-ticket results (bulk update, bulk delete, and "
        "every lifecycle action), for whoever started it.",
        returns=tickets_contract.JobDetailSchema,
        errors=(403, 404),
        tag="lifecycle",
    )
    def get_job(self, request: Request, job_id: int) -> Response:
        return json_response(self.tickets.get_job(job_id))

    @route(
        "GET",
        "/api/v1/jobs/<int:job_id>/items",
        summary="A job's per-ticket results (done, or skipped and why), in order.",
        query=tickets_contract.JobItemQuerySchema,
        returns=tickets_contract.JobItemPageSchema,
        errors=(403, 404),
        tag="lifecycle",
    )
    def job_items(self, request: Request, job_id: int) -> Response:
        return json_response(self.tickets.job_items(job_id, query_args(request)))

    # -- retention ---------------------------------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/retention/runs",
        summary="Purge now what the retention periods say (account access), or with dry_run list what "
        "would go and when. 200 when the run finished, else 202: follow GET /api/v1/retention/runs/{id}.",
        body=retention_contract.RunRequestSchema,
        returns=retention_contract.RunSchema,
        alternate=(202,),
        errors=(403, 404, 409, 422),
        tag="retention",
    )
    def start_retention_run(self, request: Request) -> Response:
        run = self.retention.run(json_object(request))
        if run.get("state") == "running":
            return json_response(run, 202, {"Location": f"/api/v1/retention/runs/{run['id']}"})
        return json_response(run)

    @route(
        "GET",
        "/api/v1/retention/runs/<int:run_id>",
        summary="A purge run's progress and the first items it purged (account access).",
        returns=retention_contract.RunSchema,
        errors=(403, 404),
        tag="retention",
    )
    def get_retention_run(self, request: Request, run_id: int) -> Response:
        return json_response(self.retention.get_run(run_id))

    @route(
        "GET",
        "/api/v1/retention/audit",
        summary="Every purged item, most recent first: what, when it was marked, when it was due and "
        "purged, under which policy (account access).",
        query=retention_contract.AuditQuerySchema,
        returns=retention_contract.PurgeItemPageSchema,
        errors=(403, 404),
        tag="retention",
    )
    def retention_audit(self, request: Request) -> Response:
        return json_response(self.retention.audit(query_args(request)))

    @route(
        "GET",
        "/api/v1/retention/policies",
        summary="The retention periods in force (configuration), in days (account access).",
        returns=retention_contract.PolicySchema,
        many=True,
        errors=(403, 404),
        tag="retention",
    )
    def retention_policies(self, request: Request) -> Response:
        return json_response(self.retention.policies())
