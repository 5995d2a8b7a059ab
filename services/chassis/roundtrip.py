"""A schema's ``dump(load(payload))`` without marshmallow's per-field machinery, where that is exact.

Every recorded event is checked against its producer's contract (:meth:`Outbox.encode
<services.chassis.outbox.Outbox.encode>`): loaded by its schema, refused if it does not fit, and
dumped. marshmallow took ~25 us for a ``ticket_created`` and ~190 us for a ``notifications_added``
of five feed items (~18 % of the notifications service's Python time under the 10-client create
load); the function below takes ~1.7 and ~25 us. :func:`compile_roundtrip` turns a schema into a
function with one promise:

**It returns exactly what ``schema.dump(schema.load(payload))`` returns, or None.** None means
"not sure": the caller runs marshmallow itself, which accepts, refuses and words its errors as it
always did. So the function only ever says yes to payloads built of the plain forms it knows: a
``str`` for ``fields.String``, an ``int`` (not ``bool``) for ``fields.Integer``, a ``bool`` for
``fields.Boolean``, a ``list`` for ``fields.List``, a ``dict`` for ``fields.Nested``, and for
:class:`~services.chassis.schema.Timestamp` what the field's own load and dump make of the value;
every field's validators run as marshmallow runs them (a validator that refuses means None).
A schema (or a nested one) with anything else (another field class, hooks, ``data_key``,
``load_only``/``dump_only`` fields, field-level ``pre_load``/``post_load``, a ``many`` or
``only`` nested field, a custom Boolean truth table or ``as_string`` integers) gets no fast path at
all: its function always returns None. A key the schema does not declare means None too,
whatever the schema's ``unknown`` says.

``tests/unit/test_chassis_roundtrip.py`` holds it to the promise with generated payloads for every
event schema of every service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing

from services.chassis.schema import Timestamp

Roundtrip = Callable[[Any], "dict[str, Any] | None"]
_NOT_SURE = object()


class _Unsupported(Exception):
    """The schema uses something the fast path does not replicate."""


def compile_roundtrip(schema: Schema) -> Roundtrip:
    """The function described in the module docstring, for ``schema`` (an instance)."""
    try:
        check = _schema_check(schema)
    except _Unsupported:
        return lambda payload: None

    def roundtrip(payload: Any) -> dict[str, Any] | None:
        result = check(payload)
        return None if result is _NOT_SURE else result

    return roundtrip


Check = Callable[[Any], Any]
"""A present, non-None value's dump after its load, or ``_NOT_SURE``."""


def _schema_check(schema: Schema) -> Check:
    if any(schema._hooks.values()):
        raise _Unsupported("hooks")
    declared = dict(schema.fields)
    if set(schema.load_fields) != set(declared) or set(schema.dump_fields) != set(declared):
        raise _Unsupported("load_only / dump_only / only / exclude")
    steps = [(name, field, _field_check(name, field)) for name, field in schema.dump_fields.items()]
    names = frozenset(declared)

    def check(payload: Any) -> Any:
        if type(payload) is not dict or not names.issuperset(payload):
            return _NOT_SURE
        out: dict[str, Any] = {}
        for name, field, value_check in steps:
            value = payload.get(name, missing)
            if value is missing:
                dumped = _absent(field)
                if dumped is missing:
                    continue  # absent from the load, so from the dump
            elif value is None:
                dumped = None if field.allow_none else _NOT_SURE
            else:
                dumped = value_check(value)
            if dumped is _NOT_SURE:
                return _NOT_SURE
            out[name] = dumped
        return out

    return check


def _field_check(name: str, field: fields.Field) -> Check:
    if field.data_key is not None and field.data_key != name:
        raise _Unsupported("data_key")
    if field.dump_default is not missing:
        raise _Unsupported("dump_default")
    return _value_check(field)


def _absent(field: fields.Field) -> Any:
    """What the dump holds for a field the payload lacks: ``missing`` (nothing), the load default
    as the dump formats it (the load takes it unvalidated), or ``_NOT_SURE``."""
    if field.required:
        return _NOT_SURE
    default = field.load_default
    if default is missing:
        return missing
    value = default() if callable(default) else default
    if value is None:
        return None
    expected = _PLAIN.get(type(field))
    if expected is not None and type(value) is expected:
        return value
    if type(field) is fields.List and value == []:
        return []
    return _NOT_SURE


def _validated(field: fields.Field, loaded: Any) -> bool:
    try:
        field._validate(loaded)
    except ValidationError:
        return False
    return True


def _plain_check(field: fields.Field, expected: type) -> Check:
    """``str`` for String, ``int`` (never ``bool``) for Integer, ``bool`` for Boolean: each loads
    and dumps as itself (String's text, Integer's ``int()``, Boolean's truth table)."""

    def plain(value: Any) -> Any:
        if type(value) is not expected or (field.validators and not _validated(field, value)):
            return _NOT_SURE
        return value

    return plain


def _timestamp_check(field: fields.Field) -> Check:
    def timestamp(value: Any) -> Any:
        try:
            loaded = field._deserialize(value, None, None)
        except ValidationError:
            return _NOT_SURE
        if field.validators and not _validated(field, loaded):
            return _NOT_SURE
        return field._serialize(loaded, None, None)

    return timestamp


def _list_check(field: fields.List) -> Check:
    inner = field.inner
    if inner.pre_load or inner.post_load or field.validators:
        raise _Unsupported("inner pre_load / post_load, or a list validator")
    each_check = _value_check(inner)
    for_none = None if inner.allow_none else _NOT_SURE

    def listing(value: Any) -> Any:
        if type(value) is not list:
            return _NOT_SURE
        out: list[Any] = []
        for each in value:
            dumped = for_none if each is None else each_check(each)
            if dumped is _NOT_SURE:
                return _NOT_SURE
            out.append(dumped)
        return out

    return listing


def _nested_check(field: fields.Nested) -> Check:
    if field.many or field.only or field.exclude or field.validators or field.schema.many:
        raise _Unsupported("many / only / exclude / validators")
    nested = _schema_check(field.schema)

    def nesting(value: Any) -> Any:
        return nested(value) if type(value) is dict else _NOT_SURE

    return nesting


_PLAIN: dict[type, type] = {fields.String: str, fields.Integer: int, fields.Boolean: bool}


def _value_check(field: fields.Field) -> Check:
    """The check of one field's present, non-None values (see the module docstring)."""
    if field.pre_load or field.post_load:
        raise _Unsupported("field pre_load / post_load")
    kind = type(field)
    if isinstance(field, fields.Integer) and kind is fields.Integer and field.as_string:
        raise _Unsupported("as_string")
    if isinstance(field, fields.Boolean) and (
        field.truthy != fields.Boolean.truthy or field.falsy != fields.Boolean.falsy
    ):
        raise _Unsupported("custom truth table")
    if kind in _PLAIN:
        return _plain_check(field, _PLAIN[kind])
    if kind is Timestamp:
        return _timestamp_check(field)
    if isinstance(field, fields.List) and kind is fields.List:
        return _list_check(field)
    if isinstance(field, fields.Nested) and kind is fields.Nested:
        return _nested_check(field)
    raise _Unsupported(kind.__name__)
