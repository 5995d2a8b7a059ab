"""The recycle bin: deleting (one ticket, or many in a job), restoring, listing, and purging for
the retention service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from services.chassis.clock import isoformat
from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.tickets import contract
from services.tickets.domain import Scope
from services.tickets.domain.lifecycle import (
    Standing,
    check_live,
    check_restore,
    delete_skip_reason,
    deleted,
    restored,
)
from services.tickets.models import merges, outbox, tickets
from services.tickets.store import queries
from services.tickets.store.base import Records
from services.tickets.store.jobs import Job, Jobs
from services.tickets.store.standing import clear_busy, load_many, load_visible, mark_busy

BATCH = 500
"""Tickets one step of a bulk delete takes (one transaction here, one call to conversations)."""
NEWEST_DELETED_FIRST = Sort("deleted_at", descending=True)


class Bin:
    """Deleting to the bin, restoring from it, and purging it for good."""

    def __init__(self, records: Records, *, jobs: Jobs) -> None:
        self.r = records
        self.db = records.db
        self.jobs = jobs

    # -- deleting ----------------------------------------------------------------------------------------
    def delete_one(self, *, scope: Scope, actor_id: int, ticket_id: int) -> int:
        """The ticket goes to the bin now; a job deletes its conversations. Returns the job id."""
        with self.db.transaction() as s:
            t = load_visible(s, scope, ticket_id)
            if t.deleted:
                raise NotFound(f"ticket {ticket_id} does not exist")
            check_live(t)
            job_id = self.jobs.insert(
                s,
                kind="delete",
                actor_id=actor_id,
                scope=scope,
                data={"ticket_id": ticket_id},
                step="threads",
                total=1,
            )
            self.jobs.add_items(s, job_id, [(ticket_id, "working", None)])
            self._to_bin(s, [t], actor_id=actor_id, reason="delete", job_id=job_id)
            return job_id

    def bulk_start(
        self, *, scope: Scope, actor_id: int, ticket_ids: list[int], key: IdempotencyKey | None
    ) -> int:
        """A bulk delete job with one pending item per id (nothing is deleted yet)."""
        with self.db.transaction() as s:
            job_id = self.jobs.insert(
                s,
                kind="bulk_delete",
                actor_id=actor_id,
                scope=scope,
                data={},
                step="batch",
                key=key,
                total=len(ticket_ids),
            )
            self.jobs.add_items(s, job_id, [(t, "pending", None) for t in ticket_ids])
            return job_id

    def _to_bin(
        self, s: Session, found: Sequence[Standing], *, actor_id: int, reason: str, job_id: int
    ) -> None:
        now = self.r.clock.now()
        ids = [t.id for t in found]
        if not ids:
            return
        s.execute(
            update(tickets)
            .where(tickets.c.id.in_(ids))
            .values(deleted_at=now, deleted_by=actor_id, in_progress="delete", job_id=job_id, updated_at=now)
        )
        self.r.restamp_follows(s, ids)
        changes = [(t.id, deleted(t, actor_id=actor_id, reason=reason)) for t in found]
        self.r.write_many(s, changes, actor_id, now)

    def mark_batch(self, *, job: Job) -> int:
        """The next pending items: each goes to the bin or is skipped (why is recorded); returns how
        many went to the bin (their conversations are the next step), -1 when none was pending."""
        with self.db.transaction() as s:
            if not self.jobs.take(s, job.id, "batch"):
                return 0
            items = self.jobs.items_where(s, job.id, "pending", BATCH)
            if not items:
                return -1
            found = load_many(s, [i.ticket_id for i in items])
            eligible, working, skipped = [], [], 0
            for item in items:
                standing = found.get(item.ticket_id)
                reason = delete_skip_reason(standing, job.scope)
                if reason is None and standing is not None:
                    eligible.append(standing)
                    working.append(item.seq)
                else:
                    skipped += 1
                    self.jobs.set_item(s, job.id, item.seq, "skipped", reason=reason)
            self.jobs.set_outcome(s, job.id, working, "working")
            self._to_bin(s, eligible, actor_id=job.actor_id, reason="bulk_delete", job_id=job.id)
            self.jobs.set_step(s, job.id, "threads" if eligible else "batch", skipped=skipped)
            return len(eligible)

    def working(self, *, job_id: int) -> list[int]:
        """The tickets of the job's current batch (in the bin, their conversations not yet)."""
        with self.db.read() as s:
            return [i.ticket_id for i in self.jobs.items_where(s, job_id, "working", BATCH)]

    def finish_batch(self, *, job_id: int) -> None:
        """The batch's conversations are deleted too: its tickets are done."""
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "threads"):
                return
            ids = [i.ticket_id for i in self.jobs.items_where(s, job_id, "working", BATCH)]
            clear_busy(s, job_id, ids)
            count = self.jobs.set_items(s, job_id, from_outcome="working", to_outcome="done")
            self.jobs.set_step(s, job_id, "batch", done=count)

    def complete(self, *, job_id: int, result: dict[str, Any]) -> None:
        with self.db.transaction() as s:
            if self.jobs.take(s, job_id, "batch"):
                self.jobs.finish(s, job_id, result)

    # -- restoring ---------------------------------------------------------------------------------------
    def restore_start(self, *, scope: Scope, actor_id: int, ticket_id: int) -> int:
        """The ticket stays in the bin, marked ``in_progress: restore``, until its conversations are back."""
        with self.db.transaction() as s:
            t = load_visible(s, scope, ticket_id)
            check_restore(t)
            job_id = self.jobs.insert(
                s,
                kind="restore",
                actor_id=actor_id,
                scope=scope,
                data={"ticket_id": ticket_id},
                step="threads",
                total=1,
            )
            self.jobs.add_items(s, job_id, [(ticket_id, "working", None)])
            mark_busy(s, [ticket_id], "restore", job_id)
            return job_id

    def restore_finish(self, *, job_id: int, ticket_id: int, actor_id: int) -> None:
        """Conversations are back: the ticket leaves the bin (in one transaction with its entry and event)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "finish"):
                return
            t = load_many(s, [ticket_id]).get(ticket_id)
            if t is not None and t.job_id == job_id:
                s.execute(
                    update(tickets)
                    .where(tickets.c.id == ticket_id)
                    .values(deleted_at=None, deleted_by=None, updated_at=now)
                )
                self.r.restamp_follows(s, [ticket_id])
                self.r.write_entries(s, ticket_id, restored(t, actor_id=actor_id), actor_id, now)
            clear_busy(s, job_id)
            count = self.jobs.set_items(s, job_id, from_outcome="working", to_outcome="done")
            self.jobs.finish(s, job_id, {"ticket_id": ticket_id}, done=count)

    # -- reading -----------------------------------------------------------------------------------------
    def visible(self, *, scope: Scope, ticket_id: int) -> None:
        """NotFound unless the ticket exists (in the bin or not) and ``scope`` allows it."""
        with self.db.read() as s:
            load_visible(s, scope, ticket_id, lock=False)

    def page(self, *, scope: Scope, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The bin as the caller may see it (the one access rule), most recently deleted first."""
        query = queries.ticket_rows(user_id).where(
            tickets.c.deleted_at.is_not(None), tickets.c.merged_into_id.is_(None), queries.visible(scope)
        )
        with self.db.read() as s:
            found = keyset_page(
                s,
                query,
                key=tickets.c.deleted_at,
                ident=tickets.c.id,
                sort=NEWEST_DELETED_FIRST,
                limit=limit,
                cursor=cursor,
                item=lambda row: row,
            )
            rows = found["items"]
            found["items"] = [bin_item(d, r) for d, r in zip(self.r.dicts(s, rows), rows, strict=True)]
            return found

    def item(self, *, user_id: int, ticket_id: int) -> dict[str, Any]:
        """One ticket in the bin (what a delete answers)."""
        with self.db.read() as s:
            row = s.execute(queries.ticket_rows(user_id).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            return bin_item(self.r.dicts(s, [row])[0], row)

    # -- purging (the retention service's calls) ---------------------------------------------------------
    def due(self, *, cutoff: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Tickets in the bin since ``cutoff`` or before, oldest first (those being purged included)."""
        with self.db.read() as s:
            rows = s.execute(
                select(tickets.c.id, tickets.c.deleted_at)
                .where(tickets.c.deleted_at.is_not(None), tickets.c.deleted_at <= cutoff)
                .where(tickets.c.merged_into_id.is_(None))
                .order_by(tickets.c.deleted_at, tickets.c.id)
                .limit(limit)
            ).all()
        return [{"id": r.id, "marked_at": isoformat(r.deleted_at)} for r in rows]

    def begin_purge(self, *, ticket_ids: list[int], cutoff: dt.datetime) -> dict[str, list[int]]:
        """Of ``ticket_ids``, those that may go (``purging``): still in the bin since ``cutoff`` or
        before and not being worked on, marked so that nothing (a restore) can take them back any
        more; and those ``missing`` altogether (purged already)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            load_many(s, ticket_ids)  # lock them against a concurrent restore
            s.execute(
                update(tickets)
                .where(tickets.c.id.in_(ticket_ids), tickets.c.purging_at.is_(None))
                .where(tickets.c.deleted_at.is_not(None), tickets.c.deleted_at <= cutoff)
                .where(tickets.c.in_progress.is_(None), tickets.c.merged_into_id.is_(None))
                .values(purging_at=now)
            )
            rows = s.execute(
                select(tickets.c.id, tickets.c.purging_at).where(tickets.c.id.in_(ticket_ids))
            ).all()
            return {
                "purging": sorted(r.id for r in rows if r.purging_at is not None),
                "missing": sorted(set(ticket_ids) - {r.id for r in rows}),
            }

    def purge(self, *, ticket_ids: list[int]) -> list[int]:
        """Delete for good the tickets whose purge began, with the tickets they had absorbed, their
        timelines, associations, followers and read marks; one ``tickets_purged`` for them all."""
        with self.db.transaction() as s:
            ids = sorted(
                s.scalars(
                    select(tickets.c.id).where(
                        tickets.c.id.in_(ticket_ids), tickets.c.purging_at.is_not(None)
                    )
                )
            )
            if not ids:
                return []
            absorbed: dict[int, list[int]] = {i: [] for i in ids}
            for row in s.execute(
                select(tickets.c.id, tickets.c.merged_into_id).where(tickets.c.merged_into_id.in_(ids))
            ):
                absorbed[row.merged_into_id].append(row.id)
            gone = ids + [a for group in absorbed.values() for a in group]
            s.execute(
                delete(merges).where(or_(merges.c.primary_id.in_(gone), merges.c.secondary_id.in_(gone)))
            )
            s.execute(delete(tickets).where(tickets.c.id.in_(gone)))
            payload = {
                "actor_id": 0,
                "ticket_ids": ids,
                "absorbed_ticket_ids": sorted(a for group in absorbed.values() for a in group),
            }
            outbox.record(s, contract.TICKETS_PURGED, payload, clock=self.r.clock)
            return ids


def bin_item(ticket: dict[str, Any], row: Any) -> dict[str, Any]:
    return {
        **ticket,
        "deleted_at": isoformat(row.deleted_at),
        "deleted_by": row.deleted_by,
        "purging": row.purging_at is not None,
    }
