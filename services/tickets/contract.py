"""Public contract of the tickets service: its name, events and wire schemas.

The gateway validates request bodies with these schemas and other services read
event payloads with them; nobody re-declares them.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

SERVICE_NAME = "tickets"

# Events. Every payload has event_id, occurred_at, ticket_id and actor_id.
TICKET_CREATED = "ticket_created"  # + owner_id, team_id, pipeline_id, status, priority, name
TICKET_UPDATED = "ticket_updated"  # + changes: {field: [old, new]}
TICKET_ASSIGNED = "ticket_assigned"  # + owner_id, previous_owner_id
TICKET_STATUS_CHANGED = "ticket_status_changed"  # + old_status, new_status
TICKET_CLOSED = "ticket_closed"
TICKET_FOLLOWED = "ticket_followed"  # + user_id
TICKET_UNFOLLOWED = "ticket_unfollowed"  # + user_id

PRIORITIES = ("low", "medium", "high", "urgent")
SOURCES = ("email", "chat", "form", "api")
STAGE_STATES = ("OPEN", "CLOSED")
VIEWS = ("unassigned", "mine", "following", "open", "unread")
SORTABLE = ("created_at", "updated_at", "priority", "name", "id")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AssociationsSchema(_Strict):
    contacts = fields.List(fields.Integer(strict=True), load_default=list)
    companies = fields.List(fields.Integer(strict=True), load_default=list)
    deals = fields.List(fields.Integer(strict=True), load_default=list)


class TicketCreateSchema(_Strict):
    """Body of a ticket creation; unknown and read-only fields are refused."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    description = fields.String(load_default="", validate=validate.Length(max=100_000))
    pipeline_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    status = fields.Integer(strict=True, allow_none=True, load_default=None)
    priority = fields.String(validate=validate.OneOf(PRIORITIES), load_default="medium")
    category = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    owner_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    team_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    source = fields.String(validate=validate.OneOf(SOURCES), load_default="api")
    associations = fields.Nested(AssociationsSchema, load_default=dict)


class TicketPatchSchema(_Strict):
    """Body of a ticket update: any subset of the editable fields."""

    name = fields.String(validate=validate.Length(min=1, max=500))
    description = fields.String(validate=validate.Length(max=100_000))
    pipeline_id = fields.Integer(strict=True)
    status = fields.Integer(strict=True)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    category = fields.String(allow_none=True, validate=validate.Length(max=200))
    owner_id = fields.Integer(strict=True, allow_none=True)
    team_id = fields.Integer(strict=True, allow_none=True)
    source = fields.String(validate=validate.OneOf(SOURCES))


class TicketSchema(Schema):
    """A ticket as every reader sees it (``unread``/``following`` are for the caller)."""

    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    pipeline_id = fields.Integer()
    status = fields.Integer()
    priority = fields.String()
    category = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    source = fields.String()
    associations = fields.Nested(AssociationsSchema)
    created_at = fields.String()
    updated_at = fields.String()
    closed_at = fields.String(allow_none=True)
    version = fields.Integer()
    unread = fields.Boolean()
    following = fields.Boolean()
    merged_ticket_ids = fields.List(fields.Integer())


class StageSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    state = fields.String(validate=validate.OneOf(STAGE_STATES))


class PipelineSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    stages = fields.List(fields.Nested(StageSchema))


class TicketCreatedEvent(Schema):
    """Payload of ``ticket_created``; consumers ignore fields they do not know."""

    event_id = fields.String(required=True)
    occurred_at = fields.String(required=True)
    ticket_id = fields.Integer(required=True)
    actor_id = fields.Integer(required=True)
    owner_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    pipeline_id = fields.Integer()
    status = fields.Integer()
    priority = fields.String()
    name = fields.String()

    class Meta:
        unknown = "exclude"
