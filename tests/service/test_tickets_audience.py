"""How other services learn about tickets on someone's behalf: events say how a change was made
(a person or a quiet integration, one bulk change), ``audience`` applies the one access rule to
recipients for notifications, ``visible_to`` to many live clients at once for the gateway."""

from __future__ import annotations

import dataclasses

import pytest

from services.chassis.errors import Forbidden, NotFound, ValidationFailed
from services.chassis.identity import INTEGRATION, Caller, sign
from services.tickets import contract
from tests.conftest import IDENTITY_SECRET
from tests.service.tickets_harness import ADMIN, AGENT, NOBODY, OWNED, SALES, SYSTEM, Tickets

pytestmark = pytest.mark.db


def test_events_say_who_made_the_change_and_whether_it_notifies(tickets: Tickets) -> None:
    robot = dataclasses.replace(AGENT, kind=INTEGRATION, quiet=True)
    person = tickets.as_(AGENT).create_ticket({"name": "by hand"})
    scripted = tickets.as_(robot).create_ticket({"name": "by script"})
    tickets.as_(robot).update_ticket(person["id"], {"priority": "high"})
    stamps = {
        (p["ticket_id"], kind): (p["actor_kind"], p["quiet"], p["batch_id"]) for kind, p in tickets.events()
    }
    assert stamps[(person["id"], contract.TICKET_CREATED)] == ("person", False, None)
    assert stamps[(scripted["id"], contract.TICKET_CREATED)] == ("integration", True, None)
    assert stamps[(person["id"], contract.TICKET_UPDATED)] == ("integration", True, None)


def test_a_bulk_update_is_one_batch(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ids = [api.create_ticket({"name": f"t{i}"})["id"] for i in range(3)]
    api.bulk_update({"ids": ids, "changes": {"owner_id": SALES.user_id}})
    api.bulk_update({"ids": ids[:1], "changes": {"priority": "urgent"}})
    batches = [p["batch_id"] for _kind, p in tickets.events(contract.TICKET_UPDATED)]
    assert len(batches) == 4 and None not in batches
    assert len(set(batches[:3])) == 1 and batches[3] != batches[0]
    assigned = tickets.events(contract.TICKET_ASSIGNED)
    assert {p["batch_id"] for _kind, p in assigned} == {batches[0]}


def test_audience_applies_the_rule_to_each_recipient_now(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Printer", "owner_id": AGENT.user_id})
    for person in (ADMIN, AGENT):
        tickets.as_(person).follow(ticket["id"])
    system = tickets.as_(SYSTEM)
    answer = system.audience(ticket["id"], [NOBODY.user_id, OWNED.user_id, 999], watchers=True)
    assert (answer["id"], answer["name"], answer["owner_id"]) == (ticket["id"], "Printer", AGENT.user_id)
    assert answer["followers"] == [ADMIN.user_id, AGENT.user_id]
    assert answer["visible"] == [ADMIN.user_id, AGENT.user_id]  # OWNED owns nothing, NOBODY has no access

    unassigned = tickets.as_(AGENT).create_ticket({"name": "Nobody's"})
    sees = system.audience(unassigned["id"], [SALES.user_id, OWNED.user_id, AGENT.user_id])["visible"]
    assert sees == [AGENT.user_id, SALES.user_id]  # SALES sees unassigned tickets, OWNED does not

    # the agent loses access; the directory forgets on the permissions event (here: by hand)
    tickets.permissions.people[AGENT.user_id] = dataclasses.replace(AGENT, permissions=frozenset())
    tickets.people.cache.flush()
    assert system.audience(ticket["id"], watchers=True)["visible"] == [ADMIN.user_id]
    calls = len(tickets.permissions.asked)
    system.audience(ticket["id"], watchers=True)
    assert len(tickets.permissions.asked) == calls, "known people are not asked for again"


def test_followers_are_those_who_followed_by_the_time_of_the_change(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Printer"})
    tickets.as_(ADMIN).follow(ticket["id"])
    changed_at = tickets.store.clock.now().isoformat()
    tickets.as_(AGENT).follow(ticket["id"])
    later = tickets.as_(SYSTEM).audience(ticket["id"], watchers=True)
    then = tickets.as_(SYSTEM).audience(ticket["id"], watchers=True, as_of=changed_at)
    assert later["followers"] == [ADMIN.user_id, AGENT.user_id] and then["followers"] == [ADMIN.user_id]
    with pytest.raises(ValidationFailed):
        tickets.as_(SYSTEM).audience(ticket["id"], watchers=True, as_of="yesterday")


def test_audience_is_for_services_and_gone_tickets_have_none(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Printer"})
    with pytest.raises(Forbidden):
        tickets.as_(ADMIN).audience(ticket["id"], [AGENT.user_id])
    with pytest.raises(NotFound):
        tickets.as_(SYSTEM).audience(9999, [AGENT.user_id])
    with pytest.raises(ValidationFailed):
        tickets.as_(SYSTEM).audience(ticket["id"], ["2"])


def test_audiences_answer_a_batch_with_one_question_about_people(tickets: Tickets) -> None:
    owned = tickets.as_(AGENT).create_ticket({"name": "Mine", "owner_id": AGENT.user_id})
    open_one = tickets.as_(AGENT).create_ticket({"name": "Anyone's"})
    tickets.as_(ADMIN).follow(owned["id"])
    tickets.people.cache.flush()
    before = len(tickets.permissions.asked)
    questions = [
        {"ticket_id": owned["id"], "user_ids": [SALES.user_id], "watchers": True},
        {"ticket_id": 9999, "user_ids": [SALES.user_id]},
        {"ticket_id": open_one["id"], "user_ids": [SALES.user_id, OWNED.user_id]},
    ]
    first, gone, second = tickets.as_(SYSTEM).audiences(questions)
    assert len(tickets.permissions.asked) == before + 1, "everyone of the batch is looked up at once"
    assert (first["name"], first["owner_id"], first["followers"]) == ("Mine", AGENT.user_id, [ADMIN.user_id])
    assert first["visible"] == [ADMIN.user_id, AGENT.user_id]  # SALES sees only unassigned tickets
    assert gone is None
    assert (second["followers"], second["visible"]) == ([], [SALES.user_id])
    one = tickets.as_(SYSTEM).audience(owned["id"], [SALES.user_id], watchers=True)
    assert one == first, "audience is a batch of one"


def test_a_batch_judges_each_question_by_its_own_moment(tickets: Tickets) -> None:
    """One ticket asked about twice in one batch, as of two moments, beside another ticket with
    followers of its own and a ticket that is gone: each answer is the one asked alone."""
    first = tickets.as_(AGENT).create_ticket({"name": "First"})
    other = tickets.as_(AGENT).create_ticket({"name": "Other"})
    tickets.as_(ADMIN).follow(first["id"])
    early = tickets.store.clock.now().isoformat()
    tickets.as_(AGENT).follow(first["id"])
    tickets.as_(SALES).follow(other["id"])
    questions = [
        {"ticket_id": first["id"], "watchers": True, "as_of": early},
        {"ticket_id": other["id"], "watchers": True},
        {"ticket_id": 9999, "watchers": True},
        {"ticket_id": first["id"], "watchers": True},
        {"ticket_id": other["id"], "watchers": True, "as_of": early},
    ]
    answers = tickets.as_(SYSTEM).audiences(questions)
    assert [a and a["followers"] for a in answers] == [
        [ADMIN.user_id],
        [SALES.user_id],
        None,
        [ADMIN.user_id, AGENT.user_id],
        [],
    ]
    for question, answer in zip(questions, answers, strict=True):
        if answer is not None:
            alone = tickets.as_(SYSTEM).audience(
                question["ticket_id"], watchers=True, as_of=question.get("as_of")
            )
            assert alone == answer


@pytest.mark.parametrize(
    "questions",
    [
        "not a list",
        [{"user_ids": [1]}],
        [{"ticket_id": 1, "user_ids": ["2"]}],
        [{"ticket_id": 1, "watchers": "yes"}],
        [{"ticket_id": 1, "as_of": "yesterday"}],
        [{"ticket_id": 1, "whom": [1]}],
        [{"ticket_id": 1}] * (contract.MAX_AUDIENCES + 1),
    ],
)
def test_audiences_refuse_bad_questions(tickets: Tickets, questions: object) -> None:
    with pytest.raises(ValidationFailed):
        tickets.as_(SYSTEM).audiences(questions)


def test_audiences_are_for_services(tickets: Tickets) -> None:
    with pytest.raises(Forbidden):
        tickets.as_(ADMIN).audiences([{"ticket_id": 1}])


def test_visible_to_answers_for_many_clients_in_one_call(tickets: Tickets) -> None:
    mine = tickets.as_(AGENT).create_ticket({"name": "owned by owned", "owner_id": OWNED.user_id})
    free = tickets.as_(AGENT).create_ticket({"name": "unassigned"})
    theirs = tickets.as_(AGENT).create_ticket({"name": "agent's", "owner_id": AGENT.user_id})
    ids = [mine["id"], free["id"], theirs["id"], 9999]

    def signed(caller: Caller) -> str:
        return sign(caller, IDENTITY_SECRET, 60)

    forged = signed(OWNED)[:-3] + "abc"
    answer = tickets.as_(AGENT).visible_to(
        ids, [signed(OWNED), signed(SALES), signed(ADMIN), signed(NOBODY), forged, signed(OWNED)]
    )
    assert answer == [
        [mine["id"]],
        [free["id"]],
        sorted([mine["id"], free["id"], theirs["id"]]),
        [],
        None,
        [mine["id"]],
    ]
    with pytest.raises(ValidationFailed):
        tickets.as_(AGENT).visible_to(list(range(1, 1002)), [])


def test_visible_to_also_says_who_could_see_a_ticket_under_its_previous_owner(tickets: Tickets) -> None:
    """The live stream's question after a reassignment, in the same one call: which of the round's
    previous owners each identity may see tickets of (so it is told a ticket left its sight), by
    the same rule as the tickets it may see now."""
    ticket = tickets.as_(AGENT).create_ticket({"name": "was owned's", "owner_id": OWNED.user_id})
    tickets.as_(AGENT).update_ticket(ticket["id"], {"owner_id": AGENT.user_id})
    [(_kind, updated)] = tickets.events(contract.TICKET_UPDATED)
    assert updated["changes"]["owner_id"] == [OWNED.user_id, AGENT.user_id]

    def signed(caller: Caller) -> str:
        return sign(caller, IDENTITY_SECRET, 60)

    forged = signed(OWNED)[:-3] + "abc"
    who = [signed(OWNED), signed(SALES), signed(ADMIN), signed(NOBODY), forged]
    answer = tickets.as_(AGENT).visible_to(
        [ticket["id"]], who, previous_owners=[OWNED.user_id, None, OWNED.user_id]
    )
    assert answer == {
        "visible": [[], [], [ticket["id"]], [], None],
        "previous_owners": [
            [OWNED.user_id],  # could see it before, cannot now: it left OWNED's sight
            [None],  # SALES sees unassigned tickets, not OWNED's
            [None, OWNED.user_id],
            [],  # never could see it
            None,
        ],
    }
    assert tickets.as_(AGENT).visible_to([ticket["id"]], who[:1]) == [[]], "without it, as before"
    assert tickets.as_(AGENT).visible_to([], who[:1], previous_owners=[]) == {
        "visible": [[]],
        "previous_owners": [[]],
    }
    for bad in ([0], ["4"], [True], "4", list(range(1, 1002))):
        with pytest.raises(ValidationFailed):
            tickets.as_(AGENT).visible_to([ticket["id"]], who[:1], previous_owners=bad)


def test_audiences_naming_more_people_than_one_lookup_takes_ask_in_several(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Crowded"})
    tickets.people.cache.flush()
    before = len(tickets.permissions.asked)
    questions = [
        {"ticket_id": ticket["id"], "user_ids": list(range(1000 + 600 * i, 1600 + 600 * i))} for i in range(3)
    ]
    answers = tickets.as_(SYSTEM).audiences(questions)
    assert [len(ids) for ids in tickets.permissions.asked[before:]] == [1000, 800]
    assert [a["visible"] for a in answers] == [[], [], []], "unknown people see nothing"
