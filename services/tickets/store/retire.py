"""Deleting a stage or a whole pipeline: first its tickets move to a stage the admin names, in a
job (batches, per-ticket results, resumable), then it goes.

From the job's first transaction on, the doomed stages take no new ticket (creating or moving
a ticket into them is refused: that transaction bumps the configuration's version, so every later
transaction's configuration snapshot sees them as being deleted, see :mod:`.config`), so the job's
last step can only find them empty; if a ticket slipped in anyway (a transaction that read the
configuration just before the first one committed) it moves again before anything is deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict, NotFound, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.tickets import contract
from services.tickets.domain import EVERYTHING, Stage, Ticket
from services.tickets.models import jobs, outbox, pipelines, stages, tickets
from services.tickets.store.base import Records
from services.tickets.store.jobs import Job, Jobs

BATCH = 200


class Retire:
    """The stage and pipeline deletion jobs' steps."""

    def __init__(self, records: Records, *, jobs: Jobs) -> None:
        self.r = records
        self.db = records.db
        self.jobs = jobs

    def start(
        self,
        *,
        actor_id: int,
        pipeline_id: int,
        stage_id: int | None,
        move_to: int,
        key: IdempotencyKey | None = None,
    ) -> int:
        """Close the stage (or every stage of the pipeline) to new tickets and start moving its tickets
        to ``move_to``; returns the job id."""
        with self.db.transaction() as s:
            self.r.config.changed(s)  # before locking the pipeline, the order a rename takes the two in
            pipeline = s.execute(
                select(pipelines).where(pipelines.c.id == pipeline_id).with_for_update()
            ).first()
            if pipeline is None:
                raise NotFound(f"pipeline {pipeline_id} does not exist")
            own = list(s.execute(select(stages).where(stages.c.pipeline_id == pipeline_id)).all())
            if stage_id is not None and stage_id not in {st.id for st in own}:
                raise NotFound(f"stage {stage_id} is not a stage of pipeline {pipeline_id}")
            doomed = [st.id for st in own] if stage_id is None else [stage_id]
            target = self._target(s, move_to, doomed)
            _check_what_stays(own, doomed, whole=stage_id is None)
            if pipeline.deleting_job_id is not None or any(
                st.deleting_job_id for st in own if st.id in doomed
            ):
                raise Conflict("this is being deleted already")
            kind = "delete_pipeline" if stage_id is None else "delete_stage"
            data = {
                "pipeline_id": pipeline_id,
                "label": pipeline.label,
                "stage_ids": doomed,
                "move_to": target.id,
                "move_to_pipeline_id": target.pipeline_id,
                "move_to_state": target.state,
            }
            job_id = self.jobs.insert(
                s, kind=kind, actor_id=actor_id, scope=EVERYTHING, data=data, step="move", key=key, total=0
            )
            s.execute(update(stages).where(stages.c.id.in_(doomed)).values(deleting_job_id=job_id))
            if stage_id is None:
                s.execute(
                    update(pipelines).where(pipelines.c.id == pipeline_id).values(deleting_job_id=job_id)
                )
            return job_id

    @staticmethod
    def _target(s: Session, move_to: int, doomed: list[int]) -> Any:
        target = s.execute(select(stages).where(stages.c.id == move_to)).first()
        if target is None:
            raise ValidationFailed(errors={"move_to": [f"unknown stage {move_to}"]})
        if move_to in doomed or target.deleting_job_id is not None:
            raise ValidationFailed(errors={"move_to": [f"stage {move_to} is being deleted"]})
        return target

    def move_batch(self, *, job: Job) -> bool:
        """Move the next tickets out of the doomed stages (live ones through the ticket's rules:
        timeline, events; ones in the bin or absorbed quietly); False when none is left."""
        data = job.data
        target = Stage(data["move_to"], data["move_to_pipeline_id"], data["move_to_state"])
        now = self.r.clock.now()
        with self.db.transaction() as s:
            if not self.jobs.take(s, job.id, "move"):
                return True  # another runner has it: look again
            rows = s.execute(
                select(tickets, stages.c.state)
                .join(stages, stages.c.id == tickets.c.stage_id)
                .where(tickets.c.stage_id.in_(data["stage_ids"]))
                .order_by(tickets.c.id)
                .limit(BATCH)
                .with_for_update(of=tickets)
            ).all()
            if not rows:
                return False
            quiet = []
            for row in rows:
                if row.deleted_at is None and row.merged_into_id is None:
                    ticket = _ticket(row)
                    change = ticket.change(
                        actor_id=job.actor_id,
                        requested={"pipeline_id": target.pipeline_id, "status": target.id},
                        stage=target,
                        now=now,
                    )
                    self.r.save(s, ticket, change, job.actor_id, now)
                else:
                    s.execute(
                        update(tickets)
                        .where(tickets.c.id == row.id)
                        .values(pipeline_id=target.pipeline_id, stage_id=target.id)
                    )
                    quiet.append(row.id)
            self.r.restamp_follows(s, quiet)  # their follow rows' copy of the stage
            self.jobs.add_items(s, job.id, [(row.id, "done", None) for row in rows])
            s.execute(_grow(job.id, len(rows)))
            self.jobs.set_step(s, job.id, "move", done=len(rows))
            return True

    def remove(self, *, job: Job) -> None:
        """Delete the emptied stages (and the pipeline); back to moving if a ticket is still there."""
        data = job.data
        with self.db.transaction() as s:
            if not self.jobs.take(s, job.id, "remove"):
                return
            left = s.scalar(select(func.count()).where(tickets.c.stage_id.in_(data["stage_ids"])))
            if left:
                self.jobs.set_step(s, job.id, "move")
                return
            self.r.config.changed(s)
            s.execute(delete(stages).where(stages.c.id.in_(data["stage_ids"])))
            payload = {"actor_id": job.actor_id, "pipeline_id": data["pipeline_id"], "label": data["label"]}
            if job.kind == "delete_pipeline":
                s.execute(delete(pipelines).where(pipelines.c.id == data["pipeline_id"]))
                outbox.record(s, contract.PIPELINE_DELETED, payload, clock=self.r.clock)
            else:
                outbox.record(s, contract.PIPELINE_UPDATED, payload, clock=self.r.clock)
            self.jobs.finish(s, job.id, {"pipeline_id": data["pipeline_id"], "stage_ids": data["stage_ids"]})


def _grow(job_id: int, count: int) -> Any:
    return update(jobs).where(jobs.c.id == job_id).values(total=jobs.c.total + count)


def _check_what_stays(own: list[Any], doomed: list[int], *, whole: bool) -> None:
    """A pipeline that stays keeps an OPEN stage to start tickets in."""
    if whole:
        return
    staying = [st for st in own if st.id not in doomed]
    if not any(st.state == "OPEN" for st in staying):
        why = "a pipeline keeps at least one OPEN stage"
        raise ValidationFailed(why, errors={"stage_id": [why]})


def _ticket(row: Any) -> Ticket:
    return Ticket(
        id=row.id,
        name=row.name,
        description=row.description,
        pipeline_id=row.pipeline_id,
        status=row.stage_id,
        state=row.state,
        priority=row.priority,
        category=row.category,
        owner_id=row.owner_id,
        team_id=row.team_id,
        source=row.source,
        closed_at=row.closed_at,
        version=row.version,
    )
