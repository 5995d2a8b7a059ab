"""The table and board layouts: filtered, sorted, keyset-paginated, under the access rule in SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from services.chassis import paging
from services.chassis.errors import NotFound
from services.chassis.paging import Sort
from services.tickets.domain import SORT_KEY_KINDS, Scope, TicketFilter, capped_total
from services.tickets.store import queries
from services.tickets.store.base import Records
from services.tickets.store.pipelines import Pipelines

BOARD_COUNTS_PER_QUERY = 32  # column totals counted in one statement (a pipeline rarely has more stages)


class Lists:
    """Pages of tickets with ``unread``/``following`` for the caller, and their totals."""

    def __init__(self, records: Records, *, pipelines: Pipelines) -> None:
        self.r = records
        self.db = records.db
        self.pipelines = pipelines

    def table(
        self, *, scope: Scope, user_id: int, flt: TicketFilter, sort: Sort, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """One page of the table layout with the total, all in SQL under the access rule."""
        after = paging.read_keyset(cursor, sort, SORT_KEY_KINDS[sort.key]) if cursor else None
        flt = dataclasses.replace(flt, now=self.r.clock.now())
        with self.db.read() as s:
            among, counted = None, None
            if flt.q:  # matches first: see queries.capped_ids
                found = s.scalars(*queries.matching_ids(scope, user_id, flt)).all()
                counted = len(found)
                among = found if counted <= flt.total_cap else None
            rows, next_cursor = self._rows(
                s, scope, user_id, flt, sort=sort, limit=limit, after=after, among=among
            )
            items = self.r.dicts(s, rows)
            if counted is None:
                counted = s.scalar(*queries.count(scope, user_id, flt)) or 0
        return {"items": items, "next_cursor": next_cursor, **capped_total(counted, flt.total_cap)}

    def board(
        self,
        *,
        scope: Scope,
        user_id: int,
        flt: TicketFilter,
        sort: Sort,
        limit: int,
        pipeline_id: int | None,
    ) -> dict[str, Any]:
        """One column per stage of the pipeline, in stage order, each with its first page and total.

        A column's ``next_cursor`` continues in the table layout with ``status=<stage id>``
        and the same filters and sort.
        """
        flt = dataclasses.replace(flt, now=self.r.clock.now())
        with self.db.read() as s:
            if pipeline_id is None:
                pipeline_id = self.pipelines.first_id(s)
            if pipeline_id is None:
                raise NotFound("no pipeline is configured")
            pipeline = self.pipelines.one(s, pipeline_id)
            flt = dataclasses.replace(flt, pipeline_id=pipeline["id"])
            stage_ids = [stage["id"] for stage in pipeline["stages"]]
            counts: list[int] = []
            for i in range(0, len(stage_ids), BOARD_COUNTS_PER_QUERY):
                chunk = stage_ids[i : i + BOARD_COUNTS_PER_QUERY]
                counts += s.execute(*queries.count_by_stage(scope, user_id, flt, chunk)).one()
            totals = dict(zip(stage_ids, counts, strict=True))
            every_match = None  # a search whose matches on the whole board are within the cap
            if flt.q and sum(totals.values()) <= flt.total_cap:  # see queries.capped_ids
                every_match = s.scalars(*queries.matching_ids(scope, user_id, flt)).all()
            pages: list[tuple[dict[str, Any], Sequence[Any], str | None]] = []
            for stage in pipeline["stages"]:
                rows: Sequence[Any] = []
                next_cursor = None
                if totals[stage["id"]]:
                    column = dataclasses.replace(flt, status=stage["id"])
                    among = every_match
                    if among is None and flt.q and totals[stage["id"]] <= flt.total_cap:
                        among = s.scalars(*queries.matching_ids(scope, user_id, column)).all()
                    rows, next_cursor = self._rows(
                        s, scope, user_id, column, sort=sort, limit=limit, after=None, among=among
                    )
                pages.append((stage, rows, next_cursor))
            # every column's tickets in one go: their associations and merged ids, a query each
            items = iter(self.r.dicts(s, [row for _stage, rows, _cursor in pages for row in rows]))
            columns = [
                {
                    "stage": stage,
                    "items": [next(items) for _row in rows],
                    **capped_total(totals[stage["id"]], flt.total_cap),
                    "next_cursor": next_cursor,
                }
                for stage, rows, next_cursor in pages
            ]
        return {"pipeline_id": pipeline["id"], "columns": columns}

    def _rows(
        self,
        s: Session,
        scope: Scope,
        user_id: int,
        flt: TicketFilter,
        *,
        sort: Sort,
        limit: int,
        after: tuple[Any, int] | None,
        among: Sequence[int] | None = None,
    ) -> tuple[Sequence[Any], str | None]:
        """One page's rows (wire forms come from :meth:`Records.dicts`) and the next page's cursor."""
        if among is not None and not among:
            return [], None
        statement = queries.page(scope, user_id, flt, sort=sort, limit=limit, after=after, among=among)
        rows = s.execute(*statement).all()
        more, rows = len(rows) > limit, rows[:limit]
        next_cursor = paging.keyset_cursor(sort, rows[-1].sort_key, rows[-1].id) if more else None
        return rows, next_cursor
