"""Teams: creation, reads, pages, renames and membership."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.errors import Conflict, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.permissions.domain import team_created, team_renamed
from services.permissions.models import teams, users
from services.permissions.store.base import Records, insert, team_dict

NAME_TAKEN = {"name": ["a team with this name already exists"]}


class Teams:
    """Teams and their members."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def create(self, *, name: str, key: IdempotencyKey | None = None) -> dict[str, Any]:
        def work(s: Session) -> dict[str, Any]:
            now = self.r.clock.now()
            if s.execute(select(teams.c.id).where(teams.c.name == name)).first() is not None:
                raise ValidationFailed(errors=NAME_TAKEN)
            team_id = insert(s, teams, name=name, created_at=now, updated_at=now)
            self.r.record(s, [team_created(team_id, name)])
            return team_dict(self.r.team_row(s, team_id), [])

        try:
            return self.r.idempotency.run(key, work)
        except IntegrityError as exc:
            raise ValidationFailed(errors=NAME_TAKEN) from exc

    def get(self, *, team_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return team_dict(self.r.team_row(s, team_id), self.r.members_of(s, [team_id])[team_id])

    def page(
        self, *, limit: int, cursor: str | None, sort: Sort, only: Collection[int] | None
    ) -> dict[str, Any]:
        """Teams, or only those with ids in ``only`` when it is given."""
        where: list[ColumnElement[bool]] = [] if only is None else [teams.c.id.in_(list(only))]
        with self.db.read() as s:
            found = keyset_page(
                s,
                select(teams).where(*where),
                key=teams.c[sort.key],
                ident=teams.c.id,
                sort=sort,
                limit=limit,
                cursor=cursor,
                item=lambda row: row,
            )
            members = self.r.members_of(s, [r.id for r in found["items"]])
            found["items"] = [team_dict(r, members[r.id]) for r in found["items"]]
        return found

    def rename(self, *, team_id: int, name: str) -> dict[str, Any]:
        try:
            with self.db.transaction() as s:
                row = self.r.team_row(s, team_id, lock=True)
                if row.name != name:
                    clash = select(teams.c.id).where(teams.c.name == name, teams.c.id != team_id)
                    if s.execute(clash).first() is not None:
                        raise ValidationFailed(errors=NAME_TAKEN)
                    now = self.r.clock.now()
                    s.execute(teams.update().where(teams.c.id == team_id).values(name=name, updated_at=now))
                    self.r.record(s, [team_renamed(team_id)])
                return team_dict(self.r.team_row(s, team_id), self.r.members_of(s, [team_id])[team_id])
        except IntegrityError as exc:
            raise ValidationFailed(errors=NAME_TAKEN) from exc

    def set_members(
        self, *, team_id: int, user_ids: Collection[int], check: Callable[[bool], None]
    ) -> dict[str, Any]:
        """Make ``user_ids`` the team's members, after ``check(touches_a_super_admin)`` passes."""
        try:
            with self.db.transaction() as s:
                self.r.team_row(s, team_id, lock=True)
                wanted = set(user_ids)
                self.r.require_ids(s, users, wanted, "user_ids")
                current = set(self.r.members_of(s, [team_id])[team_id])
                adds, removes = wanted - current, current - wanted
                check(bool((adds | removes) & set(self.r.super_admins(s))))
                self.r.change_membership(
                    s,
                    {(team_id, u) for u in adds},
                    {(team_id, u) for u in removes},
                    announce_users=True,
                    announce_teams=True,
                )
                return team_dict(self.r.team_row(s, team_id), self.r.members_of(s, [team_id])[team_id])
        except IntegrityError as exc:
            raise Conflict("The team was changed concurrently; read it again and retry.") from exc
