"""The table and board layouts: filtered, sorted, keyset-paginated, under the access rule in SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.chassis import paging
from services.chassis.paging import Sort
from services.tickets.domain import SORT_KEY_KINDS, Scope, TicketFilter, capped_total
from services.tickets.store import queries
from services.tickets.store.base import MessageMatches, Records
from services.tickets.store.pipelines import Pipelines

BOARD_COUNTS_PER_QUERY = 32  # columns counted, or paged, in one statement (a pipeline rarely has more stages)


@dataclass(frozen=True)
class _BoardAsk:
    """What a board was asked for: whose, filtered how, each column sorted how and how long."""

    scope: Scope
    user_id: int
    flt: TicketFilter
    sort: Sort
    limit: int


_Column = tuple[dict[str, Any], Sequence[Any], str | None, dict[str, Any]]
"""A board column before its tickets' wire forms: its stage, page rows, next cursor and total."""


class Lists:
    """Pages of tickets with ``unread``/``following`` for the caller, and their totals."""

    def __init__(self, records: Records, *, pipelines: Pipelines) -> None:
        self.r = records
        self.db = records.db
        self.pipelines = pipelines

    def table(
        self,
        *,
        scope: Scope,
        user_id: int,
        flt: TicketFilter,
        sort: Sort,
        limit: int,
        cursor: str | None,
        messages: MessageMatches | None = None,
    ) -> dict[str, Any]:
        """One page of the table layout with the total, all in SQL under the access rule.

        The total is counted first. A page walks the sort order's index and filters on the way,
        so when few tickets or none match it can read a great many rows to find them (an
        owned-only agent asking for another owner's tickets, none of which they may see, read
        all 17,000 of that owner's at a million tickets); the count is bounded by its cap and
        usually answered from an index. So: no match, no page; no more matches than the page
        holds, their ids (a statement as cheap as the count) and a page among those only. A
        search with ``q`` takes its matches' ids first instead (see :func:`queries.capped_ids`
        and :meth:`_search_matches`; ``messages``: the tickets whose conversation matches, else
        ``flt.q_ids``).
        """
        named = list_name(flt.status)
        after = paging.read_keyset(cursor, sort, SORT_KEY_KINDS[sort.key], scope=named) if cursor else None
        flt = dataclasses.replace(flt, now=self.r.clock.now())
        with self.db.read() as s:
            among: Sequence[int] | None = None
            if flt.q:  # matches first: see queries.capped_ids
                found, flt = self._search_matches(s, scope, user_id, flt, messages)
                counted = len(found)
                among = [ticket_id for ticket_id, _stage in found] if counted <= flt.total_cap else None
            else:
                counted = queries.run(s, queries.count(scope, user_id, flt)).scalar() or 0
                if counted == 0:
                    among = []
                elif counted <= limit:
                    among = queries.run(s, queries.matching_ids(scope, user_id, flt, cap=limit)).scalars()
            if among is None and flt.q:
                rows = self._searched_page(s, scope, user_id, flt, sort=sort, limit=limit, after=after)
                rows, next_cursor = _cut(rows, sort=sort, limit=limit, named=named)
            else:
                page = queries.page(scope, user_id, flt, sort=sort, limit=limit, after=after, among=among)
                empty = _none(among)
                rows, next_cursor = self._rows(s, page, sort=sort, limit=limit, named=named, empty=empty)
            items = self.r.dicts(s, rows)
        return {"items": items, "next_cursor": next_cursor, **capped_total(counted, flt.total_cap)}

    @staticmethod
    def _searched_page(
        s: Session,
        scope: Scope,
        user_id: int,
        flt: TicketFilter,
        *,
        sort: Sort,
        limit: int,
        after: tuple[Any, int] | None,
    ) -> Sequence[Any]:
        """The rows of a page searched past the cap (and one more): a walk of the sort order
        bounded at ``queries.WALK_BOUND`` rows, else, when the page's matches are not all within
        it (or the walk is not worth it: :func:`queries.worth_walking`), the matches sorted
        (:func:`queries.page` ``searched`` so)."""
        rows = None
        if queries.worth_walking(flt, sort.key):
            bounded = queries.page(
                scope, user_id, flt, sort=sort, limit=limit, after=after, searched="bounded"
            )
            rows = queries.walked(queries.run(s, bounded).all(), limit + 1)
        if rows is None:
            first = queries.page(
                scope, user_id, flt, sort=sort, limit=limit, after=after, searched="matches_first"
            )
            rows = queries.run(s, first).all()
        return rows

    def board(
        self,
        *,
        scope: Scope,
        user_id: int,
        flt: TicketFilter,
        sort: Sort,
        limit: int,
        pipeline_id: int | None,
        messages: MessageMatches | None = None,
    ) -> dict[str, Any]:
        """One column per stage of the pipeline, in stage order, each with its first page and total.

        A column's ``next_cursor`` continues in the table layout with ``status=<stage id>``
        and the same filters and sort. A board searched with ``q`` counts its columns as
        :meth:`_searched` says (``messages`` as for :meth:`table`).
        """
        flt = dataclasses.replace(flt, now=self.r.clock.now())
        with self.db.read() as s:
            pipeline = self.pipelines.shown(s, pipeline_id)
            flt = dataclasses.replace(flt, pipeline_id=pipeline["id"])
            stages = pipeline["stages"]
            ask = _BoardAsk(scope, user_id, flt, sort, limit)
            pages = self._searched(s, ask, stages, messages) if flt.q else self._counted(s, ask, stages)
            # every column's tickets in one go: their associations and merged ids, a query each
            items = iter(self.r.dicts(s, [row for _stage, rows, _cursor, _total in pages for row in rows]))
            columns = [
                {"stage": stage, "items": [next(items) for _row in rows], **total, "next_cursor": cursor}
                for stage, rows, cursor, total in pages
            ]
        return {"pipeline_id": pipeline["id"], "columns": columns}

    def _counted(self, s: Session, ask: _BoardAsk, stages: Sequence[dict[str, Any]]) -> list[_Column]:
        """The columns of a board without ``q``: each column's total counted up to ``TOTAL_CAP``
        (one statement for all of them), then the first pages of the columns with any ticket
        (one statement for all of them: :func:`queries.board_pages`).

        The open view's columns are its stages' own (:func:`_open_columns`)."""
        ask, counted = _open_columns(ask, stages)
        stage_ids = [stage["id"] for stage in counted]
        counts: list[int] = []
        for i in range(0, len(stage_ids), BOARD_COUNTS_PER_QUERY):
            chunk = stage_ids[i : i + BOARD_COUNTS_PER_QUERY]
            counts += queries.run(s, queries.count_by_stage(ask.scope, ask.user_id, ask.flt, chunk)).one()
        totals = {stage["id"]: capped_total(0, ask.flt.total_cap) for stage in stages}
        totals.update(
            (stage_id, capped_total(count, ask.flt.total_cap))
            for stage_id, count in zip(stage_ids, counts, strict=True)
        )
        return self._first_pages(s, ask, stages, totals)

    def _searched(
        self, s: Session, ask: _BoardAsk, stages: Sequence[dict[str, Any]], messages: MessageMatches | None
    ) -> list[_Column]:
        """The columns of a board searched with ``q``.

        The matches on the whole board are found first, up to ``SEARCH_TOTAL_CAP`` + 1 (see
        :func:`queries.capped_ids`). When they are no more than the cap, each column's total is
        exact and its page is ordered among its own matches only. Beyond it each column's total
        is exact up to its page's size (``limit``, never above the cap): a column with more
        matches says ``total: limit, total_capped: true``. Counting a common word's hundred
        matches in each column read four times the rows its page does (at 1,000,000 tickets,
        63 ms of an owned-only agent's board against 16 for the four pages), and the board
        shows a page per column, which is what that count can add to. Those pages are one
        statement planned once, whose walks check the words on the way (:func:`queries.page`).
        """
        found, flt = self._search_matches(s, ask.scope, ask.user_id, ask.flt, messages)
        ask = dataclasses.replace(ask, flt=flt)
        if len(found) <= flt.total_cap:
            matches: dict[int, list[int]] = {stage["id"]: [] for stage in stages}
            for ticket_id, stage_id in found:
                matches.setdefault(stage_id, []).append(ticket_id)
            totals = {stage_id: capped_total(len(ids), flt.total_cap) for stage_id, ids in matches.items()}
            return self._first_pages(s, ask, stages, totals, among=matches)
        return self._first_pages(s, ask, stages, None)

    @staticmethod
    def _search_matches(
        s: Session, scope: Scope, user_id: int, flt: TicketFilter, messages: MessageMatches | None
    ) -> tuple[list[tuple[int, int]], TicketFilter]:
        """The ``(id, stage_id)`` of the tickets a list searched with ``q`` selects, up to
        ``flt.total_cap + 1`` of those matching by their own text (:func:`queries.text_probe`)
        and any of those whose conversation matches; and ``flt`` with the latter
        (``flt.q_ids``) for the page.

        The tickets' own text is searched first, while the conversations service answers
        (``messages``, asked by the service before the store starts) instead of after its answer
        (at a million tickets ``q=refund`` went from 37 to 31 ms at p50 for an agent seeing
        everything, from 45 to 36 for an owned-only one). Those conversations' tickets the scope
        and filters select are then looked up by id (unless the tickets' own matches are past
        the cap already): together, the same tickets as one statement matching either."""
        ids = flt.q_ids
        plain = dataclasses.replace(flt, q_ids=())
        probe, values = queries.matching_stages(scope, user_id, plain)
        own = probe.run(s, values, words=(scope, dataclasses.replace(plain, now=None))).all()
        if messages is not None:
            ids = tuple(messages())
            flt = dataclasses.replace(flt, q_ids=ids)
        found = [(ticket_id, stage_id) for ticket_id, stage_id in own]
        if ids and len(found) <= flt.total_cap:
            seen = {ticket_id for ticket_id, _stage in found}
            more = queries.run(s, queries.listed_among(scope, user_id, flt, ids))
            found += [(ticket_id, stage_id) for ticket_id, stage_id in more if ticket_id not in seen]
        return found, flt

    def _first_pages(
        self,
        s: Session,
        ask: _BoardAsk,
        stages: Sequence[dict[str, Any]],
        totals: dict[int, dict[str, Any]] | None,
        among: dict[int, list[int]] | None = None,
    ) -> list[_Column]:
        """The columns of ``stages`` with their ``totals``: the first pages of those with a ticket
        (a total above 0) in one statement (:func:`queries.board_pages`), among the ids ``among``
        gives each column if given. Without ``totals`` (a search past the cap) every column is
        read (:meth:`_searched_columns`), and its total is its page's: exact up to the page's size
        (``limit``, at most the cap), capped there."""
        found: dict[int, list[Any]] = {stage["id"]: [] for stage in stages}
        if totals is None:
            found.update(self._searched_columns(s, ask, list(found)))
        else:
            shown = [stage_id for stage_id in found if totals[stage_id]["total"]]

            def first_pages(chunk: Sequence[int]) -> queries.Query:
                ids = None if among is None else [among[stage_id] for stage_id in chunk]
                return queries.board_pages(
                    ask.scope, ask.user_id, ask.flt, chunk, sort=ask.sort, limit=ask.limit, among=ids
                )

            found.update(_by_column(s, shown, first_pages))
        pages: list[_Column] = []
        for stage in stages:
            column = found[stage["id"]]
            rows, cursor = _cut(column, sort=ask.sort, limit=ask.limit, named=list_name(stage["id"]))
            if totals is None:
                total = capped_total(len(column), min(ask.limit, ask.flt.total_cap))
            else:
                total = totals[stage["id"]]
            pages.append((stage, rows, cursor, total))
        return pages

    @staticmethod
    def _searched_columns(s: Session, ask: _BoardAsk, stage_ids: Sequence[int]) -> dict[int, list[Any]]:
        """The first pages (and one more row) of the columns of ``stage_ids`` of a board searched
        past the cap: each column's bounded walk (one statement for all: :func:`queries.board_pages`'
        ``bounded``) where it holds the page, else the column's matches sorted (one statement for
        all such columns: :func:`queries.board_matches_first`); only the latter where walking is
        not worth it (:func:`queries.worth_walking`)."""

        def sorted_first(chunk: Sequence[int]) -> queries.Query:
            return queries.board_matches_first(
                ask.scope, ask.user_id, ask.flt, chunk, sort=ask.sort, limit=ask.limit
            )

        if not queries.worth_walking(ask.flt, ask.sort.key):
            return _by_column(s, stage_ids, sorted_first)

        def walks(chunk: Sequence[int]) -> queries.Query:
            return queries.board_pages(
                ask.scope, ask.user_id, ask.flt, chunk, sort=ask.sort, limit=ask.limit, bounded=True
            )

        pages: dict[int, list[Any]] = {}
        cut: list[int] = []
        for stage_id, rows in _by_column(s, stage_ids, walks).items():
            page = queries.walked(rows, ask.limit + 1)
            if page is None:
                cut.append(stage_id)
            else:
                pages[stage_id] = page
        return {**pages, **_by_column(s, cut, sorted_first)}

    @staticmethod
    def _rows(
        s: Session, page: queries.Query, *, sort: Sort, limit: int, named: str, empty: bool
    ) -> tuple[Sequence[Any], str | None]:
        """The rows of ``page`` (a :func:`queries.page` statement and its parameters; none when
        ``empty``: it was to pick among no ids) and the next page's cursor (see :func:`_cut`)."""
        if empty:
            return [], None
        return _cut(queries.run(s, page).all(), sort=sort, limit=limit, named=named)


def _open_columns(ask: _BoardAsk, stages: Sequence[dict[str, Any]]) -> tuple[_BoardAsk, list[dict[str, Any]]]:
    """``ask`` and the ``stages`` whose columns hold tickets, for a board of the open view
    (``view=open``: tickets without ``closed_at``) as its stages say: ``closed_at`` is set
    exactly while a ticket's stage is CLOSED (a move sets and clears it, an import sets it so, a
    stage's state never changes), so a CLOSED stage's column is empty and an OPEN stage's is
    all of its tickets. Counted as the view, a CLOSED column read every ticket of its stage to
    find none (330 ms at a million tickets); an OPEN one checked each ticket's ``closed_at``.
    Any other ask as it is, with all of ``stages``."""
    if ask.flt.view != "open":
        return ask, list(stages)
    plain = dataclasses.replace(ask, flt=dataclasses.replace(ask.flt, view=None))
    return plain, [stage for stage in stages if stage["state"] == "OPEN"]


def _by_column(
    s: Session, stage_ids: Sequence[int], query_of: Callable[[Sequence[int]], queries.Query]
) -> dict[int, list[Any]]:
    """The rows of the board columns of ``stage_ids`` by stage, read by ``query_of`` (a statement
    for at most ``BOARD_COUNTS_PER_QUERY`` of them whose rows say their ``board_column``)."""
    found: dict[int, list[Any]] = {stage_id: [] for stage_id in stage_ids}
    for i in range(0, len(stage_ids), BOARD_COUNTS_PER_QUERY):
        chunk = stage_ids[i : i + BOARD_COUNTS_PER_QUERY]
        for row in queries.run(s, query_of(chunk)):
            found[chunk[row.board_column]].append(row)
    return found


def list_name(stage_id: int | None) -> str:
    """The list a table or board cursor names (:mod:`services.chassis.paging`): one stage's tickets
    (a board column, or the table with ``status=<stage id>``, where the column pages on) or the
    table, so a column's cursor on the table without that status, or the table's on a column,
    is a 422 rather than a position in a list it was not issued for."""
    return "table" if stage_id is None else f"stage:{stage_id}"


def _cut(rows: Sequence[Any], *, sort: Sort, limit: int, named: str) -> tuple[Sequence[Any], str | None]:
    """A page's rows (``limit + 1`` of them asked for, to know if there is a next page) cut to
    ``limit``, and the next page's cursor (naming the list ``named``) if there is one. Wire forms
    come from :meth:`Records.dicts`, for all of a board's columns at once."""
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = paging.keyset_cursor(sort, rows[-1].sort_key, rows[-1].id, scope=named) if more else None
    return rows, next_cursor


def _none(among: Sequence[int] | None) -> bool:
    """Whether a page is to pick among no ids at all (nothing matched)."""
    return among is not None and not among
