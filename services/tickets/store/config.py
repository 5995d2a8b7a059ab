"""The configuration every create and every board reads — pipelines, their stages, SLA policies —
kept per process as one immutable snapshot, read again only when it changed.

Every transaction that changes a pipeline, a stage (adding, renaming, reordering, marking it as
being deleted, deleting it) or an SLA policy calls :meth:`Configuration.changed` before its first
such write: it bumps the one row of ``config_version`` in that same transaction, so the new version
commits (or rolls back) together with the change. :meth:`Configuration.current` reads that version,
one primary-key statement, and answers with the snapshot this process keeps if it was taken at that
version; otherwise it reads the configuration again (pipelines with their stages, the policies, the
version once more) and keeps the new snapshot.

What the snapshot promises:

* It is the configuration as committed when the transaction's version read ran: what direct reads
  at that moment would have returned, never older. A change committed by any instance or worker is
  seen by every transaction whose version read starts after that commit (READ COMMITTED reads the
  latest committed version; SQLite's reader sees every earlier commit).
* It takes no lock, like the direct reads it replaces: a stage that another transaction marks as
  being deleted after this version read can still receive this transaction's ticket. Deleting a
  stage copes with that as it always has: its job's last step finds such a ticket and moves it
  again before the stage goes (:mod:`.retire`). A transaction whose version read comes after the
  stage was marked never resolves to it.
* A snapshot is one committed configuration: after its statements the version is read again, and
  if a change committed meanwhile (on PostgreSQL each statement sees the latest commit, so they
  could have seen half of it) the configuration is read again, up to :data:`READS` times; only a
  snapshot whose version did not move is kept. A transaction that changed the configuration itself
  reads it afresh and never keeps it (its rows are uncommitted and may roll back).
* One transaction reads it once (kept in the session's ``info``): the stage a create resolves and
  the SLA policies its clocks use come from the same configuration.

Snapshots are frozen dataclasses over tuples, frozensets and read-only mappings, replaced whole, so
the greenlets of a process share them safely.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.chassis.prepared import Prepared
from services.tickets import contract
from services.tickets.domain import Stage
from services.tickets.domain.sla import Policy, schedule_from
from services.tickets.models import config_version, pipelines, sla_policies, stages

_VERSION = Prepared(select(config_version.c.version).where(config_version.c.id == 1))
"""Read by every write transaction that uses the configuration."""
_STAGES = (  # every pipeline with its stages, in one statement: the two as one committed state
    select(
        pipelines.c.id.label("pipeline_id"),
        pipelines.c.label.label("pipeline_label"),
        pipelines.c.deleting_job_id.label("pipeline_deleting_job_id"),
        stages.c.id,
        stages.c.label,
        stages.c.state,
        stages.c.deleting_job_id,
    )
    .select_from(pipelines.outerjoin(stages, stages.c.pipeline_id == pipelines.c.id))
    .order_by(pipelines.c.position, pipelines.c.id, stages.c.position, stages.c.id)
)
_BUMP = update(config_version).where(config_version.c.id == 1).values(version=config_version.c.version + 1)
_POLICIES = select(sla_policies).order_by(sla_policies.c.id)
READS = 3  # attempts at reading one committed configuration while changes keep committing
_IN_SESSION = "tickets.config"  # the snapshot this transaction reads
_CHANGED = "tickets.config.changed"  # this transaction changes the configuration


@dataclass(frozen=True)
class Context:
    """What every clock of one transaction is computed with: the policies and the CLOSED stages."""

    policies: tuple[Policy, ...]
    closed_stage_ids: frozenset[int]


@dataclass(frozen=True)
class StageEntry:
    """A stage as resolving a ticket's stage needs it."""

    stage: Stage
    deleting: bool  # a job is moving its tickets away: no ticket may enter it


@dataclass(frozen=True)
class PipelineEntry:
    """A pipeline as a board shows it: its label and every stage (being deleted or not) in order,
    each as ``(id, label, state)``."""

    id: int
    label: str
    stages: tuple[tuple[int, str, str], ...]

    def wire(self) -> dict[str, Any]:
        """The pipeline's wire form (``contract.PipelineSchema``), new dicts each call."""
        stage_forms = [{"id": i, "label": label, "state": state} for i, label, state in self.stages]
        return {"id": self.id, "label": self.label, "stages": stage_forms}


@dataclass(frozen=True)
class Snapshot:
    """The pipelines, stages and SLA policies of one configuration ``version`` (None: not kept)."""

    version: int | None
    first_pipeline_id: int | None
    """Where tickets go by default: the first pipeline not being deleted."""
    stages: Mapping[int, StageEntry]
    """Every stage by id."""
    first_stages: Mapping[int, Stage]
    """By pipeline: its first stage not being deleted (pipelines without one are absent)."""
    pipelines: Mapping[int, PipelineEntry]
    """Every pipeline by id, being deleted or not, with its labels."""
    sla: Context


def policy_of(row: Any) -> Policy:
    """The domain's view of a ``sla_policies`` row."""
    targets = {
        goal: minutes * 60
        for goal in contract.SLA_GOALS
        if (minutes := getattr(row, f"{goal}_minutes")) is not None
    }
    return Policy(
        id=row.id,
        version=row.version,
        targets=targets,
        priority=row.priority,
        pipeline_id=row.pipeline_id,
        schedule=schedule_from(json.loads(row.business_hours) if row.business_hours else None),
        pause_stage_ids=frozenset(json.loads(row.pause_stage_ids)),
        due_soon_seconds=row.due_soon_minutes * 60,
    )


def read(s: Session, version: int | None) -> Snapshot:
    """The configuration as ``s`` reads it now (two statements), labelled ``version``."""
    first_pipeline_id = None
    entries: dict[int, StageEntry] = {}
    first_stages: dict[int, Stage] = {}
    labels: dict[int, str] = {}
    stage_forms: dict[int, list[tuple[int, str, str]]] = {}
    for row in s.execute(_STAGES):
        if row.pipeline_id not in labels:  # the pipeline's first row
            labels[row.pipeline_id] = row.pipeline_label
            stage_forms[row.pipeline_id] = []
            if first_pipeline_id is None and row.pipeline_deleting_job_id is None:
                first_pipeline_id = row.pipeline_id
        if row.id is None:  # a pipeline without stages
            continue
        stage_forms[row.pipeline_id].append((row.id, row.label, row.state))
        stage = Stage(row.id, row.pipeline_id, row.state)
        deleting = row.deleting_job_id is not None
        entries[row.id] = StageEntry(stage, deleting)
        if not deleting:
            first_stages.setdefault(row.pipeline_id, stage)
    policies = tuple(policy_of(row) for row in s.execute(_POLICIES))
    closed = frozenset(entry.stage.id for entry in entries.values() if entry.stage.state == "CLOSED")
    return Snapshot(
        version=version,
        first_pipeline_id=first_pipeline_id,
        stages=MappingProxyType(entries),
        first_stages=MappingProxyType(first_stages),
        pipelines=MappingProxyType(
            {i: PipelineEntry(i, label, tuple(stage_forms[i])) for i, label in labels.items()}
        ),
        sla=Context(policies, closed),
    )


class Configuration:
    """This process's snapshot of the configuration, for the parts of one store to share."""

    def __init__(self) -> None:
        self._kept: Snapshot | None = None

    def current(self, s: Session) -> Snapshot:
        """The configuration for transaction ``s``: the kept snapshot while the version is the one it
        was read at (one statement), else read again (four statements) and kept."""
        found: Snapshot | None = s.info.get(_IN_SESSION)
        if found is None:
            found = read(s, None) if s.info.get(_CHANGED) else self._committed(s)
            s.info[_IN_SESSION] = found
        return found

    def _committed(self, s: Session) -> Snapshot:
        version = _VERSION.run(s).scalar()
        kept = self._kept
        if kept is not None and version is not None and kept.version == version:
            return kept
        for _ in range(READS):
            found = read(s, version)
            again = _VERSION.run(s).scalar()
            if again == version:  # no change committed meanwhile: one configuration, version's
                if version is not None:
                    self._kept = found
                return found
            version = again  # PostgreSQL: a change committed while it was read; read it whole
        return found  # changes kept coming: the last read, as direct reads would have it, not kept

    @staticmethod
    def changed(s: Session) -> None:
        """Transaction ``s`` is about to change pipelines, stages or SLA policies: bump the version
        with it. Call it before the first such write, so that nothing this transaction reads from
        then on can be kept as a committed configuration."""
        s.execute(_BUMP)
        s.info[_CHANGED] = True
        s.info.pop(_IN_SESSION, None)
