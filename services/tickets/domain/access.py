"""The one ticket access rule.

:func:`scope_for` turns a caller into a :class:`Scope`, which every read path
applies: the store as a SQL filter, and :meth:`Scope.allows` for one ticket. A
ticket outside the scope does not exist for the caller (404, never 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.chassis.errors import Forbidden, SeatRequired
from services.chassis.identity import Caller
from services.permissions.contract import ACCOUNT_ACCESS, works_tickets


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


EVERYTHING = Scope(everything=True)
"""For reading back a ticket the caller has just changed (a new owner may take it out of their scope)."""


def scope_for(caller: Caller) -> Scope:
    """The one ticket access rule. Raises Forbidden for callers without service/sales access."""
    if not works_tickets(caller):
        raise Forbidden("Tickets need service or sales access.")
    if caller.is_super_admin or caller.access_level == "everything":
        return EVERYTHING
    if caller.access_level == "team":
        return Scope(False, frozenset(caller.teammate_ids) | {caller.user_id}, caller.include_unassigned)
    if caller.access_level == "owned":
        return Scope(False, frozenset({caller.user_id}), caller.include_unassigned)
    return Scope(False)


def scope_of(person: Caller | None) -> Scope | None:
    """The scope of someone who is not the caller (a recipient, a live client), by the same rule;
    None when they may see no ticket at all (unknown, or without service or sales access)."""
    if person is None:
        return None
    try:
        return scope_for(person)
    except Forbidden:
        return None


def may_see(person: Caller | None, owner_id: int | None) -> bool:
    """Whether ``person`` (None: an unknown user) may see a live ticket owned by ``owner_id``."""
    scope = scope_of(person)
    return scope is not None and scope.allows(owner_id)


def require_seat(caller: Caller, feature: str) -> None:
    """Seat features (saved views, SLAs, reply recommendations, split) refuse callers without a
    service seat, whatever the object (so a refusal reveals nothing about it)."""
    if not caller.has_seat:
        raise SeatRequired(f"{feature} need a service seat; ask an admin to assign you one.")


def require_admin(caller: Caller) -> None:
    """Configuring pipelines needs account access (super admins have it)."""
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Configuring pipelines needs account access.")


def require_importer(caller: Caller) -> None:
    """Importing tickets (which sets their original dates) needs account access (super admins have it)."""
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Importing tickets needs account access.")


def require_sla_admin(caller: Caller) -> None:
    """Seeing SLA policies needs a seat; changing them also account access."""
    require_seat(caller, "SLAs")
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Changing SLA policies needs account access.")


def seat_view(caller: Caller, answer: Any) -> Any:
    """``answer`` as ``caller`` may see it: the tickets in it keep their ``sla`` only for callers
    with a seat (SLAs are a seat feature; the tickets themselves follow the access rule)."""
    return answer if caller.has_seat else _without_sla(answer)


def _without_sla(value: Any) -> Any:
    # A ticket (``sla`` and ``version``) holds no other ticket, so it is copied shallowly: walking
    # every value of every ticket of a page was ~14 % of the tickets service's CPU for a list read
    # by an agent without a seat.
    if isinstance(value, list):
        return [_without_sla(v) if isinstance(v, list | dict) else v for v in value]
    if isinstance(value, dict):
        if "sla" in value and "version" in value:
            return {**value, "sla": None}
        return {k: _without_sla(v) if isinstance(v, list | dict) else v for k, v in value.items()}
    return value
