"""Deleting stages and pipelines: their tickets move to a named stage first, as one job (item 5 of
the lifecycle issue), and a ticket's team must exist in the permissions service."""

from __future__ import annotations

import pytest

from services.chassis.errors import Conflict, Forbidden, ValidationFailed
from services.tickets import contract
from tests.service.lifecycle_harness import ACCOUNT, ADMIN, AGENT, DELETER, World

pytestmark = pytest.mark.db
NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4


def test_a_stage_goes_once_its_tickets_moved(world: World) -> None:
    api = world.tickets(AGENT)
    moving = [api.create_ticket({"name": f"t{n}", "status": WAITING_CONTACT})["id"] for n in range(3)]
    binned = api.create_ticket({"name": "binned", "status": WAITING_CONTACT})["id"]
    for ticket_id in (moving[0], binned):
        api.follow(ticket_id)
    world.tickets(DELETER).delete_ticket(binned)
    with pytest.raises(Forbidden):
        api.delete_stage(1, WAITING_CONTACT, {"move_to": str(WAITING_US)})
    with pytest.raises(ValidationFailed):
        world.tickets(ADMIN).delete_stage(1, WAITING_CONTACT, {"move_to": str(WAITING_CONTACT)})
    job = world.tickets(ADMIN).delete_stage(1, WAITING_CONTACT, {"move_to": str(WAITING_US)}, "del-1")
    assert (job["state"], job["done"], job["total"]) == ("done", 4, 4)
    again = world.tickets(ADMIN).delete_stage(1, WAITING_CONTACT, {"move_to": str(WAITING_US)}, "del-1")
    assert again["id"] == job["id"] and again["_idempotent_replayed"] is True
    stages = [s["id"] for s in api.get_pipeline(1)["stages"]]
    assert stages == [NEW, WAITING_US, CLOSED]
    assert {api.get_ticket(t)["status"] for t in moving} == {WAITING_US}
    moved = [e for e in world.events("tickets", contract.TICKET_STATUS_CHANGED) if e["ticket_id"] in moving]
    assert len(moved) == 3  # live tickets moved by the ticket's rules; the binned one quietly
    copies = {row.ticket_id: row.ticket_stage_id for row in world.followers_rows()}
    assert copies == {moving[0]: WAITING_US, binned: WAITING_US}  # the follow rows' copies too
    restored = world.tickets(ACCOUNT).restore_ticket(binned)
    assert restored["status"] == WAITING_US


def test_a_pipeline_goes_with_its_stages_and_no_ticket_enters_meanwhile(world: World) -> None:
    admin = world.tickets(ADMIN)
    second = admin.create_pipeline({"label": "Sales", "stages": [{"label": "Open", "state": "OPEN"}]})
    [stage] = [s["id"] for s in second["stages"]]
    ticket = admin.create_ticket({"name": "lead", "pipeline_id": second["id"]})
    # the job starts without running (as if its runner had died at once)
    job_id = world.tickets_store.retire.start(
        actor_id=ADMIN.user_id, pipeline_id=second["id"], stage_id=None, move_to=NEW
    )
    with pytest.raises(ValidationFailed):
        admin.create_ticket({"name": "late", "pipeline_id": second["id"]})
    with pytest.raises(Conflict):
        admin.delete_pipeline(second["id"], {"move_to": str(NEW)})
    world.resume()
    assert admin.get_job(job_id)["state"] == "done"
    assert [p["id"] for p in admin.list_pipelines()] == [1]
    assert admin.get_ticket(ticket["id"])["pipeline_id"] == 1
    assert world.events("tickets", contract.PIPELINE_DELETED)[0]["pipeline_id"] == second["id"]
    assert stage not in {s["id"] for s in admin.get_pipeline(1)["stages"]}


def test_the_last_open_stage_stays(world: World) -> None:
    admin = world.tickets(ADMIN)
    small = admin.create_pipeline(
        {
            "label": "Small",
            "stages": [{"label": "Open", "state": "OPEN"}, {"label": "Done", "state": "CLOSED"}],
        }
    )
    opened, done = (s["id"] for s in small["stages"])
    with pytest.raises(ValidationFailed, match="OPEN"):
        admin.delete_stage(small["id"], opened, {"move_to": str(NEW)})
    assert admin.delete_stage(small["id"], done, {"move_to": str(opened)})["state"] == "done"


def test_a_ticket_team_must_exist(world: World) -> None:
    api = world.tickets(AGENT)
    with pytest.raises(ValidationFailed) as refused:
        api.create_ticket({"name": "x", "team_id": 99})
    assert "team 99 does not exist" in refused.value.errors["team_id"][0]
    ticket = api.create_ticket({"name": "x", "team_id": 1})
    with pytest.raises(ValidationFailed):
        api.update_ticket(ticket["id"], {"team_id": 99})
    assert api.update_ticket(ticket["id"], {"team_id": 2})["team_id"] == 2
