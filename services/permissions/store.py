"""The only module of the permissions service that talks to its database.

Every public method of :class:`PermissionStore` is one transaction. Writes record
their events in that transaction (outbox), and the rules a write must pass are
handed in as ``check`` callbacks that run inside it, on the rows as they are then.

Whenever team membership changes, by either path (a user's ``team_ids`` or a team's
member list), both sides are announced: ``user_updated`` for each user whose teams
changed and ``team_updated`` for each team whose members changed, each naming in
``affected_user_ids`` everyone whose signed identity (team ids, team-mates) may differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, Table, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis import idempotency as idempotency_keys
from services.chassis.db import Database, SessionFactory
from services.chassis.errors import Conflict, NotFound, ValidationFailed
from services.chassis.outbox import record_event, utcnow
from services.permissions import contract
from services.permissions.domain import (
    SUPER_ADMIN,
    UserRecord,
    decode_cursor,
    decode_permissions,
    diff_user,
    encode_cursor,
    encode_permissions,
)
from services.permissions.models import idempotency, outbox, team_members, teams, tokens, users

TOKEN_TOUCH_INTERVAL = dt.timedelta(seconds=60)

Page = dict[str, Any]
Idempotency = tuple[int, str, str]
"""(caller id, Idempotency-Key, request hash) of a create that may be replayed."""


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _user_dict(row: Any, team_ids: list[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "permissions": sorted(decode_permissions(row.permissions)),
        "access_level": row.access_level,
        "include_unassigned": row.include_unassigned,
        "team_ids": team_ids,
        "seat": row.seat,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _team_dict(row: Any, member_ids: list[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "member_ids": member_ids,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _token_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "label": row.label,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _insert(s: Session, table: Table, **values: Any) -> int:
    """Insert one row; returns its id."""
    return int(s.scalar(table.insert().values(**values).returning(table.c.id)))


def _cursor_value(column: Any, value: Any) -> Any:
    """A cursor's sort value, typed like ``column`` (anything else is a 422)."""
    try:
        if isinstance(column.type, DateTime):
            return dt.datetime.fromisoformat(value)
        if isinstance(column.type, Integer):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif isinstance(value, str):
            return value
    except (TypeError, ValueError):
        pass
    raise ValidationFailed(errors={"cursor": ["not a valid cursor for this list"]})


def _page(
    s: Session,
    table: Table,
    where: list[ColumnElement[bool]],
    sort: tuple[str, bool],
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None, int]:
    """One keyset page of ``table`` rows: (rows, next cursor, total matching)."""
    key, descending = sort
    sort_text = ("-" if descending else "") + key
    column, ident = table.c[key], table.c.id
    query = select(table).where(*where)
    if cursor:
        value, last_id = decode_cursor(cursor, sort_text)
        value = _cursor_value(column, value)
        if descending:
            query = query.where(or_(column < value, (column == value) & (ident < last_id)))
        else:
            query = query.where(or_(column > value, (column == value) & (ident > last_id)))
    order = (column.desc(), ident.desc()) if descending else (column.asc(), ident.asc())
    rows = list(s.execute(query.order_by(*order).limit(limit + 1)).all())
    total = int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(sort_text, getattr(last, key), last.id)
    return rows[:limit], next_cursor, total


class PermissionStore:
    """Queries and changes of users, teams and tokens; each public method is one transaction."""

    def __init__(self, db: SessionFactory) -> None:
        self.db = db

    # shared reads ------------------------------------------------------
    def _teams_of(self, s: Session, user_ids: Collection[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {uid: [] for uid in user_ids}
        if user_ids:
            query = select(team_members).where(team_members.c.user_id.in_(list(user_ids)))
            for row in s.execute(query.order_by(team_members.c.team_id)):
                found[row.user_id].append(row.team_id)
        return found

    def _members_of(self, s: Session, team_ids: Collection[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {tid: [] for tid in team_ids}
        if team_ids:
            query = select(team_members).where(team_members.c.team_id.in_(list(team_ids)))
            for row in s.execute(query.order_by(team_members.c.user_id)):
                found[row.team_id].append(row.user_id)
        return found

    def _user_row(self, s: Session, user_id: int, *, lock: bool = False) -> Any:
        query = select(users).where(users.c.id == user_id)
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return row

    def _team_row(self, s: Session, team_id: int, *, lock: bool = False) -> Any:
        query = select(teams).where(teams.c.id == team_id)
        row = s.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"team {team_id} does not exist")
        return row

    def _require_ids(self, s: Session, table: Table, ids: Collection[int], field: str) -> None:
        if not ids:
            return
        found = set(s.scalars(select(table.c.id).where(table.c.id.in_(list(ids)))))
        missing = sorted(set(ids) - found)
        if missing:
            raise ValidationFailed(errors={field: [f"unknown ids: {missing}"]})

    def _email_taken(self, s: Session, email: str, but: int | None = None) -> None:
        query = select(users.c.id).where(users.c.email == email)
        if but is not None:
            query = query.where(users.c.id != but)
        if s.execute(query).first() is not None:
            raise ValidationFailed(errors={"email": ["a user with this email already exists"]})

    def _super_admins(self, s: Session) -> list[int]:
        rows = s.execute(
            select(users.c.id, users.c.permissions).where(users.c.permissions.contains(SUPER_ADMIN))
        )
        return sorted(r.id for r in rows if SUPER_ADMIN in decode_permissions(r.permissions))

    # idempotency -------------------------------------------------------
    def replay(self, key: Idempotency | None, operation: str) -> dict[str, Any] | None:
        """The first answer to this key, None if unused; Conflict if used for another request."""
        if key is None:
            return None
        caller_id, name, fingerprint = key
        with self.db.read() as s:
            return idempotency_keys.replay(s, idempotency, caller_id, name, fingerprint, operation)

    def _remember(
        self, s: Session, key: Idempotency | None, operation: str, response: dict[str, Any]
    ) -> None:
        if key is not None:
            caller_id, name, fingerprint = key
            idempotency_keys.remember(s, idempotency, caller_id, name, operation, fingerprint, response)

    # membership --------------------------------------------------------
    def _change_membership(
        self,
        s: Session,
        adds: set[tuple[int, int]],
        removes: set[tuple[int, int]],
        *,
        announce_users: bool,
        announce_teams: bool,
    ) -> set[int]:
        """Apply (team, user) adds and removes, announce them; returns every affected user id."""
        touched_teams = {t for t, _ in adds | removes}
        touched_users = {u for _, u in adds | removes}
        if not touched_teams:
            return set()
        before = self._members_of(s, touched_teams)
        for team_id, user_id in removes:
            s.execute(
                team_members.delete().where(
                    team_members.c.team_id == team_id, team_members.c.user_id == user_id
                )
            )
        for team_id, user_id in sorted(adds):
            s.execute(team_members.insert().values(team_id=team_id, user_id=user_id))
        after = self._members_of(s, touched_teams)
        now = utcnow()
        s.execute(teams.update().where(teams.c.id.in_(touched_teams)).values(updated_at=now))
        s.execute(users.update().where(users.c.id.in_(touched_users)).values(updated_at=now))
        affected_by_team = {t: set(before[t]) | set(after[t]) for t in touched_teams}
        affected = set().union(*affected_by_team.values())
        if announce_teams:
            for team_id in sorted(touched_teams):
                record_event(
                    s,
                    outbox,
                    contract.TEAM_UPDATED,
                    {
                        "team_id": team_id,
                        "changed": ["member_ids"],
                        "added_user_ids": sorted(u for t, u in adds if t == team_id),
                        "removed_user_ids": sorted(u for t, u in removes if t == team_id),
                        "affected_user_ids": sorted(affected_by_team[team_id]),
                    },
                )
        if announce_users:
            for user_id in sorted(touched_users):
                mine = {t for t, u in adds | removes if u == user_id}
                record_event(
                    s,
                    outbox,
                    contract.USER_UPDATED,
                    {
                        "user_id": user_id,
                        "changed": ["team_ids"],
                        "affected_user_ids": sorted(set().union(*(affected_by_team[t] for t in mine))),
                    },
                )
        return affected

    # users -------------------------------------------------------------
    def count_users(self) -> int:
        with self.db.read() as s:
            return int(s.scalar(select(func.count()).select_from(users)) or 0)

    def create_user(
        self, data: Mapping[str, Any], token_hash: str | None = None, key: Idempotency | None = None
    ) -> dict[str, Any]:
        """Create a user (with teams, and an initial token for the bootstrap admin)."""
        replayed = self.replay(key, "create_user")
        if replayed is not None:
            return replayed
        now = utcnow()
        email = str(data["email"]).lower()
        team_ids = sorted(set(data.get("team_ids", [])))
        try:
            with self.db.transaction() as s:
                self._require_ids(s, teams, team_ids, "team_ids")
                self._email_taken(s, email)
                user_id = _insert(
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
                )
                affected = self._change_membership(
                    s, {(t, user_id) for t in team_ids}, set(), announce_users=False, announce_teams=True
                )
                if token_hash:
                    s.execute(tokens.insert().values(user_id=user_id, token_hash=token_hash, created_at=now))
                record_event(
                    s,
                    outbox,
                    contract.USER_CREATED,
                    {"user_id": user_id, "affected_user_ids": sorted(affected | {user_id})},
                )
                user = _user_dict(self._user_row(s, user_id), team_ids)
                self._remember(s, key, "create_user", user)
                return user
        except IntegrityError as exc:
            replayed = self.replay(key, "create_user")  # a concurrent twin with the same key won
            if replayed is not None:
                return replayed
            raise ValidationFailed(errors={"email": ["a user with this email already exists"]}) from exc

    def get_user(self, user_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            row = self._user_row(s, user_id)
            return _user_dict(row, self._teams_of(s, [user_id])[user_id])

    def user_record(self, user_id: int) -> tuple[UserRecord, list[int]]:
        """The user as the access rules see it, and the ids of their team-mates."""
        with self.db.read() as s:
            row = self._user_row(s, user_id)
            team_ids = self._teams_of(s, [user_id])[user_id]
            mates = set().union(*self._members_of(s, team_ids).values()) if team_ids else set()
            record = UserRecord(
                id=row.id,
                name=row.name,
                permissions=decode_permissions(row.permissions),
                access_level=row.access_level,
                include_unassigned=row.include_unassigned,
                seat=row.seat,
                team_ids=tuple(team_ids),
            )
            return record, sorted(mates)

    def list_users(
        self, *, limit: int, cursor: str | None, sort: tuple[str, bool], q: str | None, team_id: int | None
    ) -> Page:
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
            rows, next_cursor, total = _page(s, users, where, sort, limit, cursor)
            teams_of = self._teams_of(s, [r.id for r in rows])
            items = [_user_dict(r, teams_of[r.id]) for r in rows]
        return {"items": items, "next_cursor": next_cursor, "total": total}

    def update_user(
        self,
        user_id: int,
        patch: Mapping[str, Any],
        check: Callable[[dict[str, Any], dict[str, Any]], None],
    ) -> dict[str, Any]:
        """Apply the fields of ``patch`` that differ, after ``check(current, changes)`` passes.

        Nothing changed means no write and no event. Taking ``super_admin`` from the
        last super admin is a Conflict.
        """
        try:
            with self.db.transaction() as s:
                row = self._user_row(s, user_id, lock=True)
                current = _user_dict(row, self._teams_of(s, [user_id])[user_id])
                changes = diff_user(current, patch)
                check(current, changes)
                if not changes:
                    return current
                columns = {k: v for k, v in changes.items() if k != "team_ids"}
                if "permissions" in columns:
                    columns["permissions"] = encode_permissions(columns["permissions"])
                if "email" in columns:
                    self._email_taken(s, columns["email"], but=user_id)
                affected = {user_id}
                if "team_ids" in changes:
                    self._require_ids(s, teams, changes["team_ids"], "team_ids")
                    old, new = set(current["team_ids"]), set(changes["team_ids"])
                    affected |= self._change_membership(
                        s,
                        {(t, user_id) for t in new - old},
                        {(t, user_id) for t in old - new},
                        announce_users=False,
                        announce_teams=True,
                    )
                s.execute(users.update().where(users.c.id == user_id).values(**columns, updated_at=utcnow()))
                if "permissions" in changes and not self._super_admins(s):
                    raise Conflict("At least one super admin must remain.")
                record_event(
                    s,
                    outbox,
                    contract.USER_UPDATED,
                    {"user_id": user_id, "changed": sorted(changes), "affected_user_ids": sorted(affected)},
                )
                return _user_dict(self._user_row(s, user_id), self._teams_of(s, [user_id])[user_id])
        except IntegrityError as exc:  # the checks above passed, so a concurrent write won the race
            raise Conflict("The user was changed concurrently; read it again and retry.") from exc

    def is_super_admin(self, user_id: int) -> bool:
        with self.db.read() as s:
            return SUPER_ADMIN in decode_permissions(self._user_row(s, user_id).permissions)

    def super_admin_ids(self) -> list[int]:
        with self.db.read() as s:
            return self._super_admins(s)

    # teams -------------------------------------------------------------
    def create_team(self, name: str, key: Idempotency | None = None) -> dict[str, Any]:
        replayed = self.replay(key, "create_team")
        if replayed is not None:
            return replayed
        now = utcnow()
        try:
            with self.db.transaction() as s:
                if s.execute(select(teams.c.id).where(teams.c.name == name)).first() is not None:
                    raise ValidationFailed(errors={"name": ["a team with this name already exists"]})
                team_id = _insert(s, teams, name=name, created_at=now, updated_at=now)
                record_event(s, outbox, contract.TEAM_CREATED, {"team_id": team_id, "name": name})
                team = _team_dict(self._team_row(s, team_id), [])
                self._remember(s, key, "create_team", team)
                return team
        except IntegrityError as exc:
            replayed = self.replay(key, "create_team")
            if replayed is not None:
                return replayed
            raise ValidationFailed(errors={"name": ["a team with this name already exists"]}) from exc

    def get_team(self, team_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return _team_dict(self._team_row(s, team_id), self._members_of(s, [team_id])[team_id])

    def list_teams(
        self, *, limit: int, cursor: str | None, sort: tuple[str, bool], only: Collection[int] | None
    ) -> Page:
        """Teams, or only those with ids in ``only`` when it is given."""
        where: list[ColumnElement[bool]] = [] if only is None else [teams.c.id.in_(list(only))]
        with self.db.read() as s:
            rows, next_cursor, total = _page(s, teams, where, sort, limit, cursor)
            members = self._members_of(s, [r.id for r in rows])
            items = [_team_dict(r, members[r.id]) for r in rows]
        return {"items": items, "next_cursor": next_cursor, "total": total}

    def rename_team(self, team_id: int, name: str) -> dict[str, Any]:
        try:
            with self.db.transaction() as s:
                row = self._team_row(s, team_id, lock=True)
                if row.name != name:
                    clash = select(teams.c.id).where(teams.c.name == name, teams.c.id != team_id)
                    if s.execute(clash).first() is not None:
                        raise ValidationFailed(errors={"name": ["a team with this name already exists"]})
                    s.execute(
                        teams.update().where(teams.c.id == team_id).values(name=name, updated_at=utcnow())
                    )
                    record_event(s, outbox, contract.TEAM_UPDATED, {"team_id": team_id, "changed": ["name"]})
                return _team_dict(self._team_row(s, team_id), self._members_of(s, [team_id])[team_id])
        except IntegrityError as exc:
            raise ValidationFailed(errors={"name": ["a team with this name already exists"]}) from exc

    def set_team_members(
        self, team_id: int, user_ids: Collection[int], check: Callable[[bool], None]
    ) -> dict[str, Any]:
        """Make ``user_ids`` the team's members, after ``check(touches_a_super_admin)`` passes."""
        try:
            with self.db.transaction() as s:
                self._team_row(s, team_id, lock=True)
                wanted = set(user_ids)
                self._require_ids(s, users, wanted, "user_ids")
                current = set(self._members_of(s, [team_id])[team_id])
                adds, removes = wanted - current, current - wanted
                check(bool((adds | removes) & set(self._super_admins(s))))
                self._change_membership(
                    s,
                    {(team_id, u) for u in adds},
                    {(team_id, u) for u in removes},
                    announce_users=True,
                    announce_teams=True,
                )
                return _team_dict(self._team_row(s, team_id), self._members_of(s, [team_id])[team_id])
        except IntegrityError as exc:
            raise Conflict("The team was changed concurrently; read it again and retry.") from exc

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
        last = _aware(row.last_used_at)
        if last is None or now - last > TOKEN_TOUCH_INTERVAL:
            with self.db.transaction() as s:
                s.execute(tokens.update().where(tokens.c.id == row.id).values(last_used_at=now))
        return int(row.user_id)

    def add_token(
        self, user_id: int, token_hash: str, label: str | None, check: Callable[[bool], None]
    ) -> dict[str, Any]:
        """Store a token for ``user_id`` after ``check(owner_is_super_admin)`` passes."""
        with self.db.transaction() as s:
            owner = self._user_row(s, user_id)
            check(SUPER_ADMIN in decode_permissions(owner.permissions))
            token_id = _insert(
                s, tokens, user_id=user_id, token_hash=token_hash, label=label, created_at=utcnow()
            )
            return _token_dict(s.execute(select(tokens).where(tokens.c.id == token_id)).one())

    def token_owner(self, token_id: int) -> int:
        with self.db.read() as s:
            owner = s.scalar(select(tokens.c.user_id).where(tokens.c.id == token_id))
        if owner is None:
            raise NotFound(f"token {token_id} does not exist")
        return int(owner)

    def list_tokens(self, user_id: int, *, limit: int, cursor: str | None) -> Page:
        """A user's tokens, newest first (revoked ones too, with ``revoked_at``)."""
        with self.db.read() as s:
            self._user_row(s, user_id)
            rows, next_cursor, total = _page(
                s, tokens, [tokens.c.user_id == user_id], ("id", True), limit, cursor
            )
        return {"items": [_token_dict(r) for r in rows], "next_cursor": next_cursor, "total": total}

    def revoke_token(self, token_id: int, check: Callable[[bool], None]) -> dict[str, Any]:
        """Revoke a token after ``check(owner_is_super_admin)``; revoking twice changes nothing."""
        with self.db.transaction() as s:
            row = s.execute(select(tokens).where(tokens.c.id == token_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"token {token_id} does not exist")
            check(SUPER_ADMIN in decode_permissions(self._user_row(s, row.user_id).permissions))
            if row.revoked_at is None:
                s.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=utcnow()))
                record_event(
                    s, outbox, contract.TOKEN_REVOKED, {"token_id": token_id, "user_id": row.user_id}
                )
            return _token_dict(s.execute(select(tokens).where(tokens.c.id == token_id)).one())


class Store(Database):
    """Dependency giving workers a :class:`PermissionStore`."""

    def get_dependency(self, worker_ctx: Any) -> PermissionStore:  # type: ignore[override]
        return PermissionStore(super().get_dependency(worker_ctx))
