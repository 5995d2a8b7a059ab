"""The only module of the retention service that talks to its database: runs and the audit.

An audit row is written *before* its item is purged (state ``purging``: the intent) and
marked ``purged`` after the owner deleted it, so a run killed in between leaves intents
that the next run finishes first. The row's key (kind, item, the moment it was marked)
makes a second intent for the same item impossible: nothing is purged twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update

from services.chassis.clock import SYSTEM_CLOCK, Clock, aware, isoformat
from services.chassis.db import Database, SessionFactory
from services.chassis.errors import Conflict, NotFound
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.retention.domain import Policy
from services.retention.models import audit, runs

LEASE = dt.timedelta(seconds=10)
NEWEST_FIRST = Sort("id", descending=True)
ITEMS_SHOWN = 100


def audit_dict(row: Any) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "id": row.item_id,
        "policy": row.policy,
        "policy_days": row.policy_days,
        "marked_at": isoformat(row.marked_at),
        "due_at": isoformat(row.due_at),
        "purged_at": isoformat(row.purged_at),
        "run_id": row.run_id,
    }


class RetentionStore:
    """Runs (one at a time, leased) and the audit; each public method is one transaction."""

    def __init__(self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock

    # -- runs --------------------------------------------------------------------------------------------
    def start_run(self, *, trigger: str, actor_id: int | None) -> int:
        """A new run, leased to its caller; Conflict while another runs. A run whose runner died
        (its lease ran out) is taken over instead of starting another: its id is returned."""
        now = self.clock.now()
        with self.db.transaction() as s:
            live = s.execute(select(runs).where(runs.c.state == "running").with_for_update()).all()
            for row in live:
                if row.lease_until is not None and aware(row.lease_until) > now:
                    raise Conflict(f"purge run {row.id} is running", run_id=row.id)
            if live:
                s.execute(update(runs).where(runs.c.id == live[0].id).values(lease_until=now + LEASE))
                return int(live[0].id)
            return int(
                s.scalar(
                    runs.insert()
                    .values(
                        trigger=trigger,
                        actor_id=actor_id,
                        state="running",
                        phase="resume",
                        counts=json.dumps({"purged": {}, "housekeeping": {}}),
                        lease_until=now + LEASE,
                        started_at=now,
                    )
                    .returning(runs.c.id)
                )
            )

    def claim_stale(self) -> int | None:
        """A running run whose runner died, now leased to the caller; None when there is none."""
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.execute(
                select(runs.c.id)
                .where(runs.c.state == "running", or_(runs.c.lease_until.is_(None), runs.c.lease_until < now))
                .order_by(runs.c.id)
                .limit(1)
                .with_for_update()
            ).first()
            if row is None:
                return None
            s.execute(update(runs).where(runs.c.id == row.id).values(lease_until=now + LEASE))
            return int(row.id)

    def run_row(self, *, run_id: int) -> Any:
        with self.db.read() as s:
            row = s.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"purge run {run_id} does not exist")
        return row

    def last_started(self) -> dt.datetime | None:
        with self.db.read() as s:
            moment = s.scalar(select(runs.c.started_at).order_by(runs.c.id.desc()).limit(1))
        return aware(moment) if moment is not None else None

    def progress(
        self,
        *,
        run_id: int,
        phase: str | None = None,
        purged: dict[str, int] | None = None,
        housekeeping: dict[str, int] | None = None,
    ) -> None:
        """Record the run's phase and add to its counts; renews its lease."""
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.execute(select(runs).where(runs.c.id == run_id).with_for_update()).one()
            counts = json.loads(row.counts)
            for name, extra in (("purged", purged), ("housekeeping", housekeeping)):
                for key, n in (extra or {}).items():
                    counts[name][key] = counts[name].get(key, 0) + n
            values: dict[str, Any] = {"counts": json.dumps(counts), "lease_until": now + LEASE}
            if phase is not None:
                values["phase"] = phase
            s.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def finish_run(self, *, run_id: int, error: str | None = None) -> None:
        with self.db.transaction() as s:
            s.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    state="done",
                    phase="finished",
                    finished_at=self.clock.now(),
                    lease_until=None,
                    error=error,
                )
            )

    def release(self, *, run_id: int, error: str | None = None) -> None:
        """The runner stops for now (budget spent, or an owner unreachable); the schedule resumes it."""
        with self.db.transaction() as s:
            s.execute(update(runs).where(runs.c.id == run_id).values(lease_until=None, error=error))

    def run_dict(self, *, run_id: int) -> dict[str, Any]:
        row = self.run_row(run_id=run_id)
        counts = json.loads(row.counts)
        with self.db.read() as s:
            items = s.execute(
                select(audit)
                .where(audit.c.run_id == run_id, audit.c.state == "purged")
                .order_by(audit.c.id)
                .limit(ITEMS_SHOWN)
            ).all()
        return {
            "id": row.id,
            "dry_run": False,
            "trigger": row.trigger,
            "state": row.state,
            "phase": row.phase,
            "started_at": isoformat(row.started_at),
            "finished_at": isoformat(row.finished_at),
            "purged": counts["purged"],
            "housekeeping": counts["housekeeping"],
            "error": row.error,
            "items": [audit_dict(r) for r in items],
        }

    # -- the audit ---------------------------------------------------------------------------------------
    def intend(
        self, *, run_id: int, kind: str, policy: Policy, items: Sequence[Mapping[str, Any]]
    ) -> list[int]:
        """Record the intent to purge ``items`` (``{"id", "marked_at"}``); returns the ids whose intent
        stands (new, or left by an earlier run): those that were purged already are not returned."""
        if not items:
            return []
        now = self.clock.now()
        policy_name = "spam" if kind == "spam_thread" else "bin"
        ids = [int(item["id"]) for item in items]
        with self.db.transaction() as s:
            known = {
                (row.item_id, aware(row.marked_at)): row.state
                for row in s.execute(
                    select(audit.c.item_id, audit.c.marked_at, audit.c.state).where(
                        audit.c.kind == kind, audit.c.item_id.in_(ids)
                    )
                )
            }
            standing, new = [], []
            for item in items:
                marked = _moment(item["marked_at"])
                state = known.get((int(item["id"]), marked))
                if state is None:
                    new.append(
                        {
                            "kind": kind,
                            "item_id": int(item["id"]),
                            "policy": policy_name,
                            "policy_days": policy.days(kind),
                            "marked_at": marked,
                            "due_at": policy.due_at(kind, marked),
                            "state": "purging",
                            "run_id": run_id,
                            "started_at": now,
                        }
                    )
                if state in (None, "purging"):
                    standing.append(int(item["id"]))
            if new:
                s.execute(audit.insert(), new)
            return standing

    def purged(self, *, run_id: int, kind: str, ids: Iterable[int]) -> int:
        """The owner deleted these: their intents become the audit record of the purge."""
        ids = list(ids)
        if not ids:
            return 0
        with self.db.transaction() as s:
            done = s.execute(
                update(audit)
                .where(audit.c.kind == kind, audit.c.item_id.in_(ids), audit.c.state == "purging")
                .values(state="purged", purged_at=self.clock.now(), run_id=run_id)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

    def drop_intents(self, *, kind: str, ids: Iterable[int]) -> None:
        """The owner kept these (given back, restored meanwhile): no purge to record."""
        ids = list(ids)
        if ids:
            with self.db.transaction() as s:
                s.execute(
                    audit.delete().where(
                        audit.c.kind == kind, audit.c.item_id.in_(ids), audit.c.state == "purging"
                    )
                )

    def intents(self, *, kind: str, limit: int) -> list[dict[str, Any]]:
        """Intents a run left unfinished (it was killed half-way), oldest first."""
        with self.db.read() as s:
            rows = s.execute(
                select(audit.c.item_id, audit.c.marked_at)
                .where(audit.c.kind == kind, audit.c.state == "purging")
                .order_by(audit.c.id)
                .limit(limit)
            ).all()
        return [{"id": r.item_id, "marked_at": isoformat(r.marked_at)} for r in rows]

    def audit_page(self, *, kind: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        where = [audit.c.state == "purged"]
        if kind is not None:
            where.append(audit.c.kind == kind)
        with self.db.read() as s:
            return keyset_page(
                s,
                select(audit).where(and_(*where)),
                key=audit.c.id,
                ident=audit.c.id,
                sort=NEWEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=audit_dict,
            )


def _moment(value: Any) -> dt.datetime:
    return aware(value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value))


class Store(Database):
    """Dependency giving workers a :class:`RetentionStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        self.store = RetentionStore(self.factory, clock=self.clock)

    def get_dependency(self, worker_ctx: Any) -> RetentionStore:  # type: ignore[override]
        return self.store
