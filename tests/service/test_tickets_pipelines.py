"""Configuring pipelines through the tickets service."""

from __future__ import annotations

import pytest

from services.chassis.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.chassis.idempotency import REPLAYED
from services.tickets import contract
from tests.service.tickets_harness import ACCOUNT, ADMIN, AGENT, Tickets

pytestmark = pytest.mark.db


BILLING = {
    "label": "Billing",
    "stages": [{"label": "Open", "state": "OPEN"}, {"label": "Paid", "state": "CLOSED"}],
}


def test_the_default_pipeline_exists(tickets: Tickets) -> None:
    assert tickets.as_(AGENT).list_pipelines() == [
        {
            "id": 1,
            "label": "Support pipeline",
            "stages": [
                {"id": 1, "label": "New", "state": "OPEN"},
                {"id": 2, "label": "Waiting on contact", "state": "OPEN"},
                {"id": 3, "label": "Waiting on us", "state": "OPEN"},
                {"id": 4, "label": "Closed", "state": "CLOSED"},
            ],
        }
    ]


def test_only_account_access_configures_pipelines(tickets: Tickets) -> None:
    agent = tickets.as_(AGENT)
    for call in (
        lambda: agent.create_pipeline(BILLING),
        lambda: agent.rename_pipeline(1, {"label": "x"}),
        lambda: agent.add_stage(1, {"label": "x", "state": "OPEN"}),
        lambda: agent.rename_stage(1, 1, {"label": "x"}),
        lambda: agent.reorder_stages(1, {"stage_ids": [4, 3, 2, 1]}),
    ):
        with pytest.raises(Forbidden):
            call()
    assert tickets.as_(ACCOUNT).create_pipeline(BILLING)["label"] == "Billing"
    assert tickets.events(contract.PIPELINE_CREATED)[0][1]["actor_id"] == ACCOUNT.user_id


def test_create_pipeline_keeps_stage_order_and_replays_by_idempotency_key(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    created = admin.create_pipeline(BILLING, idempotency_key="k1")
    assert [(s["label"], s["state"]) for s in created["stages"]] == [("Open", "OPEN"), ("Paid", "CLOSED")]
    assert admin.create_pipeline(BILLING, idempotency_key="k1") == {**created, REPLAYED: True}
    with pytest.raises(Conflict):
        admin.create_pipeline({**BILLING, "label": "Other"}, idempotency_key="k1")
    assert [p["label"] for p in admin.list_pipelines()] == ["Support pipeline", "Billing"]
    assert admin.get_pipeline(created["id"]) == created
    with pytest.raises(NotFound):
        admin.get_pipeline(99)


def test_pipeline_validation(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    for body, field in [
        ({"label": "x", "stages": [{"label": "Done", "state": "CLOSED"}]}, "stages"),
        (
            {"label": "x", "stages": [{"label": "A", "state": "OPEN"}, {"label": "a ", "state": "OPEN"}]},
            "stages",
        ),
        ({"label": "x", "stages": []}, "stages"),
        ({"label": "", "stages": [{"label": "A", "state": "OPEN"}]}, "label"),
    ]:
        with pytest.raises(ValidationFailed) as exc:
            admin.create_pipeline(body)
        assert field in exc.value.errors
    assert len(admin.list_pipelines()) == 1


def test_add_rename_and_reorder_stages(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    added = admin.add_stage(1, {"label": "Escalated", "state": "OPEN", "position": 1})
    labels = [s["label"] for s in added["stages"]]
    assert labels == ["New", "Escalated", "Waiting on contact", "Waiting on us", "Closed"]
    last = admin.add_stage(1, {"label": "Spam", "state": "CLOSED"})
    assert last["stages"][-1]["label"] == "Spam"
    escalated = added["stages"][1]["id"]
    renamed = admin.rename_stage(1, escalated, {"label": "Escalated to L2"})
    assert renamed["stages"][1] == {"id": escalated, "label": "Escalated to L2", "state": "OPEN"}
    order = [s["id"] for s in reversed(renamed["stages"])]
    assert [s["id"] for s in admin.reorder_stages(1, {"stage_ids": order})["stages"]] == order
    assert [s["id"] for s in admin.list_pipelines()[0]["stages"]] == order
    assert [c["stage"]["id"] for c in tickets.as_(AGENT).board({})["columns"]] == order
    assert admin.rename_pipeline(1, {"label": "Support"})["label"] == "Support"
    assert len(tickets.events(contract.PIPELINE_UPDATED)) == 5


def test_stage_refusals(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    other = admin.create_pipeline(BILLING)
    refusals = [
        (lambda: admin.add_stage(1, {"label": "new", "state": "OPEN"}), ValidationFailed),  # label taken
        (lambda: admin.add_stage(1, {"label": "x", "state": "OPEN", "position": 9}), ValidationFailed),
        (lambda: admin.add_stage(99, {"label": "x", "state": "OPEN"}), NotFound),
        (lambda: admin.rename_stage(1, 2, {"label": "Closed"}), ValidationFailed),
        (lambda: admin.rename_stage(1, 2, {"label": "x", "state": "CLOSED"}), ValidationFailed),
        (lambda: admin.rename_stage(1, other["stages"][0]["id"], {"label": "x"}), NotFound),
        (lambda: admin.reorder_stages(1, {"stage_ids": [1, 2, 3]}), ValidationFailed),
        (
            lambda: admin.reorder_stages(1, {"stage_ids": [1, 2, 3, other["stages"][0]["id"]]}),
            ValidationFailed,
        ),
        (lambda: admin.rename_pipeline(99, {"label": "x"}), NotFound),
    ]
    for call, error in refusals:
        with pytest.raises(error):
            call()
    assert admin.list_pipelines()[0]["stages"] == tickets.as_(AGENT).get_pipeline(1)["stages"]
    assert [s["label"] for s in admin.get_pipeline(1)["stages"]] == [
        "New",
        "Waiting on contact",
        "Waiting on us",
        "Closed",
    ]
