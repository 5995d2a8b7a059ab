"""Public contract of the conversations service: its name, its queues and wire schemas.

Evolution: fields are only ever added (optional); a breaking change gets a new name.
"""

from __future__ import annotations

import base64
import binascii

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

SERVICE_NAME = "conversations"

INBOUND_MAIL_QUEUE = "conversations.inbound-mail"
"""Durable queue, declared with no arguments, on the default exchange (routing key = its name).

The SMTP edge (``python -m services.conversations.smtp_edge``) publishes every mail it accepts
here, persistent and confirmed, before it answers 250; the conversations service consumes it.
Each message body is an :class:`InboundMailSchema` document in JSON. A mail may arrive twice
(a sender retrying after a lost answer): consumers deduplicate by the mail's Message-ID.
"""


def _is_base64(value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Not valid base64.") from None


class InboundMailSchema(Schema):
    """One mail as the SMTP edge received it: the SMTP envelope and the exact bytes."""

    edge_id = fields.UUID(required=True)  # the edge's id for this delivery (logged on both sides)
    received_at = fields.AwareDateTime(required=True, format="iso")  # ISO 8601 with offset
    mail_from = fields.String(required=True)  # SMTP MAIL FROM; "" for the null sender <>
    rcpt_tos = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    peer = fields.String(required=True)  # "host:port" of the sending server
    raw_b64 = fields.String(required=True, validate=_is_base64)  # the message bytes, base64

    class Meta:
        unknown = EXCLUDE
