"""Public contract of the retention service: purge runs, their audit, and the policies.

The retention service purges what other services keep for a while: threads in the spam view
(``spam`` policy) and tickets in the recycle bin with their conversations and attachments
(``bin`` policy), each a configured number of days after it was marked. It owns the runs and
an audit record per purged item (kept after the item is gone), and asks the owners to delete,
never touching their tables. It also sweeps every service's outbox, processed-event ids and
idempotency keys older than the ``housekeeping`` age.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.chassis.paging import PageQuery, page_schema
from services.chassis.schema import Input, StrictBoolean, Timestamp

SERVICE_NAME = "retention"

POLICIES = ("spam", "bin")
KINDS = ("spam_thread", "bin_ticket")
"""What a purge deletes: a spam thread (with its messages and attachments), or a ticket from the
recycle bin (with the tickets it absorbed, its conversations and their attachments)."""
KIND_POLICY = {"spam_thread": "spam", "bin_ticket": "bin"}
RUN_STATES = ("running", "done")
TRIGGERS = ("schedule", "request")
MAX_HORIZON_DAYS = 3650
MAX_LISTED = 1000


class RunRequestSchema(Input):
    """Body of ``POST /api/v1/retention/runs``.

    ``dry_run`` lists what a purge would delete now (``horizon_days`` > 0: also what becomes due
    within that many days), each with its ``due_at``, and deletes nothing. ``limit`` caps the items
    listed per kind.
    """

    dry_run = StrictBoolean(required=True)
    horizon_days = fields.Float(
        load_default=0.0, validate=validate.Range(min=0, max=MAX_HORIZON_DAYS), allow_nan=False
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LISTED))


class PurgeItemSchema(Schema):
    """One item a run purged (or a dry run would): what, marked when, due when, under which policy."""

    kind = fields.String(validate=validate.OneOf(KINDS))
    id = fields.Integer()
    policy = fields.String(validate=validate.OneOf(POLICIES))
    policy_days = fields.Float()
    marked_at = Timestamp()
    due_at = Timestamp()
    purged_at = Timestamp(allow_none=True)
    run_id = fields.Integer(allow_none=True)


PurgeItemPageSchema = page_schema(PurgeItemSchema)


class RunSchema(Schema):
    """A purge run. ``state`` is running until every phase finished (``GET /api/v1/retention/runs/{id}``
    follows it); ``purged`` counts items by kind, ``housekeeping`` rows by service; ``items`` are the
    first items purged (a dry run: those that would be, with ``purged_at`` null)."""

    id = fields.Integer(allow_none=True)
    dry_run = fields.Boolean()
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))
    state = fields.String(validate=validate.OneOf(RUN_STATES))
    phase = fields.String()
    started_at = Timestamp()
    finished_at = Timestamp(allow_none=True)
    purged = fields.Dict(keys=fields.String(), values=fields.Integer())
    housekeeping = fields.Dict(keys=fields.String(), values=fields.Integer())
    error = fields.String(allow_none=True)
    items = fields.List(fields.Nested(PurgeItemSchema))


class AuditQuerySchema(PageQuery):
    """The audit of purged items, most recent first; ``kind`` filters."""

    kind = fields.String(validate=validate.OneOf(KINDS))


class PolicySchema(Schema):
    """A retention period, from the configuration."""

    policy = fields.String(validate=validate.OneOf((*POLICIES, "housekeeping")))
    days = fields.Float()
