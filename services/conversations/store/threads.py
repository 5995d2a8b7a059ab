"""Threads: a customer's message arriving (on any channel), tickets attached, moves between
the inbox and the help desk, and the lists of threads."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict
from services.chassis.idempotency import REPLAYED, IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.conversations.domain import routing
from services.conversations.domain.incoming import Incoming
from services.conversations.domain.thread import (
    ThreadRef,
    delivery_changed,
    message_added,
    thread_attached,
    thread_created,
    thread_moved,
)
from services.conversations.models import messages, threads
from services.conversations.store.base import Records, from_json, insert_message, thread_dict, to_json
from services.conversations.store.lifecycle import resolve_alias

NEWEST_ACTIVITY_FIRST = Sort("updated_at", descending=True)


def _addresses(message: Any) -> set[str]:
    """Who a message shows taking part: a customer's sender, or whom our reply went to."""
    if message.kind == "customer":
        return {message.from_email.lower()}
    return {p["email"].lower() for p in [*from_json(message.to_json), *from_json(message.cc_json)]}


@dataclass(frozen=True)
class Received:
    """Where an incoming message went. ``duplicate``: the same Message-ID was stored before.
    ``replayed``: the answer is the one first given under the request's Idempotency-Key."""

    thread_id: int
    message_id: int
    ticket_id: int | None
    new_thread: bool
    needs_ticket: bool
    duplicate: bool = False
    spam: bool = False
    replayed: bool = False


@dataclass(frozen=True)
class Pending:
    """A thread that waits for its ticket, with what the ticket is made from (``owner_id``: the
    owner a move to the help desk gave the thread, who becomes the ticket's)."""

    thread_id: int
    seq: int
    channel: str
    subject: str
    first_text: str
    owner_id: int | None = None


class Threads:
    """Threads and what arrives on them."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- arriving ------------------------------------------------------------------------------------
    def receive(
        self, *, incoming: Incoming, verdict: str | None, key: IdempotencyKey | None = None
    ) -> Received:
        """Store a customer's message on the thread it answers, or on a new one (one transaction).

        A Message-ID seen before changes nothing (a retrying mail server). A new thread
        waits for a ticket unless the sender rules make it spam. A bounce also marks our
        message it reports as failed.
        """
        if incoming.email_message_id:
            with self.db.read() as s:
                seen = self._by_email_id(s, incoming.email_message_id)
            if seen is not None:
                return seen
        try:
            answer = self.r.idempotency.run(key, lambda s: asdict(self._receive(s, incoming, verdict)))
        except IntegrityError:
            seen = self._seen_again(incoming)
            if seen is None:
                raise
            return seen
        replayed = bool(answer.pop(REPLAYED, False))
        return Received(**{**answer, "replayed": replayed})

    def _seen_again(self, incoming: Incoming) -> Received | None:
        """The copy a concurrent delivery of the same Message-ID stored first."""
        if not incoming.email_message_id:
            return None
        with self.db.read() as s:
            return self._by_email_id(s, incoming.email_message_id)

    def _receive(self, s: Session, incoming: Incoming, verdict: str | None) -> Received:
        now = self.r.clock.now()
        thread = self._thread_for(s, incoming, now)
        new_thread = thread is None
        spam = routing.is_spam(verdict) and new_thread
        if thread is None:
            thread = self._new_thread(s, incoming, now, spam=spam)
        message_id = insert_message(
            s,
            thread_id=thread.id,
            kind="customer",
            channel=thread.channel,
            from_name=incoming.sender_name,
            from_email=incoming.sender_email,
            to_json=to_json([{"name": n, "email": e} for n, e in incoming.to]),
            cc_json=to_json([{"name": n, "email": e} for n, e in incoming.cc]),
            subject=incoming.subject,
            text=incoming.text,
            quoted=incoming.quoted,
            html=incoming.html,
            email_message_id=incoming.email_message_id,
            in_reply_to=incoming.in_reply_to,
            references_json=to_json(list(incoming.references)),
            auto=incoming.auto,
            created_at=now,
        )
        self.r.add_files(s, message_id, incoming.files)
        self.r.touch(s, thread.id, now)
        if incoming.bounce_of:
            self._bounced(s, incoming.bounce_of, incoming.bounce_reason or "bounced")
        event = message_added(
            ThreadRef(thread.id, thread.ticket_id, thread.channel),
            message_id=message_id,
            kind="customer",
            author_id=None,
            auto=incoming.auto,
            mentions=(),
            at=now,
        )
        self.r.record(s, [event])
        return Received(
            thread_id=thread.id,
            message_id=message_id,
            ticket_id=thread.ticket_id,
            new_thread=new_thread,
            needs_ticket=bool(thread.ticket_pending),
            spam=thread.spam_at is not None or spam,
        )

    def _by_email_id(self, s: Session, email_message_id: str) -> Received | None:
        row = s.execute(
            select(
                messages.c.id, threads.c.id.label("thread_id"), threads.c.ticket_id, threads.c.ticket_pending
            )
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(messages.c.email_message_id == email_message_id)
        ).first()
        if row is None:
            return None
        return Received(row.thread_id, row.id, row.ticket_id, False, bool(row.ticket_pending), duplicate=True)

    def _thread_for(self, s: Session, incoming: Incoming, now: dt.datetime) -> Any:
        """The thread the message goes on (locked), or None for a new thread with a new ticket.

        Found by the thread the message names (chat, form), by the ids it answers, or by the
        ``[#ticket]`` of its subject when its sender takes part in that ticket (see
        :func:`routing.join_by_subject`; that may open a new email thread on the ticket).
        """
        if incoming.thread_id is not None:
            return self.r.thread_row(s, incoming.thread_id, lock=True)
        referenced = incoming.referenced_ids
        if referenced:
            known = dict(
                s.execute(
                    select(messages.c.email_message_id, messages.c.thread_id).where(
                        messages.c.email_message_id.in_(referenced)
                    )
                ).all()
            )
            found = routing.thread_for_ids(referenced, known)
            if found is not None:
                row = self._live(s, found)
                if row is not None:
                    return row
        ticket_ref = incoming.ticket_ref
        if ticket_ref is None:
            return None
        ticket_ref = resolve_alias(s, ticket_ref)  # a merged-away ticket's mail goes to its survivor
        joining = routing.join_by_subject(incoming.sender_email, self._candidates(s, ticket_ref))
        if joining is None:
            return None
        if joining.thread_id is not None:
            return self._live(s, joining.thread_id)
        return self._new_thread(s, incoming, now, spam=False, ticket_id=ticket_ref)

    def _live(self, s: Session, thread_id: int) -> Any:
        return s.execute(
            select(threads).where(threads.c.id == thread_id, threads.c.deleted_at.is_(None)).with_for_update()
        ).first()

    def _candidates(self, s: Session, ticket_id: int) -> list[routing.Candidate]:
        """The ticket's live threads, each with who takes part in it: its customer, whoever wrote
        on it (not automatic mail), and everyone our replies on it went to (To and Cc)."""
        rows = s.execute(
            select(threads.c.id, threads.c.channel, threads.c.customer_email).where(
                threads.c.ticket_id == ticket_id, threads.c.deleted_at.is_(None)
            )
        ).all()
        participants: dict[int, set[str]] = defaultdict(set)
        for row in rows:
            participants[row.id].add(row.customer_email.lower())
        if rows:
            for message in s.execute(self._participations([r.id for r in rows])):
                participants[message.thread_id].update(_addresses(message))
        return [routing.Candidate(r.id, r.channel, frozenset(participants[r.id])) for r in rows]

    @staticmethod
    def _participations(thread_ids: list[int]) -> Any:
        """The messages of the threads that name a participant: customers' and our replies."""
        wrote = and_(
            messages.c.kind == "customer", messages.c.auto.is_(None), messages.c.from_email.is_not(None)
        )
        return (
            select(
                messages.c.thread_id,
                messages.c.kind,
                messages.c.from_email,
                messages.c.to_json,
                messages.c.cc_json,
            )
            .where(messages.c.thread_id.in_(thread_ids), or_(wrote, messages.c.kind == "reply"))
            .distinct()
        )

    def _new_thread(
        self, s: Session, incoming: Incoming, now: dt.datetime, *, spam: bool, ticket_id: int | None = None
    ) -> Any:
        """A new thread: in the help desk, waiting for its ticket, unless it is spam or automatic
        mail that answers nothing of ours (that goes to the inbox: no ticket, nobody told).
        With ``ticket_id`` it belongs to that ticket from the start (a mail that names it)."""
        location = "inbox" if incoming.auto and ticket_id is None else "helpdesk"
        thread_id = int(
            s.scalar(
                threads.insert()
                .values(
                    subject=incoming.subject,
                    channel=incoming.channel,
                    location=location,
                    ticket_id=ticket_id,
                    ticket_pending=location == "helpdesk" and not spam and ticket_id is None,
                    attach_seq=0,
                    customer_name=incoming.sender_name,
                    customer_email=incoming.sender_email,
                    message_count=0,
                    created_at=now,
                    updated_at=now,
                    last_message_at=now,
                    spam_at=now if spam else None,
                )
                .returning(threads.c.id)
            )
        )
        event = thread_created(
            thread_id=thread_id,
            channel=incoming.channel,
            location=location,
            subject=incoming.subject,
            customer_email=incoming.sender_email,
            actor_id=None,
        )
        self.r.record(s, [event])
        if ticket_id is not None:
            self.r.record(s, [thread_attached(thread_id=thread_id, ticket_id=ticket_id, actor_id=None)])
        return self.r.thread_row(s, thread_id)

    def _bounced(self, s: Session, email_message_id: str, reason: str) -> None:
        row = s.execute(
            select(messages.c.id, messages.c.thread_id, threads.c.ticket_id)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(messages.c.email_message_id == email_message_id, messages.c.kind == "reply")
        ).first()
        if row is None:
            return
        s.execute(
            update(messages)
            .where(messages.c.id == row.id)
            .values(delivery_state="failed", delivery_reason=reason[:2000])
        )
        event = delivery_changed(
            thread_id=row.thread_id,
            ticket_id=row.ticket_id,
            message_id=row.id,
            state="failed",
            reason=reason[:2000],
        )
        self.r.record(s, [event])

    # -- tickets -------------------------------------------------------------------------------------
    def pending(self, *, limit: int, older_than: dt.timedelta = dt.timedelta(0)) -> list[Pending]:
        """Threads waiting for a ticket (oldest first), with their first message's text."""
        cutoff = self.r.clock.now() - older_than
        with self.db.read() as s:
            rows = s.execute(
                select(threads)
                .where(threads.c.ticket_pending.is_(True), threads.c.created_at <= cutoff)
                .order_by(threads.c.id)
                .limit(limit)
            ).all()
            return [self._pending(s, row) for row in rows]

    def pending_one(self, *, thread_id: int) -> Pending | None:
        with self.db.read() as s:
            row = s.execute(select(threads).where(threads.c.id == thread_id)).first()
            return self._pending(s, row) if row is not None and row.ticket_pending else None

    def _pending(self, s: Session, row: Any) -> Pending:
        first = s.scalar(
            select(messages.c.text).where(messages.c.thread_id == row.id).order_by(messages.c.id).limit(1)
        )
        return Pending(row.id, row.attach_seq, row.channel, row.subject, first or "", row.owner_id)

    def attach(self, *, thread_id: int, ticket_id: int, seq: int, actor_id: int | None = None) -> bool:
        """Give the thread its ticket, once: the attachment ``seq`` it was asked for must still be due."""
        with self.db.transaction() as s:
            done = s.execute(
                update(threads)
                .where(
                    threads.c.id == thread_id, threads.c.ticket_pending.is_(True), threads.c.attach_seq == seq
                )
                .values(ticket_id=ticket_id, ticket_pending=False, updated_at=self.r.clock.now())
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            self.r.record(s, [thread_attached(thread_id=thread_id, ticket_id=ticket_id, actor_id=actor_id)])
            return True

    # -- reading -------------------------------------------------------------------------------------
    def get(self, *, thread_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return thread_dict(self.r.thread_row(s, thread_id))

    def of_tickets(self, *, ticket_ids: Sequence[int]) -> dict[int, list[int]]:
        """The live thread ids of each ticket (spam ones are in the spam view)."""
        found: dict[int, list[int]] = {t: [] for t in ticket_ids}
        with self.db.read() as s:
            rows = s.execute(
                select(threads.c.ticket_id, threads.c.id)
                .where(threads.c.ticket_id.in_(list(ticket_ids)), threads.c.deleted_at.is_(None))
                .where(threads.c.spam_at.is_(None))
                .order_by(threads.c.id)
            )
            for ticket_id, thread_id in rows:
                found[ticket_id].append(thread_id)
        return found

    def with_messages(self, *, ticket_id: int, per_thread: int) -> list[dict[str, Any]]:
        """The ticket's threads, each with the first page of its messages (oldest first)."""
        with self.db.read() as s:
            rows = s.execute(
                select(threads)
                .where(threads.c.ticket_id == ticket_id, threads.c.deleted_at.is_(None))
                .where(threads.c.spam_at.is_(None))  # spam is in the spam view, not on the ticket
                .order_by(threads.c.id)
            ).all()
            found = []
            for row in rows:
                page = self.r.messages_page(s, row.id, limit=per_thread, cursor=None)
                found.append(
                    {
                        **thread_dict(row),
                        "messages": page["items"],
                        "messages_next_cursor": page["next_cursor"],
                    }
                )
            return found

    def inbox(
        self, *, owner_id: int | None, channel: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """Threads in the conversations inbox, newest activity first (only ``owner_id``'s when given)."""
        where = [threads.c.location == "inbox", threads.c.deleted_at.is_(None), threads.c.spam_at.is_(None)]
        if owner_id is not None:
            where.append(threads.c.owner_id == owner_id)
        if channel is not None:
            where.append(threads.c.channel == channel)
        with self.db.read() as s:
            return keyset_page(
                s,
                select(threads).where(and_(*where)),
                key=threads.c.updated_at,
                ident=threads.c.id,
                sort=NEWEST_ACTIVITY_FIRST,
                limit=limit,
                cursor=cursor,
                item=thread_dict,
            )

    # -- moving --------------------------------------------------------------------------------------
    def move_to_inbox(self, *, thread_id: int, actor_id: int, owner_id: int | None) -> dict[str, Any]:
        """The thread leaves its ticket (which stays in the help desk) for the inbox."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            row = self.r.thread_row(s, thread_id, lock=True)
            if row.location == "inbox":
                raise Conflict(f"thread {thread_id} is already in the inbox")
            s.execute(
                update(threads)
                .where(threads.c.id == thread_id)
                .values(
                    location="inbox",
                    ticket_id=None,
                    previous_ticket_id=row.ticket_id,
                    ticket_pending=False,
                    owner_id=owner_id if owner_id is not None else row.owner_id,
                    updated_at=now,
                )
            )
            moved = thread_moved(
                thread_id=thread_id,
                ticket_id=None,
                previous_ticket_id=row.ticket_id,
                from_location="helpdesk",
                to_location="inbox",
                owner_id=owner_id if owner_id is not None else row.owner_id,
                actor_id=actor_id,
            )
            self.r.record(s, [moved])
            return thread_dict(self.r.thread_row(s, thread_id))

    def move_to_helpdesk(
        self, *, thread_id: int, actor_id: int, owner_id: int | None, ticket_id: int | None
    ) -> tuple[dict[str, Any], int]:
        """The thread joins ``ticket_id``, or waits for a new ticket; returns it and its attachment seq.

        ``owner_id`` is the thread's owner from now on (the service decided it: the one the move
        named, or the one it had in the inbox), so the new ticket is made with that owner."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            row = self.r.thread_row(s, thread_id, lock=True)
            if row.location == "helpdesk":
                raise Conflict(f"thread {thread_id} is already in the help desk")
            seq = row.attach_seq + 1
            s.execute(
                update(threads)
                .where(threads.c.id == thread_id)
                .values(
                    location="helpdesk",
                    ticket_id=ticket_id,
                    ticket_pending=ticket_id is None,
                    attach_seq=seq,
                    owner_id=owner_id,
                    updated_at=now,
                )
            )
            moved = thread_moved(
                thread_id=thread_id,
                ticket_id=ticket_id,
                previous_ticket_id=row.previous_ticket_id,
                from_location="inbox",
                to_location="helpdesk",
                owner_id=owner_id,
                actor_id=actor_id,
            )
            events = [moved]
            if ticket_id is not None:
                events.append(thread_attached(thread_id=thread_id, ticket_id=ticket_id, actor_id=actor_id))
            self.r.record(s, events)
            return thread_dict(self.r.thread_row(s, thread_id)), seq

    def count(self) -> int:
        with self.db.read() as s:
            return int(s.scalar(select(func.count()).select_from(threads)) or 0)
