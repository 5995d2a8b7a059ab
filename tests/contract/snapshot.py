"""The wire contract of every service as plain data, and the rule that it only ever grows.

``python -m tests.contract.snapshot --write`` writes ``snapshot.json`` beside this module: per
service, every RPC method its class exposes (``@rpc``: parameters, which are required, and which
contract schema each body or query parameter is loaded with) and every schema of its
``contract.py`` (fields with type, required, nullable, allowed values, length and range limits)
with the roles it plays on the wire: ``input`` (loaded from a caller: an RPC body or query, a
gateway body or query), ``output`` (answered: a gateway route's ``returns``, any plain result
schema) and ``event`` (a published payload). Roles reach nested schemas too.

:func:`breaking_changes` compares two snapshots and names every change an instance of the
previous release, running beside this one, would trip over (the rule is in
``test_contract_snapshot.py`` and docs/architecture.md "Contracts and version skew").
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from marshmallow import Schema, fields, validate

from services.chassis.rpc import HelpdeskRpc
from services.chassis.schema import EventPayload, Input

SNAPSHOT = Path(__file__).parent / "snapshot.json"
REFRESH = "python -m tests.contract.snapshot --write"
BASES = (Schema, Input, EventPayload)

INPUT, OUTPUT, EVENT = "input", "output", "event"


def services() -> list[tuple[ModuleType, type]]:
    """Each service's contract module and service class (imported here, never by the services)."""
    from services.conversations import contract as conversations_contract
    from services.conversations.service import ConversationsService
    from services.notifications import contract as notifications_contract
    from services.notifications.service import NotificationsService
    from services.permissions import contract as permissions_contract
    from services.permissions.service import PermissionsService
    from services.retention import contract as retention_contract
    from services.retention.service import RetentionService
    from services.tickets import contract as tickets_contract
    from services.tickets.service import TicketsService

    return [
        (conversations_contract, ConversationsService),
        (notifications_contract, NotificationsService),
        (permissions_contract, PermissionsService),
        (retention_contract, RetentionService),
        (tickets_contract, TicketsService),
    ]


def gateway_schemas() -> tuple[set[type], set[type]]:
    """Schema classes the gateway loads from clients (body, query) and answers with (returns)."""
    from gateway.openapi import routes_of
    from gateway.service import GatewayService

    loaded: set[type] = set()
    answered: set[type] = set()
    for _attr, route in routes_of(GatewayService):
        loaded.update(s for s in (route.body_schema, route.query_schema) if s is not None)
        if route.returns is not None:
            answered.add(route.returns)
    return loaded, answered


# -- describing -----------------------------------------------------------------------------------


def _schema_class(nested: Any) -> type | None:
    if isinstance(nested, Schema):
        return type(nested)
    if isinstance(nested, type) and issubclass(nested, Schema):
        return nested
    if callable(nested):
        return _schema_class(nested())
    return None


def _choices(field: fields.Field) -> list[Any] | None:
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return sorted(validator.choices, key=repr)
    return None


def _bounds(field: fields.Field) -> dict[str, list[Any]]:
    """The field's length and range limits, ``[min, max]`` (None: unbounded)."""
    found: dict[str, list[Any]] = {}
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            low = validator.equal if validator.equal is not None else validator.min
            high = validator.equal if validator.equal is not None else validator.max
            found["length"] = [low, high]
        elif isinstance(validator, validate.Range):
            found["range"] = [validator.min, validator.max]
    return found


def _describe_field(field: fields.Field, name_of: Callable[[type], str]) -> dict[str, Any]:
    """A field as the wire sees it: its type (with what it nests or lists), whether a load needs
    it, whether it may be null, and the values it may take."""
    kind = type(field).__name__
    if isinstance(field, fields.Nested):
        nested = _schema_class(field.nested)
        kind = f"Nested({name_of(nested) if nested else '?'})" + ("[]" if field.many else "")
    elif isinstance(field, fields.List):
        inner = _describe_field(field.inner, name_of)
        described = {"type": f"List({inner['type']})", "required": field.required}
        described["nullable"] = field.allow_none
        if "values" in inner:
            described["values"] = inner["values"]
        if _bounds(field):
            described["bounds"] = _bounds(field)
        if "bounds" in inner:
            described["item_bounds"] = inner["bounds"]
        return described
    elif isinstance(field, fields.Dict):
        values = field.value_field
        kind = f"Dict({_describe_field(values, name_of)['type'] if values is not None else 'Raw'})"
    described = {"type": kind, "required": field.required, "nullable": field.allow_none}
    choices = _choices(field)
    if choices is not None:
        described["values"] = choices
    if _bounds(field):
        described["bounds"] = _bounds(field)
    if field.dump_only:
        described["dump_only"] = True
    return described


def _nested_classes(field: fields.Field) -> Iterator[type]:
    if isinstance(field, fields.Nested):
        nested = _schema_class(field.nested)
        if nested is not None:
            yield nested
    elif isinstance(field, fields.List):
        yield from _nested_classes(field.inner)
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        yield from _nested_classes(field.value_field)


def _schema_fields(cls: type) -> dict[str, fields.Field]:
    instance = cls()
    return {field.data_key or name: field for name, field in instance.fields.items()}


def _contract_schemas(contract: ModuleType) -> dict[type, str]:
    """Every schema class a contract module offers, by the (first, sorted) public name it has there."""
    found: dict[type, str] = {}
    for name in sorted(vars(contract)):
        value = getattr(contract, name)
        if name.startswith("_") or not isinstance(value, type) or value in BASES:
            continue
        if issubclass(value, Schema):
            found.setdefault(value, name)
    return found


def _loaded_parameters(function: Callable[..., Any], parameters: list[str]) -> dict[str, list[type]]:
    """``{parameter: [schema class]}`` for every ``load(Schema, <expression of parameter>)`` (or
    ``load(Schema(...), ...)``) in a method's source: which schema a body or query argument is
    checked with."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found: dict[str, list[type]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load"):
            continue
        if len(node.args) < 2:
            continue
        schema = node.args[0].func if isinstance(node.args[0], ast.Call) else node.args[0]
        try:
            cls = eval(compile(ast.Expression(schema), "<contract>", "eval"), function.__globals__)
        except NameError:  # a local (a schema chosen at run time): not a fixed contract
            continue
        if not (isinstance(cls, type) and issubclass(cls, Schema)):
            continue
        names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
        for parameter in parameters:
            if parameter in names and cls not in found.setdefault(parameter, []):
                found[parameter].append(cls)
    return found


def rpc_methods(service_cls: type) -> dict[str, Callable[..., Any]]:
    """The methods of a service class declared with ``services.chassis.rpc.rpc``."""
    return {
        name: member
        for name, member in inspect.getmembers(service_cls, inspect.isfunction)
        if any(isinstance(e, HelpdeskRpc) for e in getattr(member, "nameko_entrypoints", ()))
    }


def current() -> dict[str, Any]:
    """Today's contracts as the snapshot records them (JSON-ready, sorted)."""
    loaded_by_gateway, answered_by_gateway = gateway_schemas()
    snapshot: dict[str, Any] = {}
    for contract, service_cls in services():
        named = _contract_schemas(contract)

        def name_of(cls: type, named: dict[type, str] = named) -> str:
            return named.get(cls, cls.__name__)

        roles: dict[type, set[str]] = {}
        methods: dict[str, Any] = {}
        for method_name, function in rpc_methods(service_cls).items():
            signature = inspect.signature(function)
            parameters = [p for p in signature.parameters.values() if p.name != "self"]
            loads = _loaded_parameters(function, [p.name for p in parameters])
            for classes in loads.values():
                for cls in classes:
                    roles.setdefault(cls, set()).add(INPUT)
            methods[method_name] = {
                "parameters": [
                    {"name": p.name, "required": p.default is inspect.Parameter.empty} for p in parameters
                ],
                "loads": {p: sorted(name_of(c) for c in classes) for p, classes in sorted(loads.items())},
            }
        events = dict(getattr(contract, "EVENT_SCHEMAS", {}))
        for cls in named:
            if issubclass(cls, EventPayload) or cls in events.values():
                roles.setdefault(cls, set()).add(EVENT)
            if cls in loaded_by_gateway:
                roles.setdefault(cls, set()).add(INPUT)
            if cls in answered_by_gateway or not issubclass(cls, (Input, EventPayload)):
                roles.setdefault(cls, set()).add(OUTPUT)
            if not roles.get(cls):  # an Input nobody named here: a request schema
                roles.setdefault(cls, set()).add(INPUT)
        _spread(roles)
        snapshot[contract.SERVICE_NAME] = {
            "methods": dict(sorted(methods.items())),
            "events": {event: name_of(cls) for event, cls in sorted(events.items())},
            "schemas": {
                name_of(cls): {
                    "roles": sorted(roles[cls]),
                    "fields": {
                        key: _describe_field(field, name_of)
                        for key, field in sorted(_schema_fields(cls).items())
                    },
                }
                for cls in sorted(roles, key=name_of)
            },
        }
    return snapshot


def _spread(roles: dict[type, set[str]]) -> None:
    """A schema nested in another plays the roles of the one it is nested in."""
    changed = True
    while changed:
        changed = False
        for cls, played in list(roles.items()):
            for field in _schema_fields(cls).values():
                for nested in _nested_classes(field):
                    before = roles.setdefault(nested, set())
                    if not played <= before:
                        before |= played
                        changed = True


# -- comparing ------------------------------------------------------------------------------------


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every change from ``old`` to ``new`` that the previous release cannot live beside, in words."""
    found: list[str] = []
    for service, was in sorted(old.items()):
        now = new.get(service)
        if now is None:
            found.append(f"{service}: the service's contract is gone")
            continue
        found += [f"{service}.{m}: {p}" for m, p in _method_breaks(was["methods"], now["methods"])]
        for event, schema in sorted(was["events"].items()):
            if event not in now["events"]:
                found.append(f"{service}: event {event!r} is no longer published (a new event, a new name)")
            elif now["events"][event] != schema:  # another schema now: it must read like the old one
                old_schema, new_schema = was["schemas"][schema], now["schemas"][now["events"][event]]
                for problem in _schema_breaks({**old_schema, "roles": [EVENT]}, new_schema):
                    found.append(f"{service}: event {event!r} ({now['events'][event]}): {problem}")
        for name, schema in sorted(was["schemas"].items()):
            if name not in now["schemas"]:
                found.append(f"{service}.{name}: removed from the contract ({', '.join(schema['roles'])})")
                continue
            for problem in _schema_breaks(schema, now["schemas"][name]):
                found.append(f"{service}.{name}: {problem}")
    return found


def _method_breaks(was: dict[str, Any], now: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for method, old in sorted(was.items()):
        new = now.get(method)
        if new is None:
            yield method, "RPC method removed (callers of the previous release still call it)"
            continue
        params = {p["name"]: p for p in new["parameters"]}
        old_params = {p["name"]: p for p in old["parameters"]}
        for name, param in old_params.items():
            if name not in params:
                yield method, f"parameter {name!r} removed (old callers still pass it)"
            elif params[name]["required"] and not param["required"]:
                yield method, f"parameter {name!r} is now required (old callers may leave it out)"
        for name, param in params.items():
            if name not in old_params and param["required"]:
                yield method, f"new required parameter {name!r} (old callers do not pass it)"
        old_order = [p["name"] for p in old["parameters"]]
        new_order = [p["name"] for p in new["parameters"]][: len(old_order)]
        if set(old_order) <= set(params) and new_order != old_order:
            before, after = ", ".join(old_order), ", ".join(new_order)
            yield method, f"parameters reordered ({before} before, {after} now; callers pass them in order)"
        for param_name, schemas in old["loads"].items():
            if param_name in params and not set(new["loads"].get(param_name, [])) >= set(schemas):
                got = ", ".join(new["loads"].get(param_name, [])) or "nothing"
                yield method, f"{param_name!r} is no longer loaded with {', '.join(schemas)} (now: {got})"


def _schema_breaks(was: dict[str, Any], now: dict[str, Any]) -> Iterator[str]:
    roles = set(was["roles"])
    for key, old in sorted(was["fields"].items()):
        new = now["fields"].get(key)
        if new is None:
            why = (
                "old callers send it; unknown fields are refused" if INPUT in roles else "old readers read it"
            )
            yield f"field {key!r} removed ({why})"
            continue
        if new["type"] != old["type"]:
            yield f"field {key!r} retyped from {old['type']} to {new['type']}"
        old_values, new_values = old.get("values"), new.get("values")
        if old_values is not None and new_values is not None:
            if not set(map(repr, new_values)) >= set(map(repr, old_values)):
                lost = sorted(set(map(repr, old_values)) - set(map(repr, new_values)))
                yield f"field {key!r} no longer allows {', '.join(lost)} (the previous release sends it)"
            if EVENT in roles and not set(map(repr, old_values)) >= set(map(repr, new_values)):
                added = sorted(set(map(repr, new_values)) - set(map(repr, old_values)))
                yield f"event field {key!r} may now be {', '.join(added)}, which old consumers refuse"
        elif new_values is not None and old_values is None:
            yield f"field {key!r} now allows only {len(new_values)} values (it took any before)"
        if INPUT in roles:
            yield from _narrowed_bounds(key, old, new)
        if roles & {INPUT, EVENT} and new["required"] and not old["required"]:
            yield f"field {key!r} is now required (the previous release leaves it out)"
        if EVENT in roles and old["required"] and not new["required"]:
            yield f"event field {key!r} is no longer required (old consumers need it)"
        if old["nullable"] and not new["nullable"] and roles & {INPUT, EVENT}:
            yield f"field {key!r} may no longer be null (the previous release sends null)"
        if new["nullable"] and not old["nullable"] and roles & {OUTPUT, EVENT}:
            yield f"field {key!r} may now be null (old readers do not expect it)"
    for key, new in sorted(now["fields"].items()):
        if key not in was["fields"] and new["required"] and roles & {INPUT, EVENT}:
            yield f"new required field {key!r} (the previous release does not send it)"


def _narrowed_bounds(key: str, old: dict[str, Any], new: dict[str, Any]) -> Iterator[str]:
    """An input's length or range limit tightened: values the previous release sends are refused."""
    for part, what in (("bounds", ""), ("item_bounds", " (its items)")):
        for kind, (new_low, new_high) in new.get(part, {}).items():
            old_low, old_high = old.get(part, {}).get(kind, [None, None])
            higher_floor = new_low is not None and (old_low is None or new_low > old_low)
            lower_ceiling = new_high is not None and (old_high is None or new_high < old_high)
            if higher_floor or lower_ceiling:
                was, now = f"{old_low}..{old_high}", f"{new_low}..{new_high}"
                yield f"field {key!r}{what} takes a narrower {kind} ({was} before, {now} now)"


def stale(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Where ``new`` differs from ``old`` at all (additions included): the snapshot to refresh."""
    found = []
    for service in sorted(set(old) | set(new)):
        was, now = old.get(service, {}), new.get(service, {})
        for part in ("methods", "events", "schemas"):
            before, after = was.get(part, {}), now.get(part, {})
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    state = "new" if name not in before else "gone" if name not in after else "changed"
                    found.append(f"{service} {part[:-1]} {name}: {state}")
    return found


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {SNAPSHOT.name} from today's contracts")
    parser.add_argument(
        "--accept-breaking",
        action="store_true",
        help="write even over breaking changes (only once no instance of the previous release runs)",
    )
    args = parser.parse_args(argv)
    today = current()
    if not args.write:
        recorded = json.loads(SNAPSHOT.read_text())
        for line in breaking_changes(recorded, today):
            print("BREAKING", line)
        for line in stale(recorded, today):
            print("differs", line)
        return 0
    if SNAPSHOT.exists():
        breaks = breaking_changes(json.loads(SNAPSHOT.read_text()), today)
        for line in breaks:
            print("BREAKING", line, file=sys.stderr)
        if breaks and not args.accept_breaking:
            print("not written: make the change additive (or --accept-breaking, see --help)", file=sys.stderr)
            return 1
    SNAPSHOT.write_text(render(today))
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
