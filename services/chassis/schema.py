"""The schema toolkit every contract is written with (marshmallow).

* :class:`Input` - what a client sends: unknown fields are refused, and so are
  read-only ones (a ``dump_only`` field sent in a body counts as unknown).
* :class:`EventPayload` - what a service publishes: consumers ignore fields they do
  not know, so producers may add optional ones without breaking anybody.
* :class:`Timestamp` - the one datetime field: ISO 8601 with a UTC offset on the wire,
  an aware datetime in Python; a moment without an offset is refused.
* :class:`Id`, :class:`StrictBoolean`, :class:`StrictInteger` - JSON values that mean
  exactly what they say (no ``true`` for 1, no ``"3"`` for 3).
* :class:`QueryId`, :class:`QueryInteger` - numbers that arrive as query-string text: ASCII
  digits only, within 64 bits.
* :class:`CleanText`, :class:`CleanEmail` - names and addresses people read: NFC-normalised,
  no control characters, no bidirectional overrides (text that displays other than it reads).
* :func:`load` - load or raise :class:`ValidationFailed`, the one way input is checked; its
  ``errors`` are flat (``"team_ids.0"``, ``"associations.contacts.1"``), whatever the nesting.
  Given a schema class, it loads with the class's :func:`shared` instance.
* :func:`shared` - the one instance of a schema class a process uses: building one costs more
  than most loads with it.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Mapping
from typing import Any, TypeVar

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from services.chassis.clock import aware
from services.chassis.errors import ValidationFailed

SchemaT = TypeVar("SchemaT", bound=Schema)

MAX_ID = 2**63 - 1
"""The largest id any table can hold (a 64-bit signed integer)."""


class Input(Schema):
    """Base of every request schema: unknown and read-only fields are refused (422)."""

    class Meta:
        unknown = RAISE


class EventPayload(Schema):
    """Base of every event payload: ``event_id`` and ``occurred_at``; unknown fields are ignored."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True)
    occurred_at = fields.String(required=True)


class Timestamp(fields.Field):
    """An ISO 8601 moment with a UTC offset; loads to an aware datetime, dumps with its offset."""

    default_error_messages = {"invalid": "Not an ISO 8601 date-time with a UTC offset."}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return aware(value).isoformat()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str) and len(value) <= 64:
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        else:
            raise self.make_error("invalid")
        if moment.tzinfo is None:
            raise self.make_error("invalid")
        return moment.astimezone(dt.UTC)


class StrictInteger(fields.Integer):
    """A JSON integer within 64 bits; booleans, floats and numeric strings are refused."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        number = super()._deserialize(value, attr, data, **kwargs)
        if not -MAX_ID - 1 <= number <= MAX_ID:
            raise ValidationError("Must fit in 64 bits.")
        return int(number)


class Id(StrictInteger):
    """A positive integer id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``; no ``"yes"``, ``1`` or ``"true"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


@functools.cache
def _shared(cls: type[Schema], many: bool) -> Schema:
    return cls(many=many)


def shared(cls: type[SchemaT], *, many: bool = False) -> SchemaT:
    """The process's one instance of schema ``cls`` (``many`` or not), built on first use.

    Building a schema copies its declared fields (25-45 us for a contract's, two to three times
    what loading a small body with it costs), and every call site used to build its own. Sharing
    is safe because our schemas keep nothing between calls: the per-call options (``partial``,
    ``unknown``) go to ``load``, and none reads or writes ``context``."""
    return _shared(cls, many)  # type: ignore[return-value]


def load(schema: Schema | type[Schema], data: Any, **kwargs: Any) -> dict[str, Any]:
    """``schema.load(data)``, or :class:`ValidationFailed` naming each bad field; a schema class
    loads with its :func:`shared` instance.

    A body that is not an object at all is reported under ``_body``. Errors are flattened
    (see :func:`flat_errors`), so every service and the gateway answer the same shape.
    """
    if isinstance(schema, type):
        schema = shared(schema)
    if not isinstance(data, Mapping):
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    nul = _nul_at(data)
    if nul is not None:
        raise ValidationFailed(errors={nul or "_body": ["must not contain NUL (U+0000) characters"]})
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        raise ValidationFailed(errors=flat_errors(exc.normalized_messages())) from exc


def _nul_at(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (value or key) in ``value`` holding a NUL character,
    else None. Every input is refused with one: PostgreSQL's text cannot hold it (the driver
    raises rather than store it), so it must be a client's 422 before it reaches a database, not
    a 500 after, and SQLite must not keep what PostgreSQL would refuse."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return path or "_body"
            found = _nul_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def flat_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"field.path": ["message", ...]}``.

    ``{"associations": {"contacts": {1: ["Not a valid integer."]}}}`` becomes
    ``{"associations.contacts.1": ["Not a valid integer."]}``; a nested schema's own
    ``_schema`` errors are reported under the nested field's path. Clients get one level
    to read, and the OpenAPI document can say exactly what ``errors`` holds.
    """
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = str(key)
            path = prefix if name == "_schema" and prefix else f"{prefix}.{name}" if prefix else name
            for field, found in flat_errors(value, path).items():
                flat.setdefault(field, []).extend(found)
        return flat
    items = messages if isinstance(messages, list | tuple) else [messages]
    texts: list[str] = []
    nested: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, Mapping):
            for field, found in flat_errors(item, prefix).items():
                nested.setdefault(field, []).extend(found)
        else:
            texts.append(str(item))
    if texts:
        nested.setdefault(prefix or "_schema", []).extend(texts)
    return nested


class QueryInteger(fields.Integer):
    """A non-negative integer from a query string: ASCII digits only (``١٢``, ``+3`` and ``1e3``
    are refused, although Python's ``int()`` takes the first two), without a leading zero
    (``01``, ``007``: the rule of path ids, so a number has one spelling in every URL), at most
    2**63-1.

    ``validate`` narrows the range further (``limit`` is 1-100); the OpenAPI document shows it.
    """

    default_error_messages = {
        "invalid": "Not a valid integer (ASCII digits, no leading zero, at most 2^63-1)."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            text = value
            digits = text.isascii() and text.isdigit() and len(text) <= 19
            if not digits or (len(text) > 1 and text[0] == "0"):
                raise self.make_error("invalid")
            value = int(text)
        if not isinstance(value, int) or not 0 <= value <= MAX_ID:
            raise self.make_error("invalid")
        return value


class QueryId(QueryInteger):
    """A positive id from a query string: ASCII digits without a leading zero, 1 to 2**63-1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: they make text display in another order than it reads."""


def clean_text(text: str) -> str:
    """``text`` made into what :class:`CleanText` accepts, for a name taken from elsewhere (an
    email's subject becoming a ticket's name): NFC-normalised, control characters as spaces,
    bidi controls dropped, runs of whitespace as one space, none at either end."""
    text = unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))
    kept = (" " if unicodedata.category(ch) == "Cc" else ch for ch in text if ch not in BIDI_CONTROLS)
    return " ".join("".join(kept).split())


class CleanText(fields.String):
    """Text a person reads as a name: NFC-normalised, trimmed, without control or bidi-override
    characters.

    ``"Cafe\u0301"`` and ``"Café"`` are one name once normalised (so uniqueness and search
    treat them alike); spaces at either end are dropped, so a name of spaces alone is empty
    (and a required name's length check refuses it); control characters (line breaks, escapes,
    NUL) and the embedding, override and isolate characters (U+202A-U+202E, U+2066-U+2069) are
    refused, since they let a name display as something else in a list, a log or an email
    subject. Length validators see the normalised text.
    """

    default_error_messages = {
        "control": "Must not contain control characters.",
        "bidi": "Must not contain bidirectional override characters (U+202A-U+202E, U+2066-U+2069).",
        "unicode": "Must be valid Unicode text.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("unicode") from None
        text = unicodedata.normalize("NFC", text).strip(" ")
        if any(ch in BIDI_CONTROLS for ch in text):
            raise self.make_error("bidi")
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise self.make_error("control")
        return text


class CleanEmail(CleanText):
    """An email address held to :class:`CleanText`'s rules, then to marshmallow's address check."""

    def __init__(self, **kwargs: Any) -> None:
        checks = kwargs.pop("validate", None)
        extra = [] if checks is None else list(checks) if isinstance(checks, list | tuple) else [checks]
        super().__init__(validate=[validate.Email(), *extra], **kwargs)


def require_id(value: Any, name: str) -> int:
    """An id argument of an RPC: an integer from 1 to 2**63-1 (no booleans, no text), else a 422.

    Any broker client may call a service, so positional arguments are input like a body.
    """
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise ValidationFailed(errors={name: [f"must be an id from 1 to {MAX_ID}"]})
    return value
