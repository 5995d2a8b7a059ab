"""Public contract of the notifications service."""

from __future__ import annotations

from marshmallow import Schema, fields

from services.chassis.paging import page_schema
from services.chassis.schema import Timestamp

SERVICE_NAME = "notifications"

NOTIFICATION_TYPES = (
    "ticket_created",
    "record_updates",
    "assignment",
    "status_change",
    "sla_breach",
    "mention",
)
CHANNELS = ("in_app", "email")


class FeedItemSchema(Schema):
    """One item of a user's in-app feed."""

    id = fields.Integer()
    type = fields.String()
    ticket_id = fields.Integer(allow_none=True)
    created_at = Timestamp()
    read = fields.Boolean()


FeedPageSchema = page_schema(FeedItemSchema)
