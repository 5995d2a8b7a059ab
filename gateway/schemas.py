"""Schemas of the gateway's own aggregate answers, composed of the services' contract schemas
(the gateway never re-declares what a service owns)."""

from __future__ import annotations

from marshmallow import Schema, fields

from services.conversations import contract as conversations_contract
from services.tickets import contract as tickets_contract


class WorkspaceSchema(Schema):
    """The split layout of one ticket: the ticket, its threads with their first messages, and the
    first page of its timeline."""

    ticket = fields.Nested(tickets_contract.TicketSchema)
    threads = fields.Nested(conversations_contract.ThreadPageSchema)
    timeline = fields.Nested(tickets_contract.TimelinePageSchema)
