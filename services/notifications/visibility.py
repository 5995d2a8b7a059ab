"""The feed as its reader may see it now: stored notifications re-checked by the one access rule.

A notification is stored for the people who could see its ticket when it happened, but access
changes after that: the ticket is reassigned, its reader is demoted, it goes to the recycle bin, or
a merge re-points the notification at a survivor its reader cannot see. SPEC "Access": a ticket
that cannot be opened never appears and its existence is not revealed. So every read of the feed
(a page, the counts, marking read) asks the tickets service, *as the reader* (their signed
identity travels with :class:`~services.chassis.rpc.ServiceRpc`'s calls), which of the tickets it
is about to show or count the reader may see (``visible_tickets``, the same question the
conversations service asks), and:

* a notification none of whose tickets the reader may see is not shown, not counted, and answers
  NotFound when addressed (mark read), as if it did not exist;
* a bulk change's notification about some tickets the reader may see and some not names only the
  first (its ``ticket_ids``, ``count`` and title say how many it names);
* a notification about no ticket is shown as it is.

Nothing is written on a read: a reader who gets access back sees the notifications again.

**Costs.** One ``visible_tickets`` call answers up to ``tickets_contract.MAX_BULK`` (100) ticket
ids; the calls one read needs go out at once (:func:`~services.chassis.parallel.together`), and a
:class:`Sight` remembers the answers for the rest of the read, so a ticket is asked about once.

* A page of 25 notifications about single tickets is one call, usually none of its own: the page's
  tickets are among the newest the counts asked about. A page whose notifications are partly
  hidden reads on, in rounds of twice as many, until it holds ``limit`` visible ones; after
  :data:`PAGE_ROUNDS` rounds or :data:`PAGE_TICKETS` tickets asked it ends with fewer, and its
  ``next_cursor`` continues right after the last notification it checked (nothing is skipped or
  repeated; a page may then be short, even empty, with a cursor).
* The counts (``unread``, and a page's ``total``) are taken from the person's newest
  :data:`COUNTED` notifications (unread ones for ``unread``): one bounded read and at most
  :data:`COUNTED_TICKETS` tickets asked, in calls made at once. Someone with nothing unread costs
  the kept count's primary-key read and no call. The trade-off: **the counts stop at**
  :data:`COUNTED` (a super admin with 5,000 unread new-ticket notifications is told 1,000, as a
  badge would say "999+"); below that they are exact. Counting every notification would cost a
  call per 100 tickets the person was ever told of, on every page and every stream's hello.
* A bulk change's notification has at most :data:`ITEM_TICKETS` of its tickets checked and shown.

**When the tickets service cannot answer** (down, or past the deadline) nothing unchecked is
shown: the read fails with ServiceUnavailable (503 at the gateway; the live stream's hello then
leaves the count out, as it does when notifications itself is away). A reader without ticket
access at all (tickets answers Forbidden) sees no notification about a ticket.

The ``unread`` a live ``notification`` message carries is still the kept count, taken when a
notification is delivered (no reader then, and re-checking every recipient's feed per delivery
would cost a census per person per event); the hello, ``GET .../unread-count``, every page and the
``unread`` messages that marking read sends are checked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from services.chassis import paging
from services.chassis.errors import DeadlineExceeded, Forbidden, NotFound, ServiceUnavailable
from services.chassis.parallel import together
from services.notifications.domain import title
from services.notifications.store.base import item_dict, ticket_ids_of
from services.notifications.store.feed import FEED_LIST, NEWEST_FIRST, Feed
from services.tickets import contract as tickets_contract

ASKED_AT_ONCE = tickets_contract.MAX_BULK
"""Ticket ids one ``visible_tickets`` call names (the tickets service refuses more)."""
COUNTED = 1000
"""Notifications the counts are taken from (the newest); the counts stop here (module docstring)."""
COUNTED_TICKETS = 1000
"""Tickets the counts ask about at most: 10 calls, made at once."""
PAGE_TICKETS = 1000
"""Tickets one page asks about at most, beyond those the counts asked about."""
PAGE_ROUNDS = 5
"""Reads one page makes at most to fill itself when notifications are hidden: ``limit + 1``
notifications, then twice as many each time (up to :data:`ROUND_ROWS`), so a page reads past at
least 30 hidden notifications per visible one it is to hold (750 for the default 25)."""
ROUND_ROWS = 1000
"""Notifications one of those reads fetches at most."""
ITEM_TICKETS = 1000
"""Tickets of one bulk change's notification that are checked, and so may be shown."""


class Sight:
    """Which tickets the reader may see now, as the tickets service answers ``visible_tickets``
    through ``tickets`` (a client carrying the reader's identity); each ticket asked once."""

    def __init__(self, tickets: Any) -> None:
        self._tickets = tickets
        self._known: dict[int, bool] = {}
        self.asked = 0

    def knows(self, ticket_id: int) -> bool:
        return ticket_id in self._known

    def sees(self, ticket_id: int) -> bool:
        """Whether the reader may see the ticket; False for one never asked about."""
        return self._known.get(ticket_id, False)

    def learn(self, ticket_ids: Iterable[int]) -> None:
        """Ask about the tickets not known yet, :data:`ASKED_AT_ONCE` a call, the calls at once.

        Forbidden (the reader works no tickets) means none is visible. A deadline that passes is
        ServiceUnavailable like the service being away: the read fails rather than show what it
        could not check."""
        wanted = sorted({i for i in ticket_ids if i not in self._known})
        if not wanted:
            return
        chunks = [wanted[i : i + ASKED_AT_ONCE] for i in range(0, len(wanted), ASKED_AT_ONCE)]
        calls = [functools.partial(self._tickets.visible_tickets, chunk) for chunk in chunks]
        try:
            answers: Sequence[Iterable[int]] = together(*calls)
        except Forbidden:
            answers = [()] * len(chunks)
        except DeadlineExceeded as exc:
            raise ServiceUnavailable(
                "The tickets service did not say in time which tickets you may see."
            ) from exc
        self.asked += len(wanted)
        for chunk, answer in zip(chunks, answers, strict=True):
            seen = set(answer)
            self._known.update((i, i in seen) for i in chunk)


def checked(row: Any) -> list[int]:
    """The tickets of a notification that are checked (all, up to :data:`ITEM_TICKETS`)."""
    return ticket_ids_of(row)[:ITEM_TICKETS]


def visible(row: Any, sight: Sight) -> bool:
    """Whether the reader may see a notification: it names no ticket, or one they may see."""
    ids = checked(row)
    return not ids or any(sight.sees(i) for i in ids)


def shown(row: Any, sight: Sight) -> dict[str, Any] | None:
    """The wire form of a notification as the reader may see it (module docstring); None when it
    is about tickets the reader may not see. Its tickets must have been learnt."""
    ids = ticket_ids_of(row)
    if not ids:
        return item_dict(row)
    visible = [i for i in checked(row) if sight.sees(i)]
    if not visible:
        return None
    item = item_dict(row)
    if visible == ids:
        return item
    headline = title(row.type, ticket_id=visible[0], ticket_name="", count=len(visible))
    return {**item, "ticket_id": visible[0], "ticket_ids": visible, "count": len(visible), "title": headline}


class VisibleFeed:
    """One reader's feed as they may see it now (module docstring): each method one read of the
    store and the ``visible_tickets`` calls it needs, made before any write."""

    def __init__(self, feed: Feed, tickets: Any, user_id: int) -> None:
        self.feed = feed
        self.sight = Sight(tickets)
        self.user_id = user_id

    def _within(self, rows: Sequence[Any], budget: int) -> list[Any]:
        """The first of ``rows`` whose tickets not known yet number at most ``budget`` together
        (the first row always, its tickets capped by :data:`ITEM_TICKETS`)."""
        taken: list[Any] = []
        fresh: set[int] = set()
        for row in rows:
            new = {i for i in checked(row) if not self.sight.knows(i)} - fresh
            if taken and len(fresh) + len(new) > budget:
                break
            taken.append(row)
            fresh |= new
        self.sight.learn(fresh)
        return taken

    def _counted(self, rows: Sequence[Any], budget: int) -> int:
        return sum(1 for row in self._within(rows, budget) if visible(row, self.sight))

    def unread(self) -> int:
        """How many of the newest :data:`COUNTED` unread notifications the reader may see."""
        _rows, unread = self.feed.census(user_id=self.user_id, most=COUNTED, unread_only=True)
        return self._counted(unread, COUNTED_TICKETS)

    def page(self, *, limit: int, cursor: str | None, unread_only: bool) -> dict[str, Any]:
        """A page of the feed (``contract.FeedPageSchema``): up to ``limit`` notifications the
        reader may see, newest first, after ``cursor``; ``total`` and ``unread`` as the module
        docstring counts them. Cursors name a notification's id and the feed's list
        (:data:`FEED_LIST`), as every list's cursors name theirs."""
        position = paging.read_keyset(cursor, NEWEST_FIRST, int, scope=FEED_LIST)[1] if cursor else None
        rows, unread_rows = self.feed.census(user_id=self.user_id, most=COUNTED, unread_only=unread_only)
        before = self.sight.asked
        total = self._counted(rows, COUNTED_TICKETS)
        unread = (
            total
            if unread_only
            else self._counted(unread_rows, COUNTED_TICKETS - (self.sight.asked - before))
        )
        items, next_cursor = self._page(limit=limit, position=position, unread_only=unread_only)
        return {"items": items, "next_cursor": next_cursor, "total": total, "unread": unread}

    def _page(
        self, *, limit: int, position: int | None, unread_only: bool
    ) -> tuple[list[dict[str, Any]], str | None]:
        found: list[tuple[int, dict[str, Any]]] = []
        last = position
        size = limit + 1
        budget = PAGE_TICKETS
        for _round in range(PAGE_ROUNDS):
            rows = self.feed.newest(user_id=self.user_id, limit=size, before=last, unread_only=unread_only)
            asked = self.sight.asked
            taken = self._within(rows, budget)
            budget -= self.sight.asked - asked
            for row in taken:
                last = row.id
                item = shown(row, self.sight)
                if item is not None:
                    found.append((row.id, item))
                    if len(found) > limit:
                        return [item for _id, item in found[:limit]], self._cursor(found[limit - 1][0])
            if len(taken) == len(rows) and len(rows) < size:
                return [item for _id, item in found], None
            if budget <= 0:
                break
            size = min(size * 2, ROUND_ROWS)
        return [item for _id, item in found], self._cursor(last) if last != position else None

    @staticmethod
    def _cursor(item_id: int | None) -> str | None:
        return (
            None if item_id is None else paging.keyset_cursor(NEWEST_FIRST, item_id, item_id, scope=FEED_LIST)
        )

    def visible_item(self, item_id: int) -> Any:
        """The reader's notification ``item_id`` if they may see it now; NotFound otherwise, the
        same answer as for one that does not exist."""
        row = self.feed.item(user_id=self.user_id, item_id=item_id)
        if row is not None:
            self.sight.learn(checked(row))
        if row is None or not visible(row, self.sight):
            raise NotFound(f"notification {item_id} does not exist")
        return row

    def mark_read(self, item_id: int) -> dict[str, Any]:
        """Mark one notification the reader may see read; its ``notifications_read`` event tells
        live clients the reader's count of the others, as :meth:`unread` counts. The counts' tickets
        are asked about first: an unread notification's are among them, so marking one is
        usually one call."""
        _rows, unread = self.feed.census(user_id=self.user_id, most=COUNTED, unread_only=True)
        taken = self._within(unread, COUNTED_TICKETS)
        others = sum(1 for row in taken if row.id != item_id and visible(row, self.sight))
        row = self.visible_item(item_id)
        self.feed.mark_read(user_id=self.user_id, item_id=item_id, unread=others)
        return {**(shown(row, self.sight) or {}), "read": True}

    def mark_all_read(self) -> dict[str, Any]:
        """Mark every notification of the reader read, those they may not see too (harmless, and
        the kept count stays exact); ``marked`` says how many of those they may see it marked,
        counted as :meth:`unread` counts."""
        visible = self.unread()
        done = self.feed.mark_all_read(user_id=self.user_id)
        return {**done, "marked": min(int(done["marked"]), visible)}
