"""Notification mail: the outgoing queue the chassis's sender drains, the daily cap's counts, and
the hourly digests waiting to be written."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.chassis.keyset import keyset_page
from services.chassis.mail.compose import compose
from services.chassis.mail.refs import mail_domain, make_message_id
from services.chassis.mailer import next_retry
from services.chassis.paging import Sort
from services.notifications.domain import MailContent
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

    def admit_in(self, s: Session, *, user_id: int, kind: str) -> bool:
        """Count one more email of ``kind`` for the person today; False (and counted as dropped)
        once the day's cap is reached."""
        day = day_of(self.r.clock.now())
        key = (mail_counts.c.user_id == user_id, mail_counts.c.type == kind, mail_counts.c.day == day)
        row = s.execute(select(mail_counts.c.emails).where(*key).with_for_update()).first()
        if row is None:
            s.execute(mail_counts.insert().values(user_id=user_id, type=kind, day=day, emails=1, dropped=0))
            return True
        if row.emails >= self.r.mail.daily_cap:
            s.execute(update(mail_counts).where(*key).values(dropped=mail_counts.c.dropped + 1))
            return False
        s.execute(update(mail_counts).where(*key).values(emails=mail_counts.c.emails + 1))
        return True

    def enqueue_in(
        self,
        s: Session,
        *,
        user_id: int,
        kind: str,
        notification_id: int | None,
        to: str,
        raw: bytes,
        delay: float = 0.0,
    ) -> None:
        now = self.r.clock.now()
        s.execute(
            outgoing_mail.insert().values(
                notification_id=notification_id,
                user_id=user_id,
                type=kind,
                mail_from=self.r.mail.from_address,
                recipients_json=json.dumps([to]),
                raw=raw,
                state="queued",
                attempts=0,
                next_attempt_at=now + dt.timedelta(seconds=delay),
                created_at=now,
            )
        )

    def rewrite_queued_in(self, s: Session, *, notification_id: int, raw: bytes) -> bool:
        """Replace the bytes of the notification's mail if it has not been tried yet (a bulk
        change grew while its mail waited); False when there is no such mail."""
        done = s.execute(
            update(outgoing_mail)
            .where(
                outgoing_mail.c.notification_id == notification_id,
                outgoing_mail.c.state == "queued",
                outgoing_mail.c.attempts == 0,
            )
            .values(raw=raw)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def digest_in(self, s: Session, *, user_id: int, notification_id: int) -> None:
        s.execute(
            digest_queue.insert().values(
                user_id=user_id, notification_id=notification_id, created_at=self.r.clock.now()
            )
        )

    # -- the sender's queue (services.chassis.mailer.MailQueue) ----------------------------------------
    def claim_due(self, *, limit: int) -> list[Due]:
        """Mail due now, leased to the caller (another instance skips it until the lease ends)."""
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
        return [Due(r.id, r.mail_from, json.loads(r.recipients_json), bytes(r.raw), r.attempts) for r in rows]

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
        self, *, user_id: int, entries: Sequence[DigestEntry], to: str | None, raw: bytes | None
    ) -> None:
        """Queue the digest mail (None: nothing left to tell) and forget its entries, atomically."""
        with self.db.transaction() as s:
            if to is not None and raw is not None:
                self.enqueue_in(s, user_id=user_id, kind=DIGEST, notification_id=None, to=to, raw=raw)
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
