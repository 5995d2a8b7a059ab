"""Rules of the tickets service, as plain Python (no nameko, no SQLAlchemy).

* :mod:`.access` - the one access rule (:func:`scope_for`), who may configure
  pipelines, who may own tickets.
* :mod:`.ticket` - the :class:`Ticket` object, whose methods decide what a change
  does and which timeline entries and events follow.
* :mod:`.pipelines` - rules of configuring pipelines and stages.
* :mod:`.lists` - the table and board filters and sort keys.
* :mod:`.sla` - SLA clocks: working time, policies, due moments and breaches.
* :mod:`.views` - saved views: who may use and change them, applying one to a list.
"""

from services.tickets.domain.access import (
    EVERYTHING,
    Scope,
    owner_problem,
    require_admin,
    require_seat,
    require_sla_admin,
    scope_for,
)
from services.tickets.domain.lists import SORT_KEY_KINDS, TicketFilter, parse_sort
from services.tickets.domain.pipelines import (
    check_new_pipeline,
    check_stage_order,
    stage_label_problems,
    stage_position_problem,
)
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
    follow_change,
    message_effect,
)

__all__ = [
    "EDITABLE",
    "EVERYTHING",
    "NO_CHANGE",
    "PRIORITY_RANK",
    "SORT_KEY_KINDS",
    "Change",
    "Entry",
    "Event",
    "MessageEffect",
    "NewTicket",
    "Scope",
    "Stage",
    "Ticket",
    "TicketFilter",
    "check_new_pipeline",
    "check_stage_order",
    "closed_at_after",
    "diff",
    "follow_change",
    "message_effect",
    "owner_problem",
    "parse_sort",
    "require_admin",
    "require_seat",
    "require_sla_admin",
    "scope_for",
    "stage_label_problems",
    "stage_position_problem",
]
