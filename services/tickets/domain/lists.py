"""The table and board: which filters a list applies and how its sort keys are typed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.paging import Sort
from services.chassis.words import search_terms
from services.tickets import contract

SORT_KEY_KINDS: dict[str, type] = {
    "created_at": dt.datetime,
    "updated_at": dt.datetime,
    "priority": int,
    "name": str,
    "id": int,
    "sla_due_at": dt.datetime,
}
"""The Python type of each sort key's value, which a cursor must hold for that sort."""

TOTAL_CAP = contract.TOTAL_CAP


def capped_total(counted: int, cap: int | None = None) -> dict[str, Any]:
    """``total`` and ``total_capped`` of a list from a count made with a limit of ``cap + 1``
    (``TOTAL_CAP`` unless given)."""
    most = TOTAL_CAP if cap is None else cap
    return {"total": min(counted, most), "total_capped": counted > most}


def parse_sort(text: str | None) -> Sort:
    """A table sort (``contract.SORTABLE``, ``-`` for descending); default ``-updated_at``."""
    return Sort.parse(text, contract.SORTABLE, contract.DEFAULT_SORT)


@dataclass(frozen=True)
class TicketFilter:
    """The filters shared by the table and the board, already validated."""

    status: int | None = None
    pipeline_id: int | None = None
    owner_id: int | None = None
    unassigned: bool = False
    priority: str | None = None
    view: str | None = None
    q: str | None = None
    sla_state: str | None = None
    now: dt.datetime | None = None  # the moment SLA states are judged at (set by the store)
    q_terms: tuple[str, ...] = ()  # what ``q`` matches by (services.chassis.words.search_terms)
    q_ids: tuple[int, ...] = ()  # tickets whose conversation matches ``q`` (set by the service)

    def __post_init__(self) -> None:
        if self.q and not self.q_terms:  # the terms always follow the text
            object.__setattr__(self, "q_terms", search_terms(self.q))

    @property
    def total_cap(self) -> int:
        """Where counting the list's total stops (``contract.SEARCH_TOTAL_CAP`` for a search)."""
        return contract.SEARCH_TOTAL_CAP if self.q else TOTAL_CAP

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> TicketFilter:
        """From a query loaded by :class:`contract.TicketQuerySchema`."""
        owner = query.get("owner_id")
        text = (query.get("q") or "").strip()
        return cls(
            status=query.get("status"),
            pipeline_id=query.get("pipeline_id"),
            owner_id=owner if isinstance(owner, int) else None,
            unassigned=owner == contract.UNASSIGNED,
            priority=query.get("priority"),
            view=query.get("view"),
            q=text or None,
            sla_state=query.get("sla_state"),
        )
