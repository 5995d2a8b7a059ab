"""Saved views: who may use and change one, and what applying one to a list query means.

A view is a filter + sort + columns a user with a seat saved. It is private (its owner's),
shared with one of the owner's teams, or with everyone; sharing a view shares the *query*,
never the tickets: whoever applies it still gets only what the one access rule lets them see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.errors import Forbidden
from services.chassis.identity import Caller
from services.permissions.contract import ACCOUNT_ACCESS
from services.tickets import contract


@dataclass(frozen=True)
class ViewAccess:
    """Who a view is for: its owner, and the team or everyone it is shared with."""

    owner_id: int
    shared_with: str
    team_id: int | None

    def visible_to(self, caller: Caller) -> bool:
        if self.owner_id == caller.user_id or self.shared_with == "everyone":
            return True
        return self.shared_with == "team" and self.team_id in caller.team_ids

    def changeable_by(self, caller: Caller) -> bool:
        return self.owner_id == caller.user_id or caller.has(ACCOUNT_ACCESS)


def require_changeable(view: ViewAccess, caller: Caller) -> None:
    if not view.changeable_by(caller):
        raise Forbidden("Only the view's owner (or someone with account access) may change it.")


def sharing_problems(caller: Caller, shared_with: str, team_id: int | None) -> dict[str, list[str]]:
    """A team view names one of the caller's teams (any team with account access); others name none."""
    if shared_with != "team":
        return {"team_id": ["only a view shared with a team names one"]} if team_id is not None else {}
    if team_id is None:
        return {"team_id": ["a view shared with a team names the team"]}
    if team_id not in caller.team_ids and not caller.has(ACCOUNT_ACCESS):
        return {"team_id": [f"you are not a member of team {team_id}"]}
    return {}


def with_view(view: Mapping[str, Any], query: Mapping[str, Any]) -> dict[str, Any]:
    """A list query with a view applied: the view's filters and sort, under the query's own values
    (so ``limit``, ``cursor`` and any filter given explicitly still win)."""
    own = {k: v for k, v in query.items() if k != "view_id"}
    return {**dict(view["filters"]), "sort": view["sort"], **own}


def needs_seat(query: Mapping[str, Any]) -> str | None:
    """The seat feature a list query uses (SLA state or sort, a saved view), or None."""
    if query.get("view_id") is not None:
        return "Saved views"
    if query.get("sla_state") is not None or query.get("sort") in contract.SEAT_SORTS:
        return "SLAs"
    return None


def default_views() -> list[dict[str, Any]]:
    """The views everyone has (no seat needed): ``GET /api/v1/tickets?view=<key>``."""
    return [{"key": key, "name": name, "filters": {"view": key}} for key, name in contract.DEFAULT_VIEWS]
