"""Public contract of the notifications service: its name, notification types, events and wire schemas.

A *notification* is one thing one person is told once: it is stored exactly once per person
and triggering event (a redelivered event changes nothing), shown in the in-app feed when the
person's preference for its type says so, and emailed (at once, or in an hourly digest) when
the email preference does. The events below let the gateway push feed changes to live clients.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.chassis.paging import PageQuery
from services.chassis.schema import EventPayload, Input, QueryId, StrictBoolean, Timestamp

SERVICE_NAME = "notifications"

# Notification types.
TICKET_CREATED = "ticket_created"
"""A new ticket, for super admins (see API.md)."""
RECORD_UPDATED = "record_updated"
"""Activity on a ticket you follow (a property, an association, an agent's reply or note)."""
ASSIGNED_TO_YOU = "assigned_to_you"
"""A ticket was assigned to you (a bulk reassignment is one notification)."""
NEW_MESSAGE = "new_message"
"""A customer wrote on a ticket you own or follow."""
STATUS_CHANGED = "status_changed"
"""A ticket you own or follow changed status."""
MENTIONED = "mentioned"
"""Someone mentioned you in a note."""
SLA_BREACHED = "sla_breached"
"""A ticket you own or follow breached an SLA goal (tickets' ``sla_breached`` event)."""

NOTIFICATION_TYPES = (
    TICKET_CREATED,
    RECORD_UPDATED,
    ASSIGNED_TO_YOU,
    NEW_MESSAGE,
    STATUS_CHANGED,
    MENTIONED,
    SLA_BREACHED,
)

IN_APP = "in_app"
EMAIL = "email"
CHANNELS = (IN_APP, EMAIL)

DIGEST_OFF = "off"
DIGEST_HOURLY = "hourly"
DIGEST_MODES = (DIGEST_OFF, DIGEST_HOURLY)
"""``off``: each notification by email is sent at once; ``hourly``: they wait for one mail an hour."""

DEFAULT_PREFERENCES: dict[str, dict[str, bool]] = {
    TICKET_CREATED: {IN_APP: True, EMAIL: False},
    RECORD_UPDATED: {IN_APP: True, EMAIL: False},
    ASSIGNED_TO_YOU: {IN_APP: True, EMAIL: True},
    NEW_MESSAGE: {IN_APP: True, EMAIL: True},
    STATUS_CHANGED: {IN_APP: True, EMAIL: False},
    MENTIONED: {IN_APP: True, EMAIL: True},
    SLA_BREACHED: {IN_APP: True, EMAIL: True},
}
"""What a person gets before they choose: everything in the app; by email only what is addressed
to them (assignments, customer messages, mentions, breaches), not every change they follow."""

EMAIL_DAILY_CAP = 1000
"""At most this many emails per notification type per person per (UTC) day; the rest are dropped
and counted (``mail_drops``)."""

# Events (for live clients; every payload has event_id and occurred_at).
NOTIFICATIONS_ADDED = "notifications_added"  # + notifications: [{user_id, notification, unread, grown}]
NOTIFICATIONS_READ = "notifications_read"  # + user_id, ids (None: all of them), unread


class FeedItemSchema(Schema):
    """One notification in a person's in-app feed.

    A bulk change or a merge is one notification: ``count`` tickets, listed in ``ticket_ids``
    (``ticket_id`` is the first), and ``title`` says so ("12 tickets were reassigned to you").
    """

    id = fields.Integer()
    type = fields.String(validate=validate.OneOf(NOTIFICATION_TYPES))
    ticket_id = fields.Integer(allow_none=True)
    ticket_ids = fields.List(fields.Integer())
    count = fields.Integer()
    title = fields.String()
    actor_id = fields.Integer(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()
    read = fields.Boolean()


class FeedPageSchema(Schema):
    """One page of the caller's feed, newest first, with how many of all their notifications are unread."""

    items = fields.List(fields.Nested(FeedItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True)
    unread = fields.Integer(required=True)


class FeedQuerySchema(PageQuery):
    """``limit``, ``cursor`` and ``unread=true`` for unread notifications only."""

    unread = fields.Boolean(load_default=False)


class UnreadSchema(Schema):
    """How many of the caller's notifications are unread (``marked``: how many a call marked read)."""

    unread = fields.Integer()
    marked = fields.Integer()


class ChannelsSchema(Input):
    """Whether a type of notification is shown in the app and sent by email."""

    in_app = StrictBoolean()
    email = StrictBoolean()


def _known_types(value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(NOTIFICATION_TYPES))
    if unknown:
        raise ValidationError(f"unknown notification types: {', '.join(unknown)}")


class PreferencesSchema(Input):
    """A person's notification preferences: per type and channel, and the email digest mode.

    Answers always hold every type and channel. A ``PUT`` may name only some: types and
    channels it leaves out keep their values.
    """

    types = fields.Dict(keys=fields.String(), values=fields.Nested(ChannelsSchema), validate=_known_types)
    email_digest = fields.String(validate=validate.OneOf(DIGEST_MODES))

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("name types and/or email_digest", "_schema")


class MailDropSchema(Schema):
    """One person's emails of one type on one day: how many went out and how many the cap dropped."""

    user_id = fields.Integer()
    type = fields.String()
    day = fields.String()
    emails = fields.Integer()
    dropped = fields.Integer()


class MailDropPageSchema(Schema):
    """One page of the cap's counts with drops, newest first."""

    items = fields.List(fields.Nested(MailDropSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True)


class MailDropQuerySchema(PageQuery):
    """Days with dropped emails, newest first; ``day`` (YYYY-MM-DD) and ``user_id`` narrow it."""

    day = fields.Date(format="%Y-%m-%d")
    user_id = QueryId()


# -- event payloads ---------------------------------------------------------------------------------


class AddedNotificationSchema(Schema):
    """One person's new notification (or one a bulk change grew: ``grown``) and their unread count."""

    user_id = fields.Integer(required=True)
    notification = fields.Nested(FeedItemSchema, required=True)
    unread = fields.Integer(required=True)
    grown = fields.Boolean(load_default=False)


class NotificationsAddedEvent(EventPayload):
    """Payload of ``notifications_added``: every notification one triggering event made, in one
    event (a customer message on a ticket with 100 followers is one event, not 100)."""

    notifications = fields.List(fields.Nested(AddedNotificationSchema), required=True)


class NotificationsReadEvent(EventPayload):
    """Payload of ``notifications_read``: these notifications of ``user_id`` (None: all) are read."""

    user_id = fields.Integer(required=True)
    unread = fields.Integer(required=True)
    ids = fields.List(fields.Integer(), allow_none=True, required=True)


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    NOTIFICATIONS_ADDED: NotificationsAddedEvent,
    NOTIFICATIONS_READ: NotificationsReadEvent,
}
"""The payload schema of every event this service publishes."""
