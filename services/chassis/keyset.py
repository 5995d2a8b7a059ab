"""Keyset pagination in SQL, the one way every store pages a list (see :mod:`.paging`).

:func:`keyset_page` takes a query, the column it sorts by and the table's id column,
and returns the page body: rows strictly after the cursor's position in the sort's
direction, ``(key, id)`` compared as a row value so an index on ``(key, id)`` serves
it on SQLite and PostgreSQL alike, with one row more than ``limit`` fetched to know
whether a next page exists. Its cursors name the list (:mod:`.paging`): by default the table
the list pages through, so a cursor of one list is refused by every list of another table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from services.chassis import paging
from services.chassis.paging import Sort


def key_kind(column: ColumnElement[Any]) -> type:
    """The Python type a cursor holds for a sort on ``column``."""
    if isinstance(column.type, DateTime):
        return dt.datetime
    if isinstance(column.type, Integer):
        return int
    return str


def after(
    query: Select[Any], *, key: ColumnElement[Any], ident: ColumnElement[Any], sort: Sort, position: Any
) -> Select[Any]:
    """``query`` restricted to rows after ``position`` (``(key value, id)``), in ``sort`` order."""
    if position is not None:
        query = query.where(past(key, ident, sort=sort, position=position))
    order = (key.desc(), ident.desc()) if sort.descending else (key.asc(), ident.asc())
    return query.order_by(*order)


def past(
    key: ColumnElement[Any], ident: ColumnElement[Any], *, sort: Sort, position: Any
) -> ColumnElement[bool]:
    """The rows after ``position`` (``(key value, id)``) in ``sort``'s direction, as a row value
    compared (an index on ``(key, id)`` serves it)."""
    bound = tuple_(literal(position[0], key.type), literal(position[1], Integer()))
    row = tuple_(key, ident)
    return row < bound if sort.descending else row > bound


def keyset_page(  # noqa: PLR0913 - the page is described by keyword arguments, once
    s: Session,
    query: Select[Any],
    *,
    key: ColumnElement[Any],
    ident: ColumnElement[Any],
    sort: Sort,
    limit: int,
    cursor: str | None,
    item: Callable[[Any], Any],
    scope: str | None = None,
) -> dict[str, Any]:
    """One page of ``query``'s rows as ``{items, next_cursor, total}``; a bad cursor is a 422.

    ``query`` selects the rows (any columns, including ``key`` and ``ident``); the
    total counts what it selects without the page's bounds. ``scope`` names the list in its
    cursors (:func:`list_scope` of ``ident`` unless given): a cursor another list issued is a 422.
    """
    scope = scope if scope is not None else list_scope(ident)
    position = paging.read_keyset(cursor, sort, key_kind(key), scope=scope) if cursor else None
    paged = query.add_columns(key.label("page_key"), ident.label("page_id"))
    rows = s.execute(after(paged, key=key, ident=ident, sort=sort, position=position).limit(limit + 1)).all()
    total = s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return paging.page(
        rows,
        limit,
        total,
        item,
        lambda r: paging.keyset_cursor(sort, r.page_key, r.page_id, scope=scope),
    )


def list_scope(ident: ColumnElement[Any]) -> str | None:
    """The name a list of ``ident``'s table goes by in its cursors: the table's name (a few
    bytes; the lists of one table differ by their sorts, or are one list under different parents,
    such as two threads' messages), None for an id that is no table's column."""
    table = getattr(ident, "table", None)
    name = getattr(table, "name", None)
    return name if isinstance(name, str) else None
