"""SQL statements of the tickets service's reads, built here and executed only by the store.

Every read of tickets for a person goes through :func:`ticket_rows`, which joins
the caller's own read mark and follow row (at most one of each, by primary key)
so ``unread`` and ``following`` come with the row, never from a query per row,
and which applies the access rule as SQL (:func:`visible`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Join,
    Select,
    Table,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)

from services.chassis.clock import isoformat as iso
from services.chassis.paging import Sort
from services.tickets.domain import TOTAL_CAP, Scope, TicketFilter
from services.tickets.domain.sla import view as sla_view
from services.tickets.models import followers, reads, tickets

SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "created_at": tickets.c.created_at,
    "updated_at": tickets.c.updated_at,
    "priority": tickets.c.priority_rank,
    "name": func.lower(tickets.c.name),  # matches index ix_tickets_name_lower
    "id": tickets.c.id,
    "sla_due_at": tickets.c.sla_next_due_at,  # 9999-12-31 without a running clock: never NULL
}


def visible(scope: Scope) -> ColumnElement[bool]:
    """The access rule as a SQL condition on ``tickets`` (never fetch-then-filter)."""
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.owner_ids:
        clauses.append(tickets.c.owner_id.in_(sorted(scope.owner_ids)))
    if scope.unassigned:
        clauses.append(tickets.c.owner_id.is_(None))
    return or_(*clauses) if clauses else false()


def live() -> ColumnElement[bool]:
    """Tickets that exist for readers: not in the recycle bin."""
    return tickets.c.deleted_at.is_(None)


def listed() -> ColumnElement[bool]:
    """Tickets that lists show: live and not absorbed by a merge (their survivor is listed)."""
    return and_(live(), tickets.c.merged_into_id.is_(None))


def _unread() -> ColumnElement[bool]:
    return or_(reads.c.read_seq.is_(None), reads.c.read_seq < tickets.c.unread_seq)


def _following() -> ColumnElement[bool]:
    return followers.c.user_id.is_not(None)


def _for_user(user_id: int | BindParameter[int]) -> Join:
    """``tickets`` with the caller's read mark and follow row (primary keys: at most one each)."""
    return tickets.outerjoin(
        reads, and_(reads.c.ticket_id == tickets.c.id, reads.c.user_id == user_id)
    ).outerjoin(followers, and_(followers.c.ticket_id == tickets.c.id, followers.c.user_id == user_id))


def ticket_rows(user_id: int, *extra: Any) -> Select[Any]:
    """Ticket columns plus ``unread``/``following`` for ``user_id`` (and any ``extra`` columns)."""
    columns = (tickets, _unread().label("unread"), _following().label("following"), *extra)
    return select(*columns).select_from(_for_user(user_id))


def one_ticket(scope: Scope, user_id: int, ticket_id: int) -> tuple[Select[Any], dict[str, int]]:
    """The ticket if it is live and in ``scope``: a statement and its parameters (execute both)."""
    return _one_ticket(scope), {"user_id": user_id, "ticket_id": ticket_id}


@functools.lru_cache(maxsize=1024)
def _one_ticket(scope: Scope) -> Select[Any]:
    """:func:`one_ticket`'s statement, built once per scope (a scope is per person and rarely
    changes): reading one ticket is the commonest read, and SQLAlchemy takes several times longer
    to build and key a statement than to run a built one."""
    user_id = bindparam("user_id", type_=Integer)
    rows = select(tickets, _unread().label("unread"), _following().label("following"))
    return rows.select_from(_for_user(user_id)).where(
        tickets.c.id == bindparam("ticket_id", type_=Integer), live(), visible(scope)
    )


def filters(scope: Scope, user_id: int, flt: TicketFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses of the table and the board: access rule, then the caller's filters."""
    where = [listed(), visible(scope)]
    if flt.status is not None:
        where.append(tickets.c.stage_id == flt.status)
    if flt.pipeline_id is not None:
        where.append(tickets.c.pipeline_id == flt.pipeline_id)
    if flt.owner_id is not None:
        where.append(tickets.c.owner_id == flt.owner_id)
    if flt.unassigned or flt.view == "unassigned":
        where.append(tickets.c.owner_id.is_(None))
    if flt.priority is not None:
        where.append(tickets.c.priority == flt.priority)
    if (view := _view(flt.view, user_id)) is not None:
        where.append(view)
    if flt.sla_state is not None:
        where.append(sla_state(flt.sla_state, flt.now))
    if flt.q:
        # icontains renders lower(x) LIKE lower(y) on SQLite and ILIKE on PostgreSQL
        where.append(
            or_(
                tickets.c.name.icontains(flt.q, autoescape=True),
                tickets.c.description.icontains(flt.q, autoescape=True),
            )
        )
    return where


def sla_state(state: str, now: dt.datetime | None) -> ColumnElement[bool]:
    """Tickets whose SLA is in ``state`` at ``now``: :func:`services.tickets.domain.sla.state_at` as SQL."""
    assert now is not None, "the store sets the moment SLA states are judged at"
    running = tickets.c.sla_phase == "running"
    breached = or_(tickets.c.sla_breached_at.is_not(None), and_(running, tickets.c.sla_next_due_at <= now))
    if state == "breached":
        return breached
    clean = tickets.c.sla_breached_at.is_(None)
    if state in ("paused", "met"):
        return and_(clean, tickets.c.sla_phase == state)
    ahead = and_(clean, running, tickets.c.sla_next_due_at > now)
    if state == "due_soon":
        return and_(ahead, tickets.c.sla_soon_at <= now)
    return and_(ahead, tickets.c.sla_soon_at > now)


def _view(view: str | None, user_id: int) -> ColumnElement[bool] | None:
    """The condition of a default view other than ``unassigned`` (a plain owner filter)."""
    if view == "mine":
        return tickets.c.owner_id == user_id
    if view == "following":
        return _following()
    if view == "open":
        return tickets.c.closed_at.is_(None)  # set exactly while the stage is CLOSED
    if view == "unread":
        return _unread()
    return None


def page(
    scope: Scope,
    user_id: int,
    flt: TicketFilter,
    *,
    sort: Sort,
    limit: int,
    after: tuple[Any, int] | None = None,
) -> Select[Any]:
    """One page in ``sort`` order plus one row (to know if there is a next page), keyset after ``after``.

    Each row carries ``sort_key``, the value the next cursor resumes from.
    """
    key = SORT_KEYS[sort.key]
    stmt = ticket_rows(user_id, key.label("sort_key")).where(*filters(scope, user_id, flt))
    if after is not None:
        position = tuple_(key, tickets.c.id)
        bound = tuple_(literal(after[0], key.type), literal(after[1], Integer()))
        stmt = stmt.where(position < bound if sort.descending else position > bound)
    order = (key.desc(), tickets.c.id.desc()) if sort.descending else (key.asc(), tickets.c.id.asc())
    return stmt.order_by(*order).limit(limit + 1)


def _counted(user_id: int, flt: TicketFilter) -> Join | Table:
    # Counting is the costly part of a page; SQLite does not drop unused outer joins by itself.
    return _for_user(user_id) if flt.view in ("unread", "following") else tickets


def capped_count(
    table: Join | Table, where: Sequence[ColumnElement[bool]], cap: int | None = None
) -> Select[Any]:
    """How many rows ``where`` selects, counted up to ``cap + 1`` (``TOTAL_CAP`` unless given; see
    :func:`capped_total`): the count stops early instead of visiting every match."""
    limit = (TOTAL_CAP if cap is None else cap) + 1
    found = select(literal(1).label("one")).select_from(table).where(*where).limit(limit)
    return select(func.count()).select_from(found.subquery())


def count(scope: Scope, user_id: int, flt: TicketFilter) -> Select[Any]:
    """How many tickets the same filters select, up to ``flt.total_cap + 1`` (a list's ``total``)."""
    return capped_count(_counted(user_id, flt), filters(scope, user_id, flt), flt.total_cap)


def count_by_stage(scope: Scope, user_id: int, flt: TicketFilter, stage_ids: Sequence[int]) -> Select[Any]:
    """One row: for each of ``stage_ids`` (a column of the board), its capped count, in one query."""
    table, where = _counted(user_id, flt), filters(scope, user_id, flt)  # a status filter stays
    return select(
        *(
            capped_count(table, [*where, tickets.c.stage_id == stage_id], flt.total_cap)
            .scalar_subquery()
            .label(f"stage_{n}")
            for n, stage_id in enumerate(stage_ids)
        )
    )


def ticket_dict(
    row: Any, assoc: dict[str, list[int]], merged: Sequence[int], *, now: dt.datetime
) -> dict[str, Any]:
    """The wire form of a ticket row from :func:`ticket_rows` (see ``contract.TicketSchema``);
    its ``sla`` as it stands at ``now``."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "pipeline_id": row.pipeline_id,
        "status": row.stage_id,
        "priority": row.priority,
        "category": row.category,
        "owner_id": row.owner_id,
        "team_id": row.team_id,
        "source": row.source,
        "associations": assoc,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "closed_at": iso(row.closed_at),
        "version": row.version,
        "unread": bool(row.unread),
        "following": bool(row.following),
        "merged_ticket_ids": list(merged),
        "first_reply_at": iso(row.first_reply_at),
        "last_customer_message_at": iso(row.last_customer_message_at),
        "last_agent_message_at": iso(row.last_agent_message_at),
        "external_source": row.external_source,
        "external_id": row.external_id,
        "in_progress": row.in_progress,
        "job_id": row.job_id,
        "sla": sla_view(
            policy_id=row.sla_policy_id,
            data=row.sla_data,
            phase=row.sla_phase,
            next_due_at=row.sla_next_due_at,
            soon_at=row.sla_soon_at,
            breached_at=row.sla_breached_at,
            now=now,
        ),
    }
