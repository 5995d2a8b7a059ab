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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict, HelpdeskError, ValidationFailed
from services.tickets.domain import EVERYTHING, Change, NewImport, Stage, Ticket, import_change, import_new
from services.tickets.models import associations, outbox, reads, stages, tickets, timeline
from services.tickets.store import queries
from services.tickets.store.base import Errors, Records, columns_of, ticket_of
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
            batch = _Known(known, *self._current(s, [r.id for r in known.values()]))
            resolved: dict[tuple[Any, Any], tuple[Stage | None, Errors]] = {}
            results: dict[int, dict[str, Any]] = {}
            new: list[tuple[ImportItem, NewImport]] = []
            for item in items:
                try:
                    stage = self._stage(s, item, resolved)
                    found = self._one(
                        s, item, stage, batch, actor_id=actor_id, source=source, now=now, dry_run=dry_run
                    )
                except HelpdeskError as exc:
                    results[item.index] = failed(item.index, item.data["external_id"], exc)
                    continue
                if isinstance(found, NewImport):
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

    def _current(
        self, s: Session, ids: list[int]
    ) -> tuple[dict[int, Ticket], dict[int, set[tuple[str, int]]]]:
        """The known tickets (rows locked on PostgreSQL) and their associations, in two queries."""
        if not ids:
            return {}, {}
        rows = s.execute(
            select(*queries.READ_COLUMNS, stages.c.state)
            .join(stages, stages.c.id == tickets.c.stage_id)
            .where(tickets.c.id.in_(ids), queries.live())
            .with_for_update(of=tickets)
        )
        current = {r.id: ticket_of(r) for r in rows}
        linked: dict[int, set[tuple[str, int]]] = {i: set() for i in ids}
        for a in s.execute(
            select(associations.c.ticket_id, associations.c.kind, associations.c.ref_id).where(
                associations.c.ticket_id.in_(ids)
            )
        ):
            linked[a.ticket_id].add((a.kind, a.ref_id))
        return current, linked

    def _one(
        self,
        s: Session,
        item: ImportItem,
        stage: Stage,
        batch: _Known,
        *,
        actor_id: int,
        source: str,
        now: dt.datetime,
        dry_run: bool,
    ) -> dict[str, Any] | NewImport:
        """A new ticket to create, or the result of bringing a known one in line."""
        data = item.data
        external_id = data["external_id"]
        if external_id in batch.seen:
            raise Conflict(f"Ticket ID {external_id} appears twice in this batch")
        batch.seen.add(external_id)
        row = batch.rows.get(external_id)
        if row is None:
            return import_new(actor_id=actor_id, source=source, item=data, stage=stage, now=now)
        if row.deleted_at is not None or row.id not in batch.tickets:
            raise Conflict(f"ticket {row.id}, imported from {external_id}, was deleted")
        if row.merged_into_id is not None:
            return _result(item, "unchanged", row.merged_into_id)
        ticket = batch.tickets[row.id]
        change = import_change(
            ticket, actor_id=actor_id, item=data, stage=stage, created_at=row.created_at, now=now
        )
        changed = [e.field for e in change.entries if e.field]
        added = [
            (kind, ref_id)
            for kind, refs in sorted((data.get("associations") or {}).items())
            for ref_id in sorted(set(refs))
            if (kind, ref_id) not in batch.associations[row.id]
        ]
        if not dry_run:
            self.r.save(s, ticket, change, actor_id, now)
            if added:
                self._associate(s, row.id, added, actor_id=actor_id, now=now)
        changed += [kind for kind, _ref in added]
        return _result(item, "updated" if changed else "unchanged", row.id, sorted(set(changed)))

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

    def _associate(
        self, s: Session, ticket_id: int, added: list[tuple[str, int]], *, actor_id: int, now: dt.datetime
    ) -> None:
        """New associations of a known ticket: one version, an entry and an event for each."""
        ticket = self.r.locked(s, EVERYTHING, ticket_id)
        s.execute(
            associations.insert(),
            [
                {"ticket_id": ticket_id, "kind": kind, "ref_id": ref, "added_by": actor_id, "added_at": now}
                for kind, ref in added
            ],
        )
        changes = [
            ticket.associate(actor_id=actor_id, kind=kind, ref_id=ref, added=True) for kind, ref in added
        ]
        combined = Change(
            {"version": ticket.version + 1},
            tuple(e for c in changes for e in c.entries),
            tuple(e for c in changes for e in c.events),
        )
        self.r.save(s, ticket, combined, actor_id, now)


@dataclass
class _Known:
    """What a batch knows before it starts: rows by external id, their tickets and associations."""

    rows: dict[str, Any]
    tickets: dict[int, Ticket]
    associations: dict[int, set[tuple[str, int]]]
    seen: set[str] = field(default_factory=set)
