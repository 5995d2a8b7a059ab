"""Bulk update as a job: the same change applied to each ticket, one result per ticket."""

from __future__ import annotations

from typing import Any

from services.chassis.errors import HelpdeskError
from services.chassis.idempotency import IdempotencyKey
from services.tickets import contract
from services.tickets.domain import Scope
from services.tickets.store.base import Errors, Records, Stamp
from services.tickets.store.jobs import Job, Jobs
from services.tickets.store.tickets import Tickets

BATCH = 100
"""Items one step of a bulk update takes (each ticket in its own transaction, results in one)."""


class Bulk:
    """Bulk update jobs."""

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
        ticket_ids: list[int],
        changes: dict[str, Any],
        invalid: Errors,
        key: IdempotencyKey | None,
        stamp: Stamp | None = None,
    ) -> int:
        """A job with one pending item per id; ``invalid`` holds problems found beforehand (an owner
        the permissions service refused), reported on every item; ``stamp`` (one ``batch_id`` for the
        whole job) goes into every event."""
        with self.db.transaction() as s:
            job_id = self.jobs.insert(
                s,
                kind="bulk_update",
                actor_id=actor_id,
                scope=scope,
                data={"changes": changes, "invalid": invalid, "stamp": stamp},
                step="batch",
                key=key,
                total=len(ticket_ids),
            )
            self.jobs.add_items(s, job_id, [(t, "pending", None) for t in ticket_ids])
            return job_id

    def run_batch(self, *, job: Job) -> bool:
        """Apply the change to the next pending tickets; False when none was left (the job is done).

        A ticket updated here but not yet recorded (a crash in between) is updated again on
        resume, which changes nothing: an update that changes nothing writes nothing.
        """
        with self.db.read() as s:
            items = self.jobs.items_where(s, job.id, "pending", BATCH)
        if not items:
            with self.db.transaction() as s:
                if self.jobs.take(s, job.id, "batch"):
                    self.jobs.finish(s, job.id, {})
            return False
        keep_tickets = job.total <= contract.MAX_BULK
        outcomes: list[tuple[int, str, str | None, int, dict[str, Any] | None]] = []
        for item in items:
            try:
                ticket = self.tickets.update(
                    scope=job.scope,
                    actor_id=job.actor_id,
                    ticket_id=item.ticket_id,
                    changes=job.data["changes"],
                    invalid=job.data["invalid"],
                    stamp=job.data.get("stamp"),
                )
                extra = {"ticket": ticket} if keep_tickets else None
                outcomes.append((item.seq, "done", None, 200, extra))
            except HelpdeskError as exc:
                outcomes.append((item.seq, "skipped", exc.detail, exc.status, {"error": exc.to_dict()}))
        with self.db.transaction() as s:
            counts = {"done": 0, "skipped": 0}
            for seq, outcome, reason, status, extra in outcomes:
                # an item another runner recorded meanwhile is not counted twice
                counts[outcome] += self.jobs.set_item(
                    s, job.id, seq, outcome, reason=reason, status=status, result=extra, only_from="pending"
                )
            self.jobs.set_step(s, job.id, "batch", **counts)
        return True

    def results(self, *, job_id: int) -> list[dict[str, Any]]:
        """The per-ticket results in the shape bulk updates always answered (``id``, ``status``,
        ``ticket`` or ``error``)."""
        found = []
        for item in self.jobs.all_items(job_id=job_id):
            result: dict[str, Any] = {"id": item["ticket_id"], "status": item["status"]}
            if item["ticket"] is not None:
                result["ticket"] = item["ticket"]
            if item["error"] is not None:
                result["error"] = item["error"]
            found.append(result)
        return found
