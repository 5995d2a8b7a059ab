"""The caller's in-app notification feed."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from gateway.http import action_body, json_response, query_args, route
from services.chassis.paging import PageQuery
from services.chassis.rpc import ServiceRpc
from services.notifications import contract as notifications_contract


class NotificationRoutes:
    notifications = ServiceRpc(notifications_contract.SERVICE_NAME)

    @route(
        "GET",
        "/api/v1/notifications",
        summary="The caller's in-app feed, newest first.",
        returns=notifications_contract.FeedPageSchema,
        query=PageQuery,
        tag="notifications",
    )
    def list_notifications(self, request: Request) -> Response:
        return json_response(self.notifications.list_feed(query_args(request)))

    @route(
        "POST",
        "/api/v1/notifications/<int:item_id>/read",
        summary="Mark a feed item read.",
        returns=notifications_contract.FeedItemSchema,
        action=True,
        tag="notifications",
    )
    def read_notification(self, request: Request, item_id: int) -> Response:
        action_body(request)
        return json_response(self.notifications.mark_read(item_id))
