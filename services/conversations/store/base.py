"""What every part of the conversations store shares: the session factory, the clock,
idempotent writes, recording events, and the wire form of threads and messages."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.chassis.clock import Clock, isoformat
from services.chassis.db import SessionFactory
from services.chassis.domain import Event
from services.chassis.errors import NotFound
from services.chassis.idempotency import Idempotency
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.conversations.domain.incoming import File
from services.conversations.models import attachments, idempotency, messages, outbox, threads

ATTACHMENT_URL = "/api/v1/attachments/{}"
OLDEST_FIRST = Sort("id", descending=False)


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def from_json(text: str | None) -> Any:
    return [] if not text else json.loads(text)


def people(addresses: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    """``[(name, email)...]`` as the wire's ``[{"name", "email"}...]``."""
    return [{"name": name, "email": email} for name, email in addresses]


def thread_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket_id": row.ticket_id,
        "subject": row.subject,
        "channel": row.channel,
        "location": row.location,
        "owner_id": row.owner_id,
        "customer": {"email": row.customer_email, "name": row.customer_name},
        "message_count": row.message_count,
        "spam": row.spam_at is not None,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
        "last_message_at": isoformat(row.last_message_at),
    }


def attachment_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "inline": row.inline,
        "content_id": row.content_id,
    }


def message_dict(row: Any, files: Sequence[Any]) -> dict[str, Any]:
    """A message as readers see it; inline ``cid:`` images point at the attachment URLs."""
    from services.conversations.mail.sanitize import rewrite_cid

    html = row.html
    if html and any(f.content_id for f in files):
        html = rewrite_cid(html, {f.content_id: ATTACHMENT_URL.format(f.id) for f in files if f.content_id})
    delivery = None
    if row.delivery_state is not None:
        delivery = {
            "state": row.delivery_state,
            "reason": row.delivery_reason,
            "attempts": row.delivery_attempts,
            "sent_at": isoformat(row.sent_at),
        }
    return {
        "id": row.id,
        "thread_id": row.thread_id,
        "kind": row.kind,
        "channel": row.channel,
        "author_id": row.author_id,
        "sender": {"email": row.from_email, "name": row.from_name} if row.from_email else None,
        "to": from_json(row.to_json),
        "cc": from_json(row.cc_json),
        "subject": row.subject,
        "text": row.text,
        "quoted_text": row.quoted,
        "html": html,
        "email_message_id": row.email_message_id,
        "in_reply_to": row.in_reply_to,
        "references": from_json(row.references_json),
        "attachments": [attachment_dict(f) for f in files],
        "mentions": from_json(row.mentions_json),
        "auto": row.auto,
        "delivery": delivery,
        "created_at": isoformat(row.created_at),
    }


class Records:
    """The session factory, the clock and the helpers every part of the store uses."""

    def __init__(self, db: SessionFactory, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.idempotency = Idempotency(db, idempotency, clock=clock)

    def record(self, s: Session, events: Iterable[Event]) -> None:
        for event in events:
            outbox.record(s, event.type, event.payload, clock=self.clock)

    def thread_row(self, s: Session, thread_id: int, *, lock: bool = False) -> Any:
        """The live thread, else NotFound (a deleted thread does not exist for readers)."""
        query = select(threads).where(threads.c.id == thread_id, threads.c.deleted_at.is_(None))
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"thread {thread_id} does not exist")
        return row

    def message_dicts(self, s: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Wire forms of message rows, with their attachments in one query."""
        files: dict[int, list[Any]] = defaultdict(list)
        if rows:
            query = select(attachments).where(attachments.c.message_id.in_([r.id for r in rows]))
            for f in s.execute(query.order_by(attachments.c.id)):
                files[f.message_id].append(f)
        return [message_dict(r, files[r.id]) for r in rows]

    def messages_page(self, s: Session, thread_id: int, *, limit: int, cursor: str | None) -> dict[str, Any]:
        """A thread's messages, oldest first, with their attachments."""
        found = keyset_page(
            s,
            select(messages).where(messages.c.thread_id == thread_id),
            key=messages.c.id,
            ident=messages.c.id,
            sort=OLDEST_FIRST,
            limit=limit,
            cursor=cursor,
            item=lambda row: row,
        )
        found["items"] = self.message_dicts(s, found["items"])
        return found

    def add_files(self, s: Session, message_id: int, files: Iterable[File]) -> None:
        for f in files:
            s.execute(
                attachments.insert().values(
                    message_id=message_id,
                    filename=f.filename,
                    content_type=f.content_type,
                    size=f.size,
                    sha256=f.key,
                    content_id=f.content_id,
                    inline=f.inline,
                )
            )

    def touch(self, s: Session, thread_id: int, now: Any) -> None:
        """One more message on the thread."""
        s.execute(
            update(threads)
            .where(threads.c.id == thread_id)
            .values(message_count=threads.c.message_count + 1, last_message_at=now, updated_at=now)
        )


def insert_message(s: Session, **values: Any) -> int:
    return int(s.scalar(messages.insert().values(**values).returning(messages.c.id)))
