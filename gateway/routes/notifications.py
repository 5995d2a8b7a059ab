"""The caller's notifications: the in-app feed, read state, preferences, and the email cap's drops."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from gateway.http import json_object, json_response, query_args, route
from services.chassis.rpc import ServiceRpc
from services.notifications import contract as notifications_contract


class NotificationRoutes:
    notifications = ServiceRpc(notifications_contract.SERVICE_NAME)

    @route(
        "GET",
        "/api/v1/notifications",
        summary="The caller's in-app feed, newest first, with the unread count (unread=true: unread only).",
        returns=notifications_contract.FeedPageSchema,
        query=notifications_contract.FeedQuerySchema,
        tag="notifications",
    )
    def list_notifications(self, request: Request) -> Response:
        return json_response(self.notifications.list_feed(query_args(request)))

    @route(
        "POST",
        "/api/v1/notifications/<int:item_id>/read",
        summary="Mark one of the caller's notifications read.",
        returns=notifications_contract.FeedItemSchema,
        tag="notifications",
    )
    def read_notification(self, request: Request, item_id: int) -> Response:
        return json_response(self.notifications.mark_read(item_id))

    @route(
        "POST",
        "/api/v1/notifications/read-all",
        summary="Mark all of the caller's notifications read; answers how many it marked.",
        returns=notifications_contract.UnreadSchema,
        tag="notifications",
    )
    def read_all_notifications(self, request: Request) -> Response:
        return json_response(self.notifications.mark_all_read())

    @route(
        "GET",
        "/api/v1/notifications/unread-count",
        summary="How many of the caller's notifications are unread.",
        returns=notifications_contract.UnreadSchema,
        tag="notifications",
    )
    def unread_notifications(self, request: Request) -> Response:
        return json_response(self.notifications.unread_count())

    @route(
        "GET",
        "/api/v1/me/notification-preferences",
        summary="The caller's notification preferences: every type, in-app and email, and the digest mode.",
        returns=notifications_contract.PreferencesSchema,
        tag="notifications",
    )
    def get_notification_preferences(self, request: Request) -> Response:
        return json_response(self.notifications.get_preferences())

    @route(
        "PUT",
        "/api/v1/me/notification-preferences",
        summary="Change the caller's notification preferences; types and channels left out keep "
        "their values. Answers all of them.",
        body=notifications_contract.PreferencesSchema,
        returns=notifications_contract.PreferencesSchema,
        tag="notifications",
    )
    def put_notification_preferences(self, request: Request) -> Response:
        return json_response(self.notifications.set_preferences(json_object(request)))

    @route(
        "GET",
        "/api/v1/notifications/email-drops",
        summary="Emails the daily cap (1,000 per type, person and day) dropped, newest first "
        "(account access).",
        returns=notifications_contract.MailDropPageSchema,
        query=notifications_contract.MailDropQuerySchema,
        tag="notifications",
    )
    def notification_email_drops(self, request: Request) -> Response:
        return json_response(self.notifications.mail_drops(query_args(request)))
