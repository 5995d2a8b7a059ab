"""Users: creation (with teams), reads, pages, changes under the rules, super admins."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.permissions.contract import SUPER_ADMIN
from services.permissions.domain import (
    UserRecord,
    check_super_admins_remain,
    decode_permissions,
    diff_user,
    encode_permissions,
    user_created,
    user_updated,
)
from services.permissions.models import team_members, teams, tokens, users
from services.permissions.store.base import Records, insert, user_dict

UserCheck = Callable[[dict[str, Any], dict[str, Any]], None]
"""``check(current, changes)``: raises when the caller may not make ``changes`` to ``current``."""


class Users:
    """Users and what the access rules need to know about them."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def count(self) -> int:
        with self.db.read() as s:
            return self.r.user_count(s)

    def seat_count(self) -> dict[str, int]:
        """``{"in_use": users with a seat, "users": all users}``, in one query."""
        with self.db.read() as s:
            row = s.execute(
                select(func.count(), func.count().filter(users.c.seat.is_(True))).select_from(users)
            ).one()
        return {"in_use": int(row[1] or 0), "users": int(row[0] or 0)}

    def create(
        self,
        *,
        data: Mapping[str, Any],
        token_hash: str | None = None,
        password_hash: str | None = None,
        key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Create a user (with teams, and an initial token and password hash for the bootstrap admin)."""
        email = str(data["email"]).lower()
        team_ids = sorted(set(data.get("team_ids", [])))

        def work(s: Session) -> dict[str, Any]:
            now = self.r.clock.now()
            self.r.require_ids(s, teams, team_ids, "team_ids")
            self.r.email_taken(s, email)
            user_id = insert(
                s,
                users,
                name=data["name"],
                email=email,
                permissions=encode_permissions(data.get("permissions", [])),
                access_level=data.get("access_level", "owned"),
                include_unassigned=data.get("include_unassigned", False),
                seat=data.get("seat", False),
                created_at=now,
                updated_at=now,
                password_hash=password_hash,
                password_set_at=now if password_hash else None,
            )
            affected = self.r.change_membership(
                s, {(t, user_id) for t in team_ids}, set(), announce_users=False, announce_teams=True
            )
            if token_hash:
                s.execute(tokens.insert().values(user_id=user_id, token_hash=token_hash, created_at=now))
            self.r.record(s, [user_created(user_id, affected)])
            return user_dict(self.r.user_row(s, user_id), team_ids)

        try:
            return self.r.idempotency.run(key, work)
        except IntegrityError as exc:
            raise ValidationFailed(errors={"email": ["a user with this email already exists"]}) from exc

    def get(self, *, user_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            row = self.r.user_row(s, user_id)
            return user_dict(row, self.r.teams_of(s, [user_id])[user_id])

    def record(self, *, user_id: int) -> tuple[UserRecord, list[int]]:
        """The user as the access rules see it, and the ids of their team-mates."""
        with self.db.read() as s:
            row = self.r.user_row(s, user_id)
            team_ids = self.r.teams_of(s, [user_id])[user_id]
            mates = set().union(*self.r.members_of(s, team_ids).values()) if team_ids else set()
            found = UserRecord(
                id=row.id,
                name=row.name,
                permissions=decode_permissions(row.permissions),
                access_level=row.access_level,
                include_unassigned=row.include_unassigned,
                seat=row.seat,
                team_ids=tuple(team_ids),
            )
            return found, sorted(mates)

    def records(self, *, user_ids: Collection[int]) -> list[tuple[UserRecord, list[int], str]]:
        """``(record, team-mate ids, email)`` of each of ``user_ids`` that exists, in id order
        (a batch of :meth:`record`, in a fixed number of queries)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return []
        with self.db.read() as s:
            rows = s.execute(select(users).where(users.c.id.in_(wanted)).order_by(users.c.id)).all()
            teams_by_user = self.r.teams_of(s, [r.id for r in rows])
            all_teams = sorted(set().union(*teams_by_user.values())) if teams_by_user else []
            members = self.r.members_of(s, all_teams)
        found = []
        for row in rows:
            team_ids = teams_by_user[row.id]
            mates = sorted(set().union(*(members[t] for t in team_ids))) if team_ids else []
            record = UserRecord(
                id=row.id,
                name=row.name,
                permissions=decode_permissions(row.permissions),
                access_level=row.access_level,
                include_unassigned=row.include_unassigned,
                seat=row.seat,
                team_ids=tuple(team_ids),
            )
            found.append((record, mates, str(row.email)))
        return found

    def page(
        self, *, limit: int, cursor: str | None, sort: Sort, q: str | None, team_id: int | None
    ) -> dict[str, Any]:
        where: list[ColumnElement[bool]] = []
        if q:
            needle = q.lower()
            where.append(
                or_(
                    func.lower(users.c.name).contains(needle, autoescape=True),
                    users.c.email.contains(needle, autoescape=True),
                )
            )
        if team_id is not None:
            where.append(
                users.c.id.in_(select(team_members.c.user_id).where(team_members.c.team_id == team_id))
            )
        with self.db.read() as s:
            found = keyset_page(
                s,
                select(users).where(*where),
                key=users.c[sort.key],
                ident=users.c.id,
                sort=sort,
                limit=limit,
                cursor=cursor,
                item=lambda row: row,
            )
            teams_of = self.r.teams_of(s, [r.id for r in found["items"]])
            found["items"] = [user_dict(r, teams_of[r.id]) for r in found["items"]]
        return found

    def update(self, *, user_id: int, patch: Mapping[str, Any], check: UserCheck) -> dict[str, Any]:
        """Apply the fields of ``patch`` that differ, after ``check(current, changes)`` passes.

        Nothing changed means no write and no event. Taking ``super_admin`` from the
        last super admin is a Conflict.
        """
        try:
            with self.db.transaction() as s:
                row = self.r.user_row(s, user_id, lock=True)
                current = user_dict(row, self.r.teams_of(s, [user_id])[user_id])
                changes = diff_user(current, patch)
                check(current, changes)
                if not changes:
                    return current
                self._apply(s, user_id, current, changes)
                return user_dict(self.r.user_row(s, user_id), self.r.teams_of(s, [user_id])[user_id])
        except IntegrityError as exc:  # the checks above passed, so a concurrent write won the race
            raise Conflict("The user was changed concurrently; read it again and retry.") from exc

    def _apply(self, s: Session, user_id: int, current: dict[str, Any], changes: dict[str, Any]) -> None:
        columns = {k: v for k, v in changes.items() if k != "team_ids"}
        if "permissions" in columns:
            columns["permissions"] = encode_permissions(columns["permissions"])
        if "email" in columns:
            self.r.email_taken(s, columns["email"], but=user_id)
        affected = {user_id}
        if "team_ids" in changes:
            self.r.require_ids(s, teams, changes["team_ids"], "team_ids")
            old, new = set(current["team_ids"]), set(changes["team_ids"])
            affected |= self.r.change_membership(
                s,
                {(t, user_id) for t in new - old},
                {(t, user_id) for t in old - new},
                announce_users=False,
                announce_teams=True,
            )
        s.execute(
            users.update().where(users.c.id == user_id).values(**columns, updated_at=self.r.clock.now())
        )
        if "permissions" in changes:
            check_super_admins_remain(self.r.super_admins(s))
        self.r.record(s, [user_updated(user_id, changes, affected)])

    def is_super_admin(self, *, user_id: int) -> bool:
        with self.db.read() as s:
            return SUPER_ADMIN in decode_permissions(self.r.user_row(s, user_id).permissions)

    def super_admin_ids(self) -> list[int]:
        with self.db.read() as s:
            return self.r.super_admins(s)

    def admin_directory(self) -> tuple[list[int], int]:
        """The super admins' ids and the number of users, from one snapshot."""
        with self.db.read() as s:
            return self.r.super_admins(s), self.r.user_count(s)
