"""What every part of the tickets store shares: the session factory, the clock, idempotent
creation, finding a visible ticket, saving what a :class:`~services.tickets.domain.Change`
says, and the wire form of ticket rows."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, null, select, text, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.chassis.clock import Clock
from services.chassis.db import IdList, SessionFactory, among
from services.chassis.errors import Conflict, Moved, NotFound, PreconditionFailed
from services.chassis.idempotency import Idempotency
from services.chassis.prepared import Prepared
from services.tickets import contract
from services.tickets.domain import EVERYTHING, PRIORITY_RANK, Change, Scope, Ticket
from services.tickets.domain.lifecycle import moved
from services.tickets.models import (
    associations,
    followers,
    idempotency,
    outbox,
    reads,
    stages,
    tickets,
    timeline,
)
from services.tickets.store import queries
from services.tickets.store.config import Configuration

ASSOCIATION_KINDS = contract.ASSOCIATION_KINDS

Errors = dict[str, list[str]]

Stamp = Mapping[str, Any]
"""Fields every event of one change carries about how it was made (``domain.event_stamp``)."""

COLUMNS = {
    "name": "name",
    "description": "description",
    "pipeline_id": "pipeline_id",
    "status": "stage_id",
    "priority": "priority",
    "category": "category",
    "owner_id": "owner_id",
    "team_id": "team_id",
    "source": "source",
    "closed_at": "closed_at",
    "created_at": "created_at",
    "version": "version",
    "search_text": "search_text",
}
"""Domain field -> ``tickets`` column, for the values a Change writes."""


_INSERT_TIMELINE = Prepared(timeline.insert())
"""Every change writes its entries with it."""

MessageMatches = Callable[[], Sequence[int]]
"""The tickets whose conversation matches a search's text (the conversations service's answer),
asked for by the store when it needs them: the service asks before the store starts, so the
question and the store's own search of the tickets' text run at the same time (a list's ``q``,
:mod:`lists`; a search's ``query``, :mod:`search`)."""

_RESTAMP_FOLLOWS = Prepared(
    update(followers)
    .where(followers.c.ticket_id == tickets.c.id, among(tickets.c.id, bindparam("ids", type_=IdList())))
    .values(
        listed=queries.listed(),
        ticket_owner_id=tickets.c.owner_id,
        ticket_updated_at=tickets.c.updated_at,
        ticket_created_at=tickets.c.created_at,
        ticket_priority_rank=tickets.c.priority_rank,
        ticket_name_key=queries.SORT_KEYS["name"],
        ticket_stage_id=tickets.c.stage_id,
    ),
    plan_once=True,  # the tickets by primary key, then each one's follows: every save runs it
)


def to_json(value: Any) -> str:
    return json.dumps(value)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def upsert(s: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (both SQLite and PostgreSQL have it)."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def columns_of(values: dict[str, Any]) -> dict[str, Any]:
    """Domain values as ``tickets`` columns (with the priority's sort rank)."""
    found = {COLUMNS[name]: value for name, value in values.items()}
    if "priority" in values:
        found["priority_rank"] = PRIORITY_RANK[values["priority"]]
    return found


def ticket_of(row: Any) -> Ticket:
    """The :class:`Ticket` of a ``tickets`` row joined with its stage's ``state``."""
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


_IDS = bindparam("ids", type_=IdList())
_LINKS_OF = Prepared(
    union_all(
        select(associations.c.ticket_id, associations.c.kind, associations.c.ref_id).where(
            among(associations.c.ticket_id, _IDS)
        ),
        select(tickets.c.merged_into_id, null(), tickets.c.id).where(
            among(tickets.c.merged_into_id, _IDS), tickets.c.merged_into_id.is_not(None)
        ),
    ).order_by(text("1, 2, 3")),
    plan_once=True,
)
"""What every ticket read adds to its rows (:meth:`Records.dicts`), in one statement built once:
``(ticket_id, kind, ref_id)`` for each association, ``(ticket_id, NULL, id)`` for each ticket merged
into it, in that order. The ids are one parameter (:func:`among`): a board's hundred, as an
expanding ``IN``, took SQLAlchemy longer to render than the database to answer. ``IS NOT NULL``
lets SQLite use the partial ``ix_tickets_merged_into``. Planned once: two index lookups by id."""


def absent(s: Session, scope: Scope, ticket_id: int) -> NotFound | Moved:
    """What a caller of ``scope`` is told of ``ticket_id`` when it is not a live ticket of theirs:
    Moved (301 at the gateway) when it was merged into a ticket they may see, else NotFound.

    An absorbed ticket answers for its survivor, whoever owned it before the merge: a caller who
    may see the survivor is sent there, one who may not learns nothing of it (nor that the id was
    merged), as for any ticket they may not see. A survivor in the recycle bin still takes its
    absorbed ids' callers (it answers 404 itself, and again once it is restored)."""
    survivor = s.scalar(select(tickets.c.merged_into_id).where(tickets.c.id == ticket_id, queries.live()))
    if survivor is not None and survivor_visible(s, scope, survivor):
        return moved(ticket_id, survivor)
    return NotFound(f"ticket {ticket_id} does not exist")


def survivor_visible(s: Session, scope: Scope, survivor_id: int) -> bool:
    """Whether ``scope`` may see the survivor of a merge (in the recycle bin or not)."""
    query = select(tickets.c.id).where(tickets.c.id == survivor_id, queries.visible(scope))
    return s.scalar(query) is not None


class Records:
    """The session factory, the clock, the configuration snapshot (:mod:`.config`) and the helpers
    every part of the store uses."""

    def __init__(self, db: SessionFactory, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.idempotency = Idempotency(db, idempotency, clock=clock)
        self.config = Configuration()

    def visible_id(
        self, s: Session, scope: Scope, ticket_id: int, column: Any = tickets.c.id, *, shared: bool = False
    ) -> Any:
        """``column`` of the ticket if it is live and visible, else NotFound (Moved if it was merged away).

        ``shared``: the row stays as found until the transaction ends (``FOR SHARE`` on PostgreSQL;
        SQLite's writers take turns anyway): a delete or merge waits for it, or it for them and
        then finds the ticket gone."""
        query = select(column, tickets.c.merged_into_id).where(
            tickets.c.id == ticket_id, queries.live(), queries.visible(scope)
        )
        found = s.execute(query.with_for_update(read=True, of=tickets) if shared else query).first()
        if found is None or found.merged_into_id is not None:
            raise absent(s, scope, ticket_id)
        return found[0]

    def locked(
        self, s: Session, scope: Scope, ticket_id: int, expected_versions: Iterable[int] | None = None
    ) -> Ticket:
        """The visible ticket, its row locked for this transaction (PostgreSQL), checked against If-Match."""
        row = s.execute(
            select(*queries.READ_COLUMNS, stages.c.state)
            .join(stages, stages.c.id == tickets.c.stage_id)
            .where(tickets.c.id == ticket_id, queries.live(), queries.visible(scope))
            .with_for_update(of=tickets)
        ).first()
        if row is None or row.merged_into_id is not None:
            raise absent(s, scope, ticket_id)
        if expected_versions is not None and row.version not in set(expected_versions):
            raise PreconditionFailed(
                f"ticket {ticket_id} is at version {row.version}; reload it and try again.",
                current_version=row.version,
            )
        return ticket_of(row)

    def save(
        self,
        s: Session,
        ticket: Ticket,
        change: Change,
        actor_id: int,
        now: dt.datetime,
        *,
        stamp: Stamp | None = None,
    ) -> None:
        """Write ``change`` to ``ticket``: its values (compare-and-set on the version), entries, events.

        ``stamp`` (:func:`~services.tickets.domain.event_stamp`) goes into every event."""
        if not change:
            return
        if change.values:
            result = s.execute(
                update(tickets)
                .where(tickets.c.id == ticket.id, tickets.c.version == ticket.version)
                .values(**columns_of(change.values), updated_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"ticket {ticket.id} changed while this request ran; try again.")
            self.restamp_follows(s, [ticket.id])
        self.write_entries(s, ticket.id, change, actor_id, now, stamp=stamp)

    def write_entries(
        self,
        s: Session,
        ticket_id: int,
        change: Change,
        actor_id: int,
        now: dt.datetime,
        *,
        stamp: Stamp | None = None,
    ) -> None:
        """The change's timeline entries and events (no column values), one statement for each kind;
        every event carries ``stamp``."""
        self.write_many(s, [(ticket_id, change)], actor_id, now, stamp=stamp)

    def write_many(
        self,
        s: Session,
        changes: Sequence[tuple[int, Change]],
        actor_id: int,
        now: dt.datetime,
        stamp: Stamp | None = None,
    ) -> None:
        """:meth:`write_entries` of many tickets at once (a bulk job's batch): two statements in all."""
        rows = [
            {
                "ticket_id": ticket_id,
                "type": entry.type,
                "actor_id": actor_id,
                "at": now,
                "field": None,
                "old": None,
                "new": None,
                **{k: to_json(v) if k in ("old", "new") else v for k, v in entry.columns().items()},
            }
            for ticket_id, change in changes
            for entry in change.entries
        ]
        _INSERT_TIMELINE.many(s, rows)
        stamped = stamp or {}
        events = [(e.type, {**e.payload, **stamped}) for _ticket_id, change in changes for e in change.events]
        outbox.record_many(s, events, clock=self.clock)

    def ticket(self, s: Session, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        row = queries.run(s, queries.one_ticket(scope, user_id, ticket_id)).first()
        if row is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return self.dicts(s, [row])[0]

    def new_ticket(
        self, s: Session, user_id: int, ticket_id: int, assoc: Mapping[str, Sequence[int]]
    ) -> dict[str, Any]:
        """The wire form of a ticket this transaction has just inserted with associations ``assoc``:
        one statement instead of :meth:`ticket`'s three (no ticket can have been merged into it yet,
        and its associations are the ones it was inserted with)."""
        row = queries.run(s, queries.one_ticket(EVERYTHING, user_id, ticket_id)).one()
        return self._fresh_ticket(row, assoc)

    def inserted_ticket(self, columns: Any, assoc: Mapping[str, Sequence[int]]) -> dict[str, Any]:
        """The wire form of a ticket from the row its insert returned (all its columns), with no
        statement: its creator has just read it (the insert wrote the read mark), nobody follows a
        ticket inserted a moment ago, and its associations are ``assoc``."""
        return self._fresh_ticket({**columns._mapping, "unread": False, "following": False}, assoc)

    def _fresh_ticket(self, row: Any, assoc: Mapping[str, Sequence[int]]) -> dict[str, Any]:
        """The wire form of a ticket inserted in this transaction: nothing merged into it yet."""
        known = {kind: sorted(set(assoc.get(kind, ()))) for kind in ASSOCIATION_KINDS}
        return queries.ticket_dict(row, known, [], now=self.clock.now())

    def dicts(self, s: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Wire forms of ticket rows, with their associations and merged ids (one statement)."""
        ids = [r.id for r in rows]
        if not ids:
            return []
        assoc: dict[int, dict[str, list[int]]] = {i: {kind: [] for kind in ASSOCIATION_KINDS} for i in ids}
        merged: dict[int, list[int]] = defaultdict(list)
        for ticket_id, kind, ref_id in _LINKS_OF.run(s, {"ids": ids}):
            (merged[ticket_id] if kind is None else assoc[ticket_id][kind]).append(ref_id)
        now = self.clock.now()
        return [queries.ticket_dict(r, assoc[r.id], merged[r.id], now=now) for r in rows]

    def restamp_follows(self, s: Session, ticket_ids: Sequence[int]) -> None:
        """Copy onto every follow row of ``ticket_ids`` what the following view reads there
        instead of the ticket (:mod:`queries`): whether it is listed (:func:`queries.listed`), its
        owner, its stage and its sort keys (:data:`queries.FOLLOW_SORT_KEYS`: its last update,
        creation, priority rank and lower-cased name); in the transaction that changed them, after
        the change.

        Every write that changes one of those calls it: :meth:`save`, a customer's message, delete
        (one ticket or a bulk batch), restore, spam, not spam, a merge (for the survivor, whose
        follows include the absorbed ticket's), a removed stage's move of the tickets in the bin
        or merged away (whose stage moves without a save); a new follow copies them from the ticket it holds
        (:meth:`visible_id` with ``shared``). ``tests/service/test_lifecycle_properties.py``
        checks the copies after every step of its state machine."""
        if ticket_ids:
            _RESTAMP_FOLLOWS.run(s, {"ids": list(ticket_ids)})

    def insert_new(self, s: Session, table: Table, values: dict[str, Any], key: list[str]) -> bool:
        """Insert unless a row with the same ``key`` exists (race-free); True if inserted."""
        statement = upsert(s)(table).values(**values).on_conflict_do_nothing(index_elements=key)
        return bool(s.execute(statement).rowcount)  # type: ignore[attr-defined]

    def set_read(self, s: Session, ticket_id: int, user_id: int, seq: int) -> None:
        statement = upsert(s)(reads).values(ticket_id=ticket_id, user_id=user_id, read_seq=seq)
        s.execute(
            statement.on_conflict_do_update(
                index_elements=[reads.c.ticket_id, reads.c.user_id], set_={"read_seq": seq}
            )
        )
