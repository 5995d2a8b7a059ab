"""Contracts only grow: today's contracts against the reviewed record in ``snapshot.json``.

During a rolling upgrade an instance of the previous release runs beside this one: it calls
today's services, reads their answers and events, and today's services call and read it. So a
change to a contract must be one the previous release cannot notice. The rule:

* **RPC methods**: none removed; no parameter removed; no new parameter without a default; no
  default taken away; parameters keep their order (callers pass the leading ones by position, so
  new ones go last); a body or query is still loaded with the schema it was.
* **Input schemas** (what callers send): no field removed (unknown fields are refused, and old
  callers still send it), none retyped, none newly required, no new required field, no value
  no longer allowed, no ``null`` no longer allowed, no length or range limit tightened.
* **Output schemas** (what is answered): no field removed or retyped; no value an old reader
  knows dropped from a field's allowed values (an old instance still answers it to new readers);
  no field newly nullable.
* **Events** (what is published; consumers load payloads with the producer's schema): no event
  type removed; no field removed, retyped, newly required, no longer required, newly nullable;
  allowed values neither dropped nor added (an old consumer refuses a value it does not know,
  and parks the event).
* **Additive** (new optional fields, new methods, new parameters with a default, new events, new
  schemas, values added to an input's or an output's allowed set) passes the first test below,
  but the second fails until the snapshot is refreshed with ``python -m tests.contract.snapshot
  --write``, so the committed snapshot is always the reviewed record of the contracts.

The tool refuses to write over a breaking change (``--accept-breaking`` does, once no instance
of the previous release runs any more). docs/architecture.md "Contracts and version skew" says
the same for people.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from marshmallow import fields, validate

from services.tickets import contract as tickets_contract
from services.tickets.service import TicketsService
from tests.contract import snapshot


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return json.loads(snapshot.SNAPSHOT.read_text())


def test_no_contract_change_breaks_the_previous_release(recorded: dict[str, Any]) -> None:
    breaks = snapshot.breaking_changes(recorded, snapshot.current())
    assert not breaks, "breaking contract changes (make them additive):\n" + "\n".join(breaks)


def test_the_snapshot_records_todays_contracts(recorded: dict[str, Any]) -> None:
    today = snapshot.current()
    differences = snapshot.stale(recorded, today)
    assert not differences, (
        "the contracts changed (additively); review and refresh the snapshot with "
        f"`{snapshot.REFRESH}`:\n" + "\n".join(differences)
    )
    written = snapshot.SNAPSHOT.read_text()
    assert snapshot.render(today) == written, f"not in the tool's format: `{snapshot.REFRESH}`"


# -- the checker can fail: each mutation below is one the previous release would trip over -------


def _breaks_after(recorded: dict[str, Any]) -> str:
    """Today's breaking changes against the record, one a line."""
    return "\n".join(snapshot.breaking_changes(recorded, snapshot.current()))


def _replace_field(monkeypatch: pytest.MonkeyPatch, schema: type, name: str, field: fields.Field) -> None:
    monkeypatch.setitem(schema._declared_fields, name, field)  # type: ignore[attr-defined]


def test_a_removed_output_field_is_caught(recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(tickets_contract.TicketSchema._declared_fields, "priority")
    assert "tickets.TicketSchema: field 'priority' removed (old readers" in _breaks_after(recorded)


def test_a_retyped_event_field_is_caught(recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _replace_field(monkeypatch, tickets_contract.TicketCreatedEvent, "status", fields.String())
    breaks = _breaks_after(recorded)
    assert "tickets.TicketCreatedEvent: field 'status' retyped from Integer to String" in breaks


def test_an_optional_input_field_made_required_is_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    required = fields.String(required=True, allow_none=True)
    _replace_field(monkeypatch, tickets_contract.TicketCreateSchema, "category", required)
    assert "tickets.TicketCreateSchema: field 'category' is now required" in _breaks_after(recorded)


def test_a_new_required_input_field_is_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _replace_field(monkeypatch, tickets_contract.MergeSchema, "reason", fields.String(required=True))
    assert "tickets.MergeSchema: new required field 'reason'" in _breaks_after(recorded)


def test_narrowed_allowed_values_are_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = fields.String(validate=validate.OneOf(("low", "medium", "high")))
    _replace_field(monkeypatch, tickets_contract.TicketSchema, "in_progress", fields.String(allow_none=True))
    _replace_field(monkeypatch, tickets_contract.TicketPatchSchema, "priority", narrow)
    breaks = _breaks_after(recorded)
    assert "tickets.TicketPatchSchema: field 'priority' no longer allows 'urgent'" in breaks
    # an output that no longer lists values at all is no narrowing
    assert "TicketSchema: field 'in_progress'" not in breaks


def test_a_tightened_input_limit_is_caught(recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    shorter = fields.String(required=True, validate=validate.Length(min=1, max=200))
    _replace_field(monkeypatch, tickets_contract.TicketCreateSchema, "name", shorter)
    assert (
        "TicketCreateSchema: field 'name' takes a narrower length (1..500 before, 1..200 now)"
        in _breaks_after(recorded)
    )


def test_a_value_added_to_an_event_field_is_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reasons = (*tickets_contract.DELETE_REASONS, "expired")
    _replace_field(
        monkeypatch,
        tickets_contract.TicketDeletedEvent,
        "reason",
        fields.String(validate=validate.OneOf(reasons)),
    )
    breaks = _breaks_after(recorded)
    assert "tickets.TicketDeletedEvent: event field 'reason' may now be 'expired'" in breaks
    assert "tickets.TicketDeletedEvent: event field 'reason' is no longer required" in breaks


def test_a_removed_event_type_is_caught(recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(tickets_contract.EVENT_SCHEMAS, tickets_contract.TICKET_MERGED)
    assert "tickets: event 'ticket_merged' is no longer published" in _breaks_after(recorded)


def test_a_removed_method_and_parameter_are_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(TicketsService, "get_ticket")
    original = TicketsService.update_ticket

    def update_ticket(self: Any, ticket_id: int, data: dict[str, Any]) -> Any:
        return original(self, ticket_id, data)

    update_ticket.nameko_entrypoints = original.nameko_entrypoints  # type: ignore[attr-defined]
    monkeypatch.setattr(TicketsService, "update_ticket", update_ticket)
    breaks = _breaks_after(recorded)
    assert "tickets.get_ticket: RPC method removed" in breaks
    assert "tickets.update_ticket: parameter 'expected_versions' removed" in breaks
    assert "tickets.update_ticket: 'data' is no longer loaded with TicketPatchSchema (now: nothing)" in breaks


def test_a_parameter_put_before_the_others_is_caught(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TicketsService.update_ticket

    def update_ticket(
        self: Any, ticket_id: int, reason: str | None = None, data: Any = None, expected_versions: Any = None
    ) -> Any:
        return original(self, ticket_id, data, expected_versions)

    update_ticket.nameko_entrypoints = original.nameko_entrypoints  # type: ignore[attr-defined]
    monkeypatch.setattr(TicketsService, "update_ticket", update_ticket)
    breaks = _breaks_after(recorded)
    assert (
        "tickets.update_ticket: parameters reordered (ticket_id, data, expected_versions before, " in breaks
    )


def test_an_additive_change_passes_but_leaves_the_snapshot_stale(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    optional = fields.String(load_default=None)
    _replace_field(monkeypatch, tickets_contract.TicketCreateSchema, "language", optional)
    _replace_field(monkeypatch, tickets_contract.TicketSchema, "language", fields.String(allow_none=True))
    today = snapshot.current()
    assert snapshot.breaking_changes(recorded, today) == []
    assert snapshot.stale(recorded, today) == [
        "tickets schema TicketCreateSchema: changed",
        "tickets schema TicketSchema: changed",
    ]


def test_writing_refuses_a_breaking_change(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    target = tmp_path / "snapshot.json"
    target.write_text(snapshot.render(recorded))
    monkeypatch.setattr(snapshot, "SNAPSHOT", target)
    monkeypatch.delitem(tickets_contract.TicketSchema._declared_fields, "priority")
    assert snapshot.main(["--write"]) == 1
    assert json.loads(target.read_text()) == recorded
    assert snapshot.main(["--write", "--accept-breaking"]) == 0
    assert "priority" not in json.loads(target.read_text())["tickets"]["schemas"]["TicketSchema"]["fields"]
