"""Passwords, set-password invites and browser sessions, as stored.

Secrets (session ids, invite tokens) arrive here only as their SHA-256; password hashes are
made and checked by :class:`~services.permissions.credentials.Passwords`, outside any
transaction (hashing is slow on purpose), and only stored here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.chassis.clock import aware, isoformat
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.permissions.contract import SUPER_ADMIN
from services.permissions.credentials import (
    CURRENT_PASSWORD_REFUSED,
    INVITE_REFUSED,
    InviteState,
    SessionPolicy,
    SessionState,
    invite_expiry,
    sessions_revoked,
)
from services.permissions.domain import decode_permissions
from services.permissions.models import invites, sessions, users
from services.permissions.store.base import Records, insert

NEWEST_FIRST = Sort("id", descending=True)

OwnerCheck = Callable[[bool], None]
"""``check(owner_is_super_admin)``: raises when the caller may not act on the owner's credentials."""


@dataclass(frozen=True)
class PasswordOf:
    """The user an address names, with their password hash (None: no such user, or no password)."""

    user_id: int | None
    password_hash: str | None


def session_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "created_at": isoformat(row.created_at),
        "last_seen_at": isoformat(row.last_seen_at),
        "expires_at": isoformat(row.expires_at),
        "revoked_at": isoformat(row.revoked_at),
    }


def _state(row: Any) -> SessionState:
    return SessionState(
        created_at=aware(row.created_at),
        last_seen_at=aware(row.last_seen_at),
        expires_at=aware(row.expires_at),
        revoked_at=None if row.revoked_at is None else aware(row.revoked_at),
    )


class Credentials:
    """Passwords, invites and sessions of users."""

    def __init__(self, records: Records, policy: SessionPolicy | None = None) -> None:
        self.r = records
        self.db = records.db
        self.policy = policy or SessionPolicy()

    # passwords -----------------------------------------------------------------
    def password_of(self, *, email: str) -> PasswordOf:
        """Who ``email`` (any case) names and their password hash; never raises for an unknown address."""
        with self.db.read() as s:
            row = s.execute(
                select(users.c.id, users.c.password_hash).where(users.c.email == email.strip().lower())
            ).first()
        if row is None:
            return PasswordOf(None, None)
        return PasswordOf(int(row.id), row.password_hash)

    def rehash(self, *, user_id: int, old_hash: str, new_hash: str) -> None:
        """Replace a hash made at an old cost, unless the password changed meanwhile."""
        with self.db.transaction() as s:
            s.execute(
                users.update()
                .where(users.c.id == user_id, users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )

    def password_hash_of(self, *, user_id: int) -> str | None:
        """The user's password hash (None: no password set yet); NotFound for no such user."""
        with self.db.read() as s:
            stored = self.r.user_row(s, user_id).password_hash
        return None if stored is None else str(stored)

    def change_password(self, *, user_id: int, old_hash: str, new_hash: str) -> dict[str, Any]:
        """Replace the user's password hash ``old_hash`` (the one the current password was checked
        against) with ``new_hash`` and end every session of theirs (``session_revoked``). When
        the hash changed meanwhile (another change won), nothing changes: ValidationFailed on
        ``current_password``."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            user = self.r.user_row(s, user_id, lock=True)
            if user.password_hash != old_hash:
                raise ValidationFailed(errors={"current_password": [CURRENT_PASSWORD_REFUSED]})
            s.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(password_hash=new_hash, password_set_at=now)
            )
            ended = self._revoke_all(s, user_id, now)
        return {"user_id": user_id, "password_set_at": isoformat(now), "sessions_ended": ended}

    # invites --------------------------------------------------------------------
    def invite(
        self, *, user_id: int, token_hash: str, created_by: int | None, check: OwnerCheck
    ) -> dict[str, Any]:
        """Store a new invite for ``user_id`` after ``check(owner_is_super_admin)``; the user's
        earlier unused invites stop working. Answers ``user_id`` and ``expires_at``."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            owner = self.r.user_row(s, user_id, lock=True)
            check(SUPER_ADMIN in decode_permissions(owner.permissions))
            s.execute(
                invites.update()
                .where(invites.c.user_id == user_id, invites.c.used_at.is_(None))
                .values(used_at=now)
            )
            expires = invite_expiry(now)
            insert(
                s,
                invites,
                user_id=user_id,
                token_hash=token_hash,
                created_by=created_by,
                created_at=now,
                expires_at=expires,
            )
        return {"user_id": user_id, "expires_at": isoformat(expires)}

    def accept_invite(self, *, token_hash: str, password_hash: str) -> dict[str, Any]:
        """Set the invited user's password with a usable invite (it is then used up), and end
        every live session of theirs (``session_revoked``). An unknown, used or expired invite is
        a ValidationFailed on ``token`` and changes nothing."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            query = select(invites).where(invites.c.token_hash == token_hash)
            row = s.execute(query.with_for_update()).first()
            state = None if row is None else InviteState(aware(row.expires_at), row.used_at)
            if row is None or state is None or not state.usable(now):
                raise ValidationFailed(errors={"token": [INVITE_REFUSED]})
            user = self.r.user_row(s, row.user_id, lock=True)
            s.execute(invites.update().where(invites.c.id == row.id).values(used_at=now))
            s.execute(
                users.update()
                .where(users.c.id == user.id)
                .values(password_hash=password_hash, password_set_at=now)
            )
            self._revoke_all(s, int(user.id), now)
            return {"user_id": int(user.id), "email": str(user.email)}

    # sessions -------------------------------------------------------------------
    def open(self, *, user_id: int, session_hash: str) -> dict[str, Any]:
        """Start a session for ``user_id`` (its secret stored as ``session_hash``)."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            self.r.user_row(s, user_id)
            session_id = insert(
                s,
                sessions,
                user_id=user_id,
                session_hash=session_hash,
                created_at=now,
                last_seen_at=now,
                expires_at=self.policy.expires_at(now, now),
            )
            return session_dict(s.execute(select(sessions).where(sessions.c.id == session_id)).one())

    def holder(self, *, session_hash: str) -> int | None:
        """The user of a live session, recording its use (and sliding its expiry) at most once a
        minute; None for an unknown, revoked or expired session."""
        now = self.r.clock.now()
        with self.db.read() as s:
            row = s.execute(select(sessions).where(sessions.c.session_hash == session_hash)).first()
        if row is None:
            return None
        state = _state(row)
        if not state.live(now):
            return None
        if state.needs_touch(now):
            with self.db.transaction() as s:
                s.execute(
                    sessions.update()
                    .where(sessions.c.id == row.id, sessions.c.revoked_at.is_(None))
                    .values(last_seen_at=now, expires_at=self.policy.expires_at(state.created_at, now))
                )
        return int(row.user_id)

    def end(self, *, session_hash: str, user_id: int) -> bool:
        """End the session whose secret hashes to ``session_hash`` if it is ``user_id``'s (sign-out);
        True when it was live. Announces ``session_revoked``."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            row = s.execute(
                select(sessions)
                .where(sessions.c.session_hash == session_hash, sessions.c.user_id == user_id)
                .with_for_update()
            ).first()
            if row is None or row.revoked_at is not None:
                return False
            s.execute(sessions.update().where(sessions.c.id == row.id).values(revoked_at=now))
            self.r.record(s, [sessions_revoked(user_id, [row.id])])
            return True

    def owner(self, *, session_id: int) -> int:
        with self.db.read() as s:
            owner = s.scalar(select(sessions.c.user_id).where(sessions.c.id == session_id))
        if owner is None:
            raise NotFound(f"session {session_id} does not exist")
        return int(owner)

    def page(self, *, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """A user's sessions, newest first (ended ones too, with ``revoked_at``)."""
        with self.db.read() as s:
            self.r.user_row(s, user_id)
            return keyset_page(
                s,
                select(sessions).where(sessions.c.user_id == user_id),
                key=sessions.c.id,
                ident=sessions.c.id,
                sort=NEWEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=session_dict,
            )

    def revoke(self, *, session_id: int, check: OwnerCheck) -> dict[str, Any]:
        """Revoke a session after ``check(owner_is_super_admin)``; revoking twice changes nothing."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            row = s.execute(select(sessions).where(sessions.c.id == session_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"session {session_id} does not exist")
            check(SUPER_ADMIN in decode_permissions(self.r.user_row(s, row.user_id).permissions))
            if row.revoked_at is None:
                s.execute(sessions.update().where(sessions.c.id == session_id).values(revoked_at=now))
                self.r.record(s, [sessions_revoked(int(row.user_id), [session_id])])
            return session_dict(s.execute(select(sessions).where(sessions.c.id == session_id)).one())

    def live_count(self, *, user_id: int) -> int:
        now = self.r.clock.now()
        with self.db.read() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(sessions)
                    .where(
                        sessions.c.user_id == user_id,
                        sessions.c.revoked_at.is_(None),
                        sessions.c.expires_at > now,
                    )
                )
                or 0
            )

    def _revoke_all(self, s: Session, user_id: int, now: dt.datetime) -> int:
        """End every session of ``user_id`` not yet revoked (expired ones too, so none is left open);
        answers how many."""
        ids = list(
            s.scalars(
                select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            )
        )
        if ids:
            s.execute(sessions.update().where(sessions.c.id.in_(ids)).values(revoked_at=now))
            self.r.record(s, [sessions_revoked(user_id, ids)])
        return len(ids)
