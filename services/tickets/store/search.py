"""Search: any AND/OR of conditions on ticket fields, under the access rule, keyset-paginated.

The conditions come typed from :func:`services.tickets.domain.parse_search`; this part only
turns them into SQL. The page is built like the table's (same sort keys, same cursors, the
caller's ``unread``/``following`` with each row), and the total counts what the same conditions
select among the tickets the caller may see (exact up to ``SearchSpec.total_cap``: ``TOTAL_CAP``,
or ``SEARCH_TOTAL_CAP`` for a search matching text, as for a list's ``q``; see ``capped_total``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, not_, or_, select, true
from sqlalchemy.orm import Session

from services.chassis import paging
from services.chassis.db import IdList, among, like_text
from services.chassis.keyset import after, past
from services.chassis.paging import Sort
from services.tickets.domain import SORT_KEY_KINDS, Condition, Scope, SearchSpec, capped_total
from services.tickets.models import tickets
from services.tickets.store import queries
from services.tickets.store.base import MessageMatches, Records

COLUMNS: dict[str, Any] = {
    "id": tickets.c.id,
    "name": tickets.c.name,
    "description": tickets.c.description,
    "pipeline_id": tickets.c.pipeline_id,
    "status": tickets.c.stage_id,
    "priority": tickets.c.priority_rank,  # conditions on priority carry ranks
    "category": tickets.c.category,
    "owner_id": tickets.c.owner_id,
    "team_id": tickets.c.team_id,
    "source": tickets.c.source,
    "created_at": tickets.c.created_at,
    "updated_at": tickets.c.updated_at,
    "closed_at": tickets.c.closed_at,
    "external_source": tickets.c.external_source,
    "external_id": tickets.c.external_id,
}
_TEXT = ("name", "description", "category", "source", "external_source", "external_id")
SEARCH = "search"
"""The list a search's cursors name (:mod:`services.chassis.paging`): a table or board cursor is
refused here, and a search's there, though they share their sorts."""


def _has(field: str) -> ColumnElement[bool]:
    column = COLUMNS[field]
    if field in _TEXT:
        return and_(column.is_not(None), column != "")
    return column.is_not(None)


def condition(c: Condition) -> ColumnElement[bool]:
    """One condition as SQL. NEQ and NOT_IN also match tickets without a value."""
    column = COLUMNS[c.field]
    values = c.values
    simple = {
        "EQ": lambda: column == values[0],
        "LT": lambda: column < values[0],
        "LTE": lambda: column <= values[0],
        "GT": lambda: column > values[0],
        "GTE": lambda: column >= values[0],
        "IN": lambda: column.in_(values),
        "NEQ": lambda: or_(column.is_(None), column != values[0]),
        "NOT_IN": lambda: or_(column.is_(None), column.not_in(values)),
        "HAS_PROPERTY": lambda: _has(c.field),
        "NOT_HAS_PROPERTY": lambda: not_(_has(c.field)),
        "CONTAINS_TOKEN": lambda: _contains(c.field, values[0]),
    }
    return simple[c.operator]()


def _contains(field: str, value: str) -> ColumnElement[bool]:
    """``field`` contains ``value``, case-insensitively. For the name and the description the
    lower-cased ``search_text`` must contain it too: the same answer (it holds both, lower-cased),
    found through its trigram index on PostgreSQL instead of reading every ticket."""
    found = COLUMNS[field].icontains(value, autoescape=True)
    if field in ("name", "description"):
        return and_(tickets.c.search_text.contains(value.lower(), autoescape=True), found)
    return found


def matching(spec: SearchSpec) -> list[ColumnElement[bool]]:
    """WHERE clauses of a search (besides the access rule)."""
    where: list[ColumnElement[bool]] = []
    if spec.groups:
        groups = [and_(*(condition(c) for c in group)) if group else true() for group in spec.groups]
        where.append(or_(*groups) if groups else false())
    if spec.query:
        ids = literal(list(spec.message_ids), IdList()) if spec.message_ids else None
        where.append(queries.text_match([like_text(t) for t in spec.terms], ids))
    return where


class Search:
    """Searches over the tickets a caller may see."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def search(
        self,
        *,
        scope: Scope,
        user_id: int,
        spec: SearchSpec,
        sort: Sort,
        limit: int,
        cursor: str | None,
        messages: MessageMatches | None = None,
    ) -> dict[str, Any]:
        """One page of the tickets matching ``spec``, in ``sort`` order, with the total.

        ``messages``: the tickets whose conversation matches ``spec.query`` (which
        ``spec.message_ids`` then stands for), asked for only once the tickets' own matches are
        found, as a list's ``q`` does (:meth:`Lists._search_matches`): the conversations service
        answers while this searches."""
        kind = SORT_KEY_KINDS[sort.key]
        position = paging.read_keyset(cursor, sort, kind, scope=SEARCH) if cursor else None
        key = queries.SORT_KEYS[sort.key]
        scoped = queries.listed_in(scope)
        with self.db.read() as s:
            found = None
            cap = spec.total_cap
            if spec.has_text:  # matches first: see queries.capped_ids
                found, spec = self._matches(s, scope, spec, messages)
            where = [*scoped, *matching(spec)]
            stmt = queries.page_rows(user_id, key.label("sort_key")).where(*where)
            stmt = after(stmt, key=key, ident=tickets.c.id, sort=sort, position=position).limit(limit + 1)
            if found is None:
                rows = s.execute(stmt).all()
                counted = s.scalar(queries.capped_count(tickets, where, cap)) or 0
            elif capped_total(len(found), cap)["total_capped"]:
                counted = len(found)
                rows = self._past_cap(s, scope, user_id, spec, sort=sort, limit=limit, position=position)
            else:
                counted = len(found)
                stmt = stmt.where(tickets.c.id.in_(found))
                rows = s.execute(stmt).all() if found else []
            more, rows = len(rows) > limit, rows[:limit]
            items = self.r.dicts(s, rows)
        last = rows[-1] if more else None
        next_cursor = paging.keyset_cursor(sort, last.sort_key, last.id, scope=SEARCH) if last else None
        return {"items": items, "next_cursor": next_cursor, **capped_total(counted, cap)}

    @staticmethod
    def _past_cap(
        s: Session, scope: Scope, user_id: int, spec: SearchSpec, *, sort: Sort, limit: int, position: Any
    ) -> list[Any]:
        """A page (and one more row) of a search with text whose matches are past the cap: a walk
        of the sort order bounded at ``queries.WALK_BOUND`` of the tickets the caller may see,
        checking all of the search's conditions on the way; else, when the page's matches are not
        all within it, those matches sorted (see :func:`queries.bounded_walk`: the list's ``q``
        reads its pages the same way)."""
        key = queries.SORT_KEYS[sort.key]
        scoped = queries.listed_in(scope)
        if position is not None:
            scoped.append(past(key, tickets.c.id, sort=sort, position=position))
        conditions = and_(*matching(spec))
        order = [key, tickets.c.id]
        walk = queries.bounded_walk(scoped, conditions, order, descending=sort.descending, limit=limit + 1)
        rows = queries.walked(s.execute(walk, {"user_id": user_id}).all(), limit + 1)
        if rows is None:
            first = queries.first_matches(
                [*scoped, conditions], key, descending=sort.descending, limit=limit + 1
            )
            rows = list(s.execute(first, {"user_id": user_id}).all())
        return rows

    def _matches(
        self, s: Session, scope: Scope, spec: SearchSpec, messages: MessageMatches | None
    ) -> tuple[list[int], SearchSpec]:
        """The ids of the tickets a search with text selects, up to ``spec.total_cap + 1`` of those
        matching by their own fields (:func:`queries.text_probe`) and any whose conversation
        matches the query; and ``spec`` with the latter (``message_ids``) for the page."""
        plain = dataclasses.replace(spec, message_ids=())
        whole, bounded = queries.text_probe(scope, [tickets.c.id], matching(plain), spec.total_cap)
        probe = queries.TextProbe(whole, spec.total_cap, bounded)
        found = [row[0] for row in probe.run(s, {}, words=(scope, plain))]
        if messages is not None and spec.query:
            spec = dataclasses.replace(spec, message_ids=tuple(messages()))
        if spec.message_ids and not capped_total(len(found), spec.total_cap)["total_capped"]:
            found += self._listed_among(s, queries.listed_in(scope), spec, exclude=set(found))
        return found, spec

    @staticmethod
    def _listed_among(
        s: Session, scoped: list[ColumnElement[bool]], spec: SearchSpec, *, exclude: set[int]
    ) -> list[int]:
        """The ids of ``spec.message_ids`` (tickets whose conversation matches the query) that the
        scope and ``spec``'s conditions select, whatever the tickets' own text, but those in
        ``exclude``: with the tickets' own matches, the ones :func:`matching` selects."""
        conditions = matching(dataclasses.replace(spec, query=None, terms=(), message_ids=()))
        ids = literal(list(spec.message_ids), IdList())
        more = s.scalars(select(tickets.c.id).where(*scoped, *conditions, among(tickets.c.id, ids)))
        return [ticket_id for ticket_id in more if ticket_id not in exclude]
