"""Pipelines and their ordered OPEN/CLOSED stages.

Every change here bumps the configuration's version in its transaction (:mod:`.config`), before
its first write; resolving a ticket's stage reads the configuration snapshot."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.tickets import contract
from services.tickets.domain import Stage, check_stage_order, stage_label_problems, stage_position_problem
from services.tickets.models import outbox, pipelines, stages
from services.tickets.store.base import Errors, Records
from services.tickets.store.config import Snapshot, StageEntry


class Pipelines:
    """Reading and configuring pipelines; resolving a ticket's pipeline and stage."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def all(self) -> list[dict[str, Any]]:
        """Every pipeline in order, each with its ordered stages."""
        with self.db.read() as s:
            return self._pipelines(s)

    def pipeline(self, *, pipeline_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return self.one(s, pipeline_id)

    def _pipelines(self, s: Session, only: int | None = None) -> list[dict[str, Any]]:
        query = select(pipelines).order_by(pipelines.c.position, pipelines.c.id)
        stage_query = select(stages).order_by(stages.c.position, stages.c.id)
        if only is not None:
            query = query.where(pipelines.c.id == only)
            stage_query = stage_query.where(stages.c.pipeline_id == only)
        by_pipeline: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in s.execute(stage_query):
            by_pipeline[r.pipeline_id].append({"id": r.id, "label": r.label, "state": r.state})
        return [{"id": p.id, "label": p.label, "stages": by_pipeline[p.id]} for p in s.execute(query)]

    def one(self, s: Session, pipeline_id: int) -> dict[str, Any]:
        """The pipeline with its ordered stages, in ``s``; NotFound if there is none."""
        found = self._pipelines(s, pipeline_id)
        if not found:
            raise NotFound(f"pipeline {pipeline_id} does not exist")
        return found[0]

    def shown(self, s: Session, pipeline_id: int | None) -> dict[str, Any]:
        """The pipeline a board shows, ``pipeline_id`` or else the first not being deleted, with its
        ordered stages (as :meth:`one` reads them), from the configuration snapshot (:mod:`.config`:
        one statement while nothing changed); NotFound if there is none."""
        config = self.r.config.current(s)
        if pipeline_id is None:
            pipeline_id = config.first_pipeline_id
            if pipeline_id is None:
                raise NotFound("no pipeline is configured")
        entry = config.pipelines.get(pipeline_id)
        if entry is None:
            raise NotFound(f"pipeline {pipeline_id} does not exist")
        return entry.wire()

    def create(
        self, *, actor_id: int, data: dict[str, Any], key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Create a pipeline with its stages in the given order (after the existing pipelines)."""

        def work(s: Session) -> dict[str, Any]:
            self.r.config.changed(s)
            position = s.scalar(select(func.coalesce(func.max(pipelines.c.position) + 1, 0)))
            pipeline_id = s.scalar(
                pipelines.insert().values(label=data["label"], position=position).returning(pipelines.c.id)
            )
            for i, stage in enumerate(data["stages"]):
                s.execute(
                    stages.insert().values(
                        pipeline_id=pipeline_id, label=stage["label"], state=stage["state"], position=i
                    )
                )
            outbox.record(
                s,
                contract.PIPELINE_CREATED,
                {"actor_id": actor_id, "pipeline_id": pipeline_id, "label": data["label"]},
                clock=self.r.clock,
            )
            return self.one(s, pipeline_id)

        return self.r.idempotency.run(key, work)

    def rename(self, *, actor_id: int, pipeline_id: int, label: str) -> dict[str, Any]:
        with self.db.transaction() as s:
            self.one(s, pipeline_id)
            self.r.config.changed(s)
            s.execute(update(pipelines).where(pipelines.c.id == pipeline_id).values(label=label))
            return self._pipeline_changed(s, actor_id, pipeline_id)

    def add_stage(
        self, *, actor_id: int, pipeline_id: int, data: dict[str, Any], key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Add a stage at ``position`` (default: last); labels stay distinct within the pipeline."""

        def work(s: Session) -> dict[str, Any]:
            current = self.one(s, pipeline_id)["stages"]
            if problems := stage_label_problems([*(st["label"] for st in current), data["label"]]):
                raise ValidationFailed(errors={"label": problems})
            position = data.get("position", len(current))
            if problem := stage_position_problem(position, len(current)):
                raise ValidationFailed(errors={"position": [problem]})
            self.r.config.changed(s)
            stage_id = s.scalar(
                stages.insert()
                .values(pipeline_id=pipeline_id, label=data["label"], state=data["state"], position=0)
                .returning(stages.c.id)
            )
            order = [st["id"] for st in current]
            order.insert(position, stage_id)
            self._renumber(s, order)
            return self._pipeline_changed(s, actor_id, pipeline_id)

        return self.r.idempotency.run(key, work)

    def rename_stage(self, *, actor_id: int, pipeline_id: int, stage_id: int, label: str) -> dict[str, Any]:
        with self.db.transaction() as s:
            current = self.one(s, pipeline_id)["stages"]
            if stage_id not in {st["id"] for st in current}:
                raise NotFound(f"stage {stage_id} is not a stage of pipeline {pipeline_id}")
            others = [st["label"] for st in current if st["id"] != stage_id]
            if problems := stage_label_problems([*others, label]):
                raise ValidationFailed(errors={"label": problems})
            self.r.config.changed(s)
            s.execute(update(stages).where(stages.c.id == stage_id).values(label=label))
            return self._pipeline_changed(s, actor_id, pipeline_id)

    def reorder_stages(self, *, actor_id: int, pipeline_id: int, stage_ids: list[int]) -> dict[str, Any]:
        with self.db.transaction() as s:
            check_stage_order((st["id"] for st in self.one(s, pipeline_id)["stages"]), stage_ids)
            self.r.config.changed(s)
            self._renumber(s, stage_ids)
            return self._pipeline_changed(s, actor_id, pipeline_id)

    def _renumber(self, s: Session, ordered_ids: Sequence[int]) -> None:
        for position, stage_id in enumerate(ordered_ids):
            s.execute(update(stages).where(stages.c.id == stage_id).values(position=position))

    def _pipeline_changed(self, s: Session, actor_id: int, pipeline_id: int) -> dict[str, Any]:
        result = self.one(s, pipeline_id)
        outbox.record(
            s,
            contract.PIPELINE_UPDATED,
            {"actor_id": actor_id, "pipeline_id": pipeline_id, "label": result["label"]},
            clock=self.r.clock,
        )
        return result

    def resolve_stage(
        self, s: Session, pipeline_id: int | None, stage_id: int | None
    ) -> tuple[Stage | None, Errors]:
        """``(Stage, {})`` with defaults filled in, or ``(None, errors)``, from the configuration
        snapshot (:mod:`.config`: one statement while nothing changed).

        No pipeline: the stage's own, else the first pipeline. No stage: the pipeline's first.
        A stage being deleted takes no ticket.
        """
        return resolve(self.r.config.current(s), pipeline_id, stage_id)


def resolve(config: Snapshot, pipeline_id: int | None, stage_id: int | None) -> tuple[Stage | None, Errors]:
    """:meth:`Pipelines.resolve_stage` in ``config``."""
    if pipeline_id is None and stage_id is not None:
        return _enter(config.stages.get(stage_id), stage_id, f"unknown status {stage_id}")
    if pipeline_id is None:
        pipeline_id = config.first_pipeline_id
        if pipeline_id is None:
            return None, {"pipeline_id": ["no pipeline is configured"]}
    elif pipeline_id not in config.pipelines:
        return None, {"pipeline_id": [f"unknown pipeline {pipeline_id}"]}
    if stage_id is None:
        first = config.first_stages.get(pipeline_id)
        if first is None:
            return None, {"status": [f"status None is not a stage of pipeline {pipeline_id}"]}
        return first, {}
    found = config.stages.get(stage_id)
    if found is not None and found.stage.pipeline_id != pipeline_id:
        found = None
    return _enter(found, stage_id, f"status {stage_id} is not a stage of pipeline {pipeline_id}")


def reopening_stage(config: Snapshot, pipeline_id: int) -> Stage | None:
    """Where a closed ticket of ``pipeline_id`` goes when its customer writes again: the
    pipeline's first open stage that is not being deleted (None when it has none)."""
    pipeline = config.pipelines.get(pipeline_id)
    for stage_id, _label, state in pipeline.stages if pipeline is not None else ():
        entry = config.stages.get(stage_id)
        if state == "OPEN" and entry is not None and not entry.deleting:
            return entry.stage
    return None


def _enter(found: StageEntry | None, stage_id: int, unknown: str) -> tuple[Stage | None, Errors]:
    if found is None:
        return None, {"status": [unknown]}
    if found.deleting:  # its tickets are moving out: none may move in
        return None, {"status": [f"status {stage_id} is being deleted"]}
    return found.stage, {}
