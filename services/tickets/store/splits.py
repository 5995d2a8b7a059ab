"""Splitting a ticket: the new ticket exists (in progress) before its messages move to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.tickets.domain import Change, Scope
from services.tickets.domain.lifecycle import check_split, split_entries, split_event
from services.tickets.models import outbox, tickets
from services.tickets.store.base import Errors, Records
from services.tickets.store.jobs import Jobs
from services.tickets.store.standing import clear_busy, load_visible, mark_busy
from services.tickets.store.tickets import Tickets


class Splits:
    """The split job's steps that run here: ``start``, then ``finish`` or ``undo``."""

    def __init__(self, records: Records, *, jobs: Jobs, tickets: Tickets) -> None:
        self.r = records
        self.db = records.db
        self.jobs = jobs
        self.tickets = tickets

    def start(
        self,
        *,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        message_ids: list[int],
        data: dict[str, Any],
        key: IdempotencyKey | None,
        invalid: Errors | None = None,
    ) -> int:
        """The new ticket, made from ``data`` and marked ``in_progress: split`` like its source,
        and the job that moves the messages; returns the job id.

        Its ``ticket_created`` and the ``ticket_split`` links are decided now and recorded when
        the messages have moved (:meth:`finish`), so nobody is told of a split that is undone.
        """
        now = self.r.clock.now()
        with self.db.transaction() as s:
            source = load_visible(s, scope, ticket_id)
            if source.deleted:
                raise NotFound(f"ticket {ticket_id} does not exist")
            check_split(source)
            job_id = self.jobs.insert(
                s, kind="split", actor_id=actor_id, scope=scope, data={}, step="move", key=key, total=1
            )
            inserted, new = self.tickets.insert(
                s,
                actor_id=actor_id,
                data=data,
                invalid=invalid,
                extra={"in_progress": "split", "job_id": job_id},
            )
            new_id = inserted.id
            self.r.write_entries(s, new_id, Change(entries=new.ENTRIES), actor_id, now)
            mark_busy(s, [ticket_id], "split", job_id)
            events = [(e.type, e.payload) for e in new.events(new_id)]
            split = split_event(source, new_id, message_ids, actor_id)
            events.append((split.type, split.payload))
            job_data = {
                "ticket_id": ticket_id,
                "new_ticket_id": new_id,
                "message_ids": message_ids,
                "events": events,
            }
            self.jobs.set_data(s, job_id, job_data)
            return job_id

    def finish(self, *, job_id: int, data: dict[str, Any], actor_id: int) -> None:
        """The messages moved: the links go in both timelines, the events out; both tickets are done."""
        now = self.r.clock.now()
        source_id, new_id, message_ids = data["ticket_id"], data["new_ticket_id"], data["message_ids"]
        into, from_ = split_entries(source_id, new_id, message_ids)
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "finish"):
                return
            self.r.write_entries(s, source_id, Change(entries=(into,)), actor_id, now)
            self.r.write_entries(s, new_id, Change(entries=(from_,)), actor_id, now)
            for event_type, payload in data["events"]:
                outbox.record(s, event_type, payload, clock=self.r.clock)
            clear_busy(s, job_id)
            self.jobs.finish(s, job_id, {"ticket_id": new_id, "source_ticket_id": source_id}, done=1)

    def undo(self, *, job_id: int, data: dict[str, Any], error: str) -> None:
        """The messages could not move (they changed meanwhile): the new ticket, which nobody was
        told of, goes; the source is as before; the job fails with ``error``."""
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "move"):
                return
            s.execute(
                delete(tickets).where(tickets.c.id == data["new_ticket_id"], tickets.c.job_id == job_id)
            )
            clear_busy(s, job_id)
            self.jobs.finish(s, job_id, None, error=error, failed=1)
