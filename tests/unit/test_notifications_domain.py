"""Who is told what (the rules as plain Python), and what notifications say."""

from __future__ import annotations

import pytest

from services.notifications.domain import (
    Admins,
    Audience,
    decide,
    notification_mail,
    recipients,
    super_admins_told,
    ticket_lines,
    title,
)


def _admins(*ids: int, user_count: int) -> Admins:
    return Admins(frozenset(ids), user_count)


def test_super_admins_other_than_the_creator() -> None:
    assert super_admins_told(_admins(1, 4, 9, user_count=10), actor_id=4) == [1, 9]


def test_lone_bootstrap_admin_hears_of_its_own_tickets() -> None:
    assert super_admins_told(_admins(1, user_count=1), actor_id=1) == [1]


def test_admin_creating_alongside_other_users_gets_nothing_for_itself() -> None:
    assert super_admins_told(_admins(1, user_count=3), actor_id=1) == []


def test_agent_ticket_reaches_every_admin() -> None:
    assert super_admins_told(_admins(3, 1, user_count=3), actor_id=8) == [1, 3]


# -- who is told what ------------------------------------------------------------------------------


def _audience(**kwargs: object) -> Audience:
    values: dict[str, object] = {
        "name": "Printer",
        "owner_id": 2,
        "followers": frozenset(),
        "visible": frozenset(),
    }
    values.update(kwargs)
    return Audience(**values)  # type: ignore[arg-type]


def test_each_person_gets_the_first_role_they_fall_in_and_never_the_actor() -> None:
    plan = recipients.ticket_updated(
        {"event_id": "e", "ticket_id": 7, "actor_id": 9, "changes": {"owner_id": [None, 3], "status": [1, 2]}}
    )
    audience = _audience(owner_id=3, followers=frozenset({3, 4, 9}), visible=frozenset({3, 4, 9}))
    told = {(n.user_id, n.type) for n in decide(plan, audience)}
    assert told == {(3, "assigned_to_you"), (4, "status_changed")}


def test_only_people_who_may_see_the_ticket_are_told() -> None:
    plan = recipients.message_added(
        {"event_id": "e", "ticket_id": 7, "kind": "customer", "author_id": None, "auto": None}
    )
    assert plan is not None
    audience = _audience(owner_id=2, followers=frozenset({4, 5}), visible=frozenset({2, 5}))
    assert [n.user_id for n in decide(plan, audience)] == [2, 5]


def test_quiet_changes_tell_nobody_but_admins_still_hear_of_new_tickets() -> None:
    quiet = {"event_id": "e", "ticket_id": 7, "actor_id": 9, "quiet": True, "owner_id": 3}
    assert recipients.ticket_updated({**quiet, "changes": {"priority": ["low", "high"]}}).roles == ()
    plan = recipients.ticket_created(quiet)
    assert [r.type for r in plan.roles] == ["ticket_created"]
    told = decide(plan, _audience(owner_id=3, visible=frozenset({3})), _admins(1, user_count=5))
    assert [(n.user_id, n.type) for n in told] == [(1, "ticket_created")]


def test_super_admins_are_told_of_a_new_ticket_without_the_tickets_service_vouching_for_them() -> None:
    """Super admins see every live ticket: the audience is not asked about them (so that question
    and the one about the admins go out together), and the owner hears first as the owner."""
    event = {"event_id": "e", "ticket_id": 7, "actor_id": 9, "owner_id": 3}
    plan = recipients.ticket_created(event)
    assert plan.needs_super_admins
    assert plan.named == frozenset({3}), "only the owner is asked about"
    told = decide(plan, _audience(owner_id=3, visible=frozenset({3})), _admins(1, 3, 9, user_count=5))
    assert [(n.user_id, n.type) for n in told] == [(1, "ticket_created"), (3, "assigned_to_you")]


def test_a_plan_naming_the_super_admins_needs_them() -> None:
    plan = recipients.ticket_created({"event_id": "e", "ticket_id": 7, "actor_id": 9})
    with pytest.raises(ValueError, match="super admins"):
        decide(plan, _audience())


def test_a_batch_shares_one_group_per_type() -> None:
    event = {
        "event_id": "e",
        "ticket_id": 7,
        "actor_id": 9,
        "batch_id": "b1",
        "changes": {"owner_id": [None, 3]},
    }
    notices = decide(recipients.ticket_updated(event), _audience(owner_id=3, visible=frozenset({3})))
    assert [n.group_key for n in notices] == ["batch:b1:assigned_to_you"]


def test_titles_name_the_ticket_or_count_the_bulk_change() -> None:
    assert title("assigned_to_you", ticket_id=7, ticket_name="  Printer \n on fire ") == (
        "Ticket #7 was assigned to you: Printer on fire"
    )
    assert (
        title("assigned_to_you", ticket_id=7, ticket_name="", count=12) == "12 tickets were reassigned to you"
    )
    assert title("record_updated", ticket_id=7, ticket_name="") == "Ticket #7 was updated"
    assert len(title("new_message", ticket_id=7, ticket_name="x" * 1000)) < 200


def test_mail_is_escaped_in_html_and_links_each_ticket() -> None:
    content = notification_mail(
        recipient="<b>Eve</b>",
        headline="Ticket #7 was updated: <script>alert(1)</script>",
        tickets=ticket_lines(list(range(1, 60))),
        base_url="https://desk.example.com/",
    )
    assert (
        "<script>" not in content.html and "&lt;script&gt;" in content.html and "&lt;b&gt;Eve" in content.html
    )
    assert 'href="https://desk.example.com/split/1"' in content.html and "and 9 more" in content.text
    assert "<script>alert(1)</script>" in content.text  # plain text is shown as text


def test_an_sla_breach_reaches_owner_and_followers_with_no_actor() -> None:
    plan = recipients.sla_breached({"event_id": "e", "ticket_id": 7, "actor_id": 0})
    audience = _audience(owner_id=2, followers=frozenset({4}), visible=frozenset({2, 4}))
    assert [(n.user_id, n.type, n.actor_id) for n in decide(plan, audience)] == [
        (2, "sla_breached", None),
        (4, "sla_breached", None),
    ]
