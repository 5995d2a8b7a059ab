"""The live stream tells a client that a ticket left its sight, and only such a client.

Proves, on a :class:`LiveHub` with a fake tickets service behind its link, that an owner change
takes the form ``ticket_hidden`` (the ticket's id only) for a client that could see the ticket
under its previous owner and cannot see it now, once however many such changes a round holds;
that a client that never could see it gets nothing; that the round asks its one ``visible_to``
call with the round's previous owners (and the old question when no owner changed); and that a
tickets service that does not know the question yet is asked the old one (nobody is told).
"""

from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import IncorrectSignature

from gateway import live
from services.chassis.identity import Caller, sign
from tests.conftest import IDENTITY_SECRET

ANA, BEN, CAL = 31, 32, 33


def identity(user_id: int) -> str:
    return sign(Caller(user_id=user_id, name="x", access_level="owned"), IDENTITY_SECRET, 300.0)


class FakeTickets:
    """Each person sees the tickets they own; ``owners`` is the tickets' owner now."""

    def __init__(self, owners: dict[int, int | None], knows_previous_owners: bool = True) -> None:
        self.owners = owners
        self.knows = knows_previous_owners
        self.calls: list[tuple[list[int], int, list[int | None] | None]] = []

    def visible_to(
        self, ticket_ids: list[int], identities: list[str], previous_owners: list[int | None] | None = None
    ) -> Any:
        self.calls.append((list(ticket_ids), len(identities), previous_owners))
        if previous_owners is not None and not self.knows:
            raise IncorrectSignature("visible_to() got an unexpected keyword argument 'previous_owners'")
        users = [live.user_id_of(i) for i in identities]
        visible = [[t for t in ticket_ids if self.owners.get(t) == u] for u in users]
        if previous_owners is None:
            return visible
        return {
            "visible": visible,
            "previous_owners": [[o for o in previous_owners if o == u] for u in users],
        }


class FakeLink:
    def __init__(self, tickets: FakeTickets) -> None:
        self.tickets = tickets

    def client(self, service: str, **_: Any) -> FakeTickets:
        return self.tickets


def hub_with(tickets: FakeTickets) -> live.LiveHub:
    hub = live.LiveHub()
    hub.link = FakeLink(tickets)  # type: ignore[assignment]
    hub.wake = lambda: None  # type: ignore[method-assign]
    hub._refresh_identities = lambda clients: None  # type: ignore[method-assign]
    return hub


def updated(hub: live.LiveHub, ticket_id: int, event_id: str, **changes: list[Any]) -> None:
    body = {"event_id": event_id, "ticket_id": ticket_id, "actor_id": 1, "changes": changes}
    hub._on_ticket_event("ticket_updated", body)


def messages(client: live.Client) -> list[tuple[str, dict[str, Any]]]:
    found = []
    while not client.queue.empty():
        text = str(client.queue.get_nowait())
        fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
        found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_only_a_client_that_could_see_the_ticket_before_is_told_it_left_once() -> None:
    tickets = FakeTickets({7: CAL, 8: CAL})
    hub = hub_with(tickets)
    ana, ben, cal = (hub.connect(f"t{u}", identity(u), None) for u in (ANA, BEN, CAL))
    updated(hub, 7, "a", owner_id=[ANA, BEN])  # Ana's ticket went to Ben ...
    updated(hub, 7, "b", owner_id=[BEN, CAL])  # ... then to Cal, within one round
    updated(hub, 7, "c", priority=["low", "high"])
    updated(hub, 8, "d", owner_id=[None, CAL])  # an unassigned one none of them saw
    hub.dispatch()

    assert messages(ana) == [("ticket_hidden", {"type": "ticket_hidden", "ticket_id": 7})]
    assert messages(ben) == [("ticket_hidden", {"type": "ticket_hidden", "ticket_id": 7})]
    assert [event for event, _data in messages(cal)] == ["ticket_updated"] * 4
    assert tickets.calls == [([7, 8], 3, [None, ANA, BEN])], "one call for the round"

    updated(hub, 7, "e", priority=["high", "low"])
    hub.dispatch()
    assert messages(ana) == [] and messages(ben) == [], "and nothing more of it"
    assert tickets.calls[-1] == ([7], 3, None), "no owner changed: the question as before"


def test_a_tickets_service_that_does_not_know_the_question_is_asked_the_old_one() -> None:
    tickets = FakeTickets({7: BEN}, knows_previous_owners=False)
    hub = hub_with(tickets)
    ana, ben = (hub.connect(f"t{u}", identity(u), None) for u in (ANA, BEN))
    updated(hub, 7, "a", owner_id=[ANA, BEN])
    hub.dispatch()
    assert messages(ana) == [] and [e for e, _d in messages(ben)] == ["ticket_updated"]
    assert [c[2] for c in tickets.calls] == [[ANA], None]
