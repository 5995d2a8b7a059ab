"""Recorded RPC calls of the previous release keep being accepted by today's services.

Each file in ``requests/`` is ``<service>.<method>.v<N>.json``: ``{"kwargs": {...}}``, the arguments
a caller of release N sent, by name (callers pass the leading ones by position: the snapshot test
holds their order). Today the method
must still exist, take those arguments, and load each body or query with the schema it checks
it with (found in the method's source, as the snapshot records it). A caller of the previous
release, still running during a rolling upgrade, sends exactly these; a change that refuses one
of them is a breaking change (add an optional field or a new method instead).

Every method that takes a ``data`` body has a recording (a new one gets its ``v1`` with it), and
so do the busiest queries (``query``: the gateway's query string, values as text).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from services.chassis.schema import load
from tests.contract.snapshot import _loaded_parameters, rpc_methods, services

REQUESTS = Path(__file__).parent / "requests"


def recorded() -> list[Path]:
    return sorted(REQUESTS.glob("*.json"))


def service_classes() -> dict[str, type]:
    return {contract.SERVICE_NAME: cls for contract, cls in services()}


def replay(path: Path, classes: dict[str, type]) -> dict[str, Any]:
    """Check one recorded call against today's service; the arguments as each schema loaded them."""
    service, method, _version = path.name.removesuffix(".json").split(".")
    kwargs = json.loads(path.read_text())["kwargs"]
    methods = rpc_methods(classes[service])
    assert method in methods, f"{service}.{method} is gone; callers of the previous release still call it"
    function = methods[method]
    try:
        inspect.signature(function).bind(None, **kwargs)
    except TypeError as exc:
        pytest.fail(f"{service}.{method} no longer takes the recorded arguments: {exc}")
    parameters = [p for p in inspect.signature(function).parameters if p != "self"]
    loaded: dict[str, Any] = {}
    for parameter, schemas in _loaded_parameters(function, parameters).items():
        if parameter in kwargs and kwargs[parameter] is not None:
            for schema in schemas:
                loaded[parameter] = load(schema(), kwargs[parameter])
    return loaded


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.name)
def test_a_recorded_call_is_still_accepted(path: Path) -> None:
    loaded = replay(path, service_classes())
    assert loaded, f"{path.name} records no body or query that today's method loads"


def test_every_method_taking_a_body_has_a_recording() -> None:
    recorded_methods = {tuple(p.name.split(".")[:2]) for p in recorded()}
    missing = [
        f"{contract.SERVICE_NAME}.{name}"
        for contract, cls in services()
        for name, function in rpc_methods(cls).items()
        if "data" in inspect.signature(function).parameters
        and (contract.SERVICE_NAME, name) not in recorded_methods
    ]
    assert not missing, f"record a v1 call in {REQUESTS.name}/ for: {', '.join(missing)}"


def test_a_narrowed_input_schema_refuses_a_recorded_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay can fail: drop a field the recorded create sends, and the call is refused."""
    from services.chassis.errors import ValidationFailed
    from services.tickets import contract as tickets_contract

    monkeypatch.delitem(tickets_contract.TicketCreateSchema._declared_fields, "category")
    with pytest.raises(ValidationFailed) as refused:
        replay(REQUESTS / "tickets.create_ticket.v1.json", service_classes())
    assert "category" in refused.value.errors


def test_a_new_required_parameter_refuses_a_recorded_call(monkeypatch: pytest.MonkeyPatch) -> None:
    classes = service_classes()
    original = rpc_methods(classes["tickets"])["merge_tickets"]

    def merge_tickets(self: Any, data: Any, reason: str, idempotency_key: str | None = None) -> Any:
        return original(self, data, idempotency_key)

    merge_tickets.nameko_entrypoints = original.nameko_entrypoints  # type: ignore[attr-defined]
    monkeypatch.setattr(classes["tickets"], "merge_tickets", merge_tickets)
    with pytest.raises(pytest.fail.Exception, match="no longer takes the recorded arguments"):
        replay(REQUESTS / "tickets.merge_tickets.v1.json", classes)
