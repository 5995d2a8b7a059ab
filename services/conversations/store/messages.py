"""Agents' replies and notes, the outgoing mail queue behind replies, and attachments."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.chassis.db import MAIL_QUEUED, wake_after_commit
from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.chassis.mail.compose import compose
from services.chassis.mail.model import MailAttachment
from services.chassis.mail.refs import mail_domain, make_message_id, normalise_message_id
from services.conversations.domain.incoming import File
from services.conversations.domain.replies import EMAILED_CHANNELS, reply_recipients, reply_threading
from services.conversations.domain.thread import ThreadRef, delivery_changed, message_added, next_retry
from services.conversations.models import attachments, messages, outgoing_mail, threads
from services.conversations.store.base import Records, from_json, insert_message, to_json

LEASE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Author:
    """The agent writing: their user id and name, and our own address (From of every reply)."""

    user_id: int
    name: str
    own_address: str


@dataclass(frozen=True)
class Draft:
    kind: str
    body: str
    to: Sequence[str] | None = None
    cc: Sequence[str] | None = None
    mentions: Sequence[int] = ()
    files: Sequence[File] = ()
    blobs: Sequence[bytes] = ()  # the files' bytes, in the same order, for the outgoing mail


@dataclass(frozen=True)
class Due:
    """An outgoing mail to hand to the relay now."""

    id: int
    message_id: int
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int


class Messages:
    """What agents write on threads, and the delivery of replies."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def add(
        self, *, thread_id: int, author: Author, draft: Draft, key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """A reply or note, with its attachments, its outgoing mail for a reply, and its event."""

        def work(s: Session) -> dict[str, Any]:
            now = self.r.clock.now()
            thread = self.r.thread_row(s, thread_id, lock=True)
            values: dict[str, Any] = {
                "thread_id": thread.id,
                "kind": draft.kind,
                "channel": thread.channel,
                "author_id": author.user_id,
                "from_name": author.name,
                "subject": thread.subject,
                "text": draft.body,
                "mentions_json": to_json(sorted(set(draft.mentions))),
                "created_at": now,
            }
            mail = self._reply_mail(s, thread, author, draft, now) if draft.kind == "reply" else None
            if mail is not None:
                values.update(mail.columns)
            elif draft.kind == "reply":
                values.update(delivery_state="sent", sent_at=now)
            message_id = insert_message(s, **values)
            self.r.add_files(s, message_id, draft.files)
            if mail is not None and mail.queued:
                wake_after_commit(s, MAIL_QUEUED)
                s.execute(
                    outgoing_mail.insert().values(
                        message_id=message_id,
                        mail_from=author.own_address,
                        recipients_json=to_json(mail.recipients),
                        raw=mail.raw,
                        state="queued",
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
            self.r.touch(s, thread.id, now)
            event = message_added(
                ThreadRef(thread.id, thread.ticket_id, thread.channel),
                message_id=message_id,
                kind=draft.kind,
                author_id=author.user_id,
                auto=None,
                mentions=draft.mentions,
                at=now,
            )
            self.r.record(s, [event])
            row = s.execute(select(messages).where(messages.c.id == message_id)).one()
            return self.r.message_dicts(s, [row])[0]

        return self.r.idempotency.run(key, work)

    def _reply_mail(
        self, s: Session, thread: Any, author: Author, draft: Draft, now: dt.datetime
    ) -> _Mail | None:
        if thread.channel not in EMAILED_CHANNELS:
            return None
        last_customer = s.execute(
            select(messages.c.cc_json)
            .where(
                messages.c.thread_id == thread.id, messages.c.kind == "customer", messages.c.auto.is_(None)
            )
            .order_by(messages.c.id.desc())
            .limit(1)
        ).first()
        last_cc = [p["email"] for p in from_json(last_customer.cc_json)] if last_customer else []
        recipients = reply_recipients(
            customer=thread.customer_email,
            last_cc=last_cc,
            own_address=author.own_address,
            to=draft.to,
            cc=draft.cc,
        )
        parent = s.execute(
            select(messages.c.email_message_id, messages.c.references_json)
            .where(messages.c.thread_id == thread.id, messages.c.email_message_id.is_not(None))
            .order_by(messages.c.id.desc())
            .limit(1)
        ).first()
        threading = reply_threading(
            thread.subject,
            parent.email_message_id if parent else None,
            from_json(parent.references_json) if parent else [],
        )
        own_id = make_message_id(mail_domain(author.own_address))
        columns: dict[str, Any] = {
            "from_email": author.own_address,
            "to_json": to_json([{"name": "", "email": a} for a in recipients.to]),
            "cc_json": to_json([{"name": "", "email": a} for a in recipients.cc]),
            "subject": threading.subject,
            "email_message_id": normalise_message_id(own_id),
            "in_reply_to": threading.in_reply_to,
            "references_json": to_json(threading.references),
        }
        if not recipients.all:
            return _Mail(
                {**columns, "delivery_state": "failed", "delivery_reason": "no recipient"},
                [],
                b"",
                queued=False,
            )
        try:
            raw = compose(
                from_name=author.name,
                from_address=author.own_address,
                to=recipients.to,
                cc=recipients.cc,
                subject=threading.subject,
                text=draft.body,
                message_id=own_id,
                in_reply_to=threading.in_reply_to,
                references=threading.references,
                attachments=[
                    MailAttachment(f.filename, f.content_type, data)
                    for f, data in zip(draft.files, draft.blobs, strict=True)
                ],
                ticket_id=thread.ticket_id,
                date=now,
            )
        except ValueError as exc:
            failed = {"delivery_state": "failed", "delivery_reason": f"could not be composed: {exc}"}
            return _Mail({**columns, **failed}, [], b"", queued=False)
        return _Mail({**columns, "delivery_state": "queued"}, recipients.all, raw)

    # -- reading -------------------------------------------------------------------------------------
    def page(self, *, thread_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """A thread's messages, oldest first, a page at a time."""
        with self.db.read() as s:
            self.r.thread_row(s, thread_id)
            return self.r.messages_page(s, thread_id, limit=limit, cursor=cursor)

    def attachment(self, *, attachment_id: int) -> tuple[dict[str, Any], str, int]:
        """An attachment's record, its blob key and its thread id; NotFound when gone."""
        with self.db.read() as s:
            row = s.execute(
                select(attachments, messages.c.thread_id)
                .join(messages, messages.c.id == attachments.c.message_id)
                .join(threads, threads.c.id == messages.c.thread_id)
                .where(attachments.c.id == attachment_id, threads.c.deleted_at.is_(None))
            ).first()
        if row is None:
            raise NotFound(f"attachment {attachment_id} does not exist")
        record = {
            "id": row.id,
            "filename": row.filename,
            "content_type": row.content_type,
            "size": row.size,
            "inline": row.inline,
            "content_id": row.content_id,
        }
        return record, row.sha256, row.thread_id

    def printable(self, *, thread_id: int) -> list[dict[str, Any]]:
        """Every message of the thread, oldest first (the printer picks what to show), each with
        its ``author_name``: the agent's name is kept even on a reply that has no sender address
        (a chat reply is not mailed)."""
        with self.db.read() as s:
            rows = s.execute(
                select(messages).where(messages.c.thread_id == thread_id).order_by(messages.c.id)
            ).all()
            found = self.r.message_dicts(s, rows)
        return [{**message, "author_name": row.from_name} for message, row in zip(found, rows, strict=True)]

    # -- delivery ------------------------------------------------------------------------------------
    def claim_due(self, *, limit: int) -> list[Due]:
        """Outgoing mail due now, leased to the caller (another instance skips it until the lease ends)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            rows = s.execute(
                select(outgoing_mail)
                .where(
                    outgoing_mail.c.state == "queued",
                    outgoing_mail.c.next_attempt_at <= now,
                    or_(outgoing_mail.c.claimed_until.is_(None), outgoing_mail.c.claimed_until < now),
                )
                .order_by(outgoing_mail.c.next_attempt_at, outgoing_mail.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                s.execute(
                    update(outgoing_mail)
                    .where(outgoing_mail.c.id.in_([r.id for r in rows]))
                    .values(claimed_until=now + LEASE)
                )
        return [
            Due(r.id, r.message_id, r.mail_from, json.loads(r.recipients_json), bytes(r.raw), r.attempts)
            for r in rows
        ]

    def sent(self, *, due: Due) -> None:
        now = self.r.clock.now()
        with self.db.transaction() as s:
            s.execute(
                update(outgoing_mail)
                .where(outgoing_mail.c.id == due.id)
                .values(
                    state="sent", sent_at=now, attempts=due.attempts + 1, claimed_until=None, last_error=None
                )
            )
            self._delivery(s, due.message_id, "sent", None, attempts=due.attempts + 1, sent_at=now)

    def not_sent(self, *, due: Due, error: str, permanent: bool) -> bool:
        """Record a failed try; returns True when the mail is given up (permanent, or out of tries)."""
        now = self.r.clock.now()
        attempts = due.attempts + 1
        delay = None if permanent else next_retry(attempts)
        with self.db.transaction() as s:
            if delay is None:
                s.execute(
                    update(outgoing_mail)
                    .where(outgoing_mail.c.id == due.id)
                    .values(state="failed", attempts=attempts, claimed_until=None, last_error=error[:2000])
                )
                self._delivery(s, due.message_id, "failed", error[:2000], attempts=attempts, sent_at=None)
                return True
            s.execute(
                update(outgoing_mail)
                .where(outgoing_mail.c.id == due.id)
                .values(
                    attempts=attempts,
                    claimed_until=None,
                    last_error=error[:2000],
                    next_attempt_at=now + dt.timedelta(seconds=delay),
                )
            )
            s.execute(
                update(messages)
                .where(messages.c.id == due.message_id)
                .values(delivery_attempts=attempts, delivery_reason=error[:2000])
            )
            return False

    def _delivery(
        self,
        s: Session,
        message_id: int,
        state: str,
        reason: str | None,
        *,
        attempts: int,
        sent_at: dt.datetime | None,
    ) -> None:
        s.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(delivery_state=state, delivery_reason=reason, delivery_attempts=attempts, sent_at=sent_at)
        )
        row = s.execute(
            select(messages.c.thread_id, threads.c.ticket_id)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(messages.c.id == message_id)
        ).one()
        event = delivery_changed(
            thread_id=row.thread_id,
            ticket_id=row.ticket_id,
            message_id=message_id,
            state=state,
            reason=reason,
        )
        self.r.record(s, [event])


@dataclass(frozen=True)
class _Mail:
    """A reply's mail columns, and what to queue unless it could not be made (``queued`` False)."""

    columns: dict[str, Any]
    recipients: list[str]
    raw: bytes
    queued: bool = True
