"""The in-app feed: a person's notifications, newest first, and what they have read.

A person's unread count (their notifications shown in the feed and not read yet) is kept, not
counted: ``feed_unread`` holds it, and every transaction that adds, grows, marks read or deletes
one of those notifications changes it in the same transaction by exactly what it changed. Reading
it is one primary-key lookup, so announcing it with every delivery costs the same whether the
person has ten notifications or a million (a super admin hears of every new ticket).

The counts stay exact with several workers and instances on PostgreSQL (READ COMMITTED) by one
ordering rule: **a transaction holds the counter rows of the people whose notifications it may
change** (:meth:`Feed.hold_in`, in user id order) **before it touches any of those notifications.**
Hence :meth:`Feed.mark_all_read`, which sets the count to 0, cannot lose a delivery: one that held
the row first has committed by the time mark-all-read holds it, so its notifications are seen and
marked by mark-all-read's UPDATE; one that comes later waits, and adds to the 0. And no two
transactions wait for a counter row and a notification in opposite orders, so they do not deadlock.
Every other change is relative (``unread = unread + n``) and counts only what its own statement
changed (an UPDATE's rowcount with ``read = false`` in its WHERE, a DELETE's RETURNING).
SQLite has one writer at a time, so there the same code is exact trivially.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, true, update
from sqlalchemy.orm import Session

from services.chassis.db import guard
from services.chassis.errors import NotFound
from services.chassis.events import already_processed, mark_processed
from services.chassis.keyset import list_scope
from services.chassis.paging import Sort
from services.notifications import contract
from services.notifications.domain import Notice, title
from services.notifications.models import feed, feed_unread, merges, outbox, processed_events
from services.notifications.store.base import Records, item_dict, ticket_ids_of, upsert

NEWEST_FIRST = Sort("id", descending=True)
FEED_LIST = list_scope(feed.c.id)
"""The list the feed's cursors name (:mod:`services.chassis.paging`): its table, as
:func:`~services.chassis.keyset.keyset_page` names every list's."""
ADDED = "added"
GROWN = "grown"
UNREAD_STATE = (feed.c.user_id, feed.c.read, feed.c.in_app)
"""What a deleted notification's RETURNING says about the count it leaves."""


def _lost(deleted: Iterable[Any]) -> dict[int, int]:
    """Each person's change of count for the deleted ``UNREAD_STATE`` rows: minus their unread ones."""
    lost: Counter[int] = Counter()
    for user_id, read, in_app in deleted:
        if in_app and not read:
            lost[int(user_id)] -= 1
    return lost


# Every delivery runs these; built once (building a statement costs more than running it).
_UNREAD_OF = select(feed_unread.c.user_id, feed_unread.c.unread).where(
    feed_unread.c.user_id.in_(bindparam("user_ids", expanding=True))
)
_INSERT_ITEMS = feed.insert().returning(*feed.c)
"""New notifications in one statement on every database. Not ``sort_by_parameter_order``: SQLite
has no sentinel for it and SQLAlchemy would send one INSERT per row; :func:`_as_written` puts the
rows back in order instead."""
_WRITTEN = (
    "user_id",
    "type",
    "ticket_id",
    "ticket_ids",
    "title",
    "actor_id",
    "group_key",
    "event_id",
    "in_app",
)
"""The columns in which one call's new notifications can differ (the rest are the same for all)."""


def _as_written(rows: Sequence[Any], values: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The rows an INSERT ... RETURNING of ``values`` answered (in any order), in ``values``' order;
    rows written with the same values are interchangeable, told apart only by their ids."""
    found: dict[tuple[Any, ...], list[Any]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        found.setdefault(tuple(getattr(row, c) for c in _WRITTEN), []).append(row)
    return [found[tuple(v[c] for c in _WRITTEN)].pop(0) for v in values]


CENSUS = (feed.c.id, feed.c.read, feed.c.ticket_id, feed.c.ticket_ids)
"""What counting a notification needs of it: which tickets it names, and whether it was read."""
_UNREAD = select(feed_unread.c.unread).where(feed_unread.c.user_id == bindparam("user_id"))
_SURVIVORS = select(merges.c.ticket_id, merges.c.merged_into_id).where(
    merges.c.ticket_id.in_(bindparam("ticket_ids", expanding=True))
)


@functools.cache
def _count_statement(dialect_insert: Any) -> Any:
    """``unread = unread + :unread`` for each ``{user_id, unread}`` row, making missing rows."""
    insert = dialect_insert(feed_unread)
    return insert.on_conflict_do_update(
        index_elements=[feed_unread.c.user_id],
        set_={"unread": feed_unread.c.unread + insert.excluded.unread},
    )


class Feed:
    """Notifications as people see them; each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- reading -------------------------------------------------------------------------------------
    def unread(self, *, user_id: int) -> int:
        with self.db.read() as s:
            return self.unread_in(s, user_id)

    def newest(
        self, *, user_id: int, limit: int, before: int | None = None, unread_only: bool = False
    ) -> list[Any]:
        """Up to ``limit`` of the person's notifications shown in the feed, newest first (the feed's
        order: by id), those older than the notification ``before`` when given."""
        with self.db.read() as s:
            return self._newest_in(s, user_id, limit, before=before, unread_only=unread_only)

    def item(self, *, user_id: int, item_id: int) -> Any | None:
        """One of the person's notifications shown in the feed; None for anyone else's or none."""
        with self.db.read() as s:
            return s.execute(
                select(feed).where(feed.c.id == item_id, feed.c.user_id == user_id, feed.c.in_app == true())
            ).first()

    def census(self, *, user_id: int, most: int, unread_only: bool = False) -> tuple[list[Any], list[Any]]:
        """What the person's counts are taken from, in one read: their newest ``most`` notifications
        shown in the feed (only the unread ones with ``unread_only``) and their newest ``most``
        unread ones, as :data:`CENSUS` rows. The unread ones cost no second statement when the
        kept count says there are none, or the first list already holds all of them (the usual
        case)."""
        with self.db.read() as s:
            kept = self.unread_in(s, user_id)
            if unread_only:
                unread = self._newest_in(s, user_id, most, unread_only=True, columns=CENSUS) if kept else []
                return unread, unread
            rows = self._newest_in(s, user_id, most, columns=CENSUS)
            among = [row for row in rows if not row.read]
            if len(among) < kept and len(rows) == most:
                among = self._newest_in(s, user_id, most, unread_only=True, columns=CENSUS)
            return rows, among

    @staticmethod
    def _newest_in(
        s: Session,
        user_id: int,
        limit: int,
        *,
        before: int | None = None,
        unread_only: bool = False,
        columns: Sequence[Any] = tuple(feed.c),
    ) -> list[Any]:
        query = select(*columns).where(feed.c.user_id == user_id, feed.c.in_app == true())
        if unread_only:
            query = query.where(feed.c.read.is_(False))
        if before is not None:
            query = query.where(feed.c.id < before)
        return list(s.execute(query.order_by(feed.c.id.desc()).limit(limit)).all())

    @staticmethod
    def unread_of_in(s: Session, user_ids: Sequence[int]) -> dict[int, int]:
        """Each person's unread count (kept, see the module docstring), in one query by primary
        key; someone never notified has no row, and so 0."""
        if not user_ids:
            return {}
        rows = s.execute(_UNREAD_OF, {"user_ids": sorted(set(user_ids))})
        return {int(user_id): max(0, int(n)) for user_id, n in rows}

    @staticmethod
    def unread_in(s: Session, user_id: int) -> int:
        """The person's unread count (kept, see the module docstring): one primary-key lookup."""
        n = s.scalar(_UNREAD, {"user_id": user_id})
        return max(0, int(n or 0))

    # -- the kept counts (see the module docstring) ---------------------------------------------------
    @staticmethod
    def _count(s: Session, changes: Mapping[int, int]) -> None:
        """Add each person's change to their count (``unread = unread + n``, so concurrent changes
        add up), making the rows that are missing, in one statement and in user id order; each row
        stays locked until the transaction ends. A change of 0 only locks the row: that is how a
        transaction holds it before touching the person's notifications (:meth:`hold_in`)."""
        rows = [{"user_id": user_id, "unread": n} for user_id, n in sorted(changes.items())]
        if rows:
            s.execute(_count_statement(upsert(s)), rows)

    def hold_in(self, s: Session, user_ids: Iterable[int]) -> None:
        """Lock the people's counter rows (see the module docstring's rule), changing nothing: a
        transaction touching several people's notifications holds them all first, in one order."""
        self._count(s, dict.fromkeys(user_ids, 0))

    # -- read state ----------------------------------------------------------------------------------
    def mark_read(self, *, user_id: int, item_id: int, unread: int | None = None) -> dict[str, Any]:
        """Mark one of the person's notifications read (NotFound for anyone else's). The count
        goes down by one only when this transaction's UPDATE is the one that found it unread, so
        two marks of the same notification at once take one off between them. The
        ``notifications_read`` event tells live clients ``unread`` when given (the count of what
        the person may see, as the service's reader found it), else the kept count."""
        with self.db.transaction() as s:
            row = s.execute(
                select(feed).where(feed.c.id == item_id, feed.c.user_id == user_id, feed.c.in_app == true())
            ).first()
            if row is None:
                raise NotFound(f"notification {item_id} does not exist")
            self.hold_in(s, [user_id])
            flipped = s.execute(
                update(feed).where(feed.c.id == item_id, feed.c.read.is_(False)).values(read=True)
            ).rowcount  # type: ignore[attr-defined]
            if flipped:
                self._count(s, {user_id: -1})
                self._announce_read(s, user_id, [item_id], unread)
            return {**item_dict(row), "read": True}

    def mark_all_read(self, *, user_id: int) -> dict[str, Any]:
        """Mark every notification of the person read and set their count to 0; answers how many
        it marked. The counter row is held *before* the UPDATE (the module docstring's rule): a
        delivery that counted a notification before that has committed, so the UPDATE sees and
        marks it; one that counts after waits for this commit and adds to the 0. Holding it after
        the UPDATE would let a delivery's uncommitted notification escape the UPDATE while its
        count was then wiped."""
        with self.db.transaction() as s:
            self.hold_in(s, [user_id])
            marked = s.execute(
                update(feed).where(feed.c.user_id == user_id, feed.c.read.is_(False)).values(read=True)
            ).rowcount  # type: ignore[attr-defined]
            s.execute(update(feed_unread).where(feed_unread.c.user_id == user_id).values(unread=0))
            if marked:
                self._announce_read(s, user_id, None)
        return {"unread": 0, "marked": int(marked or 0)}

    def _announce_read(
        self, s: Session, user_id: int, ids: list[int] | None, unread: int | None = None
    ) -> None:
        told = self.unread_in(s, user_id) if unread is None else max(0, unread)
        payload = {"user_id": user_id, "ids": ids, "unread": told}
        outbox.record(s, contract.NOTIFICATIONS_READ, payload, clock=self.r.clock)

    # -- tickets merged away or purged ------------------------------------------------------------------
    def retarget(self, *, event_id: str, handler: str, from_ticket_ids: list[int], to_ticket_id: int) -> bool:
        """Notifications about ``from_ticket_ids`` now name ``to_ticket_id`` (a bulk change's list
        too, without naming it twice), or the ticket it was merged into in turn; the merge is
        remembered, so a notification delivered later about a merged-away ticket names the survivor
        too (see :meth:`add_in`). False if the event was seen before."""
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            guard(s, merges, exclusive=True)
            survivor = self._survivors_in(s, {to_ticket_id}).get(to_ticket_id, to_ticket_id)
            gone = set(from_ticket_ids) - {survivor}
            self._remember(s, gone, survivor)

            def moved(ids: list[int]) -> list[int]:
                return list(dict.fromkeys(survivor if i in gone else i for i in ids))

            s.execute(update(feed).where(feed.c.ticket_id.in_(gone)).values(ticket_id=survivor))
            for row in self._listing(s, gone):
                ids = moved(ticket_ids_of(row))
                s.execute(update(feed).where(feed.c.id == row.id).values(ticket_ids=json.dumps(ids)))
            mark_processed(s, processed_events, event_id, handler, clock=self.r.clock)
            return True

    def _remember(self, s: Session, gone: set[int], survivor: int) -> None:
        """``gone`` (and whatever had been merged into them) lead to ``survivor`` from now on."""
        if not gone:
            return
        s.execute(update(merges).where(merges.c.merged_into_id.in_(gone)).values(merged_into_id=survivor))
        now = self.r.clock.now()
        rows = [{"ticket_id": i, "merged_into_id": survivor, "merged_at": now} for i in sorted(gone)]
        s.execute(
            upsert(s)(merges)
            .values(rows)
            .on_conflict_do_update(index_elements=[merges.c.ticket_id], set_={"merged_into_id": survivor})
        )

    @staticmethod
    def _survivors_in(s: Session, ticket_ids: set[int]) -> dict[int, int]:
        """Where each of ``ticket_ids`` that was merged away leads now."""
        if not ticket_ids:
            return {}
        rows = s.execute(_SURVIVORS, {"ticket_ids": sorted(ticket_ids)})
        return {int(ticket_id): int(into) for ticket_id, into in rows}

    def forget_tickets(self, *, event_id: str, handler: str, ticket_ids: list[int]) -> bool:
        """Notifications about ``ticket_ids`` go (a bulk change's keeps its other tickets, and its
        read state), and so does what this service remembered of their merges; False if the event
        was seen before. Each person's count loses the unread ones that went, as the deletes found
        them (RETURNING): the guard keeps deliveries out, and the counter rows, held before the
        deletes, keep the people's marks read out until the commit."""
        gone = set(ticket_ids)
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            guard(s, merges, exclusive=True)
            listing = self._listing(s, gone)
            plain = s.scalars(
                select(feed.c.user_id).where(feed.c.ticket_id.in_(gone), feed.c.ticket_ids.is_(None))
            ).all()
            self.hold_in(s, [*(row.user_id for row in listing), *plain])
            deleted: list[Any] = []
            for row in listing:
                kept = [i for i in ticket_ids_of(row) if i not in gone]
                if kept:
                    s.execute(
                        update(feed)
                        .where(feed.c.id == row.id)
                        .values(ticket_ids=json.dumps(kept), ticket_id=kept[0], count=len(kept))
                    )
                else:
                    deleted += s.execute(
                        delete(feed).where(feed.c.id == row.id).returning(*UNREAD_STATE)
                    ).all()
            deleted += s.execute(
                delete(feed)
                .where(feed.c.ticket_id.in_(gone), feed.c.ticket_ids.is_(None))
                .returning(*UNREAD_STATE)
            ).all()
            self._count(s, _lost(deleted))
            s.execute(
                delete(merges).where(or_(merges.c.ticket_id.in_(gone), merges.c.merged_into_id.in_(gone)))
            )
            mark_processed(s, processed_events, event_id, handler, clock=self.r.clock)
            return True

    @staticmethod
    def _listing(s: Session, ticket_ids: set[int]) -> list[Any]:
        """Notifications whose list of tickets names one of ``ticket_ids``."""
        if not ticket_ids:
            return []
        maybe = or_(*(feed.c.ticket_ids.like(f"%{i}%") for i in sorted(ticket_ids)))
        rows = s.execute(select(feed).where(feed.c.ticket_ids.is_not(None), maybe)).all()
        return [row for row in rows if ticket_ids.intersection(ticket_ids_of(row))]

    # -- writing (inside the delivery's transaction) ---------------------------------------------------
    def add_in(self, s: Session, notices: Sequence[tuple[Notice, bool, str]]) -> list[tuple[Any, str | None]]:
        """Store each ``(notice, shown in the feed, event id)`` as a notification, or grow the one its
        bulk change already made; for each, the row and :data:`ADDED`, :data:`GROWN` or None (the bulk
        change had told of this ticket already). Bulk changes' notifications are looked up before
        any is stored, so two events of one bulk change go to separate calls, the earlier first.
        A growth makes the notification unread again. A notice about a ticket merged away before it
        arrived names the survivor, as :meth:`retarget` made the older ones do (the guard keeps the
        two from missing each other).
        New notifications are written in one statement. The people's counts grow by their new
        notifications shown in the feed and by the grown ones that had been read. Their rows are
        held before any of their notifications is read or written (the module docstring's rule),
        by the statement that counts what is sure to be new (shown, not part of a bulk change);
        a bulk change's notification counts once it is known to be new or to have been read."""
        now = self.r.clock.now()
        guard(s, merges, exclusive=False)
        sure = Counter(notice.user_id for notice, shown, _event in notices if shown and not notice.group_key)
        bulk = dict.fromkeys((notice.user_id for notice, _shown, _event in notices if notice.group_key), 0)
        self._count(s, {**bulk, **sure})  # holds the rows, and counts what is sure to be new
        led = self._survivors_in(s, {notice.ticket_id for notice, _shown, _event in notices})
        existing = self._groups(s, [notice for notice, _shown, _event in notices])
        found: list[tuple[Any, str | None] | None] = []
        new: list[dict[str, Any]] = []
        later: Counter[int] = Counter()
        for notice, shown, event_id in notices:
            ticket_id = led.get(notice.ticket_id, notice.ticket_id)
            row = existing.get((notice.user_id, notice.group_key)) if notice.group_key else None
            if row is not None:
                grown = self._grow(s, row, ticket_id, now)
                if grown[1] == GROWN and row.read and row.in_app:
                    later[row.user_id] += 1
                found.append(grown)
                continue
            found.append(None)
            new.append(self._values(notice, ticket_id, shown, event_id, now))
            if shown and notice.group_key:
                later[notice.user_id] += 1
        inserted = iter(_as_written(s.execute(_INSERT_ITEMS, new).all(), new) if new else [])
        self._count(s, later)
        return [item if item is not None else (next(inserted), ADDED) for item in found]

    def _groups(self, s: Session, notices: Sequence[Notice]) -> dict[tuple[int, str | None], Any]:
        """The notifications the notices' bulk changes already made, locked for this transaction."""
        keys = {n.group_key for n in notices if n.group_key is not None}
        if not keys:
            return {}
        users = {n.user_id for n in notices if n.group_key is not None}
        rows = s.execute(
            select(feed)
            .where(feed.c.group_key.in_(sorted(keys)), feed.c.user_id.in_(sorted(users)))
            .with_for_update()
        )
        return {(row.user_id, row.group_key): row for row in rows}

    @staticmethod
    def _values(notice: Notice, ticket_id: int, shown: bool, event_id: str, now: Any) -> dict[str, Any]:
        return {
            "user_id": notice.user_id,
            "type": notice.type,
            "ticket_id": ticket_id,
            "ticket_ids": json.dumps([ticket_id]),
            "count": 1,
            "title": title(notice.type, ticket_id=notice.ticket_id, ticket_name=notice.ticket_name),
            "actor_id": notice.actor_id,
            "group_key": notice.group_key,
            "event_id": event_id,
            "created_at": now,
            "updated_at": now,
            "read": False,
            "in_app": shown,
        }

    def _grow(self, s: Session, row: Any, ticket_id: int, now: Any) -> tuple[Any, str | None]:
        ids = ticket_ids_of(row)
        if ticket_id in ids:
            return row, None
        ids.append(ticket_id)
        headline = title(row.type, ticket_id=row.ticket_id, ticket_name="", count=len(ids))
        grown = s.execute(
            update(feed)
            .where(feed.c.id == row.id)
            .values(ticket_ids=json.dumps(ids), count=len(ids), title=headline, updated_at=now, read=False)
            .returning(*feed.c)
        ).one()
        return grown, GROWN

    def announce_in(self, s: Session, shown: Sequence[tuple[Any, str]]) -> None:
        """Tell live clients, in one event, about the notifications of one delivery shown in the
        feed (:data:`ADDED` or :data:`GROWN`), each with its person's unread count."""
        if not shown:
            return
        unread = self.unread_of_in(s, [row.user_id for row, _change in shown])
        payload = {
            "notifications": [
                {
                    "user_id": row.user_id,
                    "notification": item_dict(row),
                    "unread": unread.get(row.user_id, 0),
                    "grown": change == GROWN,
                }
                for row, change in shown
            ]
        }
        outbox.record(s, contract.NOTIFICATIONS_ADDED, payload, clock=self.r.clock)
