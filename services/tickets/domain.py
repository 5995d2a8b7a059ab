"""Rules of the tickets service, as plain Python (no nameko, no SQLAlchemy).

The access rule lives here, once: :func:`scope_for` turns a caller into a
:class:`Scope`, which every read path applies (the store as a SQL filter, and
:meth:`Scope.allows` for one ticket). A ticket outside the scope does not exist
for the caller.

The rest are the rules of changing a ticket (what a patch really changes, what a
stage move does to ``closed_at``, who may be an owner), of configuring pipelines,
and of the list's sort order and opaque cursors.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.tickets import contract

TICKET_ACCESS = frozenset({"service_access", "sales_access", "super_admin"})
"""Permissions of which an owner needs at least one (super admin implies the others)."""

PRIORITY_RANK = {name: rank for rank, name in enumerate(contract.PRIORITIES)}
"""Priorities in their natural order, so ``sort=priority`` means low..urgent, not alphabetical."""


@dataclass(frozen=True)
class Scope:
    """Which tickets a caller may see: all, or those owned by ``owner_ids`` (plus unassigned)."""

    everything: bool
    owner_ids: frozenset[int] = frozenset()
    unassigned: bool = False

    def allows(self, owner_id: int | None) -> bool:
        if self.everything:
            return True
        if owner_id is None:
            return self.unassigned
        return owner_id in self.owner_ids


def scope_for(caller: Caller) -> Scope:
    """The one ticket access rule. Raises Forbidden for callers without service/sales access."""
    if not caller.works_tickets:
        raise Forbidden("Tickets need service or sales access.")
    if caller.is_super_admin or caller.access_level == "everything":
        return Scope(everything=True)
    if caller.access_level == "team":
        return Scope(False, frozenset(caller.teammate_ids) | {caller.user_id}, caller.include_unassigned)
    if caller.access_level == "owned":
        return Scope(False, frozenset({caller.user_id}), caller.include_unassigned)
    return Scope(False)


def require_admin(caller: Caller) -> None:
    """Configuring pipelines needs account access (super admins have it)."""
    if not caller.has("account_access"):
        raise Forbidden("Configuring pipelines needs account access.")


# -- changing a ticket -----------------------------------------------------------------------------


def diff(current: Mapping[str, Any], requested: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose requested value differs from the current one, as ``{field: (old, new)}``.

    Field order follows ``requested``; a patch that changes nothing yields ``{}``.
    """
    return {field: (current.get(field), new) for field, new in requested.items() if current.get(field) != new}


def closed_at_after(
    old_state: str, new_state: str, closed_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """``closed_at`` after moving from a stage in ``old_state`` to one in ``new_state``.

    Entering a CLOSED stage stamps it, moving back to OPEN clears it, and moving
    between two CLOSED stages keeps the first closing time.
    """
    if new_state == "OPEN":
        return None
    if old_state == "CLOSED" and closed_at is not None:
        return closed_at
    return now


def owner_problem(user: Mapping[str, Any] | None, owner_id: int) -> str | None:
    """Why ``user`` (the permissions service's record, None if unknown) cannot own tickets."""
    if user is None:
        return f"user {owner_id} does not exist"
    if not TICKET_ACCESS & set(user.get("permissions") or ()):
        return f"user {owner_id} has neither service nor sales access"
    return None


def stage_label_problems(labels: Iterable[str]) -> list[str]:
    """Stage labels of one pipeline must be distinct (ignoring case and surrounding spaces)."""
    seen: set[str] = set()
    problems = []
    for label in labels:
        key = label.strip().casefold()
        if not key:
            problems.append("a stage label cannot be blank")
        elif key in seen:
            problems.append(f"stage label {label!r} is used twice")
        seen.add(key)
    return problems


def check_new_pipeline(data: Mapping[str, Any]) -> None:
    """A new pipeline needs distinct stage labels and at least one OPEN stage to start tickets in."""
    errors: dict[str, list[str]] = {}
    stages = list(data["stages"])
    if problems := stage_label_problems(s["label"] for s in stages):
        errors["stages"] = problems
    if not any(s["state"] == "OPEN" for s in stages):
        errors.setdefault("stages", []).append("at least one stage must be OPEN")
    if errors:
        raise ValidationFailed(errors=errors)


def check_stage_order(current_ids: Iterable[int], requested_ids: list[int]) -> None:
    """A reorder names every stage of the pipeline exactly once."""
    if sorted(requested_ids) != sorted(current_ids):
        raise ValidationFailed(errors={"stage_ids": ["must list every stage of the pipeline exactly once"]})


# -- lists: sort order and cursors -----------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """A sort order of the table: one key, then ``id`` in the same direction."""

    key: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> Sort:
        key = text.removeprefix("-")
        if key not in contract.SORTABLE:
            raise ValidationFailed(errors={"sort": [f"must be one of {', '.join(contract.SORT_OPTIONS)}"]})
        return cls(key, text.startswith("-"))

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else self.key


_TIME_KEYS = ("created_at", "updated_at")


def _bad_cursor(why: str = "is not a cursor this list issued") -> ValidationFailed:
    return ValidationFailed(errors={"cursor": [why]})


def encode_cursor(sort: Sort, key: Any, ticket_id: int) -> str:
    """Opaque position after the row with sort value ``key`` and id ``ticket_id``.

    It is base64 (so it may hold ``+/=``; clients URL-encode it) of the sort it
    belongs to and the last row's key, so it only resumes the order it came from.
    """
    if isinstance(key, dt.datetime):
        key = (key if key.tzinfo else key.replace(tzinfo=dt.UTC)).isoformat()
    raw = json.dumps({"s": str(sort), "k": key, "i": ticket_id}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode("ascii")


def decode_cursor(text: str, sort: Sort) -> tuple[Any, int]:
    """``(key, id)`` of a cursor made by :func:`encode_cursor` for ``sort``; 422 for anything else."""
    try:
        data = json.loads(base64.b64decode(text.encode("ascii"), validate=True))
    except (ValueError, UnicodeError, binascii.Error):
        raise _bad_cursor() from None
    if not isinstance(data, dict) or set(data) != {"s", "k", "i"}:
        raise _bad_cursor()
    if data["s"] != str(sort):
        raise _bad_cursor(f"belongs to sort={data['s']}, not sort={sort}")
    ticket_id, key = data["i"], data["k"]
    if type(ticket_id) is not int:
        raise _bad_cursor()
    if sort.key in _TIME_KEYS:
        try:
            moment = dt.datetime.fromisoformat(key) if isinstance(key, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _bad_cursor()
        return moment.astimezone(dt.UTC), ticket_id
    expected: type = str if sort.key == "name" else int
    if type(key) is not expected:
        raise _bad_cursor()
    return key, ticket_id


def encode_id_cursor(last_id: int) -> str:
    """Cursor of the simple lists ordered by one integer (timeline, followers)."""
    return base64.b64encode(json.dumps({"after": last_id}).encode()).decode("ascii")


def decode_id_cursor(text: str) -> int:
    try:
        data = json.loads(base64.b64decode(text.encode("ascii"), validate=True))
    except (ValueError, UnicodeError, binascii.Error):
        raise _bad_cursor() from None
    if not isinstance(data, dict) or type(data.get("after")) is not int or len(data) != 1:
        raise _bad_cursor()
    return int(data["after"])


@dataclass(frozen=True)
class TicketFilter:
    """The filters shared by the table and the board, already validated."""

    status: int | None = None
    pipeline_id: int | None = None
    owner_id: int | None = None
    unassigned: bool = False
    priority: str | None = None
    view: str | None = None
    q: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> TicketFilter:
        """From a query loaded by :class:`contract.TicketQuerySchema`."""
        owner = query.get("owner_id")
        text = (query.get("q") or "").strip()
        return cls(
            status=query.get("status"),
            pipeline_id=query.get("pipeline_id"),
            owner_id=owner if isinstance(owner, int) else None,
            unassigned=owner == contract.UNASSIGNED,
            priority=query.get("priority"),
            view=query.get("view"),
            q=text or None,
        )
