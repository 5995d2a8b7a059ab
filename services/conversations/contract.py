"""Public contract of the conversations service: its name, its events and wire schemas.

Evolution: fields are only ever added (optional); a breaking change gets a new name.
"""

from __future__ import annotations

import base64
import binascii

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from services.chassis.paging import PageQuery, page_schema
from services.chassis.schema import CleanEmail, CleanText, EventPayload, Id, Input, Timestamp
from services.chassis.words import MAX_SEARCH_TERMS, MAX_TERM

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


# -- threads and messages ----------------------------------------------------------------------------

# Events. Every payload has event_id, occurred_at and thread_id (and ticket_id, None while a
# thread has no ticket or sits in the inbox).
THREAD_CREATED = "thread_created"  # + channel, location, subject, customer_email, actor_id
THREAD_ATTACHED = "thread_attached"  # + ticket_id (the thread now belongs to this ticket)
THREAD_MOVED = "thread_moved"  # + from_location, to_location, previous_ticket_id, owner_id, actor_id
MESSAGE_ADDED = "message_added"  # + message_id, kind, channel, author_id, auto, mentions, at
MESSAGE_DELIVERY_CHANGED = "message_delivery_changed"  # + message_id, state, reason
THREAD_SPLIT = "thread_split"  # + source_thread_id, source_ticket_id, message_ids (thread_id: the new one)
THREAD_MARKED_SPAM = "thread_marked_spam"  # + actor_id
THREAD_UNMARKED_SPAM = "thread_unmarked_spam"  # + actor_id (ticket_id: where it went back to)

KINDS = ("customer", "reply", "note")
"""``customer``: a message from outside (inbound); ``reply``: an agent's answer, sent to the
customer; ``note``: internal, never sent, may mention users."""
AGENT_KINDS = ("reply", "note")
CHANNELS = ("email", "chat", "form")
INTAKE_CHANNELS = ("chat", "form")
LOCATIONS = ("inbox", "helpdesk")
DELIVERY_STATES = ("queued", "sent", "failed")
AUTO_REASONS = ("auto-reply", "bulk", "list", "bounce")
RULE_ACTIONS = ("allow", "deny")
MESSAGES_PER_PAGE = 50
MAX_BODY = 100_000
MAX_RECIPIENTS = 50
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOADS = 10
MEDIA_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
"""A media type without parameters (RFC 6838 names), as attachments are stored and served."""


class AddressSchema(Input):
    """A person at an email address."""

    email = CleanEmail(required=True, validate=validate.Length(max=320))
    name = CleanText(load_default="", validate=validate.Length(max=200))


class AttachmentSchema(Schema):
    """A file on a message; its bytes are served by ``GET /api/v1/attachments/{id}``."""

    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    inline = fields.Boolean()
    content_id = fields.String(allow_none=True)


class DeliverySchema(Schema):
    """Where an agent's reply is on its way to the customer."""

    state = fields.String(validate=validate.OneOf(DELIVERY_STATES))
    reason = fields.String(allow_none=True)
    attempts = fields.Integer()
    sent_at = Timestamp(allow_none=True)


class MessageSchema(Schema):
    """One message of a thread. ``text`` is the new text (what previews show), ``quoted_text``
    the history under it (collapsed in the agent's view); ``html`` is sanitised, and None for
    mail that came as text only."""

    id = fields.Integer()
    thread_id = fields.Integer()
    kind = fields.String(validate=validate.OneOf(KINDS))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    author_id = fields.Integer(allow_none=True)
    sender = fields.Nested(AddressSchema, allow_none=True)
    to = fields.List(fields.Nested(AddressSchema))
    cc = fields.List(fields.Nested(AddressSchema))
    subject = fields.String()
    text = fields.String()
    quoted_text = fields.String()
    html = fields.String(allow_none=True)
    email_message_id = fields.String(allow_none=True)
    in_reply_to = fields.String(allow_none=True)
    references = fields.List(fields.String())
    attachments = fields.List(fields.Nested(AttachmentSchema))
    mentions = fields.List(fields.Integer())
    auto = fields.String(allow_none=True, validate=validate.OneOf(AUTO_REASONS))
    delivery = fields.Nested(DeliverySchema, allow_none=True)
    created_at = Timestamp()


MessagePageSchema = page_schema(MessageSchema)


class ThreadSchema(Schema):
    """A conversation with one customer on one channel; in the help desk it belongs to a ticket.

    ``messages`` is the first page (oldest first); ``messages_next_cursor`` continues it with
    ``GET /api/v1/threads/{id}/messages``.
    """

    id = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)
    subject = fields.String()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    location = fields.String(validate=validate.OneOf(LOCATIONS))
    owner_id = fields.Integer(allow_none=True)
    customer = fields.Nested(AddressSchema)
    message_count = fields.Integer()
    spam = fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()
    last_message_at = Timestamp()
    messages = fields.List(fields.Nested(MessageSchema))
    messages_next_cursor = fields.String(allow_none=True)


ThreadPageSchema = page_schema(ThreadSchema)


class UploadSchema(Input):
    """A file sent with a reply: its bytes in base64."""

    filename = CleanText(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(
        load_default="application/octet-stream",
        validate=[
            validate.Length(max=200),
            validate.Regexp(MEDIA_TYPE, error="must be a media type such as application/pdf"),
        ],
    )
    content_b64 = fields.String(
        required=True, validate=[validate.Length(max=MAX_UPLOAD_BYTES * 4 // 3 + 4), _is_base64]
    )


class MessageCreateSchema(Input):
    """``POST /api/v1/threads/{id}/messages``: an agent's reply (emailed to the customer) or note.

    A reply goes to the thread's customer with the Cc of the customer's last message unless
    ``to``/``cc`` say otherwise; a note is internal and may ``mention`` users by id.
    """

    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_BODY))
    to = fields.List(
        CleanEmail(validate=validate.Length(max=320)), validate=validate.Length(min=1, max=MAX_RECIPIENTS)
    )
    cc = fields.List(
        CleanEmail(validate=validate.Length(max=320)), validate=validate.Length(max=MAX_RECIPIENTS)
    )
    mentions = fields.List(Id(), load_default=list, validate=validate.Length(max=MAX_RECIPIENTS))
    attachments = fields.List(
        fields.Nested(UploadSchema), load_default=list, validate=validate.Length(max=MAX_UPLOADS)
    )


class IntakeSchema(Input):
    """``POST /api/v1/intake/messages``: a message arriving on the chat or form channel.

    Without ``thread_id`` it starts a thread (and a ticket); with one it continues that
    thread, which must be on the same channel and from the same sender.
    """

    channel = fields.String(required=True, validate=validate.OneOf(INTAKE_CHANNELS))
    sender = fields.Nested(AddressSchema, required=True, data_key="from")
    subject = CleanText(load_default="", validate=validate.Length(max=500))
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_BODY))
    thread_id = Id(load_default=None, allow_none=True)


class IntakeResultSchema(Schema):
    """The intake's answer. ``ticket_id`` is null when the tickets service did not answer in time:
    the message is stored, and the conversations service's sweep gives the thread its ticket."""

    thread_id = fields.Integer()
    message_id = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)


class MoveSchema(Input):
    """``POST /api/v1/threads/{id}/move``: between the conversations inbox and the help desk.

    To the inbox the ticket stays (it may get ``pipeline_id``/``status``); to the help desk the
    thread joins ``ticket_id`` or a new ticket. ``owner_id`` must be a user with service or
    sales access (else 422, and nothing moves); it owns the thread, and on the help desk the
    new ticket, or the named one if it has no owner yet (one with an owner keeps them). Without
    ``owner_id`` the thread keeps its owner, who then owns its new ticket too while they may.
    ``comment`` is kept as an internal note.
    """

    to = fields.String(required=True, validate=validate.OneOf(LOCATIONS))
    owner_id = Id(load_default=None, allow_none=True)
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_BODY))
    pipeline_id = Id(load_default=None, allow_none=True)
    status = Id(load_default=None, allow_none=True)
    ticket_id = Id(load_default=None, allow_none=True)


class SpamThreadSchema(ThreadSchema):
    """A thread in the spam view: purged by the retention service once its period has passed
    since ``spam_at``; until then ``POST /api/v1/threads/{id}/not-spam`` gives it back."""

    spam_at = Timestamp()
    spam_by = fields.Integer(allow_none=True)


SpamThreadPageSchema = page_schema(SpamThreadSchema)


class SpamQuerySchema(PageQuery):
    """The spam view, most recently marked first."""


class ThreadQuerySchema(PageQuery):
    """Query of the inbox: a page of threads, newest activity first, optionally one channel."""

    channel = fields.String(validate=validate.OneOf(CHANNELS))


class SenderRuleCreateSchema(Input):
    """An allow or deny rule for an address (``ana@example.com``) or a whole domain (``example.com``)."""

    pattern = fields.String(required=True, validate=validate.Length(min=3, max=320))
    action = fields.String(required=True, validate=validate.OneOf(RULE_ACTIONS))


class SenderRuleSchema(Schema):
    id = fields.Integer()
    pattern = fields.String()
    action = fields.String(validate=validate.OneOf(RULE_ACTIONS))
    created_by = fields.Integer()
    created_at = Timestamp()


SenderRulePageSchema = page_schema(SenderRuleSchema)


class AttachmentContentSchema(AttachmentSchema):
    """An attachment with its bytes (base64), as the service hands it to the gateway."""

    content_b64 = fields.String()


class PrintSchema(Schema):
    """The printable page and the Content-Security-Policy it must be served under (no script)."""

    html = fields.String()
    content_security_policy = fields.String()


# -- the ticket search's view of conversations (the tickets service asks, as itself) ----------------

MESSAGE_MATCH_CAP = 100
"""``matching_tickets`` answers at most this many tickets, those whose conversation changed last.
As many as a searched list counts (the tickets service's ``SEARCH_TOTAL_CAP``): each id rides
along in every statement of the search (1,000 of them cost ~3 ms a statement at a million
tickets). A word in more conversations than that finds the older ones by the tickets' own
fields only."""


class MatchingTicketsSchema(Input):
    """``matching_tickets(terms)``: the terms of a query (services.chassis.words.search_terms)."""

    terms = fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_TERM)),
        required=True,
        validate=validate.Length(min=1, max=MAX_SEARCH_TERMS),
    )


# -- seat features: suggestions and reply recommendations --------------------------------------------

SUGGESTION_KINDS = ("name", "summary")
MAX_RECOMMENDATIONS = 3


class SuggestionRequestSchema(Input):
    """``POST /api/v1/tickets/{id}/suggestions/{name|summary}``; the body may be empty.

    ``exclude``: suggestions already shown, so that asking again gives another candidate
    (when every candidate was shown, the best comes back).
    """

    shown = fields.List(
        fields.String(validate=validate.Length(max=MAX_BODY)),
        data_key="exclude",
        load_default=list,
        validate=validate.Length(max=50),
    )


class SuggestionSchema(Schema):
    """A suggested ticket name or summary; nothing changes until the user saves it with a PATCH."""

    kind = fields.String(validate=validate.OneOf(SUGGESTION_KINDS))
    suggestion = fields.String()


class RecommendationSchema(Schema):
    """A reply from a similar closed ticket: its text, how close the match is (the database's
    relevance; higher is closer, comparable within one answer) and where it comes from."""

    body = fields.String()
    score = fields.Float()
    source_ticket_id = fields.Integer()
    message_id = fields.Integer()


class RecommendationListSchema(Schema):
    """Up to three recommended replies, best first."""

    items = fields.List(fields.Nested(RecommendationSchema))


# -- event payloads -----------------------------------------------------------------------------------


class _ThreadEvent(EventPayload):
    thread_id = fields.Integer(required=True)
    ticket_id = fields.Integer(required=True, allow_none=True)


class ThreadCreatedEvent(_ThreadEvent):
    """A thread exists (``ticket_id`` None until its ticket is made)."""

    channel = fields.String(required=True)
    location = fields.String(required=True)
    subject = fields.String(required=True)
    customer_email = fields.String(required=True)
    actor_id = fields.Integer(required=True, allow_none=True)


class ThreadAttachedEvent(_ThreadEvent):
    """The thread now belongs to ``ticket_id``."""

    actor_id = fields.Integer(required=True, allow_none=True)


class ThreadMovedEvent(_ThreadEvent):
    """The thread moved between the inbox and the help desk."""

    from_location = fields.String(required=True)
    to_location = fields.String(required=True)
    previous_ticket_id = fields.Integer(required=True, allow_none=True)
    owner_id = fields.Integer(required=True, allow_none=True)
    actor_id = fields.Integer(required=True)


class MessageAddedEvent(_ThreadEvent):
    """A message was added. Automatic mail (``auto`` set) never raises unread or notifies."""

    message_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    channel = fields.String(required=True)
    author_id = fields.Integer(required=True, allow_none=True)
    auto = fields.String(required=True, allow_none=True)
    mentions = fields.List(fields.Integer(), load_default=list)
    at = Timestamp(required=True)


class MessageDeliveryChangedEvent(_ThreadEvent):
    """A reply was sent, or failed for good (``reason`` says why)."""

    message_id = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(DELIVERY_STATES))
    reason = fields.String(required=True, allow_none=True)


class ThreadSplitEvent(_ThreadEvent):
    """Messages of ``source_thread_id`` moved to the new thread ``thread_id`` on ``ticket_id``."""

    source_thread_id = fields.Integer(required=True)
    source_ticket_id = fields.Integer(required=True, allow_none=True)
    message_ids = fields.List(fields.Integer(), load_default=list)


class ThreadSpamEvent(_ThreadEvent):
    """The thread was marked spam, or given back to ``ticket_id`` (not spam)."""

    actor_id = fields.Integer(required=True, allow_none=True)


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    THREAD_CREATED: ThreadCreatedEvent,
    THREAD_ATTACHED: ThreadAttachedEvent,
    THREAD_MOVED: ThreadMovedEvent,
    MESSAGE_ADDED: MessageAddedEvent,
    MESSAGE_DELIVERY_CHANGED: MessageDeliveryChangedEvent,
    THREAD_SPLIT: ThreadSplitEvent,
    THREAD_MARKED_SPAM: ThreadSpamEvent,
    THREAD_UNMARKED_SPAM: ThreadSpamEvent,
}
"""The payload schema of every event this service's outbox publishes (``mail_received`` comes
from the SMTP edge and has :class:`InboundMailSchema`)."""
