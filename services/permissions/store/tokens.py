"""API tokens: stored as hashes, touched when used, listed, revoked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.chassis.clock import aware
from services.chassis.errors import Conflict, NotFound
from services.chassis.idempotency import REPLAYED, IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.permissions.contract import PERSON, SUPER_ADMIN
from services.permissions.domain import decode_permissions, token_revoked
from services.permissions.models import tokens
from services.permissions.store.base import Records, insert, token_dict

TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)
NEWEST_FIRST = Sort("id", descending=True)

OwnerCheck = Callable[[bool], None]
"""``check(owner_is_super_admin)``: raises when the caller may not manage the owner's tokens."""


@dataclass(frozen=True)
class Holder:
    """Whose a live token is, and how its identity is marked (``kind``, ``quiet``)."""

    user_id: int
    kind: str
    quiet: bool


class Tokens:
    """API tokens of users."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def user_for(self, *, token_hash: str) -> int | None:
        """The user id owning a live token (see :meth:`holder`)."""
        holder = self.holder(token_hash=token_hash)
        return None if holder is None else holder.user_id

    def holder(self, *, token_hash: str) -> Holder | None:
        """Who holds a live token, touching its last-used time at most once a minute."""
        now = self.r.clock.now()
        with self.db.read() as s:
            row = s.execute(
                select(
                    tokens.c.id,
                    tokens.c.user_id,
                    tokens.c.kind,
                    tokens.c.quiet,
                    tokens.c.last_used_at,
                    tokens.c.revoked_at,
                ).where(tokens.c.token_hash == token_hash)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.last_used_at is None or now - aware(row.last_used_at) > TOKEN_TOUCH_INTERVAL:
            with self.db.transaction() as s:
                s.execute(tokens.update().where(tokens.c.id == row.id).values(last_used_at=now))
        return Holder(int(row.user_id), str(row.kind), bool(row.quiet))

    def add(
        self,
        *,
        user_id: int,
        token_hash: str,
        label: str | None,
        check: OwnerCheck,
        kind: str = PERSON,
        quiet: bool = False,
        key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Store a token for ``user_id`` after ``check(owner_is_super_admin)`` passes.

        Under ``key`` the token's record (never its value, which is not kept) is remembered with
        it; the key used again stores nothing and raises Conflict with ``token_id`` (why: see
        ``PermissionsService.issue_token``)."""

        def work(s: Session) -> dict[str, Any]:
            owner = self.r.user_row(s, user_id)
            check(SUPER_ADMIN in decode_permissions(owner.permissions))
            token_id = insert(
                s,
                tokens,
                user_id=user_id,
                token_hash=token_hash,
                label=label,
                kind=kind,
                quiet=quiet,
                created_at=self.r.clock.now(),
            )
            return token_dict(s.execute(select(tokens).where(tokens.c.id == token_id)).one())

        record = self.r.idempotency.run(key, work)
        if record.pop(REPLAYED, False):
            raise Conflict(
                f"Token {record['id']} was already issued under this Idempotency-Key; its value was "
                "shown once and is not kept, so no token is issued again. If the value was lost, "
                f"revoke token {record['id']} and ask again with a new key.",
                token_id=record["id"],
            )
        return record

    def owner(self, *, token_id: int) -> int:
        with self.db.read() as s:
            owner = s.scalar(select(tokens.c.user_id).where(tokens.c.id == token_id))
        if owner is None:
            raise NotFound(f"token {token_id} does not exist")
        return int(owner)

    def page(self, *, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """A user's tokens, newest first (revoked ones too, with ``revoked_at``)."""
        with self.db.read() as s:
            self.r.user_row(s, user_id)
            return keyset_page(
                s,
                select(tokens).where(tokens.c.user_id == user_id),
                key=tokens.c.id,
                ident=tokens.c.id,
                sort=NEWEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=token_dict,
            )

    def revoke(self, *, token_id: int, check: OwnerCheck) -> dict[str, Any]:
        """Revoke a token after ``check(owner_is_super_admin)``; revoking twice changes nothing."""
        with self.db.transaction() as s:
            row = s.execute(select(tokens).where(tokens.c.id == token_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"token {token_id} does not exist")
            check(SUPER_ADMIN in decode_permissions(self.r.user_row(s, row.user_id).permissions))
            if row.revoked_at is None:
                s.execute(
                    tokens.update().where(tokens.c.id == token_id).values(revoked_at=self.r.clock.now())
                )
                self.r.record(s, [token_revoked(token_id, row.user_id)])
            return token_dict(s.execute(select(tokens).where(tokens.c.id == token_id)).one())
