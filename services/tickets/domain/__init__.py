"""Rules of the tickets service, as plain Python (no nameko, no SQLAlchemy).

* :mod:`.access` - the one access rule (:func:`scope_for`), who may configure
  pipelines, who may own tickets.
* :mod:`.ticket` - the :class:`Ticket` object, whose methods decide what a change
  does and which timeline entries and events follow.
* :mod:`.pipelines` - rules of configuring pipelines and stages.
* :mod:`.lists` - the table and board filters and sort keys.
* :mod:`.search` - search requests as typed conditions.
* :mod:`.imports` - tickets brought over from another help desk, and reruns of an import.
* :mod:`.lifecycle` - merge, split, spam, delete, restore: what each allows and changes.
* :mod:`.sla` - SLA clocks: working time, policies, due moments and breaches.
* :mod:`.views` - saved views: who may use and change them, applying one to a list.
"""

from services.permissions.contract import owner_problem
from services.tickets.domain.access import (
    EVERYTHING,
    Scope,
    may_see,
    require_admin,
    require_importer,
    require_seat,
    require_sla_admin,
    scope_for,
    scope_of,
    seat_view,
)
from services.tickets.domain.imports import NewImport, import_change, import_new
from services.tickets.domain.lists import SORT_KEY_KINDS, TOTAL_CAP, TicketFilter, capped_total, parse_sort
from services.tickets.domain.pipelines import (
    check_new_pipeline,
    check_stage_order,
    stage_label_problems,
    stage_position_problem,
)
from services.tickets.domain.search import Condition, SearchSpec, parse_search
from services.tickets.domain.ticket import (
    EDITABLE,
    NO_CHANGE,
    PRIORITY_RANK,
    Change,
    Entry,
    Event,
    MessageEffect,
    NewTicket,
    Stage,
    Ticket,
    closed_at_after,
    diff,
    event_stamp,
    follow_change,
    message_effect,
    message_entry,
    thread_move_entry,
)

__all__ = [
    "EDITABLE",
    "EVERYTHING",
    "NO_CHANGE",
    "PRIORITY_RANK",
    "SORT_KEY_KINDS",
    "TOTAL_CAP",
    "Change",
    "Condition",
    "Entry",
    "Event",
    "MessageEffect",
    "NewImport",
    "NewTicket",
    "Scope",
    "SearchSpec",
    "Stage",
    "Ticket",
    "TicketFilter",
    "capped_total",
    "check_new_pipeline",
    "check_stage_order",
    "closed_at_after",
    "diff",
    "event_stamp",
    "follow_change",
    "import_change",
    "import_new",
    "may_see",
    "message_effect",
    "message_entry",
    "owner_problem",
    "parse_search",
    "parse_sort",
    "require_admin",
    "require_importer",
    "require_seat",
    "require_sla_admin",
    "scope_for",
    "scope_of",
    "seat_view",
    "stage_label_problems",
    "stage_position_problem",
    "thread_move_entry",
]
