"""The free-text search ``q`` (table, board, views) and ``query`` (search API), SPEC "Search":
words of the ticket's name and description in any inflected form, every word of the query, and
the ticket's conversation (customer, reply and note text, senders' addresses) through the
conversations service, always under the one access rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from deploy.migrate import upgrade
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden, ValidationFailed
from services.conversations import models
from services.conversations.store import ConversationStore
from services.tickets.domain.ticket import search_text
from services.tickets.models import tickets
from services.tickets.store.queries import text_match
from tests.service.lifecycle_harness import AGENT as WORLD_AGENT
from tests.service.lifecycle_harness import OWNED as WORLD_OWNED
from tests.service.lifecycle_harness import SYSTEM, World, mail
from tests.service.tickets_harness import ADMIN, AGENT, OWNED, SALES, Tickets

pytestmark = pytest.mark.db
EIGHT_BIT = "Content-Transfer-Encoding: 8bit"


def _table(api: Any, q: str) -> set[int]:
    page = api.list_tickets({"q": q, "limit": 100})
    assert page["total"] == len(page["items"])
    return {t["id"] for t in page["items"]}


def _board(api: Any, q: str) -> set[int]:
    return {t["id"] for column in api.board({"q": q})["columns"] for t in column["items"]}


def _searched(api: Any, q: str) -> set[int]:
    return {t["id"] for t in api.search_tickets({"query": q, "limit": 100})["items"]}


def _everywhere(api: Any, q: str) -> set[int]:
    """What ``q`` finds, the same on the table, the board and the search API."""
    found = _table(api, q)
    assert _board(api, q) == found and _searched(api, q) == found, q
    return found


@pytest.fixture
def made(tickets: Tickets) -> dict[str, int]:
    admin = tickets.as_(ADMIN)
    specs = {
        "parcel": {"name": "Gdzie są moje paczki?", "owner_id": OWNED.user_id},
        "printer": {"name": "Printer jammed", "description": "the printers on floor 2 stopped"},
        "refund": {"name": "Refund request", "description": "order 12345, card refund"},
        "other": {"name": "VPN slow"},
        "city": {"name": "Oddział Łódź nie odbiera"},
    }
    return {key: admin.create_ticket(spec)["id"] for key, spec in specs.items()}


def test_inflected_forms_and_every_word_in_any_order(tickets: Tickets, made: dict[str, int]) -> None:
    api = tickets.as_(AGENT)
    assert _everywhere(api, "paczka") == {made["parcel"]}  # SPEC: "paczka" finds "paczki"
    assert _everywhere(api, "PACZKĄ") == {made["parcel"]}
    assert _everywhere(api, "printers") == {made["printer"]}
    assert _everywhere(api, "printer stopped") == {made["printer"]}  # name and description together
    assert _everywhere(api, "request refunds") == {made["refund"]}
    assert _everywhere(api, "refund printer") == set()
    assert _everywhere(api, "12345") == {made["refund"]}
    assert _everywhere(api, "the") == {made["printer"]}  # only stopwords: searched as they are
    assert _everywhere(api, "łódź") == _everywhere(api, "ŁÓDŹ") == {made["city"]}  # every letter folds


def test_a_partial_scope_finds_its_owners_and_the_unassigned_tickets_and_no_others(tickets: Tickets) -> None:
    """The access rule over a text search's matches for an agent who sees their own and the
    unassigned tickets, on the table, the board and the search API (``query`` and
    ``CONTAINS_TOKEN``): the access property test's random callers and words rarely meet there."""
    admin = tickets.as_(ADMIN)
    ids = {
        owner: admin.create_ticket({"name": f"Toner {n}", **({"owner_id": owner} if owner else {})})["id"]
        for n, owner in enumerate([SALES.user_id, None, OWNED.user_id, AGENT.user_id])
    }

    def contains(caller: Any) -> set[int]:
        group = [{"field": "name", "operator": "CONTAINS_TOKEN", "value": "toner"}]
        found = tickets.as_(caller).search_tickets({"filter_groups": [{"filters": group}]})["items"]
        return {t["id"] for t in found}

    assert _everywhere(tickets.as_(SALES), "toner") == contains(SALES) == {ids[SALES.user_id], ids[None]}
    assert _everywhere(tickets.as_(OWNED), "toner") == contains(OWNED) == {ids[OWNED.user_id]}
    assert _everywhere(tickets.as_(AGENT), "toner") == contains(AGENT) == set(ids.values())


def test_an_edit_is_searched_by_its_new_words(tickets: Tickets, made: dict[str, int]) -> None:
    api = tickets.as_(ADMIN)
    api.update_ticket(made["other"], {"name": "Wi-Fi drops"})
    assert _everywhere(api, "vpn") == set()
    assert _everywhere(api, "drops") == {made["other"]}
    api.update_ticket(made["other"], {"description": "on the Żółta street office"})
    assert _everywhere(api, "wi-fi żółta") == {made["other"]}  # the name kept, the description new
    api.update_ticket(made["other"], {"priority": "high"})  # neither field: the text stays
    assert _everywhere(api, "drops żółta") == {made["other"]}


def test_contains_token_on_the_name_or_description_matches_either_case(
    tickets: Tickets, made: dict[str, int]
) -> None:
    api = tickets.as_(AGENT)

    def contains(field: str, value: str) -> set[int]:
        group = [{"field": field, "operator": "CONTAINS_TOKEN", "value": value}]
        return {t["id"] for t in api.search_tickets({"filter_groups": [{"filters": group}]})["items"]}

    assert contains("name", "JAMMED") == {made["printer"]}
    assert contains("description", "Floor 2") == {made["printer"]}
    assert contains("name", "floor") == set()  # in the description, not the name
    assert contains("description", "jammed") == set()
    assert contains("name", "100%") == set()  # literal, not a pattern


def test_conversation_matches_widen_the_search_under_the_access_rule(
    tickets: Tickets, made: dict[str, int]
) -> None:
    tickets.conversations.texts = {
        made["other"]: " the vpn drops every hour zofia@firma.pl ",
        made["parcel"]: " kurier zostawił awizo zofia@firma.pl ",
    }
    assert _everywhere(tickets.as_(AGENT), "zofia@firma.pl") == {made["other"], made["parcel"]}
    assert _everywhere(tickets.as_(OWNED), "zofia@firma.pl") == {made["parcel"]}  # not the other's
    assert _everywhere(tickets.as_(AGENT), "awizo paczka") == set()  # each source must hold every word
    assert _everywhere(tickets.as_(AGENT), "vpn hour") == {made["other"]}
    assert _everywhere(tickets.as_(AGENT), "vpn") == {made["other"]}  # its name and its conversation
    assert ["zofia@firma.pl"] in tickets.conversations.asked


def test_a_searchs_conversation_matches_meet_its_conditions_too(
    tickets: Tickets, made: dict[str, int]
) -> None:
    """The search API's ``query`` finds tickets by their own text and by their conversation (asked
    while the tickets' own text is searched); either kind must also meet the filter groups, and
    the total counts both, once each."""
    tickets.conversations.texts = {
        made["other"]: " the vpn drops every hour zofia@firma.pl ",
        made["parcel"]: " kurier zostawił awizo zofia@firma.pl ",
        made["printer"]: " printer again ",
    }
    api = tickets.as_(AGENT)

    def found(query: str, *filters: dict[str, Any]) -> set[int]:
        body: dict[str, Any] = {"query": query, "limit": 100}
        if filters:
            body["filter_groups"] = [{"filters": list(filters)}]
        page = api.search_tickets(body)
        assert page["total"] == len(page["items"]) and not page["total_capped"]
        return {t["id"] for t in page["items"]}

    mine = {"field": "owner_id", "operator": "EQ", "value": OWNED.user_id}
    assert found("zofia@firma.pl") == {made["other"], made["parcel"]}
    assert found("zofia@firma.pl", mine) == {made["parcel"]}
    assert found("printer") == {made["printer"]}  # its name and its conversation: counted once
    assert found("printer", mine) == set()


def test_the_search_goes_on_without_the_conversations_service(tickets: Tickets, made: dict[str, int]) -> None:
    tickets.conversations.texts = {made["other"]: " paczka "}
    tickets.conversations.down = True
    assert _everywhere(tickets.as_(AGENT), "paczka") == {made["parcel"]}


def test_conversations_is_asked_only_for_a_search(tickets: Tickets, made: dict[str, int]) -> None:
    api = tickets.as_(AGENT)
    api.list_tickets({"limit": 10})
    api.board({})
    api.search_tickets({"limit": 10})
    assert tickets.conversations.asked == []
    api.list_tickets({"q": "Refunds please"})
    assert tickets.conversations.asked == [["refund"]]


# -- with the conversations service itself ----------------------------------------------------------


def _ticket_of(world: World, *, subject: str, body: str, sender: str) -> dict[str, Any]:
    message_id = f"{subject.replace(' ', '-')}@example.com"
    raw = mail(
        subject=subject,
        body=body,
        sender=sender,
        message_id=message_id,
        extra="Content-Transfer-Encoding: 8bit",
    )
    world.deliver(raw)
    return world.thread_of_message(message_id)


def test_messages_notes_and_senders_are_found(world: World) -> None:
    parcel = _ticket_of(
        world, subject="Order 881", body="Moja paczka nie dotarła.\n", sender="Zofia <Zofia@Firma.PL>"
    )
    printer = _ticket_of(world, subject="Printer", body="It prints blank pages.\n", sender="bob@example.com")
    world.conversations(WORLD_AGENT).add_message(
        parcel["thread_id"], {"kind": "note", "body": "Kurier zgubił przesyłkę, zwrot pieniędzy."}
    )
    world.pump()
    api = world.tickets(WORLD_AGENT)

    def found(q: str) -> set[int]:
        return {t["id"] for t in api.list_tickets({"q": q, "limit": 100})["items"]}

    assert found("paczki") == {parcel["ticket_id"]}  # a customer's message, inflected
    assert found("zofia@firma.pl") == {parcel["ticket_id"]}  # the sender's address, exactly
    assert found("firma.pl") == {parcel["ticket_id"]}  # or a part of it, among the words
    assert found("ofia@firma.pl") == set()  # a whole address is a whole address
    assert found("przesyłka kurier") == {parcel["ticket_id"]}  # an internal note, every word
    assert found("blank printers") == {printer["ticket_id"]}  # the ticket's name and its message
    assert found("paczka blank") == set()
    owned = world.tickets(WORLD_OWNED).list_tickets({"q": "paczki"})["items"]
    assert owned == []  # owned by nobody: the owned-only agent does not see it


def test_matching_tickets_is_for_the_services_and_checks_its_terms(world: World) -> None:
    made = _ticket_of(world, subject="Hello", body="Faktura nie doszła.\n", sender="ann@example.com")
    world.pump()
    assert world.conversations(SYSTEM).matching_tickets(["faktur", "ann@example.com"]) == [made["ticket_id"]]
    assert world.conversations(SYSTEM).matching_tickets(["FAKTUR"]) == [made["ticket_id"]]
    assert world.conversations(SYSTEM).matching_tickets(["fak%"]) == []  # LIKE's wildcards taken literally
    assert world.conversations(SYSTEM).matching_tickets(["f_ktur"]) == []
    with pytest.raises(Forbidden):
        world.conversations(WORLD_AGENT).matching_tickets(["faktur"])
    for bad in ([], [""], ["x" * 201], ["a"] * 9, "faktur", [7]):
        with pytest.raises(ValidationFailed):
            world.conversations(SYSTEM).matching_tickets(bad)


# -- migration 0011 of tickets -----------------------------------------------------------------------


def test_migration_0011_fills_search_text_for_every_ticket(make_db: Callable[..., str]) -> None:
    url = make_db("tickets", "0010")
    engine = make_engine(url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    insert = sa.text(
        "INSERT INTO tickets (id, name, description, pipeline_id, stage_id, priority, priority_rank,"
        " source, created_by, created_at, updated_at, version, unread_seq, merge_count, sla_next_due_at)"
        " VALUES (:id, :name, :description, 1, 1, 'medium', 1, 'api', 1, :now, :now, 1, 1, 0, :now)"
    )
    named = {n: (f"Oddział ŁÓDŹ {n}", "Printers STOPPED" if n % 2 else "") for n in range(1, 2502)}
    with engine.begin() as c:  # more than one batch of the migration
        c.execute(insert, [{"id": n, "name": a, "description": b, "now": now} for n, (a, b) in named.items()])
    upgrade("tickets", url)
    with engine.connect() as c:
        found: dict[int, str] = dict(c.execute(sa.text("SELECT id, search_text FROM tickets")).all())
        assert found == {n: search_text(a, b) for n, (a, b) in named.items()}
        assert found[1] == "oddział łódź 1\nprinters stopped"
        matched = c.execute(sa.select(tickets.c.id).where(text_match(["łódź 25", "stopp"]))).scalars()
        assert sorted(matched) == [25, *range(251, 260, 2), *range(2501, 2502)]
        if engine.dialect.name == "postgresql":
            indexes = set(
                c.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'")).scalars()
            )
            assert "ix_tickets_search_trgm" in indexes
            assert not indexes & {"ix_tickets_name_trgm", "ix_tickets_description_trgm"}
    engine.dispose()


# -- migration 0005 of conversations ------------------------------------------------------------------


def test_migration_0005_fills_the_words_of_every_document(make_db: Callable[..., str]) -> None:
    url = make_db("conversations", "0004")
    engine = make_engine(url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    times = {"created_at": now, "updated_at": now, "last_message_at": now}
    columns = ("ticket_id", "problem_terms", "answer_terms", "language", "resolved", "updated_at")
    docs = sa.table("search_docs", *(sa.column(c) for c in columns))
    doc = {"problem_terms": "", "answer_terms": "", "language": "pl", "resolved": False, "updated_at": now}
    with engine.begin() as c:
        for tid, ticket_id, spam_at, subject in [
            (1, 7, None, "Paczka"),
            (2, 7, now, "Spam offer"),  # spam: not searched
            (3, 8, None, "Printer"),
        ]:
            c.execute(
                models.threads.insert().values(
                    id=tid, subject=subject, channel="email", location="helpdesk", ticket_id=ticket_id,
                    customer_email=f"c{tid}@Example.com", spam_at=spam_at, **times,
                )
            )  # fmt: skip
        for thread_id, kind, text, auto in [
            (1, "customer", "Moja paczka nie dotarła", None),
            (1, "note", "Kurier zgubił", None),
            (1, "customer", "Out of office", "auto-reply"),  # automatic: not searched
            (2, "customer", "cheap pills", None),
            (3, "customer", "blank pages", None),
        ]:
            c.execute(
                models.messages.insert().values(
                    thread_id=thread_id, kind=kind, channel="email", text=text, auto=auto, created_at=now
                )
            )
        c.execute(docs.insert(), [{"ticket_id": t, **doc} for t in (7, 8)])
    upgrade("conversations", url)
    with engine.connect() as c:
        words: dict[int, str] = dict(c.execute(sa.text("SELECT ticket_id, words FROM search_docs")).all())
    assert words == {
        7: " c1@example.com paczka c1 example com moja nie dotarła kurier zgubił ",
        8: " c3@example.com printer c3 example com blank pages ",
    }
    search = ConversationStore(SessionFactory(engine)).search
    senders_query = sa.text("SELECT address, ticket_id FROM search_senders ORDER BY address")
    with engine.connect() as c:
        senders = c.execute(senders_query).all()
    assert [tuple(r) for r in senders] == [("c1@example.com", 7), ("c3@example.com", 8)]
    for ticket_id in (7, 8):  # what the service itself writes on the next change
        search.reindex(ticket_id=ticket_id)
    with engine.connect() as c:
        assert dict(c.execute(sa.text("SELECT ticket_id, words FROM search_docs")).all()) == words
        assert c.execute(senders_query).all() == senders
    assert search.matching_tickets(terms=["c1@example.com"], limit=10) == [7]
    assert search.matching_tickets(terms=["c2@example.com"], limit=10) == []  # spam
    assert search.matching_tickets(terms=["paczk", "kurier"], limit=10) == [7]
    assert search.matching_tickets(terms=["pills"], limit=10) == []
    engine.dispose()
