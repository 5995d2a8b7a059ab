"""Store behaviour that needs a database but no broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import NotFound
from services.tickets.domain import Scope, Sort, TicketFilter
from services.tickets.models import tickets
from services.tickets.store import EVERYTHING, TicketStore

pytestmark = pytest.mark.db


@pytest.fixture
def store(make_db: Callable[[str], str]) -> Iterator[TicketStore]:
    engine = make_engine(make_db("tickets"))
    yield TicketStore(SessionFactory(engine))
    engine.dispose()


def _unread_for(store: TicketStore, user_id: int) -> int:
    page = store.list_tickets(EVERYTHING, user_id, TicketFilter(view="unread"), Sort.parse("id"), 25, None)
    return int(page["total"])


def test_a_redelivered_customer_message_event_changes_nothing(store: TicketStore) -> None:
    ticket = store.create_ticket(1, {"name": "x"}, None, "-")
    assert _unread_for(store, 1) == 0
    assert store.customer_message_received(EVERYTHING, ticket["id"], event_id="e-1") is True
    assert _unread_for(store, 1) == 1
    store.mark_read(EVERYTHING, 1, ticket["id"])
    assert store.customer_message_received(EVERYTHING, ticket["id"], event_id="e-1") is False
    assert _unread_for(store, 1) == 0
    assert store.customer_message_received(EVERYTHING, ticket["id"], event_id="e-2") is True
    assert _unread_for(store, 1) == 1


def test_a_customer_message_on_an_invisible_ticket_is_not_found(store: TicketStore) -> None:
    ticket = store.create_ticket(1, {"name": "x", "owner_id": 1}, None, "-")
    with pytest.raises(NotFound):
        store.customer_message_received(Scope(False, frozenset({2})), ticket["id"])


def test_deleted_and_merged_tickets_leave_the_lists(store: TicketStore) -> None:
    kept, merged, deleted = (store.create_ticket(1, {"name": n}, None, "-")["id"] for n in ("a", "b", "c"))
    with store.db.transaction() as s:  # what merge and delete will do
        s.execute(tickets.update().where(tickets.c.id == merged).values(merged_into_id=kept))
        s.execute(tickets.update().where(tickets.c.id == deleted).values(deleted_at=tickets.c.created_at))
    page = store.list_tickets(EVERYTHING, 1, TicketFilter(), Sort.parse("id"), 25, None)
    assert [t["id"] for t in page["items"]] == [kept] and page["total"] == 1
    assert page["items"][0]["merged_ticket_ids"] == [merged]
    board = store.board(EVERYTHING, 1, TicketFilter(), Sort.parse("id"), 25, None)
    assert sum(c["total"] for c in board["columns"]) == 1
    with pytest.raises(NotFound):
        store.get_ticket(EVERYTHING, 1, deleted)
