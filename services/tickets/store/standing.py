"""Loading tickets for the lifecycle rules (:class:`Standing`) and marking them as worked on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.chassis.errors import NotFound
from services.tickets.domain import Scope
from services.tickets.domain.lifecycle import Standing
from services.tickets.models import stages, tickets
from services.tickets.store.base import survivor_visible


def standing_of(row: Any) -> Standing:
    return Standing(
        id=row.id,
        owner_id=row.owner_id,
        state=row.state,
        merged_into_id=row.merged_into_id,
        deleted=row.deleted_at is not None,
        purging=row.purging_at is not None,
        in_progress=row.in_progress,
        job_id=row.job_id,
        merge_count=row.merge_count,
        created_at=row.created_at,
        unread_seq=row.unread_seq,
        version=row.version,
    )


def load_many(s: Session, ticket_ids: Iterable[int], *, lock: bool = True) -> dict[int, Standing]:
    """The tickets that exist among ``ticket_ids`` (whatever their state), locked in id order."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    query = (
        select(tickets, stages.c.state)
        .join(stages, stages.c.id == tickets.c.stage_id)
        .where(tickets.c.id.in_(ids))
        .order_by(tickets.c.id)
    )
    if lock:
        query = query.with_for_update(of=tickets)
    return {row.id: standing_of(row) for row in s.execute(query)}


def load_visible(s: Session, scope: Scope, ticket_id: int, *, lock: bool = True) -> Standing:
    """The ticket if it exists and ``scope`` allows it (deleted and absorbed ones included), else
    NotFound: the lifecycle rules decide what an absorbed or deleted ticket answers. An absorbed
    ticket is allowed when ``scope`` may see its survivor, whoever owned it before
    (as :func:`services.tickets.store.base.absent` answers)."""
    found = load_many(s, [ticket_id], lock=lock).get(ticket_id)
    if found is not None and found.merged_into_id is not None:
        allowed = survivor_visible(s, scope, found.merged_into_id)
    else:
        allowed = found is not None and scope.allows(found.owner_id)
    if found is None or not allowed:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return found


def mark_busy(s: Session, ticket_ids: Iterable[int], action: str, job_id: int) -> None:
    """The tickets are in the middle of ``action`` (job ``job_id``) until :func:`clear_busy`."""
    ids = list(ticket_ids)
    if ids:
        s.execute(update(tickets).where(tickets.c.id.in_(ids)).values(in_progress=action, job_id=job_id))


def clear_busy(s: Session, job_id: int, ticket_ids: Iterable[int] | None = None) -> None:
    """The job's work on its tickets (or on ``ticket_ids`` of them) has finished everywhere."""
    query = update(tickets).where(tickets.c.job_id == job_id)
    if ticket_ids is not None:
        query = query.where(tickets.c.id.in_(list(ticket_ids)))
    s.execute(query.values(in_progress=None, job_id=None))
