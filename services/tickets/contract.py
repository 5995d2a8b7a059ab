"""Public contract of the tickets service: its name, events and wire schemas.

The gateway validates request bodies with these schemas and other services read
event payloads with them; nobody re-declares them. Evolution: fields are only
ever added (optional); a breaking change gets a new event name.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.chassis.paging import DEFAULT_LIMIT, MAX_LIMIT, PageBody, PageQuery, page_schema, sort_options
from services.chassis.schema import (
    CleanText,
    EventPayload,
    Id,
    Input,
    QueryId,
    QueryInteger,
    StrictBoolean,
    StrictInteger,
    Timestamp,
)

SERVICE_NAME = "tickets"

# Events. Every payload has event_id, occurred_at, ticket_id and actor_id (pipeline events: pipeline_id),
# and says how the change was made: actor_kind (person or integration), quiet (the actor's changes
# notify nobody: an integration's service token) and batch_id (shared by the events of one bulk
# change, None otherwise), so a consumer can tell one person's bulk change from many changes.
TICKET_CREATED = "ticket_created"  # + owner_id, team_id, pipeline_id, status, priority, name
TICKET_UPDATED = "ticket_updated"  # + changes: {field: [old, new]}, owner_id
TICKET_ASSIGNED = "ticket_assigned"  # + owner_id, previous_owner_id
TICKET_STATUS_CHANGED = "ticket_status_changed"  # + old_status, new_status, owner_id
TICKET_CLOSED = "ticket_closed"  # + status, owner_id
TICKET_REOPENED = "ticket_reopened"  # + status, owner_id
TICKET_FOLLOWED = "ticket_followed"  # + user_id
TICKET_UNFOLLOWED = "ticket_unfollowed"  # + user_id
TICKET_ASSOCIATION_ADDED = "ticket_association_added"  # + kind, ref_id
TICKET_ASSOCIATION_REMOVED = "ticket_association_removed"  # + kind, ref_id
PIPELINE_CREATED = "pipeline_created"  # + pipeline_id, label
PIPELINE_UPDATED = "pipeline_updated"  # + pipeline_id (stages added, renamed or reordered)
TICKET_IMPORTED = "ticket_imported"  # + external_source, external_id, owner_id, pipeline_id, status, ...
# lifecycle (merge, split, spam, delete, restore, purge; see docs/architecture.md "Sagas")
TICKET_MERGED = "ticket_merged"  # + merged_ticket_id (absorbed), merged_ticket_ids, owner_id
TICKET_SPLIT = "ticket_split"  # + new_ticket_id, message_ids, owner_id
TICKET_DELETED = "ticket_deleted"  # + reason (delete, bulk_delete, spam), owner_id
TICKET_RESTORED = "ticket_restored"  # + owner_id
TICKETS_PURGED = "tickets_purged"  # ticket_ids, absorbed_ticket_ids (one event per purged batch)
PIPELINE_DELETED = "pipeline_deleted"  # + pipeline_id, label
SLA_BREACHED = "sla_breached"  # + goal, policy_id, due_at, owner_id, follower_ids (actor_id 0: the clock)

PRIORITIES = ("low", "medium", "high", "urgent")
SOURCES = ("email", "chat", "form", "api")
STAGE_STATES = ("OPEN", "CLOSED")
VIEWS = ("unassigned", "mine", "following", "open", "unread")
SORTABLE = ("created_at", "updated_at", "priority", "name", "id", "sla_due_at")
SORT_OPTIONS = sort_options(SORTABLE)
DEFAULT_SORT = "-updated_at"
ASSOCIATION_KINDS = ("contacts", "companies", "deals")
SLA_GOALS = ("first_reply", "next_reply", "close")
SLA_STATES = ("on_track", "due_soon", "breached", "paused", "met")
SEAT_SORTS = ("sla_due_at", "-sla_due_at")
"""Sorts that need a service seat (SLAs are a seat feature)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_GOAL_MINUTES = 366 * 24 * 60
VIEW_SHARING = ("private", "team", "everyone")
VIEW_COLUMNS = (
    "id",
    "name",
    "status",
    "priority",
    "owner_id",
    "team_id",
    "pipeline_id",
    "category",
    "source",
    "created_at",
    "updated_at",
    "closed_at",
    "unread",
    "following",
    "sla",
)
"""Columns a saved view may show (the web workspace's column picker)."""
DEFAULT_VIEWS = (
    ("unassigned", "Unassigned"),
    ("mine", "Assigned to me"),
    ("following", "Following"),
    ("open", "All open"),
    ("unread", "Unread"),
)
"""The default views every user has, seat or not (``GET /api/v1/tickets?view=<key>``)."""
UNASSIGNED = "none"
"""``owner_id=none`` in a list query selects unassigned tickets."""

TIMELINE_TYPES = (
    "created",
    "imported",
    "property_changed",
    "association_added",
    "association_removed",
    "followed",
    "unfollowed",
    "merged",
    "split_from",
    "split_into",
    "marked_spam",
    "not_spam",
    "deleted",
    "restored",
    "message",
    "thread_moved",
)
DEFAULT_PAGE = DEFAULT_LIMIT
MAX_PAGE = MAX_LIMIT
MAX_BULK = 100
"""Ids a bulk request may name and still be answered with every result inline (and ``visible_tickets``)."""
MAX_JOB_ITEMS = 10_000
"""Ids one bulk job may name."""
MAX_MERGES = 250
"""Merges a ticket may have taken part in (its own and those of the tickets it absorbed)."""
MAX_SPLIT_MESSAGES = 500
IN_PROGRESS = ("merge", "split", "spam", "not_spam", "delete", "restore")
"""What a ticket's ``in_progress`` names while a lifecycle action on it has not finished everywhere."""
JOB_KINDS = (
    "merge",
    "split",
    "spam",
    "not_spam",
    "delete",
    "bulk_delete",
    "restore",
    "bulk_update",
    "delete_stage",
    "delete_pipeline",
)
JOB_STATES = ("running", "done", "failed")
ITEM_OUTCOMES = ("pending", "working", "done", "skipped", "failed")
DELETE_REASONS = ("delete", "bulk_delete", "spam")

MAX_IMPORT = 500
"""Items in one import batch."""

SEARCH_OPERATORS = (
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
)
SEARCH_FIELDS: dict[str, str] = {
    "id": "id",
    "name": "text",
    "description": "text",
    "pipeline_id": "id",
    "status": "id",
    "priority": "priority",
    "category": "text",
    "owner_id": "id",
    "team_id": "id",
    "source": "text",
    "created_at": "time",
    "updated_at": "time",
    "closed_at": "time",
    "external_source": "text",
    "external_id": "text",
}
"""Fields a search filter may name, with the kind of value it compares (priority compares in
its natural order, low < urgent; ``CONTAINS_TOKEN`` applies to text only)."""
MAX_SEARCH_GROUPS = 5
MAX_SEARCH_FILTERS = 10
MAX_SEARCH_VALUES = 100


class _Event(EventPayload):
    """Fields every tickets event carries; consumers ignore fields they do not know."""

    actor_id = fields.Integer(required=True)
    actor_kind = fields.String(load_default="person")
    quiet = fields.Boolean(load_default=False)
    batch_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))


class _TicketEvent(_Event):
    ticket_id = fields.Integer(required=True)


# -- tickets ---------------------------------------------------------------------------------------


class AssociationsSchema(Input):
    contacts = fields.List(Id(), load_default=list)
    companies = fields.List(Id(), load_default=list)
    deals = fields.List(Id(), load_default=list)


class TicketCreateSchema(Input):
    """Body of a ticket creation; unknown and read-only fields are refused."""

    name = CleanText(required=True, validate=validate.Length(min=1, max=500))
    description = fields.String(load_default="", validate=validate.Length(max=100_000))
    pipeline_id = Id(allow_none=True, load_default=None)
    status = Id(allow_none=True, load_default=None)
    priority = fields.String(validate=validate.OneOf(PRIORITIES), load_default="medium")
    category = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    owner_id = Id(allow_none=True, load_default=None)
    team_id = Id(allow_none=True, load_default=None)
    source = fields.String(validate=validate.OneOf(SOURCES), load_default="api")
    associations = fields.Nested(AssociationsSchema, load_default=dict)


class TicketPatchSchema(Input):
    """Body of a ticket update: any subset of the editable fields.

    Changing ``pipeline_id`` without ``status`` puts the ticket in the new pipeline's
    first stage; ``status`` alone must be a stage of the ticket's pipeline.
    """

    name = CleanText(validate=validate.Length(min=1, max=500))
    description = fields.String(validate=validate.Length(max=100_000))
    pipeline_id = Id()
    status = Id()
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    category = fields.String(allow_none=True, validate=validate.Length(max=200))
    owner_id = Id(allow_none=True)
    team_id = Id(allow_none=True)
    source = fields.String(validate=validate.OneOf(SOURCES))


class SlaGoalSchema(Schema):
    """One SLA goal of a ticket. ``due_at`` is None while its clock is stopped (``remaining_seconds``
    of working time are left); ``met_at`` when it was fulfilled; ``breached_at`` the due moment it
    missed."""

    goal = fields.String(validate=validate.OneOf(SLA_GOALS))
    state = fields.String(validate=validate.OneOf(SLA_STATES))
    started_at = Timestamp()
    due_at = Timestamp(allow_none=True)
    met_at = Timestamp(allow_none=True)
    breached_at = Timestamp(allow_none=True)
    remaining_seconds = fields.Integer(allow_none=True)


class TicketSlaSchema(Schema):
    """A ticket's SLA: the policy that applies, its state now, the next due moment, every goal.

    ``state``: ``breached`` once any goal was missed (it stays), else ``paused`` (clocks stopped
    in a pause stage), ``due_soon`` (within the policy's warning time), ``on_track``, or ``met``
    (every goal fulfilled). Shown only to callers with a service seat (None for others).
    """

    policy_id = fields.Integer()
    state = fields.String(validate=validate.OneOf(SLA_STATES))
    next_due_at = Timestamp(allow_none=True)
    breached_at = Timestamp(allow_none=True)
    goals = fields.List(fields.Nested(SlaGoalSchema))


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
    created_at = Timestamp()
    updated_at = Timestamp()
    closed_at = Timestamp(allow_none=True)
    version = fields.Integer()
    unread = fields.Boolean()
    following = fields.Boolean()
    merged_ticket_ids = fields.List(fields.Integer())
    first_reply_at = Timestamp(allow_none=True)
    last_customer_message_at = Timestamp(allow_none=True)
    last_agent_message_at = Timestamp(allow_none=True)
    external_source = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    in_progress = fields.String(
        allow_none=True,
        validate=validate.OneOf(IN_PROGRESS),
        metadata={
            "description": "Set while a merge, split, spam mark, delete or restore of this ticket has "
            "committed here but not yet finished in every service (its conversations may still be "
            "moving); ``job_id`` names the job, readable at /api/v1/jobs/{id}. Null otherwise."
        },
    )
    job_id = fields.Integer(allow_none=True)
    sla = fields.Nested(TicketSlaSchema, allow_none=True)


class OwnerFilter(fields.Field):
    """An owner id, or the word ``none`` for unassigned tickets."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if value == UNASSIGNED:
            return UNASSIGNED
        try:
            owner = QueryId()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            owner = 0
        if owner < 1:
            raise ValidationError("must be a user id or 'none'")
        return owner


Q_NOTE = (
    "Free text: every word, in any inflected form (paczka finds paczki), in the ticket's name or "
    "description, or every word in its conversation (customer, reply and note text; a whole e-mail "
    "address finds the tickets its sender wrote)."
)


class _ListQuery(Input):
    status = QueryId()
    pipeline_id = QueryId()
    owner_id = OwnerFilter(metadata={"type": "string", "pattern": "^(none|[1-9][0-9]{0,18})$"})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    view = fields.String(validate=validate.OneOf(VIEWS))
    q = fields.String(validate=validate.Length(max=200), metadata={"description": Q_NOTE})
    sla_state = fields.String(validate=validate.OneOf(SLA_STATES))
    view_id = QueryId()
    sort = fields.String(validate=validate.OneOf(SORT_OPTIONS), load_default=DEFAULT_SORT)


class TicketQuerySchema(_ListQuery, PageQuery):
    """Query of the table layout (``GET /api/v1/tickets``); values may arrive as strings.

    ``sla_state`` and ``sort=sla_due_at`` need a service seat, and so does ``view_id`` (a saved
    view's filters and sort, under which the query's own parameters still win).
    """


class BoardQuerySchema(_ListQuery):
    """Query of the board layout: the list filters; ``pipeline_id`` defaults to the first pipeline.

    ``limit`` is the size of each column's first page; there is no ``cursor`` (page a
    column on with the table layout and ``status=<stage id>``).
    """

    limit = QueryInteger(validate=validate.Range(1, MAX_LIMIT), load_default=DEFAULT_LIMIT)


TOTAL_CAP = 1_000
"""A list's ``total`` (and each board column's) is exact up to this many tickets; beyond it the
answer says ``total: TOTAL_CAP`` with ``total_capped: true`` ("at least that many"). Counting stops
there, so a list costs the same with a thousand tickets or a million (the page never depended on
the size)."""
SEARCH_TOTAL_CAP = 100
"""The ``total`` of a list searched with ``q`` (and of a search with ``query`` or a
``CONTAINS_TOKEN`` filter) is exact up to this many tickets only: a substring
matches anywhere in names and descriptions, so counting a common word's thousand matches read
about fifteen thousand tickets at a million (ten times what a hundred take), and "100+ tickets
match" tells someone searching as much."""
TOTAL_NOTE = (
    f"Exact up to {TOTAL_CAP:,} ({SEARCH_TOTAL_CAP:,} with q, or a search's query or CONTAINS_TOKEN);"
    " beyond that the cap with total_capped true (at least that many): counting stops there, so a"
    " list costs the same at any size."
)


class TicketPageSchema(Schema):
    """One page of tickets; ``total`` is exact unless ``total_capped`` (then it is a lower bound)."""

    items = fields.List(fields.Nested(TicketSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True, metadata={"description": TOTAL_NOTE})
    total_capped = fields.Boolean(required=True)


# -- search ----------------------------------------------------------------------------------------

_NO_OPERAND = ("HAS_PROPERTY", "NOT_HAS_PROPERTY")
_MANY_OPERANDS = ("IN", "NOT_IN")


class SearchFilterSchema(Input):
    """One condition: ``field`` ``operator`` ``value`` (``values`` for IN/NOT_IN; none for HAS_*).

    Values are JSON scalars of the field's kind (SEARCH_FIELDS): ids as integers, moments
    as ISO 8601 with an offset, priorities by name.
    """

    field = fields.String(required=True, validate=validate.OneOf(SEARCH_FIELDS))
    operator = fields.String(required=True, validate=validate.OneOf(SEARCH_OPERATORS))
    value = fields.Raw(allow_none=False)
    values = fields.List(fields.Raw(allow_none=False), validate=validate.Length(min=1, max=MAX_SEARCH_VALUES))

    @validates_schema
    def _operands(self, data: dict[str, Any], **kwargs: Any) -> None:
        operator = data.get("operator")
        has_value, has_values = "value" in data, "values" in data
        if operator in _NO_OPERAND and (has_value or has_values):
            raise ValidationError(f"{operator} takes neither value nor values", "_schema")
        if operator in _MANY_OPERANDS and (has_value or not has_values):
            raise ValidationError(f"{operator} takes values (a list), not value", "_schema")
        if operator not in (*_NO_OPERAND, *_MANY_OPERANDS) and (has_values or not has_value):
            raise ValidationError(f"{operator} takes value (one), not values", "_schema")


class SearchGroupSchema(Input):
    """Conditions that must all hold."""

    filters = fields.List(
        fields.Nested(SearchFilterSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_SEARCH_FILTERS),
    )


class TicketSearchSchema(PageBody):
    """A search: tickets matching any of ``filter_groups`` (each an AND of filters) and ``query``
    (as ``q`` of the lists: :data:`Q_NOTE`), in ``sort`` order, keyset-paginated like every list
    (a JSON body: ``limit`` is a JSON integer)."""

    filter_groups = fields.List(
        fields.Nested(SearchGroupSchema), load_default=list, validate=validate.Length(max=MAX_SEARCH_GROUPS)
    )
    query = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": Q_NOTE},
    )
    sort = fields.String(validate=validate.OneOf(SORT_OPTIONS), load_default=DEFAULT_SORT)


# -- import ----------------------------------------------------------------------------------------


class ImportItemSchema(Input):
    """One ticket from another help desk, keyed by its id there (``external_id``).

    Besides the fields of a creation it may carry the original ``created_at``, ``updated_at``
    (last activity) and ``closed_at`` (kept only while the ticket is in a CLOSED stage).
    """

    external_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    description = fields.String(load_default="", validate=validate.Length(max=100_000))
    pipeline_id = Id(allow_none=True, load_default=None)
    status = Id(allow_none=True, load_default=None)
    priority = fields.String(validate=validate.OneOf(PRIORITIES), load_default="medium")
    category = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    owner_id = Id(allow_none=True, load_default=None)
    source = fields.String(validate=validate.OneOf(SOURCES), load_default="api")
    associations = fields.Nested(AssociationsSchema, load_default=dict)
    created_at = Timestamp(allow_none=True, load_default=None)
    updated_at = Timestamp(allow_none=True, load_default=None)
    closed_at = Timestamp(allow_none=True, load_default=None)


class ImportBatchSchema(Input):
    """Body of an import batch: ``source`` names the other help desk (``external_id`` is unique
    within it); each item is checked on its own (see ImportItemSchema) so one bad row fails
    alone. With ``dry_run`` nothing is written and the answer says what would happen."""

    source = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,49}$"))
    items = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_IMPORT))
    dry_run = StrictBoolean(load_default=False)


IMPORT_OUTCOMES = ("created", "updated", "unchanged", "failed")


class ImportItemResultSchema(Schema):
    """One item's outcome: ``id`` of the ticket, the ``changes`` (field names) of an update, or
    the ``error`` (a problem with ``errors``) of a failed item."""

    index = fields.Integer()
    external_id = fields.String(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(IMPORT_OUTCOMES))
    id = fields.Integer(allow_none=True)
    changes = fields.List(fields.String())
    error = fields.Dict()


class ImportResultSchema(Schema):
    dry_run = fields.Boolean()
    results = fields.List(fields.Nested(ImportItemResultSchema))


class ExternalIdsSchema(Input):
    """Which tickets came from ``source`` with these ``external_ids``."""

    source = fields.String(required=True, validate=validate.Length(min=1, max=50))
    external_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        required=True,
        validate=validate.Length(min=1, max=MAX_IMPORT),
    )


PageQuerySchema = PageQuery
"""``limit`` and ``cursor`` of the smaller lists (timeline, followers)."""


class TimelineItemSchema(Schema):
    """One entry of a ticket's activity; ``field``/``old``/``new`` for changes.

    For association entries ``field`` is the kind and ``new`` (added) or ``old``
    (removed) the referenced id.
    """

    id = fields.Integer()
    type = fields.String(validate=validate.OneOf(TIMELINE_TYPES))
    actor_id = fields.Integer()
    at = Timestamp()
    field = fields.String(allow_none=True)
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


TimelinePageSchema = page_schema(TimelineItemSchema)


class FollowStateSchema(Schema):
    ticket_id = fields.Integer()
    following = fields.Boolean()


class FollowerSchema(Schema):
    user_id = fields.Integer()
    since = Timestamp()


FollowerPageSchema = page_schema(FollowerSchema)


class ReadStateSchema(Schema):
    ticket_id = fields.Integer()
    unread = fields.Boolean()


class AsOfSchema(Input):
    """``audience``'s ``as_of``: the moment of the change people are told about (followers who
    followed later are not told of it)."""

    as_of = Timestamp(required=True)


MAX_AUDIENCE_USERS = 1000
MAX_AUDIENCES = 100
"""At most this many questions per ``audiences`` call (a batch of events), each naming at most
``MAX_AUDIENCE_USERS`` users."""


class AudienceQuestionSchema(Input):
    """One question of ``audiences``: who of ``user_ids`` (and, with ``watchers``, of the ticket's
    owner and followers) may see ``ticket_id`` now; ``as_of`` as in :class:`AsOfSchema`."""

    ticket_id = Id(required=True)
    user_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=MAX_AUDIENCE_USERS))
    watchers = StrictBoolean(load_default=False)
    as_of = Timestamp(load_default=None, allow_none=True)


class BulkChangesSchema(Input):
    """The fields a bulk update may change (at least one)."""

    owner_id = Id(allow_none=True)
    status = Id()
    priority = fields.String(validate=validate.OneOf(PRIORITIES))

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("name at least one of owner_id, status, priority", "_schema")


class BulkUpdateSchema(Input):
    """Body of ``POST /api/v1/tickets/bulk-update``: distinct ids and the changes for all.

    Runs as a job: up to 100 ids are answered at once (200, every result inline), more answer
    202 with the job, whose progress and per-item results ``GET /api/v1/jobs/{id}`` reads.
    """

    ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=MAX_JOB_ITEMS))
    changes = fields.Nested(BulkChangesSchema, required=True)

    @validates_schema
    def _distinct(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(set(data.get("ids", []))) != len(data.get("ids", [])):
            raise ValidationError("ids must be distinct", "ids")


class BulkItemSchema(Schema):
    """One ticket's outcome: ``status`` 200 with ``ticket``, or a 4xx with a problem ``error``."""

    id = fields.Integer()
    status = fields.Integer()
    ticket = fields.Nested(TicketSchema)
    error = fields.Dict()


class BulkResultSchema(Schema):
    results = fields.List(fields.Nested(BulkItemSchema))


# -- lifecycle: merge, split, spam, delete, restore, jobs --------------------------------------------


def _distinct(name: str) -> Any:
    def check(self: Schema, data: dict[str, Any], **kwargs: Any) -> None:
        values = data.get(name, [])
        if len(set(values)) != len(values):
            raise ValidationError(f"{name} must be distinct", name)

    return validates_schema(check)


class MergeSchema(Input):
    """Body of ``POST /api/v1/tickets/merge``: the ticket that survives and the one it absorbs."""

    primary_id = Id(required=True)
    secondary_id = Id(required=True)


class SplitSchema(Input):
    """Body of ``POST /api/v1/tickets/{id}/split``: messages of one email thread of the ticket (not
    all of them) that move to a new thread on a new ticket made from ``ticket``."""

    message_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=MAX_SPLIT_MESSAGES))
    ticket = fields.Nested(TicketCreateSchema, required=True)
    _check_ids = _distinct("message_ids")


class SpamSchema(Input):
    """Body of ``POST /api/v1/tickets/{id}/spam``: the ticket's threads that are spam (all: the
    ticket is deleted too)."""

    thread_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=MAX_BULK))
    _check_ids = _distinct("thread_ids")


class SpamResultSchema(Schema):
    ticket_id = fields.Integer()
    thread_ids = fields.List(fields.Integer())
    ticket_deleted = fields.Boolean()
    job_id = fields.Integer()


class NotSpamResultSchema(Schema):
    """Where a thread went back to: its ticket, restored from the recycle bin or made anew if needed."""

    thread_id = fields.Integer()
    ticket_id = fields.Integer()
    ticket_restored = fields.Boolean()
    ticket_created = fields.Boolean()
    job_id = fields.Integer()


class BulkDeleteSchema(Input):
    """Body of ``POST /api/v1/tickets/bulk-delete``; ``confirm_count`` must equal the number of ids."""

    ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=MAX_JOB_ITEMS))
    confirm_count = StrictInteger(required=True)
    _check_ids = _distinct("ids")

    @validates_schema
    def _confirmed(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "ids" in data and data.get("confirm_count") != len(data["ids"]):
            raise ValidationError("must equal the number of ids", "confirm_count")


class JobItemSchema(Schema):
    """One item of a job: ``outcome`` done, skipped (``reason`` says why) or failed; for bulk
    updates of up to 100 tickets ``status`` and ``ticket`` or ``error`` as well."""

    seq = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(ITEM_OUTCOMES))
    reason = fields.String(allow_none=True)
    status = fields.Integer(allow_none=True)
    ticket = fields.Nested(TicketSchema, allow_none=True)
    error = fields.Dict(allow_none=True)


JobItemPageSchema = page_schema(JobItemSchema)


class JobItemQuerySchema(PageQuery):
    """Items of a job, in order; ``outcome`` filters."""

    outcome = fields.String(validate=validate.OneOf(ITEM_OUTCOMES))


class JobSchema(Schema):
    """A job: a lifecycle action or a bulk change, its progress and its outcome.

    ``state`` is running until every step finished in every service, then done or failed
    (``error`` says why; what had been done stays done). ``result`` holds the action's answer.
    """

    id = fields.Integer()
    kind = fields.String(validate=validate.OneOf(JOB_KINDS))
    state = fields.String(validate=validate.OneOf(JOB_STATES))
    step = fields.String()
    total = fields.Integer()
    processed = fields.Integer()
    done = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()
    finished_at = Timestamp(allow_none=True)


class JobDetailSchema(JobSchema):
    """A job with the first 100 of its per-ticket results (``items``); ``items_next_cursor``
    continues them with ``GET /api/v1/jobs/{id}/items?cursor=``."""

    items = fields.List(fields.Nested(JobItemSchema))
    items_next_cursor = fields.String(allow_none=True)


class BulkJobSchema(JobSchema):
    """A bulk job's answer; ``results`` (the per-ticket outcomes, as before jobs) when it has at most
    100 items and has finished."""

    results = fields.List(fields.Nested(BulkItemSchema))


class BinItemSchema(TicketSchema):
    """A ticket in the recycle bin: restorable until it is purged (``purging`` once that began)."""

    deleted_at = Timestamp()
    deleted_by = fields.Integer(allow_none=True)
    purging = fields.Boolean()


BinItemPageSchema = page_schema(BinItemSchema)


class BinQuerySchema(PageQuery):
    """The recycle bin, most recently deleted first."""


class MoveToQuerySchema(Input):
    """``?move_to=<stage id>``: where the tickets of a stage or pipeline being deleted go."""

    move_to = QueryId(required=True)


class DueItemSchema(Schema):
    """A recycle-bin ticket whose retention period ended (for the retention service)."""

    id = fields.Integer()
    marked_at = Timestamp()


# -- pipelines -------------------------------------------------------------------------------------


class StageSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    state = fields.String(validate=validate.OneOf(STAGE_STATES))


class PipelineSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    stages = fields.List(fields.Nested(StageSchema))


class StageCreateSchema(Input):
    """A new stage; ``position`` (0-based) defaults to the end of the pipeline."""

    label = CleanText(required=True, validate=validate.Length(min=1, max=200))
    state = fields.String(required=True, validate=validate.OneOf(STAGE_STATES))
    position = StrictInteger(validate=validate.Range(min=0, max=1000))


class PipelineCreateSchema(Input):
    """A new pipeline with its ordered stages (at least one OPEN stage; labels distinct)."""

    label = CleanText(required=True, validate=validate.Length(min=1, max=200))
    stages = fields.List(
        fields.Nested(StageCreateSchema(exclude=("position",))),
        required=True,
        validate=validate.Length(min=1, max=50),
    )


class PipelinePatchSchema(Input):
    label = CleanText(required=True, validate=validate.Length(min=1, max=200))


class StagePatchSchema(Input):
    """Renaming a stage; its state is fixed at creation (``closed_at`` relies on it)."""

    label = CleanText(required=True, validate=validate.Length(min=1, max=200))


class StageOrderSchema(Input):
    """Every stage id of the pipeline, in the new order."""

    stage_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=1000))


BOARD_SEARCH_NOTE = (
    f"{TOTAL_NOTE} On a board searched with q: exact when the whole board has at most"
    f" {SEARCH_TOTAL_CAP:,} matches, else exact up to the column's page size (limit), then limit with"
    " total_capped true."
)


class BoardColumnSchema(Schema):
    stage = fields.Nested(StageSchema)
    items = fields.List(fields.Nested(TicketSchema))
    total = fields.Integer(metadata={"description": BOARD_SEARCH_NOTE})
    total_capped = fields.Boolean()
    next_cursor = fields.String(allow_none=True)


class BoardSchema(Schema):
    pipeline_id = fields.Integer()
    columns = fields.List(fields.Nested(BoardColumnSchema))


# -- SLA policies ----------------------------------------------------------------------------------

_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def clock_minutes(text: str) -> int:
    """``"09:30"`` -> 570; ``"24:00"`` (end of the day) -> 1440."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class OpeningSchema(Input):
    """Business hours on one weekday, local time: ``start`` before ``end`` (``"24:00"`` ends the day)."""

    day = fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    start = fields.String(required=True, validate=validate.Regexp(_CLOCK, error="must be HH:MM"))
    end = fields.String(required=True, validate=validate.Regexp(_CLOCK, error="must be HH:MM or 24:00"))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" in data and "end" in data and clock_minutes(data["end"]) <= clock_minutes(data["start"]):
            raise ValidationError("end must be after start", "end")


class BusinessHoursSchema(Input):
    """When SLA clocks run: the weekly openings in an IANA time zone, except on the holidays (local dates)."""

    timezone = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weekly = fields.List(fields.Nested(OpeningSchema), required=True, validate=validate.Length(min=1, max=70))
    holidays = fields.List(fields.Date(), load_default=list, validate=validate.Length(max=1000))

    @validates_schema
    def _zone(self, data: dict[str, Any], **kwargs: Any) -> None:
        name = data.get("timezone")
        try:
            zoneinfo.ZoneInfo(name or "")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {name!r}", "timezone") from None

    @validates_schema
    def _apart(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Openings of one day may touch but not overlap (an hour is never counted twice)."""
        spans = sorted(
            (WEEKDAYS.index(o["day"]), clock_minutes(o["start"]), clock_minutes(o["end"]))
            for o in data.get("weekly", ())
        )
        for (day, _start, end), (next_day, next_start, _end) in itertools.pairwise(spans):
            if day == next_day and next_start < end:
                raise ValidationError(f"openings on {WEEKDAYS[day]} overlap", "weekly")


_GOAL_MINUTES = validate.Range(min=1, max=MAX_GOAL_MINUTES)


class SlaPolicyPatchSchema(Input):
    """A change to an SLA policy: any subset of its fields (``null`` removes a goal or the criteria).

    A policy applies to tickets of its ``priority`` and/or ``pipeline_id`` (neither: every ticket
    no more specific policy covers). Goals are minutes of working time: ``business_hours`` (None:
    24/7). Clocks stop while a ticket is in one of ``pause_stage_ids`` (and while it is closed).
    """

    name = fields.String(validate=validate.Length(min=1, max=200))
    priority = fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES))
    pipeline_id = Id(allow_none=True)
    first_reply_minutes = StrictInteger(allow_none=True, validate=_GOAL_MINUTES)
    next_reply_minutes = StrictInteger(allow_none=True, validate=_GOAL_MINUTES)
    close_minutes = StrictInteger(allow_none=True, validate=_GOAL_MINUTES)
    business_hours = fields.Nested(BusinessHoursSchema, allow_none=True)
    pause_stage_ids = fields.List(Id(), validate=validate.Length(max=100))
    due_soon_minutes = StrictInteger(validate=validate.Range(min=0, max=MAX_GOAL_MINUTES))


class SlaPolicyCreateSchema(SlaPolicyPatchSchema):
    """A new SLA policy: a name and at least one goal."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    priority = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(PRIORITIES))
    pipeline_id = Id(allow_none=True, load_default=None)
    first_reply_minutes = StrictInteger(allow_none=True, load_default=None, validate=_GOAL_MINUTES)
    next_reply_minutes = StrictInteger(allow_none=True, load_default=None, validate=_GOAL_MINUTES)
    close_minutes = StrictInteger(allow_none=True, load_default=None, validate=_GOAL_MINUTES)
    business_hours = fields.Nested(BusinessHoursSchema, allow_none=True, load_default=None)
    pause_stage_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=100))
    due_soon_minutes = StrictInteger(load_default=60, validate=validate.Range(min=0, max=MAX_GOAL_MINUTES))


class SlaPolicySchema(SlaPolicyCreateSchema):
    """An SLA policy as stored (``version`` grows with each change)."""

    id = fields.Integer(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


SlaPolicyPageSchema = page_schema(SlaPolicySchema)


# -- saved views -----------------------------------------------------------------------------------


class ViewFiltersSchema(Input):
    """A saved view's filters: the table's query parameters (as strings or JSON values)."""

    status = QueryId()
    pipeline_id = QueryId()
    owner_id = OwnerFilter()
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    view = fields.String(validate=validate.OneOf(VIEWS))
    q = fields.String(validate=validate.Length(max=200), metadata={"description": Q_NOTE})
    sla_state = fields.String(validate=validate.OneOf(SLA_STATES))


class ViewPatchSchema(Input):
    """A change to a saved view (its owner's, or anyone's with account access)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    filters = fields.Nested(ViewFiltersSchema)
    sort = fields.String(validate=validate.OneOf(SORT_OPTIONS))
    columns = fields.List(
        fields.String(validate=validate.OneOf(VIEW_COLUMNS)), validate=validate.Length(max=50)
    )
    shared_with = fields.String(validate=validate.OneOf(VIEW_SHARING))
    team_id = Id(allow_none=True)


class ViewCreateSchema(ViewPatchSchema):
    """A new saved view: ``shared_with`` ``private`` (only you), ``team`` (the members of ``team_id``,
    one of your teams) or ``everyone``. Each person still sees only the tickets they may see."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    filters = fields.Nested(ViewFiltersSchema, load_default=dict)
    sort = fields.String(validate=validate.OneOf(SORT_OPTIONS), load_default=DEFAULT_SORT)
    columns = fields.List(
        fields.String(validate=validate.OneOf(VIEW_COLUMNS)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    shared_with = fields.String(validate=validate.OneOf(VIEW_SHARING), load_default="private")
    team_id = Id(allow_none=True, load_default=None)


class ViewSchema(Schema):
    """A saved view; ``filters`` holds the values as the table's query takes them."""

    id = fields.Integer()
    owner_id = fields.Integer()
    name = fields.String()
    filters = fields.Dict(keys=fields.String(), values=fields.Raw())
    sort = fields.String(validate=validate.OneOf(SORT_OPTIONS))
    columns = fields.List(fields.String(validate=validate.OneOf(VIEW_COLUMNS)))
    shared_with = fields.String(validate=validate.OneOf(VIEW_SHARING))
    team_id = fields.Integer(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class DefaultViewSchema(Schema):
    """A default view: ``GET /api/v1/tickets?view=<key>`` (no seat needed)."""

    key = fields.String(validate=validate.OneOf(VIEWS))
    name = fields.String()
    filters = fields.Dict(keys=fields.String(), values=fields.Raw())


class ViewPageSchema(Schema):
    """Saved views the caller may use (theirs, their teams', everyone's), and beside them the defaults."""

    items = fields.List(fields.Nested(ViewSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True)
    defaults = fields.List(fields.Nested(DefaultViewSchema))


# -- event payloads --------------------------------------------------------------------------------


class TicketCreatedEvent(_TicketEvent):
    """Payload of ``ticket_created``."""

    owner_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    pipeline_id = fields.Integer()
    status = fields.Integer()
    priority = fields.String()
    name = fields.String()


class TicketUpdatedEvent(_TicketEvent):
    """Payload of ``ticket_updated``: ``changes`` maps each changed field to ``[old, new]``."""

    changes = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Raw(allow_none=True)), required=True
    )
    owner_id = fields.Integer(allow_none=True)
    version = fields.Integer()


class TicketAssignedEvent(_TicketEvent):
    """Payload of ``ticket_assigned`` (``owner_id`` None: unassigned)."""

    owner_id = fields.Integer(allow_none=True, required=True)
    previous_owner_id = fields.Integer(allow_none=True)


class TicketStatusChangedEvent(_TicketEvent):
    """Payload of ``ticket_status_changed`` (stage ids)."""

    old_status = fields.Integer(required=True)
    new_status = fields.Integer(required=True)
    owner_id = fields.Integer(allow_none=True)


class TicketClosedEvent(_TicketEvent):
    """Payload of ``ticket_closed``: the ticket entered a CLOSED stage."""

    status = fields.Integer()
    owner_id = fields.Integer(allow_none=True)


class TicketReopenedEvent(_TicketEvent):
    """Payload of ``ticket_reopened``: the ticket left a CLOSED stage for an OPEN one."""

    status = fields.Integer()
    owner_id = fields.Integer(allow_none=True)


class TicketFollowEvent(_TicketEvent):
    """Payload of ``ticket_followed`` and ``ticket_unfollowed``."""

    user_id = fields.Integer(required=True)


class TicketAssociationEvent(_TicketEvent):
    """Payload of ``ticket_association_added`` and ``ticket_association_removed``."""

    kind = fields.String(required=True, validate=validate.OneOf(ASSOCIATION_KINDS))
    ref_id = fields.Integer(required=True)


class TicketImportedEvent(TicketCreatedEvent):
    """Payload of ``ticket_imported``: a ticket brought over from another help desk (not a new
    request from a customer, so nobody is notified of it as of a new ticket)."""

    external_source = fields.String(required=True)
    external_id = fields.String(required=True)
    created_at = fields.String()
    closed_at = fields.String(allow_none=True)


class TicketMergedEvent(_TicketEvent):
    """Payload of ``ticket_merged``: ``ticket_id`` survives, ``merged_ticket_id`` was absorbed;
    ``merged_ticket_ids`` lists every id the survivor has absorbed so far."""

    merged_ticket_id = fields.Integer(required=True)
    merged_ticket_ids = fields.List(fields.Integer(), load_default=list)
    owner_id = fields.Integer(allow_none=True)


class TicketSplitEvent(_TicketEvent):
    """Payload of ``ticket_split``: ``message_ids`` moved from ``ticket_id`` to ``new_ticket_id``."""

    new_ticket_id = fields.Integer(required=True)
    message_ids = fields.List(fields.Integer(), load_default=list)
    owner_id = fields.Integer(allow_none=True)


class TicketDeletedEvent(_TicketEvent):
    """Payload of ``ticket_deleted``: the ticket went to the recycle bin (``reason`` says how)."""

    reason = fields.String(required=True, validate=validate.OneOf(DELETE_REASONS))
    owner_id = fields.Integer(allow_none=True)


class TicketRestoredEvent(_TicketEvent):
    """Payload of ``ticket_restored``: back from the recycle bin with its conversations."""

    owner_id = fields.Integer(allow_none=True)


class TicketsPurgedEvent(_Event):
    """Payload of ``tickets_purged``: these tickets are gone for good, with those they had absorbed
    (one event per batch the retention service purged, not one per ticket)."""

    ticket_ids = fields.List(fields.Integer(), required=True)
    absorbed_ticket_ids = fields.List(fields.Integer(), load_default=list)


class PipelineEvent(_Event):
    """Payload of ``pipeline_created`` and ``pipeline_updated``."""

    pipeline_id = fields.Integer(required=True)
    label = fields.String()


class SlaBreachedEvent(_TicketEvent):
    """Payload of ``sla_breached``: a goal's due moment passed unfulfilled (announced once, when it
    happens; ``actor_id`` 0: the clock). ``owner_id`` and ``follower_ids`` are whom it concerns."""

    goal = fields.String(required=True, validate=validate.OneOf(SLA_GOALS))
    policy_id = fields.Integer(required=True)
    due_at = Timestamp(required=True)
    owner_id = fields.Integer(allow_none=True, required=True)
    follower_ids = fields.List(fields.Integer(), load_default=list)


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    TICKET_CREATED: TicketCreatedEvent,
    TICKET_UPDATED: TicketUpdatedEvent,
    TICKET_ASSIGNED: TicketAssignedEvent,
    TICKET_STATUS_CHANGED: TicketStatusChangedEvent,
    TICKET_CLOSED: TicketClosedEvent,
    TICKET_REOPENED: TicketReopenedEvent,
    TICKET_FOLLOWED: TicketFollowEvent,
    TICKET_UNFOLLOWED: TicketFollowEvent,
    TICKET_ASSOCIATION_ADDED: TicketAssociationEvent,
    TICKET_ASSOCIATION_REMOVED: TicketAssociationEvent,
    PIPELINE_CREATED: PipelineEvent,
    PIPELINE_UPDATED: PipelineEvent,
    TICKET_IMPORTED: TicketImportedEvent,
    TICKET_MERGED: TicketMergedEvent,
    TICKET_SPLIT: TicketSplitEvent,
    TICKET_DELETED: TicketDeletedEvent,
    TICKET_RESTORED: TicketRestoredEvent,
    TICKETS_PURGED: TicketsPurgedEvent,
    PIPELINE_DELETED: PipelineEvent,
    SLA_BREACHED: SlaBreachedEvent,
}
"""The payload schema of every event this service publishes."""
