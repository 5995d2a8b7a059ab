"""Saved views: their rows, the views a caller may use, and changes by their owner."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from services.chassis.clock import isoformat
from services.chassis.errors import NotFound
from services.chassis.idempotency import IdempotencyKey
from services.chassis.identity import Caller
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.tickets.domain.views import ViewAccess, default_views, require_changeable
from services.tickets.models import views
from services.tickets.store.base import Records

OLDEST_FIRST = Sort("id", descending=False)
FIELDS = ("name", "filters", "sort", "columns", "shared_with", "team_id")


def view_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "owner_id": row.owner_id,
        "name": row.name,
        "filters": json.loads(row.filters),
        "sort": row.sort,
        "columns": json.loads(row.columns),
        "shared_with": row.shared_with,
        "team_id": row.team_id,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data[name] for name in FIELDS if name in data}
    for name in ("filters", "columns"):
        if name in values:
            values[name] = json.dumps(values[name], separators=(",", ":"), sort_keys=True)
    return values


def _usable(caller: Caller) -> Any:
    """The views ``caller`` may use, as SQL (:meth:`ViewAccess.visible_to`)."""
    clauses = [views.c.owner_id == caller.user_id, views.c.shared_with == "everyone"]
    if caller.team_ids:
        clauses.append(and_(views.c.shared_with == "team", views.c.team_id.in_(list(caller.team_ids))))
    return or_(*clauses)


class Views:
    """Saved views; each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def page(self, *, caller: Caller, limit: int, cursor: str | None) -> dict[str, Any]:
        """The views the caller may use, oldest first, and the default views beside them."""
        with self.db.read() as s:
            found = keyset_page(
                s,
                select(views).where(_usable(caller)),
                key=views.c.id,
                ident=views.c.id,
                sort=OLDEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=view_dict,
            )
        return {**found, "defaults": default_views()}

    def get(self, *, caller: Caller, view_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return view_dict(self._row(s, caller, view_id))

    def create(
        self, *, caller: Caller, data: dict[str, Any], key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        def work(s: Session) -> dict[str, Any]:
            now = self.r.clock.now()
            view_id = s.scalar(
                views.insert()
                .values(**_columns(data), owner_id=caller.user_id, created_at=now, updated_at=now)
                .returning(views.c.id)
            )
            return view_dict(self._row(s, caller, int(view_id)))

        return self.r.idempotency.run(key, work)

    def update(self, *, caller: Caller, view_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as s:
            self._changeable(s, caller, view_id)
            if changes:
                s.execute(
                    update(views)
                    .where(views.c.id == view_id)
                    .values(**_columns(changes), updated_at=self.r.clock.now())
                )
            return view_dict(s.execute(select(views).where(views.c.id == view_id)).one())

    def delete(self, *, caller: Caller, view_id: int) -> None:
        with self.db.transaction() as s:
            self._changeable(s, caller, view_id)
            s.execute(views.delete().where(views.c.id == view_id))

    def _row(self, s: Session, caller: Caller, view_id: int) -> Any:
        """The view if the caller may use it; NotFound otherwise (its existence is not revealed)."""
        row = s.execute(select(views).where(views.c.id == view_id, _usable(caller))).first()
        if row is None:
            raise NotFound(f"view {view_id} does not exist")
        return row

    def _changeable(self, s: Session, caller: Caller, view_id: int) -> Any:
        row = self._row(s, caller, view_id)
        require_changeable(ViewAccess(row.owner_id, row.shared_with, row.team_id), caller)
        return row
