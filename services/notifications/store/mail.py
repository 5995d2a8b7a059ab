"""Notification mail: the outgoing queue the chassis's sender drains, the daily cap's counts, and
the hourly digests waiting to be written."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.chassis.db import MAIL_QUEUED, wake_after_commit
from services.chassis.keyset import keyset_page
from services.chassis.mail.compose import compose
from services.chassis.mail.refs import mail_domain, make_message_id
from services.chassis.mailer import next_retry
from services.chassis.paging import Sort
from services.notifications.domain import MailContent, notification_mail, ticket_lines
from services.notifications.models import digest_queue, feed, mail_counts, outgoing_mail
from services.notifications.store.base import Records, ticket_ids_of

LEASE = dt.timedelta(seconds=60)
DIGEST_LEASE = dt.timedelta(seconds=120)
DIGEST = "digest"
NEWEST_FIRST = Sort("id", descending=True)


@dataclass(frozen=True)
class Due:
    """A notification mail to hand to the relay now (a :class:`~services.chassis.mailer.DueMail`)."""

    id: int
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int


@dataclass(frozen=True)
class Outgoing:
    """A mail to queue: to ``to`` (name, address), about ``notification_id``; ``raw`` bytes, or None
    for a notification's mail, written when it is first claimed; sent after ``delay`` seconds."""

    user_id: int
    kind: str
    notification_id: int | None
    to: tuple[str, str]
    raw: bytes | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class DigestEntry:
    """A notification waiting for the person's next digest."""

    id: int
    notification_id: int
    type: str
    title: str
    ticket_ids: list[int]


def day_of(moment: dt.datetime) -> str:
    """The UTC day the cap counts in."""
    return moment.astimezone(dt.UTC).date().isoformat()


class Mail:
    """Outgoing notification mail; each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    # -- writing (inside the delivery's transaction) ---------------------------------------------------
    def compose(self, content: MailContent, *, to: tuple[str, str]) -> bytes:
        """The message's bytes: automatic mail (``Auto-Submitted``) from our own address."""
        settings = self.r.mail
        return compose(
            from_name=settings.from_name,
            from_address=settings.from_address,
            to=[to],
            subject=content.subject,
            text=content.text,
            html=content.html,
            message_id=make_message_id(mail_domain(settings.from_address)),
            auto=True,
            date=self.r.clock.now(),
        )

    def admit_in(self, s: Session, emails: Sequence[tuple[int, str]]) -> list[bool]:
        """Count one more email for each ``(person, type)`` today; False for each one over the day's
        cap (counted as dropped). One read and one write per kind of change, however many emails."""
        if not emails:
            return []
        day = day_of(self.r.clock.now())
        counts = {
            (row.user_id, row.type): [row.id, row.emails, row.dropped]
            for row in s.execute(
                select(mail_counts)
                .where(
                    mail_counts.c.day == day,
                    mail_counts.c.user_id.in_(sorted({uid for uid, _kind in emails})),
                    mail_counts.c.type.in_(sorted({kind for _uid, kind in emails})),
                )
                .with_for_update()
            )
        }
        fresh: dict[tuple[int, str], list[Any]] = {}
        answers = []
        for key in emails:
            count = counts.get(key) or fresh.setdefault(key, [None, 0, 0])
            admitted = count[1] < self.r.mail.daily_cap
            count[1 if admitted else 2] += 1
            answers.append(admitted)
        if fresh:
            s.execute(
                mail_counts.insert(),
                [
                    {"user_id": u, "type": k, "day": day, "emails": c[1], "dropped": c[2]}
                    for (u, k), c in fresh.items()
                ],
            )
        if counts:
            s.execute(
                update(mail_counts).where(mail_counts.c.id == bindparam("row_id")),
                [{"row_id": c[0], "emails": c[1], "dropped": c[2]} for c in counts.values()],
            )
        return answers

    def enqueue_in(self, s: Session, mails: Sequence[Outgoing]) -> None:
        """Queue mails, in one statement; the mail sender wakes when the transaction commits."""
        if not mails:
            return
        wake_after_commit(s, MAIL_QUEUED)
        now = self.r.clock.now()
        s.execute(
            outgoing_mail.insert(),
            [
                {
                    "notification_id": mail.notification_id,
                    "user_id": mail.user_id,
                    "type": mail.kind,
                    "mail_from": self.r.mail.from_address,
                    "recipients_json": json.dumps([mail.to[1]]),
                    "to_name": mail.to[0][:200],
                    "raw": mail.raw,
                    "state": "queued",
                    "attempts": 0,
                    "next_attempt_at": now + dt.timedelta(seconds=mail.delay),
                    "created_at": now,
                }
                for mail in mails
            ],
        )

    def digest_in(self, s: Session, entries: Sequence[tuple[int, int]]) -> None:
        """Keep ``(person, notification)`` pairs for the people's next digests."""
        if entries:
            now = self.r.clock.now()
            s.execute(
                digest_queue.insert(),
                [{"user_id": uid, "notification_id": nid, "created_at": now} for uid, nid in entries],
            )

    # -- the sender's queue (services.chassis.mailer.MailQueue) ----------------------------------------
    def claim_due(self, *, limit: int) -> list[Due]:
        """Mail due now, leased to the caller (another instance skips it until the lease ends).

        A notification's mail is written here the first time it is claimed, from the notification
        as it is then (a bulk change that grew while its mail waited is told whole), and kept, so
        every retry sends the same bytes with the same Message-ID."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            rows = s.execute(
                select(outgoing_mail, feed.c.title, feed.c.ticket_id, feed.c.ticket_ids)
                .outerjoin(feed, feed.c.id == outgoing_mail.c.notification_id)
                .where(
                    outgoing_mail.c.state == "queued",
                    outgoing_mail.c.next_attempt_at <= now,
                    or_(outgoing_mail.c.claimed_until.is_(None), outgoing_mail.c.claimed_until < now),
                )
                .order_by(outgoing_mail.c.next_attempt_at, outgoing_mail.c.id)
                .limit(limit)
                .with_for_update(of=outgoing_mail, skip_locked=True)
            ).all()
            if rows:
                s.execute(
                    update(outgoing_mail)
                    .where(outgoing_mail.c.id.in_([r.id for r in rows]))
                    .values(claimed_until=now + LEASE)
                )
        written = {r.id: self._write(r) for r in rows if r.raw is None}
        if written:
            self._keep_written(written)
        due = []
        for r in rows:
            raw = bytes(r.raw) if r.raw is not None else written.get(r.id)
            if raw is not None:
                due.append(Due(r.id, r.mail_from, json.loads(r.recipients_json), raw, r.attempts))
        return due

    def _write(self, row: Any) -> bytes | None:
        """The bytes of a notification's mail (None when the notification is gone)."""
        if row.title is None:
            return None
        address = json.loads(row.recipients_json)[0]
        content = notification_mail(
            recipient=row.to_name,
            headline=row.title,
            tickets=ticket_lines(ticket_ids_of(row)),
            base_url=self.r.mail.base_url,
        )
        return self.compose(content, to=(row.to_name, address))

    def _keep_written(self, written: dict[int, bytes | None]) -> None:
        with self.db.transaction() as s:
            for mail_id, raw in written.items():
                values: dict[str, Any] = (
                    {"raw": raw}
                    if raw is not None
                    else {"state": "failed", "last_error": "the notification is gone", "claimed_until": None}
                )
                s.execute(update(outgoing_mail).where(outgoing_mail.c.id == mail_id).values(**values))

    def sent(self, *, due: Due) -> None:
        with self.db.transaction() as s:
            s.execute(
                update(outgoing_mail)
                .where(outgoing_mail.c.id == due.id)
                .values(
                    state="sent", sent_at=self.r.clock.now(), attempts=due.attempts + 1, claimed_until=None
                )
            )

    def not_sent(self, *, due: Due, error: str, permanent: bool) -> bool:
        """Record a failed try; True when the mail is given up (permanent, or out of tries)."""
        attempts = due.attempts + 1
        delay = None if permanent else next_retry(attempts)
        values: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "last_error": error[:2000]}
        if delay is None:
            values["state"] = "failed"
        else:
            values["next_attempt_at"] = self.r.clock.now() + dt.timedelta(seconds=delay)
        with self.db.transaction() as s:
            s.execute(update(outgoing_mail).where(outgoing_mail.c.id == due.id).values(**values))
        return delay is None

    def states(self) -> dict[str, int]:
        """How many mails are in each state (for tests and operators)."""
        with self.db.read() as s:
            rows = s.execute(select(outgoing_mail.c.state, func.count()).group_by(outgoing_mail.c.state))
            return {state: int(n) for state, n in rows}

    # -- digests ---------------------------------------------------------------------------------------
    def digest_due(self) -> list[int]:
        """People whose oldest waiting notification has waited a digest period (and is not being sent)."""
        now = self.r.clock.now()
        oldest = now - dt.timedelta(seconds=self.r.mail.digest_seconds)
        with self.db.read() as s:
            return sorted(
                s.scalars(
                    select(digest_queue.c.user_id)
                    .where(or_(digest_queue.c.claimed_until.is_(None), digest_queue.c.claimed_until < now))
                    .group_by(digest_queue.c.user_id)
                    .having(func.min(digest_queue.c.created_at) <= oldest)
                )
            )

    def claim_digest(self, *, user_id: int) -> list[DigestEntry]:
        """The person's waiting notifications, oldest first, leased to the caller."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            rows = s.execute(
                select(digest_queue.c.id, digest_queue.c.notification_id, feed)
                .join(feed, feed.c.id == digest_queue.c.notification_id)
                .where(
                    digest_queue.c.user_id == user_id,
                    or_(digest_queue.c.claimed_until.is_(None), digest_queue.c.claimed_until < now),
                )
                .order_by(digest_queue.c.id)
                .with_for_update(of=digest_queue, skip_locked=True)
            ).all()
            if rows:
                s.execute(
                    update(digest_queue)
                    .where(digest_queue.c.id.in_([r[0] for r in rows]))
                    .values(claimed_until=now + DIGEST_LEASE)
                )
        return [DigestEntry(r[0], r.notification_id, r.type, r.title, ticket_ids_of(r)) for r in rows]

    def finish_digest(
        self,
        *,
        user_id: int,
        entries: Sequence[DigestEntry],
        to: tuple[str, str] | None,
        raw: bytes | None,
    ) -> None:
        """Queue the digest mail (None: nothing left to tell) and forget its entries, atomically."""
        with self.db.transaction() as s:
            if to is not None and raw is not None:
                self.enqueue_in(s, [Outgoing(user_id, DIGEST, None, to, raw)])
            s.execute(delete(digest_queue).where(digest_queue.c.id.in_([e.id for e in entries])))

    # -- the cap, for admins ---------------------------------------------------------------------------
    def drops(
        self, *, limit: int, cursor: str | None, day: str | None, user_id: int | None
    ) -> dict[str, Any]:
        """Days on which the cap dropped someone's emails, newest first."""
        query = select(mail_counts).where(mail_counts.c.dropped > 0)
        if day is not None:
            query = query.where(mail_counts.c.day == day)
        if user_id is not None:
            query = query.where(mail_counts.c.user_id == user_id)
        with self.db.read() as s:
            return keyset_page(
                s,
                query,
                key=mail_counts.c.id,
                ident=mail_counts.c.id,
                sort=NEWEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=lambda r: {
                    "user_id": r.user_id,
                    "type": r.type,
                    "day": r.day,
                    "emails": r.emails,
                    "dropped": r.dropped,
                },
            )
