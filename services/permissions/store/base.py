"""What every part of the permissions store shares: the session factory, the clock,
idempotent creation, row lookups, membership changes and the wire form of rows."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from services.chassis.clock import Clock, isoformat
from services.chassis.db import SessionFactory
from services.chassis.domain import Event
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.idempotency import Idempotency
from services.permissions.contract import SUPER_ADMIN
from services.permissions.domain import Pair, decode_permissions, membership_change
from services.permissions.models import idempotency, outbox, team_members, teams, users


def user_dict(row: Any, team_ids: list[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "permissions": sorted(decode_permissions(row.permissions)),
        "access_level": row.access_level,
        "include_unassigned": row.include_unassigned,
        "team_ids": team_ids,
        "seat": row.seat,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def team_dict(row: Any, member_ids: list[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "member_ids": member_ids,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def token_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "label": row.label,
        "kind": row.kind,
        "quiet": bool(row.quiet),
        "created_at": isoformat(row.created_at),
        "last_used_at": isoformat(row.last_used_at),
        "revoked_at": isoformat(row.revoked_at),
    }


def insert(s: Session, table: Table, **values: Any) -> int:
    """Insert one row; returns its id."""
    return int(s.scalar(table.insert().values(**values).returning(table.c.id)))


class Records:
    """The session factory, the clock and the lookups every part of the store uses."""

    def __init__(self, db: SessionFactory, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.idempotency = Idempotency(db, idempotency, clock=clock)

    def record(self, s: Session, events: Collection[Event]) -> None:
        for event in events:
            outbox.record(s, event.type, event.payload, clock=self.clock)

    def teams_of(self, s: Session, user_ids: Collection[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {uid: [] for uid in user_ids}
        if user_ids:
            query = select(team_members).where(team_members.c.user_id.in_(list(user_ids)))
            for row in s.execute(query.order_by(team_members.c.team_id)):
                found[row.user_id].append(row.team_id)
        return found

    def members_of(self, s: Session, team_ids: Collection[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {tid: [] for tid in team_ids}
        if team_ids:
            query = select(team_members).where(team_members.c.team_id.in_(list(team_ids)))
            for row in s.execute(query.order_by(team_members.c.user_id)):
                found[row.team_id].append(row.user_id)
        return found

    def user_row(self, s: Session, user_id: int, *, lock: bool = False) -> Any:
        query = select(users).where(users.c.id == user_id)
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return row

    def team_row(self, s: Session, team_id: int, *, lock: bool = False) -> Any:
        query = select(teams).where(teams.c.id == team_id)
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"team {team_id} does not exist")
        return row

    def require_ids(self, s: Session, table: Table, ids: Collection[int], field: str) -> None:
        if not ids:
            return
        found = set(s.scalars(select(table.c.id).where(table.c.id.in_(list(ids)))))
        missing = sorted(set(ids) - found)
        if missing:
            raise ValidationFailed(errors={field: [f"unknown ids: {missing}"]})

    def email_taken(self, s: Session, email: str, but: int | None = None) -> None:
        query = select(users.c.id).where(users.c.email == email)
        if but is not None:
            query = query.where(users.c.id != but)
        if s.execute(query).first() is not None:
            raise ValidationFailed(errors={"email": ["a user with this email already exists"]})

    def user_count(self, s: Session) -> int:
        return int(s.scalar(select(func.count()).select_from(users)) or 0)

    def super_admins(self, s: Session) -> list[int]:
        rows = s.execute(
            select(users.c.id, users.c.permissions).where(users.c.permissions.contains(SUPER_ADMIN))
        )
        return sorted(r.id for r in rows if SUPER_ADMIN in decode_permissions(r.permissions))

    def change_membership(
        self,
        s: Session,
        adds: set[Pair],
        removes: set[Pair],
        *,
        announce_users: bool,
        announce_teams: bool,
    ) -> set[int]:
        """Apply (team, user) adds and removes and announce them; returns every affected user id."""
        touched_teams = {t for t, _ in adds | removes}
        touched_users = {u for _, u in adds | removes}
        if not touched_teams:
            return set()
        before = self.members_of(s, touched_teams)
        for team_id, user_id in removes:
            s.execute(
                team_members.delete().where(
                    team_members.c.team_id == team_id, team_members.c.user_id == user_id
                )
            )
        for team_id, user_id in sorted(adds):
            s.execute(team_members.insert().values(team_id=team_id, user_id=user_id))
        after = self.members_of(s, touched_teams)
        now = self.clock.now()
        s.execute(teams.update().where(teams.c.id.in_(touched_teams)).values(updated_at=now))
        s.execute(users.update().where(users.c.id.in_(touched_users)).values(updated_at=now))
        change = membership_change(
            before, after, adds, removes, announce_users=announce_users, announce_teams=announce_teams
        )
        self.record(s, change.events)
        return set(change.affected_user_ids)
