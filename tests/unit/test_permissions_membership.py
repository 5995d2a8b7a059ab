"""What a membership change announces, and the last-super-admin rule."""

from __future__ import annotations

import pytest

from services.chassis.errors import Conflict
from services.permissions import contract
from services.permissions.domain import check_super_admins_remain, membership_change


def test_adding_a_user_to_a_team_through_the_user_announces_the_team_only() -> None:
    change = membership_change(
        {7: [1]}, {7: [1, 2]}, {(7, 2)}, set(), announce_users=False, announce_teams=True
    )
    assert [(e.type, e.payload["team_id"]) for e in change.events] == [(contract.TEAM_UPDATED, 7)]
    payload = change.events[0].payload
    assert payload["added_user_ids"] == [2] and payload["removed_user_ids"] == []
    assert payload["affected_user_ids"] == [1, 2]
    assert change.affected_user_ids == {1, 2}


def test_a_change_through_the_team_announces_both_sides_with_everyone_affected() -> None:
    change = membership_change(
        {7: [1, 2], 8: [3]},
        {7: [1], 8: [3, 2]},
        {(8, 2)},
        {(7, 2)},
        announce_users=True,
        announce_teams=True,
    )
    types = [(e.type, e.payload.get("team_id"), e.payload.get("user_id")) for e in change.events]
    assert types == [
        (contract.TEAM_UPDATED, 7, None),
        (contract.TEAM_UPDATED, 8, None),
        (contract.USER_UPDATED, None, 2),
    ]
    assert change.events[2].payload["affected_user_ids"] == [1, 2, 3]
    assert change.affected_user_ids == {1, 2, 3}


def test_no_membership_change_announces_nothing() -> None:
    change = membership_change({}, {}, set(), set(), announce_users=True, announce_teams=True)
    assert change.events == () and change.affected_user_ids == frozenset()


def test_the_last_super_admin_cannot_go() -> None:
    with pytest.raises(Conflict):
        check_super_admins_remain([])
    check_super_admins_remain([4])
