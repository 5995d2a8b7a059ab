"""Today's tickets service, fed the previous release's recorded calls, answers with every field
the previous release's readers read.

The recorded calls (``requests/``) run in order through the real service logic on a real
database (``tests/service``'s harness: no broker), ids of the recording replaced by those of the
things this run created, since a recording names rows of the database it was made on. Each
answer must carry every field that ``snapshot.json`` lists for its output schema, at every level
of nesting: a reader of the previous release (the gateway, another service) still reads them.
The snapshot test catches a field removed from a schema; this one a field the schema still
declares but the service no longer fills in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.contract.snapshot import SNAPSHOT
from tests.contract.test_recorded_requests import REQUESTS
from tests.service.tickets_harness import ADMIN, Tickets, local_tickets

pytestmark = pytest.mark.db

OPTIONAL_IN_ANSWERS: dict[str, set[str]] = {}
"""Output fields an answer may leave out (none so far for the answers checked here)."""


@pytest.fixture
def tickets(make_db: Callable[[str], str]) -> Iterator[Tickets]:
    yield from local_tickets(make_db)


def missing(schemas: dict[str, Any], schema: str, value: Any, path: str = "") -> list[str]:
    """Paths of the fields ``schema`` (as the snapshot records it) lists that ``value`` lacks."""
    if not isinstance(value, dict):
        return [f"{path or '.'} is {type(value).__name__}, not an object"]
    found = []
    for key, field in schema_fields(schemas, schema).items():
        where = f"{path}.{key}" if path else key
        if key not in value:
            if key not in OPTIONAL_IN_ANSWERS.get(schema, set()):
                found.append(where)
            continue
        nested, many = nested_schema(field["type"])
        if nested is None or value[key] is None:
            continue
        items = value[key] if many else [value[key]]
        for index, item in enumerate(items):
            found += missing(schemas, nested, item, f"{where}.{index}" if many else where)
    return found


def schema_fields(schemas: dict[str, Any], schema: str) -> dict[str, Any]:
    return dict(schemas[schema]["fields"])


def nested_schema(kind: str) -> tuple[str | None, bool]:
    """``Nested(X)`` -> (X, False); ``List(Nested(X))`` or ``Nested(X)[]`` -> (X, True)."""
    if kind.startswith("List(Nested(") and kind.endswith("))"):
        return kind[len("List(Nested(") : -2], True
    if kind.startswith("Nested("):
        many = kind.endswith("[]")
        return kind[len("Nested(") : kind.rindex(")")], many
    return None, False


def recorded(method: str, **ids: Any) -> dict[str, Any]:
    """The recorded keyword arguments of ``tickets.<method>``, with ``ids`` put in for the recorded ones."""
    kwargs = json.loads((REQUESTS / f"tickets.{method}.v1.json").read_text())["kwargs"]
    return {**kwargs, **ids}


def test_recorded_ticket_calls_answer_every_field_old_readers_read(tickets: Tickets) -> None:
    schemas = json.loads(SNAPSHOT.read_text())["tickets"]["schemas"]
    api = tickets.as_(ADMIN)
    answers: list[tuple[str, str, Any]] = []

    def call(method: str, output: str, **kwargs: Any) -> Any:
        answer = getattr(api, method)(**kwargs)
        answers.append((method, output, answer))
        return answer

    pipeline = call("create_pipeline", "PipelineSchema", **recorded("create_pipeline"))
    call("add_stage", "PipelineSchema", **recorded("add_stage", pipeline_id=pipeline["id"]))
    call("rename_pipeline", "PipelineSchema", **recorded("rename_pipeline", pipeline_id=pipeline["id"]))
    stage = pipeline["stages"][0]["id"]
    call(
        "rename_stage",
        "PipelineSchema",
        **recorded("rename_stage", pipeline_id=pipeline["id"], stage_id=stage),
    )

    ticket = call("create_ticket", "TicketSchema", **recorded("create_ticket"))
    changed = call(
        "update_ticket",
        "TicketSchema",
        **recorded("update_ticket", ticket_id=ticket["id"], expected_versions=[ticket["version"]]),
    )
    assert changed["priority"] == "high"
    call("get_ticket", "TicketSchema", ticket_id=ticket["id"])
    query = {k: v for k, v in recorded("list_tickets")["query"].items() if k != "cursor"}
    call("list_tickets", "TicketPageSchema", query=query)
    call("list_tickets", "TicketPageSchema", query={})
    call("board", "BoardSchema", **recorded("board"))
    call("search_tickets", "TicketPageSchema", **recorded("search_tickets"))

    policy = call("create_sla_policy", "SlaPolicySchema", **recorded("create_sla_policy"))
    call("update_sla_policy", "SlaPolicySchema", **recorded("update_sla_policy", policy_id=policy["id"]))
    call("get_ticket", "TicketSchema", ticket_id=ticket["id"])  # now with its SLA

    view = call("create_view", "ViewSchema", **recorded("create_view"))
    call("update_view", "ViewSchema", **recorded("update_view", view_id=view["id"]))

    gaps = {
        f"{method} ({output})": holes
        for method, output, answer in answers
        if (holes := missing(schemas, output, answer))
    }
    assert not gaps, f"answers lack fields the previous release reads: {gaps}"
    assert any(answer["items"] for method, _o, answer in answers if method == "list_tickets")


def test_a_field_left_out_of_an_answer_is_noticed() -> None:
    schemas = json.loads(SNAPSHOT.read_text())["tickets"]["schemas"]
    ticket = {key: None for key in schema_fields(schemas, "TicketSchema")}
    assert missing(schemas, "TicketSchema", ticket) == []
    page: dict[str, Any] = {
        "items": [{**ticket, "associations": {"contacts": []}}],
        "next_cursor": None,
        "total": 1,
    }
    assert missing(schemas, "TicketPageSchema", page) == [
        "items.0.associations.companies",
        "items.0.associations.deals",
        "total_capped",
    ]
