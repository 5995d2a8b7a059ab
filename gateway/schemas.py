"""Schemas of the gateway's own aggregate answers, composed of the services' contract schemas
(the gateway never re-declares what a service owns)."""

from __future__ import annotations

from marshmallow import Schema, fields

from services.conversations import contract as conversations_contract
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract


class WorkspaceSchema(Schema):
    """The split layout of one ticket: the ticket, its threads with their first messages, and the
    first page of its timeline."""

    ticket = fields.Nested(tickets_contract.TicketSchema)
    threads = fields.Nested(conversations_contract.ThreadPageSchema)
    timeline = fields.Nested(tickets_contract.TimelinePageSchema)


class StreamMessageSchema(Schema):
    """One Server-Sent Events message of ``GET /api/v1/stream`` (``text/event-stream``, not JSON):
    ``id: <epoch>-<seq>-<key>`` (``<epoch>-<seq>`` for ``reset``), ``event: <name>``,
    ``data: <JSON>``.

    Events: ``hello`` (first; ``unread`` and ``epoch``), a tickets event for a ticket the caller may
    see now (``ticket_created``, ``ticket_updated``, ``ticket_followed``... its payload as the
    tickets contract describes it), ``ticket_hidden`` (``ticket_id`` only: a ticket the caller could
    see under its previous owner left its sight), ``notification`` (one of the caller's
    notifications, new or grown, and ``unread``), ``unread`` (notifications were read: ``unread``,
    ``read_ids``), and ``reset`` (what the client shows may be stale: reload it). A comment line
    (``: keepalive``) comes every 15 seconds when nothing else does. Reconnecting with
    ``Last-Event-ID`` resumes without loss for at least 5 minutes while the gateway runs, also on
    another gateway instance (which may send the last 2 seconds' messages again: the same ``<key>``
    is the same message).
    """

    id = fields.String()
    event = fields.String()
    retry = fields.Integer(metadata={"description": "milliseconds a client waits before reconnecting"})
    data = fields.String(metadata={"description": "JSON text (an SSE data line is text): an object"})


class CreatedUserSchema(permissions_contract.UserSchema):
    """A new user; with ``?invite=true`` also ``invite``, their one-time set-password link
    (``permissions_contract.InviteSchema``: its token and url appear only here)."""

    invite = fields.Nested(permissions_contract.InviteSchema, dump_only=True)
