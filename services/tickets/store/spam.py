"""Spam: a ticket's threads marked as spam (all of them: the ticket goes to the bin too), and
"not spam", which gives a thread back its ticket, restoring or recreating it when needed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update

from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.tickets.domain import Change, Scope
from services.tickets.domain.lifecycle import (
    Standing,
    busy,
    check_spam,
    deleted,
    not_spam_entry,
    restored,
    spam_entry,
)
from services.tickets.models import outbox, tickets
from services.tickets.store.base import Records
from services.tickets.store.jobs import Jobs
from services.tickets.store.standing import clear_busy, load_many, load_visible, mark_busy
from services.tickets.store.tickets import Tickets


class Spam:
    """The spam and not-spam jobs' steps that run here."""

    def __init__(self, records: Records, *, jobs: Jobs, tickets: Tickets) -> None:
        self.r = records
        self.db = records.db
        self.jobs = jobs
        self.tickets = tickets

    # -- spam --------------------------------------------------------------------------------------------
    def start(
        self,
        *,
        scope: Scope,
        actor_id: int,
        ticket_id: int,
        thread_ids: list[int],
        live_threads: list[int],
        key: IdempotencyKey | None,
    ) -> int:
        """Record the spam mark (and, when every thread is chosen, the ticket's deletion); the job
        then marks the threads in conversations. Returns the job id."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            t = load_visible(s, scope, ticket_id)
            if t.deleted:
                raise NotFound(f"ticket {ticket_id} does not exist")
            everything = check_spam(t, thread_ids, live_threads)
            data = {
                "ticket_id": ticket_id,
                "thread_ids": sorted(thread_ids),
                "owner_id": t.owner_id,
                "ticket_deleted": everything,
            }
            job_id = self.jobs.insert(
                s, kind="spam", actor_id=actor_id, scope=scope, data=data, step="mark", key=key, total=1
            )
            change = Change(entries=(spam_entry(thread_ids),))
            if everything:
                s.execute(
                    update(tickets)
                    .where(tickets.c.id == ticket_id)
                    .values(deleted_at=now, deleted_by=actor_id, updated_at=now)
                )
                self.r.restamp_follows(s, [ticket_id])
                gone = deleted(t, actor_id=actor_id, reason="spam")
                change = Change(entries=(*change.entries, *gone.entries), events=gone.events)
            self.r.write_entries(s, ticket_id, change, actor_id, now)
            mark_busy(s, [ticket_id], "spam", job_id)
            return job_id

    def finish(self, *, job_id: int, data: dict[str, Any]) -> None:
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "finish"):
                return
            clear_busy(s, job_id)
            result = {k: data[k] for k in ("ticket_id", "thread_ids", "ticket_deleted")}
            self.jobs.finish(s, job_id, {**result, "job_id": job_id}, done=1)

    # -- not spam ----------------------------------------------------------------------------------------
    def unspam_start(
        self, *, scope: Scope, actor_id: int, thread: dict[str, Any], key: IdempotencyKey | None
    ) -> int:
        """Choose the thread's ticket: its own (or its survivor) if live, restored from the bin if
        it is there, else a new one made from the thread; mark it in progress. Returns the job id.

        ``thread`` is what conversations knows of the spam thread (``ticket_id``, the ``ticket``
        fields a new one would have, the owner its ticket had when it was marked).
        """
        with self.db.transaction() as s:
            current = self._ticket_of(s, thread.get("ticket_id"))
            if current is not None and not scope.allows(current.owner_id):
                raise NotFound(f"thread {thread['thread_id']} does not exist")
            if current is not None and current.in_progress is not None:
                raise busy(current)
            job_id = self.jobs.insert(
                s, kind="not_spam", actor_id=actor_id, scope=scope, data={}, step="threads", key=key, total=1
            )
            data: dict[str, Any] = {"thread_id": thread["thread_id"], "events": []}
            if current is None:
                inserted, new = self.tickets.insert(
                    s,
                    actor_id=actor_id,
                    data=thread["ticket"],
                    invalid=None,
                    extra={"in_progress": "not_spam", "job_id": job_id},
                )
                new_id = inserted.id
                self.r.write_entries(s, new_id, Change(entries=new.ENTRIES), actor_id, self.r.clock.now())
                data.update(
                    ticket_id=new_id, mode="create", events=[(e.type, e.payload) for e in new.events(new_id)]
                )
            else:
                mode = "restore" if current.deleted else "attach"
                data.update(ticket_id=current.id, mode=mode)
                mark_busy(s, [current.id], "not_spam", job_id)
            self.jobs.set_data(s, job_id, data)
            return job_id

    @staticmethod
    def _ticket_of(s: Any, ticket_id: int | None) -> Standing | None:
        """The live or binned ticket a thread belongs to (its survivor if it was merged); None when it
        is gone, or being purged (then a new ticket is made)."""
        if ticket_id is None:
            return None
        found = load_many(s, [ticket_id]).get(ticket_id)
        if found is not None and found.merged_into_id is not None:
            found = load_many(s, [found.merged_into_id]).get(found.merged_into_id)
        if found is None or found.purging:
            return None
        return found

    def unspam_finish(self, *, job_id: int, data: dict[str, Any], actor_id: int) -> None:
        """The thread is back on its ticket: the ticket leaves the bin if it was there; entries, events."""
        now = self.r.clock.now()
        ticket_id = data["ticket_id"]
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "finish"):
                return
            t = load_many(s, [ticket_id]).get(ticket_id)
            change = Change(entries=(not_spam_entry(data["thread_id"]),))
            if t is not None and data["mode"] == "restore" and t.deleted:
                s.execute(
                    update(tickets).where(tickets.c.id == ticket_id).values(deleted_at=None, deleted_by=None)
                )
                back = restored(t, actor_id=actor_id)
                change = Change(entries=(*back.entries, *change.entries), events=back.events)
            if t is not None:
                s.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated_at=now))
                self.r.restamp_follows(s, [ticket_id])
                self.r.write_entries(s, ticket_id, change, actor_id, now)
            for event_type, payload in data["events"]:
                outbox.record(s, event_type, payload, clock=self.r.clock)
            clear_busy(s, job_id)
            result = {
                "thread_id": data["thread_id"],
                "ticket_id": ticket_id,
                "ticket_restored": data["mode"] == "restore",
                "ticket_created": data["mode"] == "create",
                "job_id": job_id,
            }
            self.jobs.finish(s, job_id, result, done=1)

    def unspam_undo(self, *, job_id: int, data: dict[str, Any], error: str) -> None:
        """The thread could not come back (it was purged meanwhile): a ticket made for it goes."""
        with self.db.transaction() as s:
            if not self.jobs.take(s, job_id, "threads"):
                return
            if data.get("mode") == "create":
                s.execute(
                    delete(tickets).where(tickets.c.id == data["ticket_id"], tickets.c.job_id == job_id)
                )
            clear_busy(s, job_id)
            self.jobs.finish(s, job_id, None, error=error, failed=1)
