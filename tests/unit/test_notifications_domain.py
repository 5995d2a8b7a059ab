"""Who hears of a new ticket, and of an SLA breach."""

from __future__ import annotations

from services.notifications.domain import sla_breach_recipients, ticket_created_recipients


def test_super_admins_other_than_the_creator() -> None:
    assert ticket_created_recipients([1, 4, 9], creator_id=4, user_count=10) == [1, 9]


def test_lone_bootstrap_admin_hears_of_its_own_tickets() -> None:
    assert ticket_created_recipients([1], creator_id=1, user_count=1) == [1]


def test_admin_creating_alongside_other_users_gets_nothing_for_itself() -> None:
    assert ticket_created_recipients([1], creator_id=1, user_count=3) == []


def test_agent_ticket_reaches_every_admin() -> None:
    assert ticket_created_recipients([3, 1, 3], creator_id=8, user_count=3) == [1, 3]


def test_a_breach_reaches_the_owner_and_followers_once_each() -> None:
    assert sla_breach_recipients(7, [9, 7, 3]) == [3, 7, 9]
    assert sla_breach_recipients(None, [4]) == [4]
    assert sla_breach_recipients(None, []) == []
