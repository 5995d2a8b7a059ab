"""The conversations' side of a ticket's lifecycle: threads follow merges, splits, spam marks,
deletes and restores of their ticket, and go for good when the retention service purges.

Every method is one transaction and idempotent: the tickets service's jobs call them until
they succeed, so a second call with the same arguments changes nothing (and says so).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, false, func, or_, select, true, update
from sqlalchemy.orm import Session

from services.chassis.clock import aware, isoformat
from services.chassis.domain import Event
from services.chassis.errors import Moved, NotFound, ValidationFailed
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.conversations import contract
from services.conversations.domain.incoming import ticket_fields
from services.conversations.domain.thread import thread_attached, thread_created
from services.conversations.models import (
    attachments,
    messages,
    outbox,
    thread_splits,
    threads,
    ticket_aliases,
)
from services.conversations.store.base import Records, thread_dict, to_json

NEWEST_SPAM_FIRST = Sort("spam_at", descending=True)
SPLIT_CHANNELS = ("email",)


def resolve_alias(s: Session, ticket_id: int) -> int:
    """The ticket a merged-away ticket lives on as (itself when it was never merged away)."""
    found = s.scalar(select(ticket_aliases.c.ticket_id).where(ticket_aliases.c.absorbed_id == ticket_id))
    return int(found) if found is not None else ticket_id


@dataclass(frozen=True)
class Purged:
    """Threads deleted for good, and the attachment contents they referenced (to forget unless
    another message still uses them)."""

    thread_ids: list[int]
    blob_keys: list[str]
    missing: list[int] = dataclasses.field(default_factory=list)  # asked for, but not there at all


def _spam_event(kind: str, thread_id: int, ticket_id: int | None, actor_id: int | None) -> Event:
    return Event(kind, {"thread_id": thread_id, "ticket_id": ticket_id, "actor_id": actor_id})


class Lifecycle:
    """Threads of merged, split, spam, deleted, restored and purged tickets."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- merge -------------------------------------------------------------------------------------------
    def reassign(self, *, from_ticket_id: int, to_ticket_id: int) -> list[int]:
        """Every thread of the absorbed ticket (spam and deleted ones too) now belongs to the
        survivor, and mail naming the absorbed ticket's id finds the survivor's threads."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            moved = list(
                s.scalars(select(threads.c.id).where(threads.c.ticket_id == from_ticket_id).with_for_update())
            )
            if moved:
                s.execute(
                    update(threads)
                    .where(threads.c.id.in_(moved))
                    .values(ticket_id=to_ticket_id, updated_at=now)
                )
            s.execute(
                update(ticket_aliases)
                .where(ticket_aliases.c.ticket_id == from_ticket_id)
                .values(ticket_id=to_ticket_id)
            )
            known = select(ticket_aliases.c.absorbed_id).where(ticket_aliases.c.absorbed_id == from_ticket_id)
            if s.execute(known).first() is None:
                s.execute(
                    ticket_aliases.insert().values(
                        absorbed_id=from_ticket_id, ticket_id=to_ticket_id, created_at=now
                    )
                )
            attached = [thread_attached(thread_id=t, ticket_id=to_ticket_id, actor_id=None) for t in moved]
            outbox.record_many(s, [(e.type, e.payload) for e in attached], clock=self.r.clock)
            return moved

    def not_absorbed(self, *, ticket_id: int) -> None:
        """Moved (naming the survivor) if the ticket was merged away and its threads moved with it."""
        with self.db.read() as s:
            survivor = resolve_alias(s, ticket_id)
        if survivor != ticket_id:
            raise Moved(
                f"ticket {ticket_id} was merged into ticket {survivor}",
                merged_into=survivor,
                location=f"/api/v1/tickets/{survivor}",
            )

    # -- split -------------------------------------------------------------------------------------------
    def check_split(self, *, ticket_id: int, message_ids: Sequence[int]) -> int:
        """The thread the messages are split from; ValidationFailed (on ``message_ids``) unless they
        are some, not all, messages of one email thread of the ticket."""
        with self.db.read() as s:
            return self._split_source(s, ticket_id, message_ids, lock=False).id

    def _split_source(self, s: Session, ticket_id: int, message_ids: Sequence[int], *, lock: bool) -> Any:
        def refuse(why: str) -> ValidationFailed:
            return ValidationFailed(why, errors={"message_ids": [why]})

        rows = s.execute(
            select(messages.c.id, messages.c.thread_id).where(messages.c.id.in_(list(message_ids)))
        )
        found = {message_id: thread_id for message_id, thread_id in rows}
        if missing := sorted(set(message_ids) - set(found)):
            raise refuse(f"not messages of ticket {ticket_id}: {', '.join(map(str, missing))}")
        if len(set(found.values())) != 1:
            raise refuse("must all be messages of one thread")
        query = select(threads).where(threads.c.id == next(iter(found.values())))
        source = s.execute(query.with_for_update() if lock else query).one()
        if source.ticket_id != ticket_id or source.deleted_at is not None or source.spam_at is not None:
            raise refuse(f"not messages of ticket {ticket_id}")
        if source.channel not in SPLIT_CHANNELS:
            raise refuse("only messages of an email thread can be split off")
        total = s.scalar(select(func.count()).where(messages.c.thread_id == source.id)) or 0
        if total < 2:
            raise refuse("a thread of one message cannot be split")
        if len(message_ids) >= total:
            raise refuse("pick some of the thread's messages, not all of them")
        return source

    def split(
        self, *, key: str, ticket_id: int, message_ids: Sequence[int], new_ticket_id: int
    ) -> dict[str, Any]:
        """Move the messages to a new thread on ``new_ticket_id`` (made once per ``key``); answers it.

        Replies to a moved message find it by its Message-ID, so they land on the new thread.
        """
        now = self.r.clock.now()
        with self.db.transaction() as s:
            done = s.execute(select(thread_splits).where(thread_splits.c.key == key)).first()
            if done is not None:
                return thread_dict(self.r.thread_row(s, done.thread_id))
            source = self._split_source(s, ticket_id, message_ids, lock=True)
            new_id = int(
                s.scalar(
                    threads.insert()
                    .values(
                        subject=source.subject,
                        channel=source.channel,
                        location="helpdesk",
                        ticket_id=new_ticket_id,
                        ticket_pending=False,
                        attach_seq=0,
                        owner_id=source.owner_id,
                        customer_name=source.customer_name,
                        customer_email=source.customer_email,
                        message_count=0,
                        created_at=now,
                        updated_at=now,
                        last_message_at=now,
                    )
                    .returning(threads.c.id)
                )
            )
            s.execute(update(messages).where(messages.c.id.in_(list(message_ids))).values(thread_id=new_id))
            for thread_id in (source.id, new_id):
                self._recount(s, thread_id, now)
            s.execute(
                thread_splits.insert().values(
                    key=key,
                    source_thread_id=source.id,
                    thread_id=new_id,
                    ticket_id=new_ticket_id,
                    message_ids=to_json(sorted(message_ids)),
                    created_at=now,
                )
            )
            created = thread_created(
                thread_id=new_id,
                channel=source.channel,
                location="helpdesk",
                subject=source.subject,
                customer_email=source.customer_email,
                actor_id=None,
            )
            split = Event(
                contract.THREAD_SPLIT,
                {
                    "thread_id": new_id,
                    "ticket_id": new_ticket_id,
                    "source_thread_id": source.id,
                    "source_ticket_id": ticket_id,
                    "message_ids": sorted(message_ids),
                },
            )
            attached = thread_attached(thread_id=new_id, ticket_id=new_ticket_id, actor_id=None)
            self.r.record(s, [created, attached, split])
            return thread_dict(self.r.thread_row(s, new_id))

    @staticmethod
    def _recount(s: Session, thread_id: int, now: dt.datetime) -> None:
        count, last = s.execute(
            select(func.count(), func.max(messages.c.created_at)).where(messages.c.thread_id == thread_id)
        ).one()
        s.execute(
            update(threads)
            .where(threads.c.id == thread_id)
            .values(message_count=count, last_message_at=last or now, updated_at=now)
        )

    # -- spam --------------------------------------------------------------------------------------------
    def ticket_thread_ids(self, *, ticket_id: int) -> list[int]:
        """The ticket's threads that are neither spam nor deleted (what a spam mark may choose from)."""
        with self.db.read() as s:
            return list(
                s.scalars(
                    select(threads.c.id)
                    .where(threads.c.ticket_id == ticket_id, threads.c.spam_at.is_(None))
                    .where(threads.c.deleted_at.is_(None))
                    .order_by(threads.c.id)
                )
            )

    def mark_spam(
        self, *, ticket_id: int, thread_ids: Sequence[int], owner_id: int | None, actor_id: int
    ) -> list[int]:
        """The threads go to the spam view (those already there, or no longer the ticket's, stay)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            marked = list(
                s.scalars(
                    select(threads.c.id)
                    .where(threads.c.id.in_(list(thread_ids)), threads.c.ticket_id == ticket_id)
                    .where(threads.c.spam_at.is_(None), threads.c.deleted_at.is_(None))
                    .with_for_update()
                )
            )
            if marked:
                s.execute(
                    update(threads)
                    .where(threads.c.id.in_(marked))
                    .values(spam_at=now, spam_by=actor_id, spam_owner_id=owner_id, updated_at=now)
                )
            self.r.record(
                s, [_spam_event(contract.THREAD_MARKED_SPAM, t, ticket_id, actor_id) for t in marked]
            )
            return marked

    def spam_thread(self, *, thread_id: int) -> dict[str, Any]:
        """A spam thread as "not spam" needs it: its ticket (None when it never had one, or it was
        purged), who owned that ticket, and what a new ticket made for it would be."""
        with self.db.read() as s:
            row = s.execute(
                select(threads).where(threads.c.id == thread_id, threads.c.spam_at.is_not(None))
            ).first()
            if row is None:
                raise NotFound(f"thread {thread_id} is not in the spam view")
            first = s.scalar(
                select(messages.c.text)
                .where(messages.c.thread_id == thread_id)
                .order_by(messages.c.id)
                .limit(1)
            )
        return {
            "thread_id": row.id,
            "ticket_id": row.ticket_id,
            "owner_id": row.spam_owner_id,
            "spam_at": isoformat(row.spam_at),
            "ticket": ticket_fields(row.channel, row.subject, first or ""),
        }

    def unmark_spam(self, *, thread_id: int, ticket_id: int, actor_id: int | None) -> dict[str, Any]:
        """The thread leaves the spam view for ``ticket_id`` (a second call changes nothing); NotFound
        when it is gone (purged)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            row = s.execute(select(threads).where(threads.c.id == thread_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"thread {thread_id} does not exist")
            if row.spam_at is None and row.ticket_id == ticket_id:
                return thread_dict(row)
            s.execute(
                update(threads)
                .where(threads.c.id == thread_id)
                .values(
                    spam_at=None,
                    spam_by=None,
                    spam_owner_id=None,
                    deleted_at=None,
                    ticket_id=ticket_id,
                    location="helpdesk",
                    ticket_pending=False,
                    updated_at=now,
                )
            )
            events = [_spam_event(contract.THREAD_UNMARKED_SPAM, thread_id, ticket_id, actor_id)]
            if row.ticket_id != ticket_id:
                events.append(thread_attached(thread_id=thread_id, ticket_id=ticket_id, actor_id=actor_id))
            self.r.record(s, events)
            return thread_dict(self.r.thread_row(s, thread_id))

    def spam_page(self, *, scope: Mapping[str, Any], limit: int, cursor: str | None) -> dict[str, Any]:
        """The spam view under the one access rule (as the tickets service states the caller's scope),
        applied to the owner each thread's ticket had when it was marked."""
        where = [threads.c.spam_at.is_not(None), _in_scope(scope)]
        with self.db.read() as s:
            return keyset_page(
                s,
                select(threads).where(and_(*where)),
                key=threads.c.spam_at,
                ident=threads.c.id,
                sort=NEWEST_SPAM_FIRST,
                limit=limit,
                cursor=cursor,
                item=spam_dict,
            )

    # -- delete and restore ------------------------------------------------------------------------------
    def delete_ticket_threads(self, *, ticket_ids: Sequence[int]) -> int:
        """The tickets went to the bin: their threads (not the spam ones) go with them."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            gone = s.execute(
                update(threads)
                .where(threads.c.ticket_id.in_(list(ticket_ids)), threads.c.deleted_at.is_(None))
                .where(threads.c.spam_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            )
            return int(gone.rowcount)  # type: ignore[attr-defined]

    def restore_ticket_threads(self, *, ticket_ids: Sequence[int]) -> int:
        """The tickets left the bin: their threads come back."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            back = s.execute(
                update(threads)
                .where(threads.c.ticket_id.in_(list(ticket_ids)), threads.c.deleted_at.is_not(None))
                .values(deleted_at=None, updated_at=now)
            )
            return int(back.rowcount)  # type: ignore[attr-defined]

    # -- purging (the retention service's calls) ---------------------------------------------------------
    def spam_due(self, *, cutoff: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Threads in the spam view since ``cutoff`` or earlier, oldest first."""
        with self.db.read() as s:
            rows = s.execute(
                select(threads.c.id, threads.c.spam_at)
                .where(threads.c.spam_at.is_not(None), threads.c.spam_at <= cutoff)
                .order_by(threads.c.spam_at, threads.c.id)
                .limit(limit)
            ).all()
        return [{"id": r.id, "marked_at": isoformat(r.spam_at)} for r in rows]

    def purge_spam(self, *, thread_ids: Sequence[int], cutoff: dt.datetime) -> Purged:
        """Delete for good those of the threads still spam since ``cutoff`` or earlier (a thread given
        back meanwhile stays), with their messages and attachments."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(threads.c.id, threads.c.spam_at)
                .where(threads.c.id.in_(list(thread_ids)))
                .with_for_update()
            ).all()
            ids = [r.id for r in rows if r.spam_at is not None and aware(r.spam_at) <= cutoff]
            missing = sorted(set(thread_ids) - {r.id for r in rows})
            return Purged(ids, self._delete_threads(s, ids), missing)

    def purge_ticket_threads(self, *, ticket_ids: Sequence[int]) -> Purged:
        """The tickets are being purged: their threads go for good, except spam ones, which keep their
        own period and no longer point at a ticket (not spam would make a new one)."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(threads.c.id, threads.c.spam_at, threads.c.ticket_id)
                .where(threads.c.ticket_id.in_(list(ticket_ids)))
                .with_for_update()
            ).all()
            spam = [r.id for r in rows if r.spam_at is not None]
            if spam:
                s.execute(
                    update(threads)
                    .where(threads.c.id.in_(spam))
                    .values(previous_ticket_id=threads.c.ticket_id, ticket_id=None)
                )
            ids = [r.id for r in rows if r.spam_at is None]
            s.execute(
                delete(ticket_aliases).where(
                    or_(
                        ticket_aliases.c.ticket_id.in_(list(ticket_ids)),
                        ticket_aliases.c.absorbed_id.in_(list(ticket_ids)),
                    )
                )
            )
            return Purged(ids, self._delete_threads(s, ids))

    @staticmethod
    def _delete_threads(s: Session, thread_ids: list[int]) -> list[str]:
        if not thread_ids:
            return []
        keys = sorted(
            set(
                s.scalars(
                    select(attachments.c.sha256)
                    .join(messages, messages.c.id == attachments.c.message_id)
                    .where(messages.c.thread_id.in_(thread_ids))
                )
            )
        )
        s.execute(delete(threads).where(threads.c.id.in_(thread_ids)))  # messages, attachments cascade
        return keys

    def unreferenced(self, *, keys: Sequence[str]) -> list[str]:
        """Of these attachment contents, those no message refers to any more."""
        if not keys:
            return []
        with self.db.read() as s:
            used = set(s.scalars(select(attachments.c.sha256).where(attachments.c.sha256.in_(list(keys)))))
        return [k for k in keys if k not in used]


def _in_scope(scope: Mapping[str, Any]) -> Any:
    if scope.get("everything"):
        return true()
    clauses = []
    if scope.get("owner_ids"):
        clauses.append(threads.c.spam_owner_id.in_(list(scope["owner_ids"])))
    if scope.get("unassigned"):
        clauses.append(threads.c.spam_owner_id.is_(None))
    return or_(*clauses) if clauses else false()


def spam_dict(row: Any) -> dict[str, Any]:
    return {**thread_dict(row), "spam_at": isoformat(row.spam_at), "spam_by": row.spam_by}
