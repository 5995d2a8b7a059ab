"""SLA policies and the clocks of tickets: stored, recomputed and alarmed.

What a ticket's clocks say is the domain's to decide (:func:`services.tickets.domain.sla.decide`);
this part loads what that needs, saves the summary columns the lists sort and filter on, and
records each new breach as ``sla_breached`` in the outbox, in the same transaction.

* :meth:`Slas.refresh` runs inside the transaction of every change that moves a clock (a new
  ticket, a new priority, pipeline or stage, a message).
* :meth:`Slas.breach_due` is the breach timer: the tickets whose ``sla_alarm_at`` has come,
  found by a partial index (never a scan of open tickets), claimed with ``FOR UPDATE SKIP
  LOCKED`` so several instances never take the same ticket, recomputed and announced in one
  transaction (the claim, the breach record and the event commit together, so none is lost
  or doubled).
* The policies and CLOSED stages every clock is computed with are the configuration snapshot's
  (:mod:`.config`): one statement per transaction while nothing changed. A policy change bumps the
  configuration's version in its transaction, so no instance computes with the old policies after
  it committed.
* A policy change marks every open ticket for recomputation (the one-row ``sla_recompute``
  job, restarted from the first ticket on each change); :meth:`Slas.recompute_step` walks it
  a batch at a time, also claimed under a row lock, so a crash only means the next batch
  starts again where the last commit left it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from services.chassis.clock import isoformat
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.tickets import contract
from services.tickets.domain.sla import (
    Breach,
    Facts,
    Policy,
    SlaChange,
    TicketTimes,
    after_message,
    after_stage,
    choose_policy,
    decide,
    merged_breach,
    policy_problems,
    read_facts,
)
from services.tickets.models import followers, outbox, pipelines, sla_policies, sla_recompute, stages, tickets
from services.tickets.store.base import Errors, Records
from services.tickets.store.config import Context

OLDEST_FIRST = Sort("id", descending=False)
CLOCK_ROWS = select(
    tickets.c.id,
    tickets.c.priority,
    tickets.c.pipeline_id,
    tickets.c.stage_id,
    tickets.c.owner_id,
    tickets.c.created_at,
    tickets.c.first_reply_at,
    tickets.c.closed_at,
    tickets.c.deleted_at,
    tickets.c.merged_into_id,
    tickets.c.sla_data,
)
"""What a ticket's clocks are recomputed from."""
POLICY_FIELDS = (
    "name",
    "priority",
    "pipeline_id",
    "first_reply_minutes",
    "next_reply_minutes",
    "close_minutes",
    "business_hours",
    "pause_stage_ids",
    "due_soon_minutes",
)
SYSTEM_ACTOR = 0
BREACH_BATCH = 200
RECOMPUTE_BATCH = 1000


@dataclass(frozen=True)
class _Opening:
    """The fields of a :data:`CLOCK_ROWS` row that deciding a new ticket's clocks reads."""

    stage_id: int
    created_at: dt.datetime
    closed_at: dt.datetime | None
    sla_data: str | None
    first_reply_at: dt.datetime | None
    priority: str
    pipeline_id: int


def policy_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "priority": row.priority,
        "pipeline_id": row.pipeline_id,
        "first_reply_minutes": row.first_reply_minutes,
        "next_reply_minutes": row.next_reply_minutes,
        "close_minutes": row.close_minutes,
        "business_hours": json.loads(row.business_hours) if row.business_hours else None,
        "pause_stage_ids": json.loads(row.pause_stage_ids),
        "due_soon_minutes": row.due_soon_minutes,
        "version": row.version,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    """Loaded policy fields as ``sla_policies`` columns (JSON where the column is text)."""
    values = {name: data[name] for name in POLICY_FIELDS if name in data}
    if "business_hours" in values:
        hours = values["business_hours"]
        values["business_hours"] = None if hours is None else json.dumps(_plain(hours))
    if "pause_stage_ids" in values:
        values["pause_stage_ids"] = json.dumps(sorted(set(values["pause_stage_ids"])))
    return values


def _plain(hours: dict[str, Any]) -> dict[str, Any]:
    return {**hours, "holidays": sorted(str(day) for day in hours.get("holidays", ()))}


class Slas:
    """SLA policies and ticket clocks; public methods are one transaction each, except
    :meth:`refresh` and :meth:`merged`, which join the caller's."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- policies ----------------------------------------------------------------------------------
    def policies(self, *, limit: int, cursor: str | None) -> dict[str, Any]:
        with self.db.read() as s:
            return keyset_page(
                s,
                select(sla_policies),
                key=sla_policies.c.id,
                ident=sla_policies.c.id,
                sort=OLDEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=policy_dict,
            )

    def policy(self, *, policy_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return policy_dict(self._row(s, policy_id))

    def create_policy(
        self, *, actor_id: int, data: dict[str, Any], key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """A new policy; every open ticket's clocks are recomputed (see :meth:`recompute_step`)."""

        def work(s: Session) -> dict[str, Any]:
            self._check(s, data, None)
            self._policies_change(s)
            now = self.r.clock.now()
            policy_id = s.scalar(
                sla_policies.insert()
                .values(**_columns(data), version=1, created_by=actor_id, created_at=now, updated_at=now)
                .returning(sla_policies.c.id)
            )
            return policy_dict(self._row(s, int(policy_id)))

        return self.r.idempotency.run(key, work)

    def update_policy(self, *, policy_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as s:
            current = policy_dict(self._row(s, policy_id, lock=True))
            merged = {**current, **changes}
            self._check(s, merged, policy_id)
            if changes:
                self._policies_change(s)
                s.execute(
                    update(sla_policies)
                    .where(sla_policies.c.id == policy_id)
                    .values(
                        **_columns(changes),
                        version=sla_policies.c.version + 1,
                        updated_at=self.r.clock.now(),
                    )
                )
            return policy_dict(self._row(s, policy_id))

    def delete_policy(self, *, policy_id: int) -> None:
        with self.db.transaction() as s:
            self._row(s, policy_id, lock=True)
            self._policies_change(s)
            s.execute(sla_policies.delete().where(sla_policies.c.id == policy_id))

    def _row(self, s: Session, policy_id: int, *, lock: bool = False) -> Any:
        query = select(sla_policies).where(sla_policies.c.id == policy_id)
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"SLA policy {policy_id} does not exist")
        return row

    def _check(self, s: Session, data: dict[str, Any], policy_id: int | None) -> None:
        """One goal at least, known pipeline and stages, and no other policy with the same criteria."""
        errors: Errors = dict(policy_problems(data))
        pipeline_id = data.get("pipeline_id")
        if (
            pipeline_id is not None
            and s.scalar(select(pipelines.c.id).where(pipelines.c.id == pipeline_id)) is None
        ):
            errors["pipeline_id"] = [f"unknown pipeline {pipeline_id}"]
        wanted = set(data.get("pause_stage_ids") or ())
        if wanted:
            known = set(s.scalars(select(stages.c.id).where(stages.c.id.in_(sorted(wanted)))))
            if missing := sorted(wanted - known):
                errors["pause_stage_ids"] = [f"unknown stages {missing}"]
        same = select(sla_policies.c.id).where(
            sla_policies.c.priority.is_(None)
            if data.get("priority") is None
            else sla_policies.c.priority == data["priority"],
            sla_policies.c.pipeline_id.is_(None)
            if pipeline_id is None
            else sla_policies.c.pipeline_id == pipeline_id,
        )
        if policy_id is not None:
            same = same.where(sla_policies.c.id != policy_id)
        if (other := s.scalar(same.limit(1))) is not None:
            errors.setdefault("_schema", []).append(
                f"policy {other} already applies to this priority and pipeline"
            )
        if errors:
            raise ValidationFailed(errors=errors)

    def _policies_change(self, s: Session) -> None:
        """``s`` is about to change the policies (call it before the write): the configuration's
        version moves with it (:mod:`.config`) and every open ticket's clocks are to be recomputed."""
        self.r.config.changed(s)
        s.execute(
            update(sla_recompute)
            .where(sla_recompute.c.id == 1)
            .values(generation=sla_recompute.c.generation + 1, next_ticket_id=0)
        )

    # -- clocks ------------------------------------------------------------------------------------
    def context(self, s: Session) -> Context:
        """The policies and CLOSED stages for transaction ``s``: the configuration snapshot's
        (:mod:`.config`; one statement while nothing changed)."""
        return self.r.config.current(s).sla

    def refresh(
        self, s: Session, ticket_id: int, now: dt.datetime, *, message: tuple[str, dt.datetime] | None = None
    ) -> None:
        """Recompute the ticket's clocks in ``s`` (after a change, or a ``(kind, at)`` message)."""
        row = s.execute(CLOCK_ROWS.where(tickets.c.id == ticket_id).with_for_update()).first()
        if row is not None:
            self._save(s, [row], now, self.context(s), message)

    def opening(self, s: Session, *, values: dict[str, Any], now: dt.datetime) -> dict[str, Any] | None:
        """The SLA columns of a ticket about to be inserted with ``values`` (its ``tickets`` columns)
        at ``now``: what :meth:`refresh` right after the insert would write, so the insert carries
        them (two statements fewer per create). None if opening would announce a breach at once
        (then insert without and :meth:`refresh`, which records it)."""
        row = _Opening(
            stage_id=values["stage_id"],
            created_at=now,
            closed_at=values.get("closed_at"),
            sla_data=None,
            first_reply_at=None,
            priority=values["priority"],
            pipeline_id=values["pipeline_id"],
        )
        _policy, change = self._decide(row, now, self.context(s), None)
        return None if change.breaches else dict(change.values)

    def _save(
        self,
        s: Session,
        rows: Sequence[Any],
        now: dt.datetime,
        ctx: Context,
        message: tuple[str, dt.datetime] | None = None,
    ) -> None:
        """Recompute ``rows`` (from :data:`CLOCK_ROWS`, locked) and write them in one statement;
        each new breach goes to the outbox. A deleted or merged-away ticket only loses its alarm."""
        gone = [r.id for r in rows if r.deleted_at is not None or r.merged_into_id is not None]
        if gone:
            s.execute(update(tickets).where(tickets.c.id.in_(gone)).values(sla_alarm_at=None))
        updates = []
        for row in rows:
            if row.id in gone:
                continue
            policy, change = self._decide(row, now, ctx, message)
            updates.append({"ticket": row.id, **change.values})
            if change.breaches and policy is not None:
                self._announce(s, row, policy, change.breaches)
        if updates:
            s.execute(update(tickets).where(tickets.c.id == bindparam("ticket")), updates)

    def _decide(
        self, row: Any, now: dt.datetime, ctx: Context, message: tuple[str, dt.datetime] | None
    ) -> tuple[Policy | None, SlaChange]:
        closed = row.stage_id in ctx.closed_stage_ids
        facts = read_facts(row.sla_data) or Facts.start(
            row.stage_id, row.created_at, row.closed_at if closed else None
        )
        facts = after_stage(facts, row.stage_id, closed=closed, at=now)
        if message is not None:
            kind, at = message
            facts = after_message(facts, kind=kind, at=at, first_reply_at=row.first_reply_at)
        policy = choose_policy(ctx.policies, priority=row.priority, pipeline_id=row.pipeline_id)
        times = TicketTimes(row.created_at, row.first_reply_at, row.closed_at)
        return policy, decide(policy, facts, times, closed_stage_ids=ctx.closed_stage_ids, now=now)

    def _announce(self, s: Session, row: Any, policy: Policy, breaches: Sequence[Breach]) -> None:
        follower_ids = sorted(s.scalars(select(followers.c.user_id).where(followers.c.ticket_id == row.id)))
        for breach in breaches:
            payload = {
                "ticket_id": row.id,
                "actor_id": SYSTEM_ACTOR,
                "goal": breach.goal,
                "policy_id": policy.id,
                "due_at": breach.due_at.isoformat(),
                "owner_id": row.owner_id,
                "follower_ids": follower_ids,
            }
            outbox.record(s, contract.SLA_BREACHED, payload, clock=self.r.clock)

    def breach_due(self, *, limit: int = BREACH_BATCH) -> int:
        """Announce the breaches whose moment has come (the timer); returns how many tickets it took."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            rows = s.execute(
                CLOCK_ROWS.where(tickets.c.sla_alarm_at.is_not(None), tickets.c.sla_alarm_at <= now)
                .order_by(tickets.c.sla_alarm_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                self._save(s, rows, now, self.context(s))
        return len(rows)

    def recompute_step(self, *, limit: int = RECOMPUTE_BATCH) -> int:
        """Recompute the next batch of open tickets after a policy change; returns how many (0: done)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            job = s.execute(
                select(sla_recompute)
                .where(sla_recompute.c.id == 1, sla_recompute.c.next_ticket_id.is_not(None))
                .with_for_update(skip_locked=True)
            ).first()
            if job is None:
                return 0
            rows = s.execute(
                CLOCK_ROWS.where(
                    tickets.c.id > job.next_ticket_id,
                    tickets.c.closed_at.is_(None),
                    tickets.c.deleted_at.is_(None),
                    tickets.c.merged_into_id.is_(None),
                )
                .order_by(tickets.c.id)
                .limit(limit)
                .with_for_update()
            ).all()
            self._save(s, rows, now, self.context(s))
            following = rows[-1].id if len(rows) == limit else None
            s.execute(update(sla_recompute).where(sla_recompute.c.id == 1).values(next_ticket_id=following))
        return len(rows)

    def pending_recompute(self) -> bool:
        with self.db.read() as s:
            return s.scalar(select(sla_recompute.c.next_ticket_id).where(sla_recompute.c.id == 1)) is not None

    def merged(self, s: Session, *, survivor_id: int, absorbed_id: int, now: dt.datetime) -> None:
        """A merge: the survivor keeps the earlier breach of the two, across every later recompute
        (for the merge saga to call in its own transaction, after both rows are written)."""
        absorbed = s.scalar(select(tickets.c.sla_breached_at).where(tickets.c.id == absorbed_id))
        self.refresh(s, absorbed_id, now)
        self.refresh(s, survivor_id, now)
        data = s.scalar(select(tickets.c.sla_data).where(tickets.c.id == survivor_id))
        facts = read_facts(data)
        if facts is None or data is None or absorbed is None:
            return
        stored = json.loads(data)
        stored["facts"] = merged_breach(facts, absorbed_id, absorbed).to_dict()
        s.execute(update(tickets).where(tickets.c.id == survivor_id).values(sla_data=json.dumps(stored)))
        self.refresh(s, survivor_id, now)
