"""SQL statements of the tickets service's reads, built here and executed only by the store.

Every read of tickets for a person goes through :func:`ticket_rows` (a page's through
:func:`page_rows`, the same with only the columns of a ticket's wire form), which joins
the caller's follow row and asks for their read mark (at most one of each, by
primary key) so ``unread`` and ``following`` come with the row, never from a query
per row, and which applies the access rule as SQL (:func:`visible`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    BindParameter,
    Column,
    ColumnElement,
    Integer,
    Join,
    Select,
    String,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import ClauseAdapter

from services.chassis.clock import isoformat as iso
from services.chassis.db import LIKE_ESCAPE, IdList, among, holds_text, like_text
from services.chassis.lru import LeastRecentlyUsed
from services.chassis.paging import Sort
from services.chassis.prepared import Prepared, Rows
from services.tickets.domain import PRIORITY_RANK, TOTAL_CAP, Scope, TicketFilter
from services.tickets.domain.sla import view as sla_view
from services.tickets.models import followers, reads, tickets

SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "created_at": tickets.c.created_at,
    "updated_at": tickets.c.updated_at,
    "priority": tickets.c.priority_rank,
    "name": func.lower(tickets.c.name),  # matches index ix_tickets_name_lower
    "id": tickets.c.id,
    "sla_due_at": tickets.c.sla_next_due_at,  # 9999-12-31 without a running clock: never NULL
}

FOLLOW_SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "updated_at": followers.c.ticket_updated_at,
    "created_at": followers.c.ticket_created_at,
    "priority": followers.c.ticket_priority_rank,
    "name": followers.c.ticket_name_key,
    "id": followers.c.ticket_id,
}
"""The follow rows' copies of :data:`SORT_KEYS` (the same values,
:meth:`~services.tickets.store.base.Records.restamp_follows`), and the ticket's id they hold:
the following view in these orders walks the caller's follows in an index of their own
(migrations 0016, 0019, 0020) instead of joining each to its ticket and sorting them all (an
agent following 29,500 of a million tickets: a page sorted by priority 150-190 ms, its board
490; an owned-only agent's board sorted by id 41 ms of its 1,800 follows). Not ``sla_due_at``,
which the SLA's clock moves without a save."""


def visible(scope: Scope, owner: ColumnElement[Any] = tickets.c.owner_id) -> ColumnElement[bool]:
    """The access rule as a SQL condition on ``tickets`` (never fetch-then-filter), or on another
    copy of the ticket's ``owner`` (a follow row's: :func:`filters`)."""
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.owner_ids:
        clauses.append(owner.in_(sorted(scope.owner_ids)))
    if scope.unassigned:
        clauses.append(owner.is_(None))
    return or_(*clauses) if clauses else false()


def visible_or_survivor_visible(scope: Scope) -> ColumnElement[bool]:
    """:func:`visible` for a ticket that is not absorbed; for one that is, whether its survivor
    is visible (in the recycle bin or not): an absorbed id answers for its survivor, whoever
    owned it before."""
    if scope.everything:
        return true()
    survivor = tickets.alias("survivor")
    survivor_visible = (
        select(literal(1))
        .where(
            survivor.c.id == tickets.c.merged_into_id,
            visible(scope, survivor.c.owner_id),
        )
        .exists()
    )
    return or_(
        and_(tickets.c.merged_into_id.is_(None), visible(scope)),
        and_(tickets.c.merged_into_id.is_not(None), survivor_visible),
    )


def live() -> ColumnElement[bool]:
    """Tickets that exist for readers: not in the recycle bin."""
    return tickets.c.deleted_at.is_(None)


def listed() -> ColumnElement[bool]:
    """Tickets that lists show: live and not absorbed by a merge (their survivor is listed)."""
    return and_(live(), tickets.c.merged_into_id.is_(None))


def listed_in(scope: Scope) -> list[ColumnElement[bool]]:
    """The tickets lists show to a caller of ``scope``: :func:`listed` and :func:`visible`."""
    return [listed(), visible(scope)]


def _unread(user_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """Unread for ``user_id``: no read mark of theirs at or past the ticket's ``unread_seq``.

    A correlated ``NOT EXISTS`` rather than an outer join of the read mark: as a row's column,
    PostgreSQL evaluates it after a page's sort and LIMIT (for the page's rows only), where a
    joined mark was looked up for every candidate before the sort (the following view of an
    agent with 1,800 follows: 11.3 ms of SQL, 5.4 with this); as the unread view's filter it
    plans as the anti join the outer join was."""
    mark = select(literal(1)).where(
        reads.c.ticket_id == tickets.c.id,
        reads.c.user_id == user_id,
        reads.c.read_seq >= tickets.c.unread_seq,
    )
    return ~mark.exists()


def _following() -> ColumnElement[bool]:
    return followers.c.user_id.is_not(None)


def _follows_listed(scope: Scope) -> list[ColumnElement[bool]]:
    """The following view's access rule and listing, read from the caller's follow rows' copies of
    their tickets' (:meth:`~services.tickets.store.base.Records.restamp_follows`), so the view
    walks ``ix_ticket_followers_user_updated`` and checks the owner there instead of joining every
    follow to its ticket first: at 1,000,000 tickets an owned-only agent's 1,791 follows were
    joined and sorted for every page (8 ms of PostgreSQL's time) and looked up for the total (5 ms)."""
    return [followers.c.listed, visible(scope, followers.c.ticket_owner_id)]


def _for_user(user_id: int | BindParameter[int]) -> Join:
    """``tickets`` with the caller's follow row (a primary key: at most one)."""
    return tickets.outerjoin(
        followers, and_(followers.c.ticket_id == tickets.c.id, followers.c.user_id == user_id)
    )


READ_COLUMNS = tuple(column for column in tickets.c if column.name != "search_text")
"""The ``tickets`` columns a ticket's wire form and rules read: all but ``search_text``, which
only a search's WHERE needs (a copy of the name and description would double what a page of
tickets carries from the database)."""


def ticket_rows(user_id: int | BindParameter[int], *extra: Any) -> Select[Any]:
    """Ticket columns plus ``unread``/``following`` for ``user_id`` (and any ``extra`` columns)."""
    return _with_marks(READ_COLUMNS, user_id, extra)


def _with_marks(
    columns: Sequence[ColumnElement[Any]], user_id: int | BindParameter[int], extra: Sequence[Any]
) -> Select[Any]:
    """``columns`` of ``tickets`` with ``unread``/``following`` for ``user_id``, then ``extra``."""
    marks = (_unread(user_id).label("unread"), _following().label("following"))
    return select(*columns, *marks, *extra).select_from(_for_user(user_id))


_WIRE_COLUMNS = (
    "id", "name", "description", "pipeline_id", "stage_id", "priority", "category", "owner_id",
    "team_id", "source", "created_at", "updated_at", "closed_at", "version", "unread", "following",
    "first_reply_at", "last_customer_message_at", "last_agent_message_at", "external_source",
    "external_id", "in_progress", "job_id", "sla_policy_id", "sla_data", "sla_phase",
    "sla_next_due_at", "sla_soon_at", "sla_breached_at",
)  # fmt: skip
"""The columns of a :func:`ticket_rows` row that its wire form reads, in :func:`ticket_dict`'s order."""


_PAGE_COLUMNS = tuple(tickets.c[name] for name in _WIRE_COLUMNS if name in tickets.c)
"""The ``tickets`` columns of a page's rows: those :func:`ticket_dict` reads, and no more.

A page of 100 tickets carried 36 columns each; the wire form reads 27 of them (and ``unread``,
``following``). The other nine (the bin's and merges' marks, ``priority_rank``, ``unread_seq``,
``sla_alarm_at``...) were formatted as text by PostgreSQL, parsed by libpq and converted by
psycopg2 for nothing."""


def page_rows(user_id: int | BindParameter[int], *extra: Any) -> Select[Any]:
    """:func:`ticket_rows` with only what a ticket's wire form reads (``_PAGE_COLUMNS``): the
    rows of the table's, the board's and the search API's pages, which :meth:`Records.dicts`
    turns into wire forms and nothing else reads (and any ``extra`` columns: a sort key, a board
    column)."""
    return _with_marks(_PAGE_COLUMNS, user_id, extra)


Query = tuple[Prepared, dict[str, Any]]
"""A statement of this module and its parameters: :func:`run` executes it."""


def run(s: Session, query: Query) -> Rows:
    """Execute ``query`` in ``s``'s transaction: its rows."""
    statement, values = query
    return statement.run(s, values)


def one_ticket(scope: Scope, user_id: int, ticket_id: int) -> Query:
    """The ticket if it is live and in ``scope``."""
    return _one_ticket(scope), {"user_id": user_id, "ticket_id": ticket_id}


@functools.lru_cache(maxsize=1024)
def _one_ticket(scope: Scope) -> Prepared:
    """:func:`one_ticket`'s statement, built once per scope (a scope is per person and rarely
    changes): reading one ticket is the commonest read, and SQLAlchemy takes several times longer
    to build and key a statement than to run a built one. Planned once: a primary key lookup."""
    statement = ticket_rows(bindparam("user_id", type_=Integer)).where(
        tickets.c.id == bindparam("ticket_id", type_=Integer), live(), visible(scope)
    )
    return Prepared(statement, plan_once=True)


@dataclass(frozen=True)
class ListShape:
    """What the SQL of a list's statements depends on: the scope, which filters are set, the view
    and SLA state. The filters' values (and the caller, the moment, the text searched) are bind
    parameters (:func:`list_values`), so one shape's statements are built once (see
    :func:`_one_ticket`: building and keying a statement costs more than running it; a list page
    built afresh spent a third of the tickets service's CPU in SQLAlchemy's construction)."""

    scope: Scope
    status: bool = False
    pipeline: bool = False
    owner: bool = False
    unassigned: bool = False
    priority: bool = False
    view: str | None = None
    sla_state: str | None = None
    q: int = 0  # how many terms ``q`` has
    q_ids: bool = False  # whether tickets whose conversation matches ``q`` are given

    @property
    def plan_once(self) -> bool:
        """Whether this shape's counts and matches are planned once (see :class:`Prepared`): all
        but a text search's, whose best plan depends on how common its words are (a rare word's
        matches are found through the trigram index, a common word's by reading rows until
        enough match). A page is planned once whatever its shape (:func:`page`)."""
        return not self.q

    @classmethod
    def of(cls, scope: Scope, flt: TicketFilter) -> ListShape:
        return cls(
            scope=scope,
            status=flt.status is not None,
            pipeline=flt.pipeline_id is not None,
            owner=flt.owner_id is not None,
            unassigned=flt.unassigned or flt.view == "unassigned",
            priority=flt.priority is not None,
            view=flt.view,
            sla_state=flt.sla_state,
            q=len(flt.q_terms) if flt.q else 0,
            q_ids=bool(flt.q and flt.q_ids),
        )


def text_match(
    terms: Sequence[Any], ids: ColumnElement[Any] | None = None, *, walked: bool = False
) -> ColumnElement[bool]:
    """A free-text search as SQL: every one of ``terms`` (lower-cased, as
    :func:`services.chassis.words.search_terms` gives them, escaped by :func:`like_text`: bound
    parameters or literals) inside the ticket's ``search_text`` (its name and description
    lower-cased, :func:`services.tickets.domain.ticket.search_text`: a plain ``LIKE``, which the
    trigram index serves on PostgreSQL), or the ticket among ``ids`` (an :class:`IdList` value:
    the tickets whose conversation matches the query).

    ``walked``: for a statement planned once that walks an index whatever the words (a page):
    ``terms`` as they are, not escaped (:func:`holds_text`: the same matches, no index)."""
    if walked:
        own = and_(*(holds_text(tickets.c.search_text, t) for t in terms))
    else:
        own = and_(*(tickets.c.search_text.contains(t, escape=LIKE_ESCAPE) for t in terms))
    return own if ids is None else or_(own, among(tickets.c.id, ids))


def list_values(user_id: int, flt: TicketFilter) -> dict[str, Any]:
    """The bind parameters of :class:`ListShape` statements for ``flt`` (unused ones are ignored)."""
    return {
        "user_id": user_id,
        "status": flt.status,
        "pipeline_id": flt.pipeline_id,
        "owner_id": flt.owner_id,
        "priority_rank": None if flt.priority is None else PRIORITY_RANK[flt.priority],
        "now": flt.now,
        **{f"q_{n}": like_text(term) for n, term in enumerate(flt.q_terms)},
        **{f"qw_{n}": term for n, term in enumerate(flt.q_terms)},  # a page's (filters' walked)
        "q_ids": list(flt.q_ids),
    }


def filters(shape: ListShape, *, scoped: bool = True, walked: bool = False) -> list[ColumnElement[bool]]:
    """WHERE clauses of the table and the board: access rule (unless not ``scoped``: a page
    reading the scope's owners apart, see :func:`owner_parts`), then the caller's filters
    (values from :func:`list_values`; ``q`` for a page's walk if ``walked``: see
    :func:`text_match`)."""
    if shape.view == "following":
        where = _follows_listed(shape.scope)
    elif shape.unassigned and scoped:
        # the filter pins the owner to none, so the rule is the scope's word on that alone: an
        # owner clause ORed beside it hid the index walk (an owned-only agent's unassigned board
        # read and sorted each column's 20,000-80,000 tickets: 600 ms at a million)
        where = [listed()] if shape.scope.allows(None) else [listed(), false()]
    elif scoped and (shape.owner or shape.view == "mine"):
        # the filter pins the owner to someone, so never to none: the same, 90 -> ~20 ms for an
        # owned-only agent's board of their own tickets
        where = [listed(), visible(dataclasses.replace(shape.scope, unassigned=False))]
    else:
        where = listed_in(shape.scope) if scoped else [listed()]
    return [*where, *asked(shape, walked=walked)]


def asked(shape: ListShape, *, walked: bool = False) -> list[ColumnElement[bool]]:
    """The caller's filters of :func:`filters`: all its clauses but the access rule and listing."""
    user_id = bindparam("user_id", type_=Integer)
    where: list[ColumnElement[bool]] = []
    if shape.status:
        where.append(tickets.c.stage_id == bindparam("status", type_=Integer))
    if shape.pipeline:
        where.append(tickets.c.pipeline_id == bindparam("pipeline_id", type_=Integer))
    if shape.owner:
        where.append(tickets.c.owner_id == bindparam("owner_id", type_=Integer))
    if shape.unassigned:
        where.append(tickets.c.owner_id.is_(None))
    if shape.priority:  # by rank: its capped count reads ix_tickets_priority_listed alone (migration 0012)
        where.append(tickets.c.priority_rank == bindparam("priority_rank", type_=Integer))
    if (view := _view(shape.view, user_id)) is not None:
        where.append(view)
    if shape.sla_state is not None:
        where.append(sla_state(shape.sla_state, bindparam("now", type_=tickets.c.sla_next_due_at.type)))
    if (words := _words(shape, walked=walked)) is not None:
        where.append(words)
    return where


def _words_apart(shape: ListShape, *, bounded: bool) -> tuple[ListShape, ColumnElement[bool] | None]:
    """``shape`` and, for a ``bounded`` walk of a search (:func:`bounded_walk`), its words apart:
    the shape without them and the words as written for a walk; else ``shape`` as it is, None."""
    words = _words(shape, walked=True) if bounded else None
    return (shape, None) if words is None else (dataclasses.replace(shape, q=0, q_ids=False), words)


def _words(shape: ListShape, *, walked: bool) -> ColumnElement[bool] | None:
    """``shape``'s text search as SQL (:func:`text_match`, ``walked`` or not), ``None`` without ``q``."""
    if not shape.q:
        return None
    terms = [bindparam(f"{'qw' if walked else 'q'}_{n}", type_=String) for n in range(shape.q)]
    ids = bindparam("q_ids", type_=IdList()) if shape.q_ids else None
    return text_match(terms, ids, walked=walked)


def sla_state(state: str, now: ColumnElement[Any]) -> ColumnElement[bool]:
    """Tickets whose SLA is in ``state`` at ``now`` (a bind parameter the store sets):
    :func:`services.tickets.domain.sla.state_at` as SQL."""
    running = tickets.c.sla_phase == "running"
    breached = or_(tickets.c.sla_breached_at.is_not(None), and_(running, tickets.c.sla_next_due_at <= now))
    if state == "breached":
        return breached
    clean = tickets.c.sla_breached_at.is_(None)
    if state in ("paused", "met"):
        return and_(clean, tickets.c.sla_phase == state)
    ahead = and_(clean, running, tickets.c.sla_next_due_at > now)
    if state == "due_soon":
        return and_(ahead, tickets.c.sla_soon_at <= now)
    return and_(ahead, tickets.c.sla_soon_at > now)


def _view(view: str | None, user_id: BindParameter[int]) -> ColumnElement[bool] | None:
    """The condition of a default view other than ``unassigned`` (a plain owner filter)."""
    if view == "mine":
        return tickets.c.owner_id == user_id
    if view == "following":
        return _following()
    if view == "open":
        return tickets.c.closed_at.is_(None)  # set exactly while the stage is CLOSED
    if view == "unread":
        return _unread(user_id)
    return None


OWNER_PARTS_MAX = 8
"""A page is read as one walk per owner of its scope (and one for unassigned tickets) for at most
this many of them (:func:`owner_parts`); a scope of more owners is one walk of the sort order."""


STAGED_APART = ("updated_at", "name", "priority", "created_at", "id")
"""The sorts a partial scope's page of one stage reads an owner at a time: each has an index by
``owner_id, stage_id`` and then its key (migrations 0014, 0021, 0022)."""


def owner_parts(shape: ListShape, sort_key: str, *, staged: bool = False) -> list[ColumnElement[bool]] | None:
    """The parts of a partial scope that a page sorted by ``updated_at`` reads one at a time,
    each in its owner's own order (``ix_tickets_owner_stage_updated``,
    ``ix_tickets_owner_updated``), the page being the first rows of their merge; ``None`` to
    read the page in one walk. In the other orders too (:data:`STAGED_APART`) where the page is
    of one stage (``staged``: a board column, a status filter), in ``ix_tickets_owner_stage_name``
    and the like: walking the name order for a column, an owned-only agent's board filtered by
    priority passed 11,000-13,000 rows for each column's 26 (41 ms of SQL at a million
    tickets); the shared walk of a board searched for a common word sorted by priority read
    19,400 rows for the 3,160 of the scope and the board's stages (25 of its 35 ms).

    One walk of the sort order (or of a column's stage) passes every ticket and keeps those of
    the scope: for an agent who sees their own and the unassigned tickets (a sixth of a
    million), a board column's page searched for a common word read ~1,900 rows, most of them
    other owners', where their own and the unassigned ones apart read ~280 (0.9-1.3 ms against
    3-4). ``owner_id IS NULL`` is no equality to PostgreSQL's planner, so each part orders by
    ``owner_id`` too, or the unassigned tickets' walk could not follow the index's order. A
    column's stage is an equality here (not :func:`_stage_walk`'s range, which a plan made once
    takes for a two-hundredth of the tickets: it then read all of an owner's tickets in the
    stage and sorted them, 6.5 ms for each column).

    Not for: a scope of one part (``owner_id = x`` alone: the planner may walk that index
    itself) or of more than :data:`OWNER_PARTS_MAX`, a filter that pins the owner
    (``owner_id``, ``unassigned``, ``view=mine``), the following view (it starts from the
    caller's follows), other sorts (no index orders an owner's tickets by them: the SLA's, and
    all but update unless ``staged``)."""
    scope = shape.scope
    apart = STAGED_APART if staged else ("updated_at",)
    if scope.everything or sort_key not in apart or shape.owner or shape.unassigned:
        return None
    if shape.view in ("mine", "following"):
        return None
    parts: list[ColumnElement[bool]] = [tickets.c.owner_id == owner for owner in sorted(scope.owner_ids)]
    if scope.unassigned:
        parts.append(tickets.c.owner_id.is_(None))
    return parts if 1 < len(parts) <= OWNER_PARTS_MAX else None


@dataclass(frozen=True)
class _Walk:
    """How a page's statement reads its rows (:func:`_page_rows`): in ``sort_key`` order
    (``descending`` or not), after a cursor's position (``keyset``: ``:after_key``,
    ``:after_id``), among ids already found (``among_given``: ``:among``), by stage first
    (``by_stage``: see :func:`_stage_walk`), in the caller's follows' order (``from_follows``);
    a searched walk reading at most :data:`WALK_BOUND` rows (``bounded``: :func:`bounded_walk`)
    or the search's matches sorted instead of a walk (``matches_first``: :func:`first_matches`)."""

    sort_key: str
    descending: bool
    keyset: bool = False
    among_given: bool = False
    by_stage: bool = False
    from_follows: bool = False
    bounded: bool = False
    matches_first: bool = False

    @property
    def key(self) -> ColumnElement[Any]:
        """The sort's column: the follow row's copy of it for the following view
        (``from_follows``: :data:`FOLLOW_SORT_KEYS`, :func:`_follows_listed`), else the ticket's."""
        return FOLLOW_SORT_KEYS[self.sort_key] if self.from_follows else SORT_KEYS[self.sort_key]


def page(  # noqa: PLR0913 - the ways a page is read, each by keyword
    scope: Scope,
    user_id: int,
    flt: TicketFilter,
    *,
    sort: Sort,
    limit: int,
    after: tuple[Any, int] | None = None,
    among: Sequence[int] | None = None,
    by_stage: bool = False,
    searched: Literal["walk", "bounded", "matches_first"] = "walk",
) -> Query:
    """One page in ``sort`` order plus one row (to know if there is a next page), keyset after
    ``after``, only among the ids ``among`` if given (see :func:`matching_ids`): a statement and
    its parameters (execute both).

    ``by_stage`` (a board column: ``flt.status`` set) walks the stage's own index when the sort
    is by ``updated_at`` (see :func:`_stage_walk`); a partial scope's owners are read apart
    (:func:`owner_parts`).

    Planned once, searched too: a searched page walks its order's index only when the words'
    matches are known to be many (more than the cap: :meth:`Lists._search_matches`; fewer are
    picked among their ids), so its text is written to be checked on the way
    (:func:`text_match`'s ``walked``), never looked up in the trigram index.

    A search's walk (not among ids) reads at most :data:`WALK_BOUND` rows when ``searched`` is
    ``bounded`` (:func:`walked` says whether they held the page); ``matches_first`` sorts the
    search's matches instead of walking (:func:`first_matches`): the page a cut bounded walk could not give.

    Each row carries ``sort_key``, the value the next cursor resumes from.
    """
    walk = _Walk(
        sort.key,
        sort.descending,
        keyset=after is not None,
        among_given=among is not None,
        by_stage=by_stage and flt.status is not None,
        bounded=searched == "bounded" and bool(flt.q) and among is None,
        matches_first=searched == "matches_first" and bool(flt.q) and among is None,
    )
    values = {**list_values(user_id, flt), "limit": limit + 1}
    if after is not None:
        values["after_key"], values["after_id"] = after
    if among is not None:
        values["among"] = list(among)
    return _page(ListShape.of(scope, flt), walk), values


@functools.lru_cache(maxsize=512)
def _page(shape: ListShape, walk: _Walk) -> Prepared:
    if walk.matches_first:
        return _matches_first(shape, walk)
    walk, parts = _column_walk(shape, walk, among_given=walk.among_given)
    unstaged = dataclasses.replace(shape, status=False) if walk.by_stage else shape
    unstaged, words = _words_apart(unstaged, bounded=walk.bounded)
    where = filters(unstaged, scoped=parts is None, walked=True)
    if walk.by_stage:
        where.append(_stage_walk(bindparam("status", type_=Integer)))
    return Prepared(_walks(where, parts, walk, words=words), plan_once=True, written=["limit"])


def _column_walk(
    shape: ListShape, walk: _Walk, *, among_given: bool
) -> tuple[_Walk, list[ColumnElement[bool]] | None]:
    """How a page of ``shape`` reads its rows, one rule for a table's page and a board's columns:
    its owner parts (:func:`owner_parts`; none among ids already found, whose plan is the ids'),
    and ``walk`` walking its stage's index only where a column asked for it (``by_stage``) and it
    is sorted by update, not among ids and not in parts (each part walks its owner's index in
    the stage): see :func:`_stage_walk`; the following view walks the caller's follows instead
    in the orders they carry (``from_follows``: :data:`FOLLOW_SORT_KEYS`)."""
    staged = walk.by_stage or shape.status
    parts = None if among_given else owner_parts(shape, walk.sort_key, staged=staged)
    from_follows = shape.view == "following" and walk.sort_key in FOLLOW_SORT_KEYS
    own_stage = walk.sort_key == "updated_at" and not among_given and parts is None and not from_follows
    by_stage = walk.by_stage and own_stage
    return dataclasses.replace(walk, by_stage=by_stage, from_follows=from_follows), parts


def _walks(
    where: Sequence[ColumnElement[bool]],
    parts: Sequence[ColumnElement[bool]] | None,
    walk: _Walk,
    extra: Sequence[ColumnElement[Any]] = (),
    words: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """A page's SELECT (see :func:`_page_rows`), or with ``parts`` (:func:`owner_parts`) the first
    ``:limit`` rows of the pages of each part (where the part and ``where`` hold, in its owner's
    order), in the sort's order. With ``words``, each walk is bounded (:func:`bounded_walk`)."""
    if parts is None:
        return _page_rows(where, walk, extra=extra, words=words)
    walks = [
        select(
            *_page_rows([*where, part], walk, by_owner=_pins(part), extra=extra, words=words)
            .subquery(f"part_{n}")
            .c
        )
        for n, part in enumerate(parts)
    ]
    merged = union_all(*walks).subquery("parts")
    order = [merged.c.sort_key, merged.c.id]
    statement = select(*merged.c).order_by(*_directed(order, walk.descending))
    return statement.limit(bindparam("limit", type_=Integer))


def _pins(part: ColumnElement[bool]) -> Literal["pinned", "unpinned"]:
    """Whether an owner part (:func:`owner_parts`) is an equality (``owner_id = x``: ``pinned``),
    which a planner drops from the order its walk gives, or ``owner_id IS NULL``, which it keeps."""
    return "pinned" if getattr(part, "operator", None) is operator.eq else "unpinned"


def _page_rows(
    where: Sequence[ColumnElement[bool]],
    walk: _Walk,
    *,
    by_owner: Literal["pinned", "unpinned"] | None = None,
    extra: Sequence[ColumnElement[Any]] = (),
    words: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """A page's SELECT: :func:`page_rows` with the sort key where ``where`` holds, in the sort's
    order (by owner first when ``by_owner``: see :func:`owner_parts`), ``LIMIT :limit``; with
    ``words``, the walk bounded (:func:`bounded_walk`)."""
    key = walk.key
    ident = followers.c.ticket_id if walk.from_follows else tickets.c.id
    where = list(where)
    if walk.among_given:
        where.append(among(tickets.c.id, bindparam("among", type_=IdList())))
    if walk.keyset:
        where.append(_after_cursor(key, ident, walk))
    order = [key, ident]
    if walk.by_stage:
        order.insert(0, tickets.c.stage_id)
    if by_owner:
        order.insert(0, tickets.c.owner_id)
    if words is not None:
        pinned = 1 if by_owner == "pinned" else 0
        return bounded_walk(
            where,
            words,
            order,
            descending=walk.descending,
            limit=bindparam("limit", type_=Integer),
            pinned=pinned,
            from_follows=walk.from_follows,
            extra=extra,
        )
    stmt = page_rows(bindparam("user_id", type_=Integer), key.label("sort_key"), *extra).where(*where)
    once = [column for n, column in enumerate(order) if all(column is not seen for seen in order[:n])]
    return stmt.order_by(*_directed(once, walk.descending)).limit(bindparam("limit", type_=Integer))


def _after_cursor(key: ColumnElement[Any], ident: ColumnElement[Any], walk: _Walk) -> ColumnElement[bool]:
    """The rows after a cursor's position (``:after_key``, ``:after_id``) in ``walk``'s direction."""
    bound = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id", type_=Integer))
    position = tuple_(key, ident)
    return position < bound if walk.descending else position > bound


def _directed(columns: Sequence[ColumnElement[Any]], descending: bool) -> list[ColumnElement[Any]]:
    return [c.desc() if descending else c.asc() for c in columns]


WALK_BOUND = 2000
"""How many of the rows its WHERE selects a searched page's walk reads at most
(:func:`bounded_walk`): a word in one of every 77 of them fills a page of 25 within it, one in
20 a page of 100. Past it the page is found among the matches (:func:`first_matches`), whose
cost is their number: at 1,000,000 tickets a word too rare to fill a page within the bound has
fewer than ~13,000 matches, sorted in tens of milliseconds; one common enough to fill it is
walked in a few. Where the WHERE is not the walk's index range (a partial scope sorted by name,
whose walk reads six rows for each it keeps) the bound costs that many times more rows read
(~50 ms at a million); a board's columns in such an order share one walk (:func:`board_walk`),
or by name walk each owner's tickets of their stage apart (:func:`owner_parts`)."""


def bounded_walk(
    where: Sequence[ColumnElement[bool]],
    words: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    *,
    descending: bool,
    limit: int | BindParameter[int],
    pinned: int = 0,
    from_follows: bool = False,
    extra: Sequence[ColumnElement[Any]] = (),
) -> Select[Any]:
    """A searched page's walk, bounded: the first :data:`WALK_BOUND` rows ``where`` selects in
    ``order`` (its last two the sort key and the id; ``descending`` or not), each with whether
    it holds the search's ``words`` (``matched``) and its place in the walk (``walked``, from 1);
    of them, in that order, the first ``limit`` that match or are the walk's last (its place the
    bound), as :func:`page_rows` with ``sort_key`` (and ``extra``). :func:`walked` reads the
    answer. ``from_follows``: the walk is the caller's follow rows' (:func:`_follows_listed`); a
    ``where`` that reads the follow row (the following view in another order) joins it too.

    A walk that checks the words on the way reads until a page of them is found: when they sit
    together far along the order (a word in the names, sorted by name) that was most of the
    table (``q=refund&sort=name`` at 1,000,000 tickets: 1.7 s; a board so searched went past
    its deadline). Bounded, the walk costs at most the bound; a page it could not fill there is
    found among the matches instead (:func:`first_matches`). Each row's read mark and follow
    row are joined outside the bound, for the rows returned only.

    The outer query orders by the walk's own order (its prefix ``walk_0``..., ``sort_key``,
    ``id``), not by ``walked``: a planner then sees that the bounded rows come in that order and
    stops reading at the page's end (ordered by the row number, PostgreSQL sorted all of the
    bound's rows first: a common word's page read them all where 400 held it). Less the first
    ``pinned`` of them, which the walk's WHERE fixes by an equality (an owner part's
    ``owner_id = x``): PostgreSQL drops such a column from the order it knows the walk gives, and
    then sorted the bound's rows for the outer order (an owned-only agent's board, 23.8 ms of SQL
    against 3.6)."""
    walk = _walk(where, words, order, descending=descending, bound=WALK_BOUND, from_follows=from_follows)
    return _walk_page(
        walk, walk.c.matched, len(order) - 2, descending=descending, limit=limit, pinned=pinned, extra=extra
    )


def _walk(
    where: Sequence[ColumnElement[bool]],
    words: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    *,
    descending: bool,
    bound: int,
    from_follows: bool,
    stages: Sequence[ColumnElement[int]] = (),
) -> Subquery:
    """:func:`bounded_walk`'s walk: the first ``bound`` rows ``where`` selects in ``order``, each
    with ``walk_0``... (the order's prefix), ``sort_key``, ``id``, ``matched``, ``walked`` and
    ``walk_end`` (the bound's last row); with ``stages`` (:func:`board_walk`) also ``stage_id``
    and, for each stage, ``nth_0``...: how many of the walk's rows up to this one are matches in
    that stage (a running count, which the walk's order gives as it goes).

    With ``stages`` the words are checked once a row, in a walk of its own (``steps``) that the
    running counts read: written into each count, they were checked once for each stage and
    once more, the search's ids looked through as often (a board searched for a common word
    sorted by priority at a million tickets: 16 of its walk's 21 ms)."""
    user_id = bindparam("user_id", type_=Integer)
    source = _for_user(user_id) if from_follows or _reads_follows(where) else tickets
    ordered = _directed(order, descending)
    *prefix, key, ident = order
    named = [
        *(column.label(f"walk_{n}") for n, column in enumerate(prefix)),
        key.label("sort_key"),
        ident.label("id"),
    ]

    def bounded(*columns: ColumnElement[Any]) -> Select[Any]:
        return select(*named, *columns).select_from(source).where(*where).order_by(*ordered).limit(bound)

    def ends(walked: ColumnElement[int]) -> tuple[ColumnElement[Any], ColumnElement[bool]]:
        return walked.label("walked"), (walked == literal_column(str(bound), Integer)).label("walk_end")

    if not stages:
        walked = func.row_number().over(order_by=ordered)
        return bounded(words.label("matched"), *ends(walked)).subquery("walk")
    steps = bounded(tickets.c.stage_id.label("stage_id"), words.label("matched")).subquery("steps")
    carried = [steps.c[column.name] for column in named]
    stepped = _directed(carried, descending)
    return select(
        *carried,
        steps.c.stage_id,
        *(
            func.sum(case((and_(steps.c.matched, steps.c.stage_id == stage), 1), else_=0))
            .over(order_by=stepped)
            .label(f"nth_{n}")
            for n, stage in enumerate(stages)
        ),
        steps.c.matched,
        *ends(func.row_number().over(order_by=stepped)),
    ).subquery("walk")


def _walk_page(
    walk: Subquery | CTE,
    keep: ColumnElement[bool],
    prefix: int,
    *,
    descending: bool,
    limit: int | BindParameter[int],
    pinned: int = 0,
    extra: Sequence[ColumnElement[Any]] = (),
) -> Select[Any]:
    """Out of ``walk`` (:func:`_walk`), in its order, the first ``limit`` rows it ``keep``s or
    that end it, as :func:`page_rows` with ``sort_key``, ``matched``, ``walked``, ``walk_end``
    (and ``extra``); ordered by the walk's columns less its first ``pinned`` (see
    :func:`bounded_walk`)."""
    walked_order = [*(walk.c[f"walk_{n}"] for n in range(prefix)), walk.c.sort_key, walk.c.id]
    user_id = bindparam("user_id", type_=Integer)
    columns = (walk.c.sort_key, walk.c.matched, walk.c.walked, walk.c.walk_end)
    stmt = page_rows(user_id, *columns, *extra).join(walk, walk.c.id == tickets.c.id)
    stmt = stmt.where(or_(keep, walk.c.walk_end))
    return stmt.order_by(*_directed(walked_order[pinned:], descending)).limit(limit)


def board_walk(
    where: Sequence[ColumnElement[bool]],
    words: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    stages: Sequence[ColumnElement[int]],
    *,
    descending: bool,
    limit: int | BindParameter[int],
    from_follows: bool = False,
) -> Select[Any]:
    """The bounded walks of a board's columns of ``stages`` as one walk: the first
    ``len(stages)`` times :data:`WALK_BOUND` rows ``where`` selects in any of the stages, in
    ``order`` (the sort key and the id), and out of it each column's rows as :func:`bounded_walk`
    gives them (its stage's first ``limit`` matches, or fewer and the walk's last row; ``matched``:
    a match of that column), with ``board_column`` (its index in ``stages``), the columns one
    after another.

    For an order no index gives by stage (all but ``updated_at``, :func:`_stage_walk`; and by
    name, an owner at a time, :func:`owner_parts`), whose column walks each passed the rows of
    every stage to keep their own: an owned-only agent's board sorted by name (before migration
    0021 gave it parts) read its scope's rows six for one kept, and its columns' stages four
    for one of those, so four walks of 48,000 rows each (~50 ms each at a million tickets). One
    walk reads as many rows as one of them gave each column, the columns sharing them in the
    stages' proportions: a column of a rare stage sees fewer of its own rows than alone and is
    cut sooner, its matches, as few, then sorted (:func:`board_matches_first`).

    The walk is read lazily, as far as its furthest column needs: each column keeps its rows by
    their running count (``nth_n``), not by sorting the walk, which would read all of it first
    (a common word's owned-only board sorted by name: 68 ms against 30 for four walks that stop
    at their pages). Its ``LIMIT`` stops it at its last row, which comes at once where the walk's
    rows come in order, as PostgreSQL's read of a materialized walk gives them; in any other
    order it keeps the same rows or, short of them, the walk's last row, which reads as cut
    (:func:`walked`): the matches are sorted then. Each column's rows are picked from the walk
    before they are joined to the tickets (joined first, each column's every match was looked up
    and sorted: the owned-only board's statement 160 ms against 60)."""
    walk = (
        _walk(
            [*where, tickets.c.stage_id.in_(stages)],
            words,
            order,
            descending=descending,
            bound=WALK_BOUND * len(stages),
            from_follows=from_follows,
            stages=stages,
        )
        .element.cte("walk")
        .prefix_with("MATERIALIZED")
    )
    picks = [
        select(
            *select(
                walk.c.id,
                walk.c.sort_key,
                and_(walk.c.matched, walk.c.stage_id == stage).label("matched"),  # its own column's
                walk.c.walked,
                walk.c.walk_end,
                literal(n, Integer).label("board_column"),
            )
            .where(
                or_(
                    and_(walk.c.matched, walk.c.stage_id == stage, walk.c[f"nth_{n}"] <= limit),
                    walk.c.walk_end,
                )
            )
            .limit(limit)
            .subquery(f"column_{n}")
            .c
        )
        for n, stage in enumerate(stages)
    ]
    board = union_all(*picks).subquery("board")
    columns = (board.c.sort_key, board.c.matched, board.c.walked, board.c.walk_end, board.c.board_column)
    stmt = page_rows(bindparam("user_id", type_=Integer), *columns).join(board, board.c.id == tickets.c.id)
    return stmt.order_by(board.c.board_column, *_directed([board.c.sort_key, board.c.id], descending))


def worth_walking(flt: TicketFilter, sort_key: str) -> bool:
    """Whether a page searched past the cap is walked (bounded) before its matches are sorted:
    not the following view in an order its follow rows do not carry (:data:`FOLLOW_SORT_KEYS`),
    whose walk passes every listed ticket in that order to find the caller's follows among them
    (an agent following 30,000 of a million, sorted by name before the follows carried names: a
    walk cut after 139 ms, then the matches sorted in 142)."""
    return flt.view != "following" or sort_key in FOLLOW_SORT_KEYS


def walked(rows: Sequence[Any], wanted: int) -> list[Any] | None:
    """The page a bounded walk's ``rows`` (:func:`bounded_walk`, in order, at most ``wanted``
    of them: a page and one more) hold: its matches, or ``None`` if the walk reached its bound
    before ``wanted`` of them (what follows the bound is unread: the page must be found
    otherwise). For the merge of several walks (a partial scope's owners) the first walk's last
    row to come cuts the page."""
    page = []
    for row in rows:
        if row.matched:
            page.append(row)
        if row.walk_end:
            return page if len(page) >= wanted else None
    return page


def _matches_first(shape: ListShape, walk: _Walk, columns: int = 0) -> Prepared:
    """:func:`page`'s ``matches_first`` (``columns``: :func:`board_matches_first`'s):
    :func:`first_matches` of the scope's and filters' matches after the cursor."""
    user_id = bindparam("user_id", type_=Integer)
    key = SORT_KEYS[walk.sort_key]
    where = filters(shape)
    if walk.keyset:
        where.append(_after_cursor(key, tickets.c.id, walk))
    statement = first_matches(
        where,
        key,
        descending=walk.descending,
        limit=bindparam("limit", type_=Integer),
        source=_for_user(user_id) if shape.view == "following" else tickets,
        stages=[bindparam(f"stage_{n}", type_=Integer) for n in range(columns)],
    )
    return Prepared(statement, plan_once=False, written=["limit"])


def first_matches(
    where: Sequence[ColumnElement[bool]],
    key: ColumnElement[Any],
    *,
    descending: bool,
    limit: int | BindParameter[int],
    source: Join | Table = tickets,
    stages: Sequence[ColumnElement[int]] = (),
) -> Select[Any]:
    """A searched page found among the search's matches: all of the rows of ``source`` that
    ``where`` selects (a search's words among them), sorted by ``key`` and id, the first
    ``limit``, as :func:`page_rows` with ``sort_key``; with ``stages``, the first ``limit`` of
    each of those stages' (board columns), each row with its ``board_column`` (its index in
    ``stages``).

    What a bounded walk that was cut at its bound leaves (:func:`bounded_walk`). Its cost is
    the matches' number, not where they sit: ``q=refund&sort=name`` at 1,000,000 tickets (66,000
    matches, all in one stretch of the name order) was 1.7 s walked, ~130 ms this way. The
    matches are written as a materialized CTE, so no plan walks the sort order for them, and
    planned for their words (the trigram index for a few, a scan for many); a board's columns
    share it (read once for four columns: 200 ms against 300). Each page is cut from them before
    its rows are joined to their read marks and follows (joined first, all 66,000 were: 510 ms
    against 190)."""
    user_id = bindparam("user_id", type_=Integer)
    in_stages = [tickets.c.stage_id.in_(stages)] if stages else []
    matches = (
        select(tickets.c.id.label("id"), key.label("sort_key"), tickets.c.stage_id.label("stage_id"))
        .select_from(source)
        .where(*where, *in_stages)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    ordered = _directed([matches.c.sort_key, matches.c.id], descending)
    if not stages:
        top = select(matches.c.id, matches.c.sort_key).order_by(*ordered).limit(limit).subquery("first")
        stmt = page_rows(user_id, top.c.sort_key).join(top, top.c.id == tickets.c.id)
        return stmt.order_by(*_directed([top.c.sort_key, top.c.id], descending))
    tops = [
        select(
            *select(matches.c.id, matches.c.sort_key, literal(n, Integer).label("board_column"))
            .where(matches.c.stage_id == stage)
            .order_by(*ordered)
            .limit(limit)
            .subquery(f"column_{n}")
            .c
        )
        for n, stage in enumerate(stages)
    ]
    top = union_all(*tops).subquery("first")
    stmt = page_rows(user_id, top.c.sort_key, top.c.board_column).join(top, top.c.id == tickets.c.id)
    return stmt.order_by(top.c.board_column, *_directed([top.c.sort_key, top.c.id], descending))


def board_matches_first(
    scope: Scope, user_id: int, flt: TicketFilter, stage_ids: Sequence[int], *, sort: Sort, limit: int
) -> Query:
    """The first pages of the board columns of ``stage_ids`` found among a search's matches
    (:func:`first_matches`), ``limit + 1`` rows each with ``board_column``: the columns whose
    bounded walks (:func:`board_pages`' ``bounded``) were cut."""
    shape = ListShape.of(scope, dataclasses.replace(flt, status=None))
    values = {**list_values(user_id, flt), "limit": limit + 1}
    values.update({f"stage_{n}": stage_id for n, stage_id in enumerate(stage_ids)})
    return _board_matches_first(shape, _Walk(sort.key, sort.descending), len(stage_ids)), values


@functools.lru_cache(maxsize=512)
def _board_matches_first(shape: ListShape, walk: _Walk, columns: int) -> Prepared:
    return _matches_first(shape, walk, columns)


def board_pages(
    scope: Scope,
    user_id: int,
    flt: TicketFilter,
    stage_ids: Sequence[int],
    *,
    sort: Sort,
    limit: int,
    among: Sequence[Sequence[int]] | None = None,
    bounded: bool = False,
) -> Query:
    """The first pages of the board columns of ``stage_ids`` in one statement: each the rows
    :func:`page` with ``by_stage`` gives for its stage (among the ids ``among[n]`` for the
    column of ``stage_ids[n]`` if given), ``limit + 1`` of them, with ``board_column`` (its index
    in ``stage_ids``), the columns one after another. Planned once, as :func:`page` is.

    One statement instead of one per column: at a million tickets a board's reads took 7.1 ms of
    the client's CPU with four pages and 6.0 with this, 11.3 ms of wall time against 9.8, the
    same rows. A board searched for a common word (its columns walked, not picked among ids):
    its four pages planned afresh each took 8.8 ms of logged server time (15.1 for an owned-only
    agent), this one statement planned once 3.6 (6.2, its owners read apart: :func:`owner_parts`).

    ``bounded``: a search's columns walked at most :data:`WALK_BOUND` rows each (read each
    column's rows with :func:`walked`)."""
    shape = ListShape.of(scope, dataclasses.replace(flt, status=None))
    values = {**list_values(user_id, flt), "limit": limit + 1}
    values.update({f"stage_{n}": stage_id for n, stage_id in enumerate(stage_ids)})
    if among is not None:
        values.update({f"among_{n}": list(ids) for n, ids in enumerate(among)})
    bounded = bounded and bool(flt.q) and among is None
    statement = _board_pages(
        shape, sort.key, sort.descending, len(stage_ids), among_given=among is not None, bounded=bounded
    )
    return statement, values


@functools.lru_cache(maxsize=512)
def _board_pages(
    shape: ListShape, sort_key: str, descending: bool, columns: int, *, among_given: bool, bounded: bool
) -> Prepared:
    # each column's ids are its own parameter (among_n), not the walk's
    walk, owners = _column_walk(shape, _Walk(sort_key, descending, by_stage=True), among_given=among_given)
    unworded, words = _words_apart(shape, bounded=bounded)
    if words is not None and owners is None and not walk.by_stage:
        stages = [bindparam(f"stage_{n}", type_=Integer) for n in range(columns)]
        where = filters(unworded, walked=True)
        shared = board_walk(
            where,
            words,
            [walk.key, followers.c.ticket_id if walk.from_follows else tickets.c.id],
            stages,
            descending=descending,
            limit=bindparam("limit", type_=Integer),
            from_follows=walk.from_follows,
        )
        return Prepared(shared, plan_once=True, written=["limit"])
    pages = []
    for n in range(columns):
        stage = bindparam(f"stage_{n}", type_=Integer)
        where = [
            *filters(unworded, scoped=owners is None, walked=True),
            _stage_walk(stage) if walk.by_stage else tickets.c.stage_id == stage,
        ]
        if among_given:
            where.append(among(tickets.c.id, bindparam(f"among_{n}", type_=IdList())))
        column = literal(n, Integer).label("board_column")
        walks = _walks(where, owners, walk, extra=[column], words=words)
        pages.append(select(*walks.subquery(f"column_{n}").c))
    board = union_all(*pages).subquery("board")
    order = [board.c.sort_key, board.c.id]
    statement = select(*board.c).order_by(board.c.board_column, *_directed(order, descending))
    return Prepared(statement, plan_once=True, written=["limit"])


def _stage_walk(status: BindParameter[int]) -> ColumnElement[bool]:
    """A board column's stage as a range of one (``stage_id BETWEEN :status AND :status``), for a
    page ordered by ``stage_id`` first: only ``ix_tickets_stage_updated`` gives that order.

    With ``stage_id = :status`` PostgreSQL drops the constant from the ordering and may walk
    ``ix_tickets_updated`` instead, filtering every other stage's tickets on the way: at
    1,000,000 tickets a column searched for a common word read 2,400 rows for its page that
    way instead of 340 (1.8 ms against 0.9), and 18,000 instead of 2,800 for an owned-only
    agent (13.4 ms against 5.4); its planner prices the two alike because ``updated_at``
    follows the table's physical order and ``stage_id`` does not.
    """
    return tickets.c.stage_id.between(status, status)


def _counted(shape: ListShape) -> Join | Table:
    # Counting is the costly part of a page; SQLite does not drop unused outer joins by itself.
    if shape.view == "following":
        return _for_user(bindparam("user_id", type_=Integer))
    return tickets


def capped_count(
    table: Join | Table, where: Sequence[ColumnElement[bool]], cap: int | None = None
) -> Select[Any]:
    """How many rows ``where`` selects, counted up to ``cap + 1`` (``TOTAL_CAP`` unless given; see
    :func:`capped_total`): the count stops early instead of visiting every match."""
    found = _first([literal(1).label("one")], table, where, cap)
    return select(func.count()).select_from(found.subquery())


def capped_ids(
    table: Join | Table, where: Sequence[ColumnElement[bool]], cap: int | None = None
) -> Select[Any]:
    """The ids of the rows ``where`` selects, at most ``cap + 1`` of them (``TOTAL_CAP`` unless
    given), in no set order: a capped count that also says which rows it counted.

    A text search (``ILIKE '%text%'``) is where PostgreSQL's planner guesses worst: a word absent
    from its statistics sample is estimated at ~200 matches in any table, so for a small page it
    walks the sort order's index expecting an early match and, when the word matches nothing,
    reads every row (1.7 s at 1,000,000 tickets for ``limit=1``). Finding the matches first
    (the trigram index answers that in well under a millisecond when they are few) and, when
    they number no more than the cap, ordering only those (:func:`page`'s ``among``) bounds the
    page by what the count costs anyway.
    """
    return _first([tickets.c.id], table, where, cap)


def _first(
    columns: Sequence[ColumnElement[Any]],
    table: Join | Table,
    where: Sequence[ColumnElement[bool]],
    cap: int | None,
) -> Select[Any]:
    """``columns`` of the first ``cap + 1`` rows ``where`` selects (``TOTAL_CAP`` unless given)."""
    limit = (TOTAL_CAP if cap is None else cap) + 1
    return select(*columns).select_from(table).where(*where).limit(limit)


UNASSIGNED_KEY = 0
"""An unassigned ticket's :func:`owner_key` (people's ids start at 1)."""

PROBE_BOUND = 3000
"""How many of a partial scope's listed tickets a text search's bounded probe reads at most
(:func:`text_probe`): a word in one of every 30 of them is found past the cap there."""

PAST_THE_CAP_REMEMBERED = 4096
"""How many searches (scope, words, filters) a process remembers whether the bounded probe
proves past the cap (:class:`TextProbe`), the least recently used forgotten first."""

_PROBED = frozenset({"id", "owner_id", "stage_id", "pipeline_id", "search_text"})
"""The ``tickets`` columns ``ix_tickets_owner_key_text`` carries (migration 0018)."""


def owner_key() -> ColumnElement[int]:
    """A ticket's owner as ``ix_tickets_owner_key_text`` keys it: the owner's id, or
    :data:`UNASSIGNED_KEY` (an equality, where ``owner_id IS NULL`` is none). The 0 is written in
    the SQL, not bound: a plan made once must see the index's own expression."""
    return func.coalesce(tickets.c.owner_id, literal_column(str(UNASSIGNED_KEY), Integer))


def _owner_keys(scope: Scope) -> list[int]:
    """The :func:`owner_key` values of a partial ``scope``'s tickets (none for everything)."""
    if scope.everything:
        return []
    return sorted(scope.owner_ids) + ([UNASSIGNED_KEY] if scope.unassigned else [])


def _reads_follows(clauses: Sequence[ColumnElement[Any]]) -> bool:
    """Whether ``clauses`` read the caller's follow row (the following view's filters do)."""
    return any(column.table is followers for column in _columns(clauses))


def _reads_only(clauses: Sequence[ColumnElement[Any]], names: frozenset[str]) -> bool:
    """Whether ``clauses`` read no column but those of ``tickets`` named ``names``."""
    return all(column.table is tickets and column.name in names for column in _columns(clauses))


def _columns(clauses: Sequence[ColumnElement[Any]]) -> Iterator[Column[Any]]:
    """The table columns ``clauses`` read."""
    for clause in clauses:
        for element in visitors.iterate(clause):
            if isinstance(element, Column):
                yield element


_bounded_proves: LeastRecentlyUsed[Hashable, bool] = LeastRecentlyUsed(PAST_THE_CAP_REMEMBERED)


@dataclass(frozen=True)
class TextProbe:
    """A text search's first matches, at most ``cap + 1`` (:func:`text_probe`'s statements).

    ``whole`` is the answer. ``bounded`` (when given) can only prove the matches past the cap, so
    it is tried first only for ``words`` (the caller's key: the scope, the words and filters)
    whose matches were past the cap when last probed in this process, and then never again for
    them if it did not find them so: ``cap + 1`` from it are the answer, fewer mean ``whole``
    runs after it. So a rare word costs what it did without ``bounded``, a common one the
    bounded read from its second probe on, and a word common in the scope but not within the
    bound one wasted bounded read. Whichever runs, the rows are a right answer. Runs where a
    :class:`Prepared` does; its statements are prepared ones or plain statements run in the
    session with ``values``; a plain ``bounded`` is given as what builds it, built only to run
    (building it costs ~0.4 ms, several times the whole statement)."""

    whole: Prepared | Select[Any]
    cap: int
    bounded: Prepared | Callable[[], Select[Any]] | None = None

    def run(self, s: Session, values: Mapping[str, Any], *, words: Hashable = None) -> Rows:
        limit = self.cap + 1
        known = None if self.bounded is None or words is None else _bounded_proves.get(words)
        if self.bounded is not None and known:
            bounded = self.bounded if isinstance(self.bounded, Prepared) else self.bounded()
            rows = _rows(s, bounded, values)
            if len(rows) == limit:
                return Rows(rows, len(rows))
            _bounded_proves.put(words, False)
        rows = _rows(s, self.whole, values)
        if self.bounded is not None and words is not None and known is None and len(rows) == limit:
            _bounded_proves.put(words, True)
        return Rows(rows, len(rows))


Probed = tuple[TextProbe, dict[str, Any]]
"""A :class:`TextProbe` and its parameters: its ``run`` executes it."""


def _rows(s: Session, statement: Prepared | Select[Any], values: Mapping[str, Any]) -> list[Any]:
    if isinstance(statement, Prepared):
        return statement.run(s, values).all()
    return list(s.execute(statement, dict(values)).all())


def text_probe(
    scope: Scope,
    columns: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
    cap: int,
    *,
    table: Join | Table = tickets,
    access: Sequence[ColumnElement[bool]] | None = None,
    checked: Sequence[ColumnElement[bool]] | None = None,
    bound: int = PROBE_BOUND,
) -> tuple[Select[Any], Callable[[], Select[Any]] | None]:
    """The statements of a text search's first matches: ``columns`` of the first ``cap + 1``
    listed tickets in ``scope`` that ``where`` (the search's own clauses: its words, the caller's
    filters) selects, in no set order (:func:`capped_ids`); ``access`` instead of the listing and
    access rule, over ``table``, when given. ``(whole, bounded)``: ``bounded`` is what builds the
    second statement, ``None`` where it does not apply; :class:`TextProbe` runs them.

    ``whole`` is the one statement, planned for its words (a rare word's matches come from the
    trigram index, a common one's by reading rows until ``cap + 1`` match). For an agent who sees
    their own and the unassigned tickets a common word read that way was a seq scan of ~9,400
    rows, each whole up to its last column (``search_text``), until 101 of the scope matched:
    3.1-3.5 ms at 1,000,000 tickets. ``bounded`` reads the scope alone, at most ``bound`` of its
    tickets, from the index keyed by :func:`owner_key` that carries the columns ``where`` reads
    (migration 0018), and checks ``checked`` (``where`` written to be checked row by row, as a
    page's walk does: :func:`text_match`'s ``walked``; ``where`` itself if not given) on the way:
    0.4 ms for that word. It says nothing when it finds no more than the cap (a rare word: 0.8 ms
    spent at a million), hence :class:`TextProbe`'s choice of which runs first. Its key appears in
    no other statement, so no other plan picks that index for an owner (an owner index ANDed
    into a rare word's trigram bitmap made it 0.3 -> 3.5 ms); inside its bound no word can change
    its plan, so it may be planned once. It applies where the scope is partial and ``where``
    reads only the index's columns (no priority, view, SLA or follow row)."""
    whole = _first(columns, table, listed_in(scope) if access is None else access, cap).where(*where)
    keys = _owner_keys(scope)
    checked = where if checked is None else checked
    if not keys or not _reads_only([*columns, *checked], _PROBED):
        return whole, None

    def bounded() -> Select[Any]:
        # the key only picks the index; the access rule is applied as everywhere (visible)
        in_scope = [owner_key().in_(keys), *listed_in(scope)]
        rows = select(*(tickets.c[name] for name in sorted(_PROBED))).where(*in_scope)
        adapt = ClauseAdapter(rows.limit(bound).subquery("scope_rows")).traverse
        return select(*(adapt(c) for c in columns)).where(*(adapt(w) for w in checked)).limit(cap + 1)

    return whole, bounded


def matching_ids(scope: Scope, user_id: int, flt: TicketFilter, cap: int | None = None) -> Query:
    """:func:`capped_ids` of a list's filters, up to ``cap + 1`` (``flt.total_cap`` unless given):
    a statement and its parameters."""
    shape = ListShape.of(scope, flt)
    return _matching_ids(shape, flt.total_cap if cap is None else cap), list_values(user_id, flt)


@functools.lru_cache(maxsize=512)
def _matching_ids(shape: ListShape, cap: int) -> Prepared:
    return Prepared(capped_ids(_counted(shape), filters(shape), cap), plan_once=shape.plan_once)


def matching_stages(scope: Scope, user_id: int, flt: TicketFilter) -> Probed:
    """:func:`matching_ids` with each match's stage: ``(id, stage_id)`` rows, for a board."""
    return _matching_stages(ListShape.of(scope, flt), flt.total_cap), list_values(user_id, flt)


@functools.lru_cache(maxsize=512)
def _matching_stages(shape: ListShape, cap: int) -> TextProbe:
    access = _follows_listed(shape.scope) if shape.view == "following" else None
    whole, bounded = text_probe(
        shape.scope,
        [tickets.c.id, tickets.c.stage_id],
        asked(shape),
        cap,
        table=_counted(shape),
        access=access,
        checked=asked(shape, walked=True),
    )
    # the bounded probe's plan is its index's whatever the words: planned once
    prepared = Prepared(whole, plan_once=shape.plan_once)
    return TextProbe(prepared, cap, None if bounded is None else Prepared(bounded(), plan_once=True))


def listed_among(scope: Scope, user_id: int, flt: TicketFilter, ids: Sequence[int]) -> Query:
    """``(id, stage_id)`` of the tickets among ``ids`` that the scope and ``flt``'s filters other
    than its text select: those whose conversation matches ``q``, which match it whatever their
    own text (a statement and its parameters)."""
    plain = dataclasses.replace(flt, q=None, q_terms=(), q_ids=())
    return _listed_among(ListShape.of(scope, plain)), {**list_values(user_id, plain), "among": list(ids)}


@functools.lru_cache(maxsize=512)
def _listed_among(shape: ListShape) -> Prepared:
    where = [*filters(shape), among(tickets.c.id, bindparam("among", type_=IdList()))]
    statement = select(tickets.c.id, tickets.c.stage_id).select_from(_counted(shape)).where(*where)
    return Prepared(statement, plan_once=True)


def count(scope: Scope, user_id: int, flt: TicketFilter) -> Query:
    """How many tickets the same filters select, up to ``flt.total_cap + 1`` (a list's ``total``):
    a statement and its parameters."""
    return _count(ListShape.of(scope, flt), flt.total_cap), list_values(user_id, flt)


@functools.lru_cache(maxsize=512)
def _count(shape: ListShape, cap: int) -> Prepared:
    table, where, plan_once = _counted_where(shape)
    return Prepared(capped_count(table, where, cap), plan_once=plan_once)


def _counted_where(shape: ListShape, *, by_stage: bool = False) -> tuple[Join | Table, list[Any], bool]:
    """What a count of ``shape`` reads, its WHERE and whether it is planned once: the caller's
    follow rows alone when :func:`_follows_alone` (planned for the caller), else the list's own
    (:func:`filters`, a status filter among them). ``by_stage``: a board column's count, whose
    stage (a condition the caller adds) says its pipeline."""
    if _follows_alone(dataclasses.replace(shape, pipeline=False) if by_stage else shape):
        mine = [followers.c.user_id == bindparam("user_id", type_=Integer), *_follows_listed(shape.scope)]
        return followers, mine, False
    return _counted(shape), filters(shape), shape.plan_once


def _follows_alone(shape: ListShape) -> bool:
    """Whether a list is the caller's follows of listed tickets in their scope and nothing
    narrower (the following view, no other filter): its total is then counted from
    the caller's entries of a follow-row index alone (:func:`_follows_listed`), where looking
    each followed ticket up took 3.8 ms for 1,001 of an agent's 29,600 follows at 1,000,000
    tickets (0.5 ms), and 5 ms for an owned-only agent's; a board's columns by the follow rows'
    copy of the stage (``ix_ticket_followers_user_stage``: that agent's four columns were 63 ms).
    Planned for its caller: a plan made once takes every user for the average follower (1,100
    follows) and, while the table's pages are not marked all-visible since its last vacuum, reads
    all 29,600 entries of that agent in a bitmap (2.4 ms) where a plan knowing them reads 1,001."""
    return shape == ListShape(scope=shape.scope, view="following")


def count_by_stage(scope: Scope, user_id: int, flt: TicketFilter, stage_ids: Sequence[int]) -> Query:
    """One row: for each of ``stage_ids`` (a column of the board), its capped count, in one query
    (a statement and its parameters)."""
    values = list_values(user_id, flt)
    values.update({f"stage_{n}": stage_id for n, stage_id in enumerate(stage_ids)})
    return _count_by_stage(ListShape.of(scope, flt), flt.total_cap, len(stage_ids)), values


@functools.lru_cache(maxsize=512)
def _count_by_stage(shape: ListShape, cap: int, stages: int) -> Prepared:
    table, where, plan_once = _counted_where(shape, by_stage=True)
    stage_of = followers.c.ticket_stage_id if table is followers else tickets.c.stage_id
    parts = _counted_parts(shape)
    if parts is not None:
        where = filters(shape, scoped=False)
    alone: list[list[ColumnElement[bool]]] = [[part] for part in parts] if parts else [[]]

    def column(n: int) -> ColumnElement[int]:
        stage = stage_of == bindparam(f"stage_{n}", type_=Integer)
        counts = (capped_count(table, [*where, *part, stage], cap) for part in alone)
        return functools.reduce(operator.add, (count.scalar_subquery() for count in counts))

    statement = select(*(column(n).label(f"stage_{n}") for n in range(stages)))
    return Prepared(statement, plan_once=plan_once)


def _counted_parts(shape: ListShape) -> list[ColumnElement[bool]] | None:
    """A board column's count for a partial scope as the sum of its owners' counts and the
    unassigned tickets' (:func:`owner_parts`), each capped: ``owner_id = x`` and ``owner_id IS
    NULL`` are each a condition an index with the owner after the stage reads as a range
    (``ix_tickets_listed``, ``ix_tickets_stage_priority_listed``), where ORed together they were a
    filter on every entry of the stage: an owned-only agent's column filtered by priority passed
    13,300 entries for its 1,001 at a million tickets. Not the unread view, whose count walks its
    stage in id order beside the caller's read marks (``ix_tickets_stage_id_listed``): each part
    would walk it again; nor the following view (:func:`owner_parts` has none for it), counted
    from the caller's follow rows."""
    return None if shape.view == "unread" else owner_parts(shape, "updated_at")


_BY_NAME = operator.itemgetter(*_WIRE_COLUMNS)
_WIRE_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _wire_values(row: Any) -> tuple[Any, ...]:
    """``_WIRE_COLUMNS``' values of ``row``: a :class:`Prepared` row (a named tuple: read by
    position, one call for all of them), a SQLAlchemy row or a mapping (read by name).

    Building a row's mapping to read it by name took a tenth of the tickets service's CPU for a
    board of 100 tickets, more than the row's own fetching."""
    kind = type(row)
    getter = _WIRE_GETTERS.get(kind)
    if getter is None:
        fields = getattr(kind, "_fields", None)  # a named tuple class's (SQLAlchemy's is per row)
        if isinstance(fields, tuple) and set(_WIRE_COLUMNS) <= set(fields):
            getter = operator.itemgetter(*(fields.index(name) for name in _WIRE_COLUMNS))
        elif isinstance(row, Mapping):
            getter = _BY_NAME
        else:
            getter = _by_mapping
        if len(_WIRE_GETTERS) < 256:  # row classes are few: one per statement's columns
            _WIRE_GETTERS[kind] = getter
    return getter(row)


def _by_mapping(row: Any) -> tuple[Any, ...]:
    return _BY_NAME(row._mapping)


def ticket_dict(
    row: Any, assoc: dict[str, list[int]], merged: Sequence[int], *, now: dt.datetime
) -> dict[str, Any]:
    """The wire form of a row of :func:`ticket_rows` (or a mapping with its columns), see
    ``contract.TicketSchema``; its ``sla`` as it stands at ``now``."""
    (
        ticket_id, name, description, pipeline_id, stage_id, priority, category, owner_id,
        team_id, source, created_at, updated_at, closed_at, version, unread, following,
        first_reply_at, last_customer_message_at, last_agent_message_at, external_source,
        external_id, in_progress, job_id, sla_policy_id, sla_data, sla_phase,
        sla_next_due_at, sla_soon_at, sla_breached_at,
    ) = _wire_values(row)  # fmt: skip
    return {
        "id": ticket_id,
        "name": name,
        "description": description,
        "pipeline_id": pipeline_id,
        "status": stage_id,
        "priority": priority,
        "category": category,
        "owner_id": owner_id,
        "team_id": team_id,
        "source": source,
        "associations": assoc,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "closed_at": iso(closed_at),
        "version": version,
        "unread": bool(unread),
        "following": bool(following),
        "merged_ticket_ids": list(merged),
        "first_reply_at": iso(first_reply_at),
        "last_customer_message_at": iso(last_customer_message_at),
        "last_agent_message_at": iso(last_agent_message_at),
        "external_source": external_source,
        "external_id": external_id,
        "in_progress": in_progress,
        "job_id": job_id,
        "sla": sla_view(
            policy_id=sla_policy_id,
            data=sla_data,
            phase=sla_phase,
            next_due_at=sla_next_due_at,
            soon_at=sla_soon_at,
            breached_at=sla_breached_at,
            now=now,
        ),
    }
