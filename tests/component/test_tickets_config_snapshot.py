"""The tickets store's configuration snapshot (services/tickets/store/config.py): a create reads the
configuration's version and nothing else of it while nothing changed, and sees every change another
instance committed (two stores on one database stand for two instances)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from services.chassis.clock import ManualClock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import NotFound, ValidationFailed
from services.tickets.domain import EVERYTHING, TicketFilter, parse_sort
from services.tickets.models import stages
from services.tickets.store import TicketStore
from tests import conftest as root
from tests.sql import statements

pytestmark = pytest.mark.db

START = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
CONFIGURATION = re.compile(r"\bFROM\s+(pipelines|stages|sla_policies)\b", re.IGNORECASE)
"""A statement that reads the configuration (a ticket's own stage is read by a JOIN)."""


@pytest.fixture
def url(make_db: Callable[[str], str]) -> str:
    return make_db("tickets")


@pytest.fixture
def make_store(url: str) -> Iterator[Callable[[], TicketStore]]:
    """``make_store()`` -> another store on the same database (its own engine: another instance)."""
    engines = []

    def factory() -> TicketStore:
        engine = make_engine(url)
        engines.append(engine)
        return TicketStore(SessionFactory(engine), clock=ManualClock(START))

    yield factory
    for engine in engines:
        engine.dispose()


def reads_configuration(seen: list[str]) -> list[str]:
    return [sql for sql in seen if CONFIGURATION.search(sql)]


def create(store: TicketStore, **data: Any) -> dict[str, Any]:
    return store.tickets.create(actor_id=1, data={"name": "x", **data})


def default_stages(store: TicketStore) -> list[int]:
    return [stage["id"] for stage in store.pipelines.all()[0]["stages"]]


def created_without_reading_configuration(store: TicketStore, **data: Any) -> dict[str, Any]:
    """A create that must use the snapshot its instance keeps: it reads the version only."""
    with statements(store.db.engine) as seen:
        ticket = create(store, **data)
    assert reads_configuration(seen) == []
    assert sum("config_version" in sql for sql in seen) == 1
    return ticket


def test_a_create_reads_one_statement_of_configuration_while_nothing_changed(
    make_store: Callable[[], TicketStore],
) -> None:
    store = make_store()
    create(store)  # the first reads the configuration and keeps it
    n = 20
    with statements(store.db.engine) as seen:
        for _ in range(n):
            create(store)
    assert reads_configuration(seen) == []
    assert sum("config_version" in sql for sql in seen) == n
    assert len(seen) / n <= 6  # was 8: the default stage, the SLA policies and the CLOSED stages
    new, waiting = default_stages(store)[:2]
    created_without_reading_configuration(store, status=waiting)  # an explicit stage too
    created_without_reading_configuration(store, pipeline_id=1, status=new)
    ticket = created_without_reading_configuration(store)
    with statements(store.db.engine) as seen:  # a change of stage and its clocks: one read of the version
        store.tickets.update(
            scope=EVERYTHING, actor_id=1, ticket_id=ticket["id"], changes={"status": waiting}
        )
    assert reads_configuration(seen) == [] and sum("config_version" in sql for sql in seen) == 1


def test_a_create_sees_stages_reordered_by_another_instance(make_store: Callable[[], TicketStore]) -> None:
    first, other = make_store(), make_store()
    new, waiting, *rest = default_stages(first)
    assert create(first)["status"] == new
    other.pipelines.reorder_stages(actor_id=1, pipeline_id=1, stage_ids=[waiting, new, *rest])
    assert create(first)["status"] == waiting
    assert created_without_reading_configuration(first)["status"] == waiting


def test_a_create_sees_a_stage_and_a_pipeline_added_by_another_instance(
    make_store: Callable[[], TicketStore],
) -> None:
    first, other = make_store(), make_store()
    create(first)
    added = other.pipelines.add_stage(
        actor_id=1, pipeline_id=1, data={"label": "Triage", "state": "OPEN", "position": 0}
    )
    triage = added["stages"][0]["id"]
    assert create(first)["status"] == triage
    made = other.pipelines.create(
        actor_id=1, data={"label": "Sales", "stages": [{"label": "Lead", "state": "OPEN"}]}
    )
    ticket = create(first, pipeline_id=made["id"])
    assert (ticket["pipeline_id"], ticket["status"]) == (made["id"], made["stages"][0]["id"])
    created_without_reading_configuration(first, pipeline_id=made["id"])


def test_a_create_sees_sla_policies_changed_by_another_instance(
    make_store: Callable[[], TicketStore],
) -> None:
    first, other = make_store(), make_store()
    assert create(first)["sla"] is None
    policy = other.slas.create_policy(actor_id=1, data={"name": "All", "first_reply_minutes": 60})
    assert create(first)["sla"]["next_due_at"] is not None
    assert created_without_reading_configuration(first)["sla"] is not None
    other.slas.update_policy(policy_id=policy["id"], changes={"first_reply_minutes": 120})
    due = dt.datetime.fromisoformat(create(first)["sla"]["next_due_at"])
    assert due == START + dt.timedelta(minutes=120)
    other.slas.delete_policy(policy_id=policy["id"])
    assert create(first)["sla"] is None


def test_a_create_never_enters_a_stage_another_instance_is_deleting(
    make_store: Callable[[], TicketStore],
) -> None:
    first, other = make_store(), make_store()
    new, waiting, *_ = default_stages(first)
    assert create(first)["status"] == new
    job_id = other.retire.start(actor_id=1, pipeline_id=1, stage_id=new, move_to=waiting)
    assert create(first)["status"] == waiting  # the default skips it
    assert created_without_reading_configuration(first)["status"] == waiting
    with pytest.raises(ValidationFailed) as refused:
        create(first, status=new)
    assert refused.value.errors == {"status": [f"status {new} is being deleted"]}
    job = other.jobs.current(job_id=job_id)
    while other.retire.move_batch(job=job):
        pass
    other.jobs.advance(job_id=job_id, after="move", step="remove")
    job = other.jobs.current(job_id=job_id)
    assert job.step == "remove"
    other.retire.remove(job=job)
    for _ in range(2):  # the second from the snapshot the first kept
        with pytest.raises(ValidationFailed) as refused:
            create(first, status=new)
        assert refused.value.errors == {"status": [f"unknown status {new}"]}
    created_without_reading_configuration(first, status=waiting)


def board_shape(store: TicketStore, pipeline_id: int | None = None) -> tuple[Any, ...]:
    """The board's pipeline and its columns' stages, as ``(id, label, [(id, label, state), ...])``."""
    board = store.lists.board(
        scope=EVERYTHING,
        user_id=1,
        flt=TicketFilter(),
        sort=parse_sort("-updated_at"),
        limit=5,
        pipeline_id=pipeline_id,
    )
    shown = [(c["stage"]["id"], c["stage"]["label"], c["stage"]["state"]) for c in board["columns"]]
    return board["pipeline_id"], shown


def test_a_board_reads_its_stages_from_the_snapshot_and_sees_every_change_another_instance_made(
    make_store: Callable[[], TicketStore],
) -> None:
    first, other = make_store(), make_store()
    listed = first.pipelines.all()[0]
    expected = [(st["id"], st["label"], st["state"]) for st in listed["stages"]]
    assert board_shape(first) == (1, expected)
    # the snapshot kept: the version read, no pipeline or stage read
    with statements(first.db.engine) as seen:
        assert board_shape(first) == (1, expected)
    assert reads_configuration(seen) == [] and sum("config_version" in sql for sql in seen) == 1

    new, waiting, *rest = [st[0] for st in expected]
    other.pipelines.rename_stage(actor_id=1, pipeline_id=1, stage_id=new, label="Fresh")
    other.pipelines.reorder_stages(actor_id=1, pipeline_id=1, stage_ids=[waiting, new, *rest])
    renamed = {new: "Fresh"}
    reordered = [expected[1], expected[0], *expected[2:]]
    assert board_shape(first) == (1, [(i, renamed.get(i, label), state) for i, label, state in reordered])

    made = other.pipelines.create(
        actor_id=1, data={"label": "Sales", "stages": [{"label": "Lead", "state": "OPEN"}]}
    )
    lead = made["stages"][0]["id"]
    assert board_shape(first, made["id"]) == (made["id"], [(lead, "Lead", "OPEN")])
    job_id = other.retire.start(actor_id=1, pipeline_id=made["id"], stage_id=None, move_to=waiting)
    assert board_shape(first, made["id"]) == (made["id"], [(lead, "Lead", "OPEN")])  # shown while it goes
    job = other.jobs.current(job_id=job_id)
    while other.retire.move_batch(job=job):
        pass
    other.jobs.advance(job_id=job_id, after="move", step="remove")
    other.retire.remove(job=other.jobs.current(job_id=job_id))
    with pytest.raises(NotFound):
        board_shape(first, made["id"])
    assert board_shape(first)[0] == 1


def test_a_configuration_change_that_rolls_back_is_never_kept(make_store: Callable[[], TicketStore]) -> None:
    first, other = make_store(), make_store()
    new, waiting, *rest = default_stages(first)
    create(first)
    with pytest.raises(RuntimeError), first.db.transaction() as s:  # a change that fails half-way
        first.pipelines.r.config.changed(s)
        phantom = s.scalar(
            stages.insert()
            .values(pipeline_id=1, label="Phantom", state="OPEN", position=-1)
            .returning(stages.c.id)
        )
        stage, _errors = first.pipelines.resolve_stage(s, None, None)
        assert stage is not None and stage.id == phantom  # it reads its own change
        raise RuntimeError("rolled back")
    # another change commits the version the rolled-back one had reached
    other.pipelines.reorder_stages(actor_id=1, pipeline_id=1, stage_ids=[waiting, new, *rest])
    assert create(first)["status"] == waiting


@pytest.mark.skipif(
    root.test_db_kind() != "postgresql", reason="SQLite's reader sees one state: nothing commits between"
)
def test_a_change_committed_while_the_configuration_is_read_is_read_whole(
    make_store: Callable[[], TicketStore],
) -> None:
    first, other = make_store(), make_store()
    create(first)
    new, waiting, *rest = default_stages(first)
    other.pipelines.reorder_stages(actor_id=1, pipeline_id=1, stage_ids=[waiting, new, *rest])
    raced: list[dict[str, Any]] = []

    def race(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not raced and "FROM pipelines" in statement:  # first is reading the stages, not the policies
            raced.append(
                other.slas.create_policy(actor_id=1, data={"name": "All", "first_reply_minutes": 60})
            )

    event.listen(first.db.engine, "after_cursor_execute", race)
    try:
        ticket = create(first)
    finally:
        event.remove(first.db.engine, "after_cursor_execute", race)
    assert raced and ticket["status"] == waiting and ticket["sla"] is not None
    # what it kept is that configuration, under that configuration's version
    assert created_without_reading_configuration(first)["sla"] is not None
