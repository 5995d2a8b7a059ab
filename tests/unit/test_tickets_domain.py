"""The tickets service's rules, without nameko or a database."""

from __future__ import annotations

import datetime as dt

import pytest

from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.tickets import contract
from services.tickets.domain import (
    PRIORITY_RANK,
    Scope,
    TicketFilter,
    check_new_pipeline,
    check_stage_order,
    closed_at_after,
    diff,
    owner_problem,
    require_admin,
    scope_for,
    stage_label_problems,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
T1 = T0 + dt.timedelta(hours=1)


# -- the access rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "level", "unassigned", "expected"),
    [
        ({"super_admin"}, "none", False, Scope(True)),
        ({"service_access"}, "everything", False, Scope(True)),
        ({"sales_access"}, "everything", True, Scope(True)),
        ({"service_access"}, "team", False, Scope(False, frozenset({7, 8, 9}), False)),
        ({"service_access"}, "team", True, Scope(False, frozenset({7, 8, 9}), True)),
        ({"sales_access"}, "owned", False, Scope(False, frozenset({7}), False)),
        ({"service_access"}, "owned", True, Scope(False, frozenset({7}), True)),
        ({"service_access"}, "none", True, Scope(False)),
    ],
)
def test_scope_for_each_access_level(
    permissions: set[str], level: str, unassigned: bool, expected: Scope
) -> None:
    caller = Caller(
        7,
        permissions=frozenset(permissions),
        access_level=level,
        include_unassigned=unassigned,
        teammate_ids=(8, 9),
    )
    assert scope_for(caller) == expected


@pytest.mark.parametrize("permissions", [set(), {"delete_tickets"}, {"account_access"}, {"bulk_delete"}])
def test_scope_for_refuses_callers_without_service_or_sales_access(permissions: set[str]) -> None:
    with pytest.raises(Forbidden):
        scope_for(Caller(1, permissions=frozenset(permissions), access_level="everything"))


def test_system_callers_see_everything() -> None:
    assert scope_for(Caller(0, system=True)) == Scope(True)


@pytest.mark.parametrize(
    ("scope", "owner", "allowed"),
    [
        (Scope(True), None, True),
        (Scope(True), 5, True),
        (Scope(False, frozenset({5}), False), 5, True),
        (Scope(False, frozenset({5}), False), 6, False),
        (Scope(False, frozenset({5}), False), None, False),
        (Scope(False, frozenset({5}), True), None, True),
        (Scope(False), None, False),
    ],
)
def test_scope_allows(scope: Scope, owner: int | None, allowed: bool) -> None:
    assert scope.allows(owner) is allowed


@pytest.mark.parametrize(
    ("permissions", "ok"),
    [({"account_access"}, True), ({"super_admin"}, True), ({"service_access"}, False), (set(), False)],
)
def test_only_account_access_configures_pipelines(permissions: set[str], ok: bool) -> None:
    caller = Caller(1, permissions=frozenset(permissions))
    if ok:
        require_admin(caller)
    else:
        with pytest.raises(Forbidden):
            require_admin(caller)


# -- changing a ticket -----------------------------------------------------------------------------


def test_diff_keeps_only_real_changes_in_request_order() -> None:
    current = {"name": "a", "priority": "low", "owner_id": None, "status": 1}
    requested = {"status": 1, "owner_id": 4, "name": "b", "priority": "low"}
    assert diff(current, requested) == {"owner_id": (None, 4), "name": ("a", "b")}
    assert list(diff(current, requested)) == ["owner_id", "name"]


def test_diff_of_a_no_op_is_empty() -> None:
    assert diff({"name": "a", "category": None}, {"name": "a", "category": None}) == {}
    assert diff({"name": "a"}, {}) == {}


def test_diff_setting_a_value_to_none_is_a_change() -> None:
    assert diff({"owner_id": 3}, {"owner_id": None}) == {"owner_id": (3, None)}


@pytest.mark.parametrize(
    ("old_state", "new_state", "closed_at", "expected"),
    [
        ("OPEN", "CLOSED", None, T1),  # entering CLOSED stamps it
        ("CLOSED", "OPEN", T0, None),  # reopening clears it
        ("OPEN", "OPEN", None, None),
        ("CLOSED", "CLOSED", T0, T0),  # between closed stages the first closing time stays
        ("CLOSED", "CLOSED", None, T1),  # repairs a missing stamp
    ],
)
def test_closed_at_after_a_stage_move(
    old_state: str, new_state: str, closed_at: dt.datetime | None, expected: dt.datetime | None
) -> None:
    assert closed_at_after(old_state, new_state, closed_at, T1) == expected


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        (None, "does not exist"),
        ({"id": 4, "permissions": []}, "neither service nor sales access"),
        ({"id": 4, "permissions": ["delete_tickets", "account_access"]}, "neither service nor sales access"),
        ({"id": 4, "permissions": ["service_access"]}, None),
        ({"id": 4, "permissions": ["sales_access"]}, None),
        ({"id": 4, "permissions": ["super_admin"]}, None),
    ],
)
def test_who_may_own_tickets(user: dict[str, object] | None, problem: str | None) -> None:
    found = owner_problem(user, 4)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_stage_labels_are_distinct_ignoring_case_and_spaces() -> None:
    assert stage_label_problems(["New", "Closed"]) == []
    assert stage_label_problems(["New", " new "]) == ["stage label ' new ' is used twice"]
    assert stage_label_problems(["  "]) == ["a stage label cannot be blank"]


def test_a_new_pipeline_needs_an_open_stage_and_distinct_labels() -> None:
    check_new_pipeline({"stages": [{"label": "In", "state": "OPEN"}, {"label": "Out", "state": "CLOSED"}]})
    with pytest.raises(ValidationFailed) as only_closed:
        check_new_pipeline({"stages": [{"label": "Done", "state": "CLOSED"}]})
    assert "at least one stage must be OPEN" in only_closed.value.errors["stages"]
    with pytest.raises(ValidationFailed) as twice:
        check_new_pipeline({"stages": [{"label": "A", "state": "OPEN"}, {"label": "a", "state": "OPEN"}]})
    assert twice.value.errors["stages"]


def test_a_reorder_names_every_stage_once() -> None:
    check_stage_order([1, 2, 3], [3, 1, 2])
    for bad in ([1, 2], [1, 2, 3, 4], [1, 1, 2], [1, 2, 9]):
        with pytest.raises(ValidationFailed):
            check_stage_order([1, 2, 3], bad)


def test_priorities_rank_in_their_natural_order() -> None:
    assert sorted(contract.PRIORITIES, key=PRIORITY_RANK.__getitem__) == ["low", "medium", "high", "urgent"]


# -- filters ---------------------------------------------------------------------------------------


def test_filter_from_a_loaded_query() -> None:
    query = contract.TicketQuerySchema().load({"owner_id": "none", "q": "  printers ", "view": "open"})
    flt = TicketFilter.from_query(query)
    assert flt == TicketFilter(unassigned=True, q="printers", view="open", q_terms=("printer",))
    assert TicketFilter.from_query(contract.TicketQuerySchema().load({"owner_id": "12"})).owner_id == 12
    assert TicketFilter.from_query(contract.TicketQuerySchema().load({"q": "   "})).q is None
