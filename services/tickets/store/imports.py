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
from services.tickets.domain import EVERYTHING, NewImport, Stage, import_change, import_new
from services.tickets.models import associations, outbox, reads, tickets, timeline
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
        """Import ``items`` in one transaction (none written with ``dry_run``); one result per item.

        Known tickets are changed one by one; new ones are decided one by one and then
        written together (a few statements for the whole batch, not a few per ticket).
        """
        now = self.r.clock.now()
        with self.db.read() if dry_run else self.db.transaction() as s:
            known = self._known(s, source, [i.data["external_id"] for i in items])
            stages: dict[tuple[Any, Any], tuple[Stage | None, Errors]] = {}
            results: dict[int, dict[str, Any]] = {}
            new: list[tuple[ImportItem, NewImport]] = []
            for item in items:
                try:
                    stage = self._stage(s, item, stages)
                    found = self._one(
                        s, item, stage, known, actor_id=actor_id, source=source, now=now, dry_run=dry_run
                    )
                except HelpdeskError as exc:
                    results[item.index] = failed(item.index, item.data["external_id"], exc)
                    continue
                if isinstance(found, NewImport):
                    known[item.data["external_id"]] = None
                    new.append((item, found))
                else:
                    results[item.index] = found
            ids = [None] * len(new) if dry_run else self._create(s, [n for _item, n in new])
            for (item, _n), ticket_id in zip(new, ids, strict=True):
                results[item.index] = _result(item, "created", ticket_id)
        return [results[item.index] for item in items]

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

    def _stage(
        self, s: Session, item: ImportItem, cache: dict[tuple[Any, Any], tuple[Stage | None, Errors]]
    ) -> Stage:
        """The item's stage (resolved once per pipeline and status in a batch); 422 with every problem."""
        key = (item.data.get("pipeline_id"), item.data.get("status"))
        if key not in cache:
            cache[key] = self.pipelines.resolve_stage(s, *key)
        stage, problems = cache[key]
        errors = {**item.invalid, **problems}
        if errors or stage is None:
            raise ValidationFailed(errors=errors)
        return stage

    def _one(
        self,
        s: Session,
        item: ImportItem,
        stage: Stage,
        known: dict[str, Any],
        *,
        actor_id: int,
        source: str,
        now: dt.datetime,
        dry_run: bool,
    ) -> dict[str, Any] | NewImport:
        """A new ticket to create, or the result of bringing a known one in line."""
        data = item.data
        if data["external_id"] not in known:
            return import_new(actor_id=actor_id, source=source, item=data, stage=stage, now=now)
        row = known[data["external_id"]]
        if row is None:
            raise Conflict(f"Ticket ID {data['external_id']} appears twice in this batch")
        if row.deleted_at is not None:
            raise Conflict(f"ticket {row.id}, imported from {data['external_id']}, was deleted")
        if row.merged_into_id is not None:
            return _result(item, "unchanged", row.merged_into_id)
        changes = self._update(s, row, data, stage, actor_id=actor_id, now=now, dry_run=dry_run)
        return _result(item, "updated" if changes else "unchanged", row.id, changes)

    def _create(self, s: Session, news: list[NewImport]) -> list[int]:
        """Insert new tickets with their associations, read marks, timeline entries and events."""
        if not news:
            return []
        rows = [
            {
                **columns_of(n.values),
                "created_by": n.actor_id,
                "created_at": n.created_at,
                "updated_at": n.updated_at,
                "unread_seq": 1,
                "external_source": n.source,
                "external_id": n.external_id,
            }
            for n in news
        ]
        inserted = s.execute(tickets.insert().returning(tickets.c.id, sort_by_parameter_order=True), rows)
        ids = [int(i) for i in inserted.scalars()]
        links = [
            {"ticket_id": i, "kind": kind, "ref_id": ref, "added_by": n.actor_id, "added_at": n.created_at}
            for i, n in zip(ids, news, strict=True)
            for kind, refs in n.associations.items()
            for ref in refs
        ]
        if links:
            s.execute(associations.insert(), links)
        s.execute(
            reads.insert(),
            [{"ticket_id": i, "user_id": n.actor_id, "read_seq": 1} for i, n in zip(ids, news, strict=True)],
        )
        entries = [
            {"ticket_id": i, "type": e.type, "actor_id": n.actor_id, "at": n.created_at}
            for i, n in zip(ids, news, strict=True)
            for e in n.ENTRIES
        ]
        s.execute(timeline.insert(), entries)
        events = [(e.type, e.payload) for i, n in zip(ids, news, strict=True) for e in n.events(i)]
        outbox.record_many(s, events, clock=self.r.clock)
        return ids

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
