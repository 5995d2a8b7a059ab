"""Merging two tickets: everything the tickets service owns moves in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.tickets.domain import Scope
from services.tickets.domain.lifecycle import Standing, check_merge, merge_change, reads_after_merge
from services.tickets.models import associations, followers, merges, reads, tickets, timeline
from services.tickets.store.base import Records
from services.tickets.store.jobs import Jobs
from services.tickets.store.sla import Slas
from services.tickets.store.standing import clear_busy, load_many, mark_busy


class Merges:
    """The merge job's steps that run here: ``start`` (decisive) and ``finish``."""

    def __init__(self, records: Records, *, jobs: Jobs, slas: Slas) -> None:
        self.r = records
        self.db = records.db
        self.jobs = jobs
        self.slas = slas

    def start(
        self, *, scope: Scope, actor_id: int, primary_id: int, secondary_id: int, key: IdempotencyKey | None
    ) -> int:
        """Merge ``secondary_id`` into ``primary_id`` here and start the job that moves their
        conversations; returns the job id.

        In one transaction: the absorbed ticket points at the survivor (and so do the tickets
        it had absorbed: chains stay one step long), associations, followers and the timeline
        move to the survivor, read marks are combined (read only where both were read), the
        survivor takes the older create date and the earlier SLA breach of the two, the merge is
        recorded, and ``ticket_merged`` is in the outbox. The survivor shows ``in_progress: merge``
        until the job finishes.
        """
        with self.db.transaction() as s:
            found = load_many(s, [primary_id, secondary_id])  # locked in id order: no deadlock
            for ticket_id in (primary_id, secondary_id):
                if ticket_id not in found or not scope.allows(found[ticket_id].owner_id):
                    raise NotFound(f"ticket {ticket_id} does not exist")
            primary, secondary = found[primary_id], found[secondary_id]
            check_merge(primary, secondary)
            job_id = self.jobs.insert(
                s,
                kind="merge",
                actor_id=actor_id,
                scope=scope,
                data={"primary_id": primary_id, "secondary_id": secondary_id},
                step="threads",
                key=key,
                total=1,
            )
            self._absorb(s, primary, secondary, actor_id=actor_id, job_id=job_id)
            return job_id

    def _absorb(
        self, s: Session, primary: Standing, secondary: Standing, *, actor_id: int, job_id: int
    ) -> None:
        now = self.r.clock.now()
        p, x = primary.id, secondary.id
        absorbed = [*self._absorbed_by(s, p), *self._absorbed_by(s, x), x]
        s.execute(update(tickets).where(tickets.c.merged_into_id == x).values(merged_into_id=p))
        s.execute(update(tickets).where(tickets.c.id == x).values(merged_into_id=p, updated_at=now))
        self._move_rows(s, associations, x, p, ["ticket_id", "kind", "ref_id"])
        self._move_rows(s, followers, x, p, ["ticket_id", "user_id"])  # restamped with p below
        stay_read = reads_after_merge(
            self._reads(s, p), self._reads(s, x), primary.unread_seq, secondary.unread_seq
        )
        new_seq = primary.unread_seq + 1
        for user_id in sorted(stay_read):
            self.r.set_read(s, p, user_id, new_seq)
        s.execute(update(timeline).where(timeline.c.ticket_id == x).values(ticket_id=p))
        s.execute(
            merges.insert().values(
                primary_id=p, secondary_id=x, actor_id=actor_id, job_id=job_id, merged_at=now
            )
        )
        change = merge_change(primary, secondary, actor_id=actor_id, absorbed=absorbed, now=now)
        s.execute(
            update(tickets)
            .where(tickets.c.id == p)
            .values(**change.values, unread_seq=new_seq, updated_at=now)
        )
        self.r.restamp_follows(s, [p])
        mark_busy(s, [p], "merge", job_id)
        self.r.write_entries(s, p, change, actor_id, now)
        self.slas.merged(s, survivor_id=p, absorbed_id=x, now=now)

    @staticmethod
    def _absorbed_by(s: Session, ticket_id: int) -> list[int]:
        return list(s.scalars(select(tickets.c.id).where(tickets.c.merged_into_id == ticket_id)))

    @staticmethod
    def _reads(s: Session, ticket_id: int) -> dict[int, int]:
        rows = s.execute(select(reads.c.user_id, reads.c.read_seq).where(reads.c.ticket_id == ticket_id))
        return {row.user_id: row.read_seq for row in rows}

    def _move_rows(self, s: Session, table: Any, source: int, target: int, key: list[str]) -> None:
        """Copy ``source``'s rows of ``table`` to ``target`` (keeping what ``target`` has), then drop them."""
        for row in s.execute(select(table).where(table.c.ticket_id == source)).mappings().all():
            self.r.insert_new(s, table, {**row, "ticket_id": target}, key)
        s.execute(delete(table).where(table.c.ticket_id == source))

    def finish(self, *, job_id: int, primary_id: int) -> None:
        """The conversations moved too: the survivor is no longer in progress; the job is done."""
        with self.db.transaction() as s:
            if self.jobs.take(s, job_id, "finish"):
                clear_busy(s, job_id)
                self.jobs.finish(s, job_id, {"ticket_id": primary_id}, done=1)
