"""Public contract of the conversations service: its name, its events and wire schemas.

Evolution: fields are only ever added (optional); a breaking change gets a new name.
"""

from __future__ import annotations

import base64
import binascii

from marshmallow import EXCLUDE, ValidationError, fields, validate

from services.chassis.schema import EventPayload

SERVICE_NAME = "conversations"

MAIL_RECEIVED = "mail_received"
"""Event: the SMTP edge accepted a mail. Published by the edge (``python -m
services.conversations.smtp_edge``), not by the service's outbox, to the service's own event
exchange ``conversations.events`` with this routing key, persistent and confirmed, before the
edge answers 250; consumers ``@subscribe(SERVICE_NAME, MAIL_RECEIVED)``. The payload is an
:class:`InboundMailSchema` document: ``event_id`` is the edge's id of the delivery. A mail may
arrive twice (a sender retrying after a lost answer gets a new ``event_id``): consumers
deduplicate by the mail's Message-ID.
"""


def _is_base64(value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Not valid base64.") from None


class InboundMailSchema(EventPayload):
    """One mail as the SMTP edge received it: the SMTP envelope and the exact bytes.

    The payload of :data:`MAIL_RECEIVED`: ``event_id`` is ``edge_id`` as a string and
    ``occurred_at`` is ``received_at``.
    """

    edge_id = fields.UUID(required=True)  # the edge's id for this delivery (logged on both sides)
    received_at = fields.AwareDateTime(required=True, format="iso")  # ISO 8601 with offset
    mail_from = fields.String(required=True)  # SMTP MAIL FROM; "" for the null sender <>
    rcpt_tos = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    peer = fields.String(required=True)  # "host:port" of the sending server
    raw_b64 = fields.String(required=True, validate=_is_base64)  # the message bytes, base64

    class Meta:
        unknown = EXCLUDE
