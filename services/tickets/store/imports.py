"""Imports from another help desk: create a ticket per new external id, bring known ones in line.

One batch is one transaction. Items arrive validated (the service loads each on its own, so
a bad row fails alone); the store resolves each item's pipeline and stage, matches its
``external_id`` within the ``source`` (unique there, so a rerun finds what the first run
made), and creates or changes the ticket through the domain's rules with the same timeline
entries and outbox events as any other write. With ``dry_run`` the same decisions are taken
and reported, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict, HelpdeskError, ValidationFailed
from services.tickets.domain import EVERYTHING, Change, NewImport, Stage, import_change, import_new
from services.tickets.models import associations, reads, tickets
from services.tickets.store.base import Errors, Records, columns_of
from services.tickets.store.pipelines import Pipelines


@dataclass(frozen=True)
class ImportItem:
    """A loaded import item and where it was in the batch; ``invalid`` holds problems found before."""

    index: int
    data: Mapping[str, Any]
    invalid: Errors


def _result(
    item: ImportItem, outcome: str, ticket_id: int | None, changes: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "index": item.index,
        "external_id": item.data["external_id"],
        "outcome": outcome,
        "id": ticket_id,
        "changes": list(changes),
    }


def failed(index: int, external_id: Any, error: HelpdeskError) -> dict[str, Any]:
    """The result of an item that could not be imported."""
    shown = external_id if isinstance(external_id, str) else None
    return {
        "index": index,
        "external_id": shown,
        "outcome": "failed",
        "id": None,
        "changes": [],
        "error": error.to_dict(),
    }


class Imports:
    """Batches of imported tickets, keyed by ``(source, external_id)``."""

    def __init__(self, records: Records, *, pipelines: Pipelines) -> None:
        self.r = records
        self.db = records.db
        self.pipelines = pipelines

    def run(
        self, *, actor_id: int, source: str, items: Sequence[ImportItem], dry_run: bool
    ) -> list[dict[str, Any]]:
        """Import ``items`` in one transaction (none written with ``dry_run``); one result per item."""
        now = self.r.clock.now()
        with self.db.read() if dry_run else self.db.transaction() as s:
            known = self._known(s, source, [i.data["external_id"] for i in items])
            results = []
            for item in items:
                try:
                    results.append(
                        self._one(s, item, known, actor_id=actor_id, source=source, now=now, dry_run=dry_run)
                    )
                except HelpdeskError as exc:
                    results.append(failed(item.index, item.data["external_id"], exc))
        return results

    def _known(self, s: Session, source: str, external_ids: list[str]) -> dict[str, Any]:
        rows = s.execute(
            select(
                tickets.c.id,
                tickets.c.external_id,
                tickets.c.created_at,
                tickets.c.deleted_at,
                tickets.c.merged_into_id,
            ).where(tickets.c.external_source == source, tickets.c.external_id.in_(set(external_ids)))
        )
        return {r.external_id: r for r in rows}

    def _one(
        self,
        s: Session,
        item: ImportItem,
        known: dict[str, Any],
        *,
        actor_id: int,
        source: str,
        now: dt.datetime,
        dry_run: bool,
    ) -> dict[str, Any]:
        data = item.data
        stage, problems = self.pipelines.resolve_stage(s, data.get("pipeline_id"), data.get("status"))
        errors = {**item.invalid, **problems}
        if errors or stage is None:
            raise ValidationFailed(errors=errors)
        row = known.get(data["external_id"])
        if row is None:
            new = import_new(actor_id=actor_id, source=source, item=data, stage=stage, now=now)
            ticket_id = None if dry_run else self._create(s, new)
            if ticket_id is not None:
                known[data["external_id"]] = _Known(ticket_id, new.created_at)
            return _result(item, "created", ticket_id)
        if getattr(row, "deleted_at", None) is not None:
            raise Conflict(f"ticket {row.id}, imported from {data['external_id']}, was deleted")
        if getattr(row, "merged_into_id", None) is not None:
            return _result(item, "unchanged", row.merged_into_id)
        changes = self._update(s, row, data, stage, actor_id=actor_id, now=now, dry_run=dry_run)
        return _result(item, "updated" if changes else "unchanged", row.id, changes)

    def _create(self, s: Session, new: NewImport) -> int:
        ticket_id = int(
            s.scalar(
                tickets.insert()
                .values(
                    **columns_of(new.values),
                    created_by=new.actor_id,
                    created_at=new.created_at,
                    updated_at=new.updated_at,
                    unread_seq=1,
                    external_source=new.source,
                    external_id=new.external_id,
                )
                .returning(tickets.c.id)
            )
        )
        for kind, ref_ids in new.associations.items():
            for ref_id in ref_ids:
                s.execute(
                    associations.insert().values(
                        ticket_id=ticket_id,
                        kind=kind,
                        ref_id=ref_id,
                        added_by=new.actor_id,
                        added_at=new.created_at,
                    )
                )
        s.execute(reads.insert().values(ticket_id=ticket_id, user_id=new.actor_id, read_seq=1))
        opened = Change(entries=new.ENTRIES, events=tuple(new.events(ticket_id)))
        self.r.write_entries(s, ticket_id, opened, new.actor_id, new.created_at)
        return ticket_id

    def _update(
        self,
        s: Session,
        row: Any,
        data: Mapping[str, Any],
        stage: Stage,
        *,
        actor_id: int,
        now: dt.datetime,
        dry_run: bool,
    ) -> list[str]:
        """Bring the ticket in line with ``data``; the names of what changed (or would)."""
        ticket = self.r.locked(s, EVERYTHING, row.id)
        change = import_change(
            ticket, actor_id=actor_id, item=data, stage=stage, created_at=row.created_at, now=now
        )
        changed = [e.field for e in change.entries if e.field]
        if not dry_run:
            self.r.save(s, ticket, change, actor_id, now)
        present = {
            (a.kind, a.ref_id)
            for a in s.execute(
                select(associations.c.kind, associations.c.ref_id).where(associations.c.ticket_id == row.id)
            )
        }
        wanted = data.get("associations") or {}
        for kind in sorted(wanted):
            for ref_id in sorted(set(wanted[kind])):
                if (kind, ref_id) in present:
                    continue
                changed.append(kind)
                if not dry_run:
                    self._associate(s, row.id, kind, ref_id, actor_id=actor_id, now=now)
        return sorted(set(changed))

    def _associate(
        self, s: Session, ticket_id: int, kind: str, ref_id: int, *, actor_id: int, now: dt.datetime
    ) -> None:
        ticket = self.r.locked(s, EVERYTHING, ticket_id)
        values = {
            "ticket_id": ticket_id,
            "kind": kind,
            "ref_id": ref_id,
            "added_by": actor_id,
            "added_at": now,
        }
        s.execute(associations.insert().values(**values))
        self.r.save(
            s,
            ticket,
            ticket.associate(actor_id=actor_id, kind=kind, ref_id=ref_id, added=True),
            actor_id,
            now,
        )


@dataclass(frozen=True)
class _Known:
    """A ticket this batch has just created (for a second item with the same external id)."""

    id: int
    created_at: dt.datetime
    deleted_at: None = None
    merged_into_id: None = None
