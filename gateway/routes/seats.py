"""Seat-feature routes: saved views, SLA policies, ticket name and summary suggestions, reply
recommendations, and the count of seats in use.

Every feature here needs a service seat; the owning service refuses a caller without one
with :class:`~services.chassis.errors.SeatRequired` (403, problem type ``.../seat-required``),
whatever the object, so a refusal reveals nothing. Views and SLAs belong to the tickets
service; suggestions and recommendations to the conversations service, which holds the text
(and asks the tickets service who may see what); seats to the permissions service.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from gateway.http import (
    empty_response,
    idempotency_key,
    json_object,
    json_response,
    optional_object,
    query_args,
    route,
)
from services.chassis.paging import PageQuery
from services.chassis.rpc import ServiceRpc
from services.conversations import contract as conversations_contract
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract


class SeatRoutes:
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)
    conversations = ServiceRpc(conversations_contract.SERVICE_NAME)
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME)

    # seats ---------------------------------------------------------------------------------------
    @route(
        "GET",
        "/api/v1/seats",
        summary="Service seats in use, out of all users (account access). Assign one with PATCH "
        '/api/v1/users/{id} {"seat": true}.',
        returns=permissions_contract.SeatCountSchema,
        tag="seats",
    )
    def seat_count(self, request: Request) -> Response:
        return json_response(self.permissions.seat_count())

    # saved views ---------------------------------------------------------------------------------
    @route(
        "GET",
        "/api/v1/views",
        summary="Saved views you may use (yours, your teams', everyone's), oldest first, and beside "
        "them the default views (seat).",
        query=PageQuery,
        returns=tickets_contract.ViewPageSchema,
        tag="views",
    )
    def list_views(self, request: Request) -> Response:
        return json_response(self.tickets.list_views(query_args(request)))

    @route(
        "POST",
        "/api/v1/views",
        summary="Save a view: filters (the table's query parameters), sort and columns, private or shared "
        "with a team or everyone (seat; accepts Idempotency-Key). Apply it: GET /api/v1/tickets?view_id=.",
        idempotent=True,
        body=tickets_contract.ViewCreateSchema,
        returns=tickets_contract.ViewSchema,
        status=201,
        headers=("Location", "Idempotent-Replayed"),
        tag="views",
    )
    def create_view(self, request: Request) -> Response:
        view = self.tickets.create_view(json_object(request), idempotency_key=idempotency_key(request))
        return json_response(view, 201, {"Location": f"/api/v1/views/{view['id']}"})

    @route(
        "GET",
        "/api/v1/views/<int:view_id>",
        summary="A saved view you may use (seat).",
        returns=tickets_contract.ViewSchema,
        tag="views",
    )
    def get_view(self, request: Request, view_id: int) -> Response:
        return json_response(self.tickets.get_view(view_id))

    @route(
        "PATCH",
        "/api/v1/views/<int:view_id>",
        summary="Change a saved view (its owner, or account access; seat).",
        body=tickets_contract.ViewPatchSchema,
        returns=tickets_contract.ViewSchema,
        tag="views",
    )
    def update_view(self, request: Request, view_id: int) -> Response:
        return json_response(self.tickets.update_view(view_id, json_object(request)))

    @route(
        "DELETE",
        "/api/v1/views/<int:view_id>",
        summary="Delete a saved view (its owner, or account access; seat).",
        status=204,
        tag="views",
    )
    def delete_view(self, request: Request, view_id: int) -> Response:
        self.tickets.delete_view(view_id)
        return empty_response(204)

    # SLA policies --------------------------------------------------------------------------------
    @route(
        "GET",
        "/api/v1/sla-policies",
        summary="SLA policies (seat).",
        query=PageQuery,
        returns=tickets_contract.SlaPolicyPageSchema,
        tag="slas",
    )
    def list_sla_policies(self, request: Request) -> Response:
        return json_response(self.tickets.list_sla_policies(query_args(request)))

    @route(
        "POST",
        "/api/v1/sla-policies",
        summary="Create an SLA policy: goals in working minutes for first reply, next reply and close, for "
        "a priority and/or pipeline, 24/7 or business hours, paused in chosen stages (seat and account "
        "access; accepts Idempotency-Key). Open tickets' clocks are recomputed.",
        idempotent=True,
        body=tickets_contract.SlaPolicyCreateSchema,
        returns=tickets_contract.SlaPolicySchema,
        status=201,
        headers=("Location", "Idempotent-Replayed"),
        tag="slas",
    )
    def create_sla_policy(self, request: Request) -> Response:
        policy = self.tickets.create_sla_policy(
            json_object(request), idempotency_key=idempotency_key(request)
        )
        return json_response(policy, 201, {"Location": f"/api/v1/sla-policies/{policy['id']}"})

    @route(
        "GET",
        "/api/v1/sla-policies/<int:policy_id>",
        summary="An SLA policy (seat).",
        returns=tickets_contract.SlaPolicySchema,
        tag="slas",
    )
    def get_sla_policy(self, request: Request, policy_id: int) -> Response:
        return json_response(self.tickets.get_sla_policy(policy_id))

    @route(
        "PATCH",
        "/api/v1/sla-policies/<int:policy_id>",
        summary="Change an SLA policy (seat and account access); open tickets' clocks are recomputed.",
        body=tickets_contract.SlaPolicyPatchSchema,
        returns=tickets_contract.SlaPolicySchema,
        tag="slas",
    )
    def update_sla_policy(self, request: Request, policy_id: int) -> Response:
        return json_response(self.tickets.update_sla_policy(policy_id, json_object(request)))

    @route(
        "DELETE",
        "/api/v1/sla-policies/<int:policy_id>",
        summary="Delete an SLA policy (seat and account access); open tickets' clocks are recomputed.",
        status=204,
        tag="slas",
    )
    def delete_sla_policy(self, request: Request, policy_id: int) -> Response:
        self.tickets.delete_sla_policy(policy_id)
        return empty_response(204)

    # suggestions and recommendations -------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/suggestions/name",
        summary="Suggest a ticket name from the ticket's conversation (seat). Changes nothing: save it with "
        "PATCH. The body may be empty; send the suggestions already shown as exclude to get another.",
        body=conversations_contract.SuggestionRequestSchema,
        optional_body=True,
        returns=conversations_contract.SuggestionSchema,
        errors=(409,),
        tag="seat features",
    )
    def suggest_name(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.conversations.suggest(ticket_id, "name", optional_object(request)))

    @route(
        "POST",
        "/api/v1/tickets/<int:ticket_id>/suggestions/summary",
        summary="Suggest a summary of the ticket's conversation (seat). Changes nothing. The body may be "
        "empty; send the suggestions already shown as exclude to get another.",
        body=conversations_contract.SuggestionRequestSchema,
        optional_body=True,
        returns=conversations_contract.SuggestionSchema,
        errors=(409,),
        tag="seat features",
    )
    def suggest_summary(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.conversations.suggest(ticket_id, "summary", optional_object(request)))

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>/reply-recommendations",
        summary="Up to three replies from the closed tickets most like this one that you may see, with a "
        "relevance score and the source ticket (seat).",
        returns=conversations_contract.RecommendationListSchema,
        tag="seat features",
    )
    def reply_recommendations(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.conversations.reply_recommendations(ticket_id))
