"""The one paging convention: ``?limit=&cursor=`` in, ``{items, next_cursor, total}`` out.

Every list of every service pages by keyset: a page ends with a cursor naming the
sort it belongs to and the last row's sort key and id, and the next page starts
strictly after that row. Cursors are opaque to clients: URL-safe base64 (no
padding) of a small JSON document, so they survive a query string without
escaping, though clients should URL-encode them anyway (API.md).

* :class:`PageQuery` - ``limit`` (1-100, default 25; outside that range a 422,
  never clamped) and ``cursor``; list query schemas extend it.
* :class:`Sort` - ``"-updated_at"`` parsed against the keys a list allows.
* :func:`keyset_cursor` / :func:`read_keyset` - a cursor for a row under a sort, and
  back; a cursor made for another sort or by another list, or anything else, is a 422 on
  ``cursor``.
* :class:`PageBody` - ``limit`` and ``cursor`` of a list asked for in a JSON body (a search):
  there ``limit`` is a JSON integer, never the text ``"1"``.
* :func:`page_schema` - the response schema of a page of some item schema.
* :func:`page` - the response body from rows fetched with ``limit + 1``.

A cursor names the list that issued it (``scope``: a short name, e.g. the table a list pages
through, see :func:`services.chassis.keyset.keyset_page`), so a cursor of ``/users`` handed to
``/teams`` is refused instead of being read as a position in a list it never belonged to. A list
without a scope issues cursors without one and accepts only those; a list with one refuses
cursors without it (also ones issued before lists named themselves: the client starts again at
the first page).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import Schema, fields, validate

from services.chassis.clock import aware
from services.chassis.errors import ValidationFailed
from services.chassis.schema import MAX_ID, Input, QueryInteger, StrictInteger

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 1024

T = TypeVar("T")


def _bad_cursor(why: str = "is not a cursor this list issued") -> ValidationFailed:
    return ValidationFailed(errors={"cursor": [why]})


def encode_cursor(value: Any) -> str:
    """An opaque, URL-safe cursor holding the JSON value ``value``."""
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True, default=_json_default)
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> Any:
    """The JSON value inside a cursor made by :func:`encode_cursor`; 422 on anything else.

    Cursors issued before this convention (standard base64 with ``+/=``) decode too.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_LENGTH:
        raise _bad_cursor()
    try:
        padded = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
        raw = base64.urlsafe_b64decode(padded + "=" * (-len(padded) % 4))
        return json.loads(raw)
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return aware(value).isoformat()
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


@dataclass(frozen=True)
class Sort:
    """A list's order: one key, then ``id`` in the same direction."""

    key: str
    descending: bool

    @classmethod
    def parse(cls, text: str | None, allowed: Collection[str], default: str) -> Sort:
        """``"-updated_at"`` -> ``Sort("updated_at", True)``; a key not in ``allowed`` is a 422."""
        text = text or default
        key = text.removeprefix("-")
        if key not in allowed:
            raise ValidationFailed(errors={"sort": [f"must be one of {', '.join(sort_options(allowed))}"]})
        return cls(key, text.startswith("-"))

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else self.key


def sort_options(keys: Collection[str]) -> tuple[str, ...]:
    """Every accepted ``sort`` value for ``keys``: each key, ascending and descending."""
    return (*keys, *(f"-{key}" for key in keys))


KEY_KINDS: dict[str, type] = {"datetime": dt.datetime, "int": int, "str": str}


def keyset_cursor(sort: Sort | str, key: Any, last_id: int, *, scope: str | None = None) -> str:
    """The cursor resuming ``sort`` after the row whose sort value is ``key`` and id ``last_id``,
    naming the list ``scope`` that issues it (see the module docstring)."""
    value: dict[str, Any] = {"s": str(sort), "k": key, "i": last_id}
    if scope is not None:
        value["l"] = scope
    return encode_cursor(value)


def read_keyset(text: str, sort: Sort | str, kind: type, *, scope: str | None = None) -> tuple[Any, int]:
    """``(key, id)`` of a cursor made by :func:`keyset_cursor` for ``sort`` by the list ``scope``;
    422 for anything else.

    ``kind`` is the type of the sort key (``datetime``, ``int`` or ``str``); the key is
    checked against it, so a forged cursor cannot put another type into a query.
    """
    data = decode_cursor(text)
    if not isinstance(data, dict) or set(data) - {"l"} != {"s", "k", "i"}:
        raise _bad_cursor()
    if data.get("l") != scope:
        raise _bad_cursor("was issued by another list")
    if data["s"] != str(sort):
        raise _bad_cursor(f"belongs to sort={data['s']}, not sort={sort}")
    last_id, key = data["i"], data["k"]
    if type(last_id) is not int or not 0 <= last_id <= MAX_ID:
        raise _bad_cursor()
    if kind is dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(key) if isinstance(key, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _bad_cursor()
        return moment.astimezone(dt.UTC), last_id
    if type(key) is not kind:
        raise _bad_cursor()
    if isinstance(key, int) and not -MAX_ID - 1 <= key <= MAX_ID:
        raise _bad_cursor()
    return key, last_id


class PageQuery(Input):
    """``limit`` and ``cursor`` of every list; values may arrive as query-string text."""

    limit = QueryInteger(validate=validate.Range(1, MAX_LIMIT), load_default=DEFAULT_LIMIT)
    cursor = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH)
    )


class PageBody(Input):
    """``limit`` and ``cursor`` of a list asked for in a JSON body (a search): the same rules as
    :class:`PageQuery`, but ``limit`` is a JSON integer (``"1"``, ``1.0`` and ``true`` are refused),
    as every number of a body is (:class:`~services.chassis.schema.StrictInteger`)."""

    limit = StrictInteger(validate=validate.Range(1, MAX_LIMIT), load_default=DEFAULT_LIMIT)
    cursor = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH)
    )


_PAGE_SCHEMAS: dict[type[Schema], type[Schema]] = {}


def page_schema(item: type[Schema], name: str | None = None) -> type[Schema]:
    """The schema of ``{"items": [item...], "next_cursor": str | null, "total": int}``.

    One class per item schema (so the OpenAPI document names it once), called
    ``<Item>PageSchema`` unless ``name`` says otherwise.
    """
    found = _PAGE_SCHEMAS.get(item)
    if found is None:
        schema_name = name or item.__name__.removesuffix("Schema") + "PageSchema"
        found = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(item), required=True),
                "next_cursor": fields.String(allow_none=True, required=True),
                "total": fields.Integer(required=True),
            },
            name=schema_name,
        )
        found.__doc__ = f"One page of {item.__name__.removesuffix('Schema')} items."
        _PAGE_SCHEMAS[item] = found
    return found


def page(
    rows: Sequence[T],
    limit: int,
    total: int,
    item: Callable[[T], Any],
    cursor_of: Callable[[T], str],
) -> dict[str, Any]:
    """The page body for ``rows`` fetched with ``limit + 1`` (the extra row only says there is more)."""
    more, shown = len(rows) > limit, list(rows[:limit])
    return {
        "items": [item(row) for row in shown],
        "next_cursor": cursor_of(shown[-1]) if more and shown else None,
        "total": int(total),
    }
