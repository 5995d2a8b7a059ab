"""The only module of the permissions service that talks to its database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.db import Database, SessionFactory
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.outbox import record_event, utcnow
from services.permissions import contract
from services.permissions.domain import UserRecord, decode_permissions, encode_permissions
from services.permissions.models import outbox, team_members, teams, tokens, users

TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)


class PermissionStore:
    """Queries and changes of users, teams and tokens; each public method is one transaction."""

    def __init__(self, db: SessionFactory) -> None:
        self.db = db

    # users -------------------------------------------------------------
    def count_users(self) -> int:
        with self.db.read() as s:
            return int(s.scalar(select(func.count()).select_from(users)) or 0)

    def _team_ids(self, s: Session, user_id: int) -> list[int]:
        return list(s.scalars(select(team_members.c.team_id).where(team_members.c.user_id == user_id).order_by(team_members.c.team_id)))

    def _check_teams(self, s: Session, team_ids: list[int]) -> None:
        if not team_ids:
            return
        found = set(s.scalars(select(teams.c.id).where(teams.c.id.in_(team_ids))))
        missing = sorted(set(team_ids) - found)
        if missing:
            raise ValidationFailed(errors={"team_ids": [f"unknown team ids: {missing}"]})

    def _user_dict(self, s: Session, row: Any) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "email": row.email,
            "permissions": sorted(decode_permissions(row.permissions)),
            "access_level": row.access_level,
            "include_unassigned": row.include_unassigned,
            "team_ids": self._team_ids(s, row.id),
            "seat": row.seat,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }

    def create_user(self, data: dict[str, Any], token_hash: str | None = None) -> dict[str, Any]:
        now = utcnow()
        try:
            with self.db.transaction() as s:
                self._check_teams(s, data.get("team_ids", []))
                user_id = s.execute(
                    users.insert().values(
                        name=data["name"],
                        email=data["email"].lower(),
                        permissions=encode_permissions(data.get("permissions", [])),
                        access_level=data.get("access_level", "owned"),
                        include_unassigned=data.get("include_unassigned", False),
                        seat=data.get("seat", False),
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
                for team_id in set(data.get("team_ids", [])):
                    s.execute(team_members.insert().values(team_id=team_id, user_id=user_id))
                if token_hash:
                    s.execute(tokens.insert().values(user_id=user_id, token_hash=token_hash, created_at=now))
                record_event(s, outbox, contract.USER_CREATED, {"user_id": user_id})
                row = s.execute(select(users).where(users.c.id == user_id)).one()
                return self._user_dict(s, row)
        except IntegrityError as exc:
            raise ValidationFailed(errors={"email": ["a user with this email already exists"]}) from exc

    def get_user(self, user_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            row = s.execute(select(users).where(users.c.id == user_id)).first()
            if row is None:
                raise NotFound(f"user {user_id} does not exist")
            return self._user_dict(s, row)

    def user_record(self, user_id: int) -> tuple[UserRecord, list[int]]:
        """The user as the access rules see it, and the ids of their team-mates."""
        with self.db.read() as s:
            row = s.execute(select(users).where(users.c.id == user_id)).first()
            if row is None:
                raise NotFound(f"user {user_id} does not exist")
            team_ids = self._team_ids(s, user_id)
            mates = list(
                s.scalars(select(team_members.c.user_id).where(team_members.c.team_id.in_(team_ids)).distinct())
            ) if team_ids else []
            record = UserRecord(
                id=row.id,
                name=row.name,
                permissions=decode_permissions(row.permissions),
                access_level=row.access_level,
                include_unassigned=row.include_unassigned,
                seat=row.seat,
                team_ids=tuple(team_ids),
            )
            return record, mates

    def super_admin_ids(self) -> list[int]:
        with self.db.read() as s:
            rows = s.execute(select(users.c.id, users.c.permissions)).all()
            return sorted(r.id for r in rows if "super_admin" in decode_permissions(r.permissions))

    # tokens ------------------------------------------------------------
    def user_for_token(self, token_hash: str) -> int | None:
        """The user id owning a live token, touching its last-used time at most once a minute."""
        now = utcnow()
        with self.db.read() as s:
            row = s.execute(
                select(tokens.c.id, tokens.c.user_id, tokens.c.last_used_at, tokens.c.revoked_at).where(
                    tokens.c.token_hash == token_hash
                )
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        last = row.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.timezone.utc)
        if last is None or now - last > TOKEN_TOUCH_INTERVAL:
            with self.db.transaction() as s:
                s.execute(tokens.update().where(tokens.c.id == row.id).values(last_used_at=now))
        return int(row.user_id)

    def add_token(self, user_id: int, token_hash: str) -> dict[str, Any]:
        now = utcnow()
        with self.db.transaction() as s:
            if s.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist")
            token_id = s.execute(
                tokens.insert().values(user_id=user_id, token_hash=token_hash, created_at=now)
            ).inserted_primary_key[0]
            return {"id": token_id, "user_id": user_id, "created_at": now, "last_used_at": None, "revoked_at": None}


class Store(Database):
    """Dependency giving workers a :class:`PermissionStore`."""

    def get_dependency(self, worker_ctx: Any) -> PermissionStore:  # type: ignore[override]
        return PermissionStore(super().get_dependency(worker_ctx))
