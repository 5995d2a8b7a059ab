"""Jobs: lifecycle actions and bulk changes, their progress recorded step by step.

A job row is created in the same transaction as its first, decisive step, so a job exists
exactly when that step committed. Whoever runs a job holds its lease (a time, renewed at
every step); a job whose lease ran out (its runner crashed) is picked up by any instance's
resume sweep. Every step is idempotent, so a step that ran but was not recorded runs again
harmlessly. Items record each ticket's outcome; the job keeps running counts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.clock import isoformat
from services.chassis.errors import Conflict, NotFound
from services.chassis.idempotency import REPLAYED, IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.tickets.domain import Scope
from services.tickets.domain.lifecycle import scope_from_wire, scope_to_wire
from services.tickets.models import job_items, jobs
from services.tickets.store.base import Records

LEASE = dt.timedelta(seconds=10)
BY_SEQ = Sort("seq", descending=False)
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass(frozen=True)
class Job:
    """A job as its runner sees it."""

    id: int
    kind: str
    state: str
    step: str
    actor_id: int
    scope: Scope
    data: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    total: int
    attempts: int

    @property
    def running(self) -> bool:
        return self.state == RUNNING


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        state=row.state,
        step=row.step,
        actor_id=row.actor_id,
        scope=scope_from_wire(json.loads(row.scope)),
        data=json.loads(row.data),
        result=json.loads(row.result) if row.result else None,
        error=row.error,
        total=row.total,
        attempts=row.attempts,
    )


def job_dict(row: Any) -> dict[str, Any]:
    """The wire form of a job (``contract.JobSchema``)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "step": row.step,
        "total": row.total,
        "processed": row.processed,
        "done": row.done,
        "skipped": row.skipped,
        "failed": row.failed,
        "attempts": row.attempts,
        "error": row.error,
        "result": json.loads(row.result) if row.result else None,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
        "finished_at": isoformat(row.finished_at),
    }


def item_dict(row: Any) -> dict[str, Any]:
    extra = json.loads(row.result) if row.result else {}
    return {
        "seq": row.seq,
        "ticket_id": row.ticket_id,
        "outcome": row.outcome,
        "reason": row.reason,
        "status": row.status,
        "ticket": extra.get("ticket"),
        "error": extra.get("error"),
    }


class Jobs:
    """Job records: creating one with its first step, leases, steps, items, reading."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- creating ----------------------------------------------------------------------------------------
    def insert(
        self,
        s: Session,
        *,
        kind: str,
        actor_id: int,
        scope: Scope,
        data: dict[str, Any],
        step: str,
        key: IdempotencyKey | None = None,
        total: int = 0,
    ) -> int:
        """A new running job, leased to its creator (who runs it at once).

        Conflict when another request with the same Idempotency-Key started its job first (it
        waits for that request's transaction): the caller then replays that job."""
        now = self.r.clock.now()
        try:
            job_id = s.scalar(
                jobs.insert()
                .values(
                    kind=kind,
                    state=RUNNING,
                    step=step,
                    actor_id=actor_id,
                    client_key=key.key if key else None,
                    request_hash=key.fingerprint if key else None,
                    scope=json.dumps(scope_to_wire(scope)),
                    data=json.dumps(data),
                    total=total,
                    processed=0,
                    done=0,
                    skipped=0,
                    failed=0,
                    attempts=0,
                    lease_until=now + LEASE,
                    created_at=now,
                    updated_at=now,
                )
                .returning(jobs.c.id)
            )
        except IntegrityError as exc:
            if key is None:
                raise
            raise Conflict("A request with this Idempotency-Key is starting the same job.") from exc
        return int(job_id)

    def add_items(self, s: Session, job_id: int, items: list[tuple[int | None, str, str | None]]) -> None:
        """Append items ``(ticket_id, outcome, reason)`` after the job's last one."""
        if not items:
            return
        last = s.scalar(select(func.max(job_items.c.seq)).where(job_items.c.job_id == job_id)) or 0
        s.execute(
            job_items.insert(),
            [
                {"job_id": job_id, "seq": last + n, "ticket_id": t, "outcome": o, "reason": r}
                for n, (t, o, r) in enumerate(items, start=1)
            ],
        )

    def set_data(self, s: Session, job_id: int, data: dict[str, Any]) -> None:
        """What the job's later steps need, once its first step has made it (new ids...)."""
        s.execute(update(jobs).where(jobs.c.id == job_id).values(data=json.dumps(data)))

    def replay(self, key: IdempotencyKey | None) -> Job | None:
        """The job ``key`` started before, None if unused; Conflict when it came with another request."""
        if key is None:
            return None
        with self.db.read() as s:
            row = s.execute(
                select(jobs).where(jobs.c.actor_id == key.caller_id, jobs.c.client_key == key.key)
            ).first()
        if row is None:
            return None
        if row.request_hash != key.fingerprint:
            raise Conflict("This Idempotency-Key was already used with a different request.")
        return _job(row)

    # -- running -----------------------------------------------------------------------------------------
    def load(self, s: Session, job_id: int) -> Job:
        row = s.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"job {job_id} does not exist")
        return _job(row)

    def current(self, *, job_id: int) -> Job:
        with self.db.read() as s:
            return self.load(s, job_id)

    def claim(self, *, job_id: int, held: bool = False) -> Job | None:
        """Take (or, ``held``, keep) the job's lease; None when it is finished or someone else runs it."""
        now = self.r.clock.now()
        free = or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now)
        with self.db.transaction() as s:
            where = [jobs.c.id == job_id, jobs.c.state == RUNNING]
            if not held:
                where.append(free)
            got = s.execute(update(jobs).where(*where).values(lease_until=now + LEASE))
            if not got.rowcount:  # type: ignore[attr-defined]
                return None
            return self.load(s, job_id)

    def release(self, *, job_id: int) -> None:
        with self.db.transaction() as s:
            s.execute(update(jobs).where(jobs.c.id == job_id).values(lease_until=None))

    def due(self, *, limit: int) -> list[int]:
        """Running jobs nobody holds (their runner finished a slice, or crashed), oldest first."""
        now = self.r.clock.now()
        with self.db.read() as s:
            return list(
                s.scalars(
                    select(jobs.c.id)
                    .where(
                        jobs.c.state == RUNNING, or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now)
                    )
                    .order_by(jobs.c.id)
                    .limit(limit)
                )
            )

    def set_step(self, s: Session, job_id: int, step: str, **counts: int) -> None:
        """Record that the job reached ``step`` (in the step's own transaction), renewing the lease.

        ``counts`` are added to the job's ``done``/``skipped``/``failed`` (and so ``processed``).
        """
        now = self.r.clock.now()
        values: dict[str, Any] = {"step": step, "updated_at": now, "lease_until": now + LEASE}
        for name in ("done", "skipped", "failed"):
            if counts.get(name):
                values[name] = jobs.c[name] + counts[name]
        processed = sum(counts.get(n, 0) for n in ("done", "skipped", "failed"))
        if processed:
            values["processed"] = jobs.c.processed + processed
        s.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def take(self, s: Session, job_id: int, step: str) -> bool:
        """Begin a local step: True if the job is still running at ``step``. The row is written (so
        locked) first, so two runners of one job (a lease that ran out under a slow step) cannot
        both do the step: the second waits, then finds the job moved on and does nothing."""
        got = s.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == RUNNING, jobs.c.step == step)
            .values(updated_at=self.r.clock.now())
        )
        return bool(got.rowcount)  # type: ignore[attr-defined]

    def advance(self, *, job_id: int, after: str, step: str) -> None:
        """The remote step ``after`` was done: the job is at ``step`` (unless someone moved it on)."""
        with self.db.transaction() as s:
            if self.take(s, job_id, after):
                self.set_step(s, job_id, step)

    def finish(
        self,
        s: Session,
        job_id: int,
        result: dict[str, Any] | None,
        *,
        error: str | None = None,
        **counts: int,
    ) -> None:
        """The job ends: done, or failed with ``error``; its lease is released."""
        self.set_step(s, job_id, "finished", **counts)
        now = self.r.clock.now()
        s.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                state=FAILED if error else DONE,
                result=json.dumps(result) if result is not None else None,
                error=error,
                finished_at=now,
                lease_until=None,
            )
        )

    def trouble(self, *, job_id: int, error: str) -> None:
        """A step could not run now (a service is down); the job waits for the next sweep."""
        with self.db.transaction() as s:
            s.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(attempts=jobs.c.attempts + 1, error=error[:2000], lease_until=None)
            )

    def clear_trouble(self, s: Session, job_id: int) -> None:
        s.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == RUNNING).values(error=None))

    # -- items -------------------------------------------------------------------------------------------
    def items_where(self, s: Session, job_id: int, outcome: str, limit: int) -> list[Any]:
        return list(
            s.execute(
                select(job_items)
                .where(job_items.c.job_id == job_id, job_items.c.outcome == outcome)
                .order_by(job_items.c.seq)
                .limit(limit)
            ).all()
        )

    def set_item(
        self,
        s: Session,
        job_id: int,
        seq: int,
        outcome: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        result: dict[str, Any] | None = None,
        only_from: str | None = None,
    ) -> int:
        """One item's outcome (``only_from``: if it still has that outcome); 1 if it was set."""
        where = [job_items.c.job_id == job_id, job_items.c.seq == seq]
        if only_from is not None:
            where.append(job_items.c.outcome == only_from)
        got = s.execute(
            update(job_items)
            .where(*where)
            .values(
                outcome=outcome,
                reason=reason,
                status=status,
                result=json.dumps(result) if result is not None else None,
            )
        )
        return int(got.rowcount)  # type: ignore[attr-defined]

    def set_outcome(self, s: Session, job_id: int, seqs: list[int], outcome: str) -> None:
        """Many items reach the same outcome (no reason, no result) in one statement."""
        if seqs:
            s.execute(
                update(job_items)
                .where(job_items.c.job_id == job_id, job_items.c.seq.in_(seqs))
                .values(outcome=outcome)
            )

    def set_items(self, s: Session, job_id: int, *, from_outcome: str, to_outcome: str) -> int:
        got = s.execute(
            update(job_items)
            .where(job_items.c.job_id == job_id, job_items.c.outcome == from_outcome)
            .values(outcome=to_outcome)
        )
        return int(got.rowcount)  # type: ignore[attr-defined]

    # -- reading -----------------------------------------------------------------------------------------
    def get(self, *, job_id: int, user_id: int, admin: bool) -> dict[str, Any]:
        """A job for its actor (or an administrator); anyone else is told it does not exist."""
        with self.db.read() as s:
            row = s.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None or not (admin or row.actor_id == user_id):
                raise NotFound(f"job {job_id} does not exist")
            return job_dict(row)

    def answer(self, *, job_id: int, replayed: bool = False) -> dict[str, Any]:
        """The job's wire form for its creator's request (marked as a replay when it is one)."""
        with self.db.read() as s:
            found = job_dict(s.execute(select(jobs).where(jobs.c.id == job_id)).one())
        if replayed:
            found[REPLAYED] = True
        return found

    def items(
        self, *, job_id: int, user_id: int, admin: bool, outcome: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        self.get(job_id=job_id, user_id=user_id, admin=admin)
        where = [job_items.c.job_id == job_id]
        if outcome is not None:
            where.append(job_items.c.outcome == outcome)
        with self.db.read() as s:
            return keyset_page(
                s,
                select(job_items).where(and_(*where)),
                key=job_items.c.seq,
                ident=job_items.c.seq,
                sort=BY_SEQ,
                limit=limit,
                cursor=cursor,
                item=item_dict,
            )

    def all_items(self, *, job_id: int) -> list[dict[str, Any]]:
        with self.db.read() as s:
            rows = s.execute(
                select(job_items).where(job_items.c.job_id == job_id).order_by(job_items.c.seq)
            ).all()
            return [item_dict(r) for r in rows]
