"""Search: a validated search request turned into typed conditions the store can put in SQL.

The contract (``TicketSearchSchema``) checks the shape of a request; this module checks its
values against each field's kind, so the store receives only integers, aware datetimes, text
and priority ranks. A search is an OR of groups, each an AND of conditions, applied on top of
the one access rule like every list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.errors import ValidationFailed
from services.chassis.schema import MAX_ID
from services.chassis.words import search_terms
from services.tickets import contract
from services.tickets.domain.ticket import PRIORITY_RANK

_ORDERED = ("LT", "LTE", "GT", "GTE")


@dataclass(frozen=True)
class Condition:
    """``field operator values``; ``values`` is empty for HAS_PROPERTY / NOT_HAS_PROPERTY.

    For ``priority`` the values are ranks (0 = low .. 3 = urgent), so comparisons follow the
    natural order; for ``CONTAINS_TOKEN`` the value is the token without wildcards.
    """

    field: str
    operator: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SearchSpec:
    """Tickets matching any group (all conditions of a group) and, if given, the free-text query:
    its ``terms`` (:func:`services.chassis.words.search_terms`) all in the ticket's name or
    description, or the ticket among ``message_ids`` (its conversation matches; set by the service)."""

    groups: tuple[tuple[Condition, ...], ...] = ()
    query: str | None = None
    terms: tuple[str, ...] = ()
    message_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.query and not self.terms:  # the terms always follow the text
            object.__setattr__(self, "terms", search_terms(self.query))

    @property
    def has_text(self) -> bool:
        """Whether it matches text inside values (``query`` or ``CONTAINS_TOKEN``)."""
        return bool(self.query) or any(c.operator == "CONTAINS_TOKEN" for group in self.groups for c in group)

    @property
    def total_cap(self) -> int:
        """Where counting its total stops: ``contract.SEARCH_TOTAL_CAP`` when it matches text, as a
        list's ``q`` does (a substring matches anywhere, so counting a common word's thousand
        matches read a hundred thousand tickets for an owned-only agent at a million: 36 ms at
        p50 against 14 for the list), else ``contract.TOTAL_CAP``."""
        return contract.SEARCH_TOTAL_CAP if self.has_text else contract.TOTAL_CAP


class _Bad(ValueError):
    pass


def _id(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise _Bad(f"must be an id from 1 to {MAX_ID}")
    return value


def _time(value: Any) -> dt.datetime:
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(dt.UTC)
    raise _Bad("must be an ISO 8601 date-time with a UTC offset")


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500:
        raise _Bad("must be text of at most 500 characters")
    return value


def _priority(value: Any) -> int:
    if value not in PRIORITY_RANK:
        raise _Bad(f"must be one of {', '.join(contract.PRIORITIES)}")
    return PRIORITY_RANK[value]


_KINDS = {"id": _id, "time": _time, "text": _text, "priority": _priority}


def _condition(raw: Mapping[str, Any]) -> Condition:
    field, operator = raw["field"], raw["operator"]
    kind = contract.SEARCH_FIELDS[field]
    if operator == "CONTAINS_TOKEN":
        if kind != "text":
            raise _Bad(f"CONTAINS_TOKEN applies to text fields, not {field}")
        token = _text(raw["value"]).replace("*", "").strip()
        if not token:
            raise _Bad("the token is empty")
        return Condition(field, operator, (token,))
    if operator in _ORDERED and kind == "text":
        raise _Bad(f"{operator} does not apply to text fields such as {field}")
    given = raw.get("values", [raw["value"]] if "value" in raw else [])
    return Condition(field, operator, tuple(_KINDS[kind](v) for v in given))


def parse_search(query: Mapping[str, Any]) -> SearchSpec:
    """The spec of a query loaded with ``contract.TicketSearchSchema``; 422 naming each bad filter."""
    errors: dict[str, list[str]] = {}
    groups = []
    for g, group in enumerate(query.get("filter_groups") or ()):
        conditions = []
        for f, raw in enumerate(group["filters"]):
            try:
                conditions.append(_condition(raw))
            except _Bad as exc:
                errors[f"filter_groups.{g}.filters.{f}"] = [str(exc)]
        groups.append(tuple(conditions))
    if errors:
        raise ValidationFailed(errors=errors)
    text = (query.get("query") or "").strip()
    return SearchSpec(tuple(groups), text or None)
