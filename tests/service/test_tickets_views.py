"""Saved views through the tickets service: a seat to save and use them, private / team /
everyone sharing, changes by the owner only, the defaults beside them, and ``view_id`` on the
table and board, which applies the view under each caller's own access rule."""

from __future__ import annotations

from typing import Any

import pytest

from services.chassis.errors import Forbidden, NotFound, SeatRequired, ValidationFailed
from services.chassis.identity import Caller
from services.tickets import contract
from services.tickets.domain.views import ViewAccess
from tests.service.tickets_harness import ADMIN, USERS, Tickets

pytestmark = pytest.mark.db

SUPPORT_TEAM = 10
ANA = Caller(11, "ana", frozenset({"service_access"}), "everything", team_ids=(SUPPORT_TEAM,), seat=True)
BEN = Caller(12, "ben", frozenset({"service_access"}), "owned", team_ids=(SUPPORT_TEAM,), seat=True)
CAT = Caller(13, "cat", frozenset({"service_access"}), "everything", seat=True)  # in no team
DAN = Caller(14, "dan", frozenset({"service_access"}), "everything", team_ids=(SUPPORT_TEAM,))  # no seat
BOSS = Caller(15, "boss", frozenset({"service_access", "account_access"}), "everything", seat=True)
USERS.update({c.user_id: {"id": c.user_id, "permissions": sorted(c.permissions)} for c in (ANA, BEN, CAT)})

URGENT_OPEN = {
    "name": "Urgent open",
    "filters": {"priority": "urgent", "view": "open"},
    "sort": "created_at",
    "columns": ["id", "name", "owner_id", "sla"],
}


def test_views_need_a_seat_and_defaults_stay_for_everyone(tickets: Tickets) -> None:
    for call in (
        lambda api: api.list_views({}),
        lambda api: api.create_view(URGENT_OPEN),
        lambda api: api.get_view(1),
        lambda api: api.update_view(1, {"name": "x"}),
        lambda api: api.delete_view(1),
        lambda api: api.list_tickets({"view_id": "1"}),
        lambda api: api.board({"view_id": "1"}),
    ):
        with pytest.raises(SeatRequired):
            call(tickets.as_(DAN))
    assert tickets.as_(DAN).list_tickets({"view": "unassigned"})["total"] == 0
    page = tickets.as_(ANA).list_views({})
    assert page["items"] == [] and page["total"] == 0
    assert [d["key"] for d in page["defaults"]] == ["unassigned", "mine", "following", "open", "unread"]
    assert page["defaults"][0] == {
        "key": "unassigned",
        "name": "Unassigned",
        "filters": {"view": "unassigned"},
    }


def test_a_saved_view_round_trips(tickets: Tickets) -> None:
    made = tickets.as_(ANA).create_view(URGENT_OPEN)
    assert {k: made[k] for k in URGENT_OPEN} == URGENT_OPEN
    assert (made["owner_id"], made["shared_with"], made["team_id"]) == (ANA.user_id, "private", None)
    assert tickets.as_(ANA).get_view(made["id"]) == made
    changed = tickets.as_(ANA).update_view(made["id"], {"name": "Hot", "filters": {"priority": "high"}})
    assert changed["name"] == "Hot" and changed["filters"] == {"priority": "high"}
    assert tickets.as_(ANA).delete_view(made["id"]) == {"id": made["id"], "deleted": True}
    with pytest.raises(NotFound):
        tickets.as_(ANA).get_view(made["id"])


def test_sharing_private_team_everyone(tickets: Tickets) -> None:
    ana = tickets.as_(ANA)
    private = ana.create_view({**URGENT_OPEN, "name": "mine"})
    team = ana.create_view({**URGENT_OPEN, "name": "team", "shared_with": "team", "team_id": SUPPORT_TEAM})
    everyone = ana.create_view({**URGENT_OPEN, "name": "all", "shared_with": "everyone"})

    def usable(caller: Caller) -> set[str]:
        return {v["name"] for v in tickets.as_(caller).list_views({})["items"]}

    assert usable(ANA) == {"mine", "team", "all"}
    assert usable(BEN) == {"team", "all"}
    assert usable(CAT) == {"all"}
    with pytest.raises(NotFound):
        tickets.as_(BEN).get_view(private["id"])
    with pytest.raises(NotFound):
        tickets.as_(CAT).list_tickets({"view_id": str(team["id"])})
    with pytest.raises(Forbidden):
        tickets.as_(BEN).update_view(team["id"], {"name": "taken over"})
    with pytest.raises(Forbidden):
        tickets.as_(CAT).delete_view(everyone["id"])
    assert tickets.as_(BOSS).update_view(everyone["id"], {"name": "renamed"})["name"] == "renamed"
    for caller, view in ((ANA, private), (BEN, team), (CAT, everyone)):
        access = ViewAccess(ANA.user_id, view["shared_with"], view["team_id"])
        assert access.visible_to(caller)
    assert not ViewAccess(ANA.user_id, "team", SUPPORT_TEAM).visible_to(CAT)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shared_with": "team"}, "team_id"),
        ({"shared_with": "team", "team_id": 99}, "team_id"),
        ({"shared_with": "everyone", "team_id": SUPPORT_TEAM}, "team_id"),
        ({"shared_with": "the world"}, "shared_with"),
        ({"columns": ["name", "password"]}, "columns"),
        ({"sort": "owner"}, "sort"),
        ({"filters": {"status": "new"}}, "filters"),
        ({"filters": {"owner": 3}}, "filters"),
        ({"name": ""}, "name"),
    ],
)
def test_view_refusals(tickets: Tickets, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        tickets.as_(ANA).create_view({**URGENT_OPEN, **body})
    # errors name the field's path (``business_hours.weekly.0.end``): the field or a part of it
    assert any(key == field or key.startswith(f"{field}.") for key in exc.value.errors), exc.value.errors


def test_a_shared_view_shows_each_person_only_what_they_may_see(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    made = {
        name: admin.create_ticket({"name": name, "priority": priority, "owner_id": owner})["id"]
        for name, priority, owner in (
            ("ana urgent", "urgent", ANA.user_id),
            ("ben urgent", "urgent", BEN.user_id),
            ("ben low", "low", BEN.user_id),
            ("nobody's urgent", "urgent", None),
        )
    }
    view = tickets.as_(ANA).create_view({**URGENT_OPEN, "shared_with": "everyone"})

    def names(caller: Caller, **query: str) -> list[str]:
        page = tickets.as_(caller).list_tickets({"view_id": str(view["id"]), **query})
        return [t["name"] for t in page["items"]]

    assert names(ANA) == ["ana urgent", "ben urgent", "nobody's urgent"]  # sort=created_at from the view
    assert names(BEN) == ["ben urgent"]  # owned-only: the view does not widen access
    assert names(ANA, sort="-created_at", limit="2") == ["nobody's urgent", "ben urgent"]  # own values win
    assert names(ANA, priority="low") == ["ben low"]
    board = tickets.as_(BEN).board({"view_id": str(view["id"])})
    assert [t["id"] for c in board["columns"] for t in c["items"]] == [made["ben urgent"]]
    with pytest.raises(ValidationFailed):
        tickets.as_(ANA).list_tickets({"view_id": "abc"})
    with pytest.raises(NotFound):
        tickets.as_(ANA).list_tickets({"view_id": "999"})


def test_saved_filters_hold_query_values(tickets: Tickets) -> None:
    made = tickets.as_(ANA).create_view(
        {"name": "unassigned in new", "filters": {"owner_id": "none", "status": "1", "sla_state": "breached"}}
    )
    assert made["filters"] == {"owner_id": "none", "status": 1, "sla_state": "breached"}
    assert tickets.as_(ANA).list_tickets({"view_id": str(made["id"])})["total"] == 0
    assert contract.ViewFiltersSchema().load(made["filters"]) == {
        "owner_id": "none",
        "status": 1,
        "sla_state": "breached",
    }
