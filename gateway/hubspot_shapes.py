"""HubSpot's ticket shapes and property names, translated to and from the tickets contract.

The HubSpot-compatible routes (:mod:`gateway.routes.hubspot`) are an adapter: they take
HubSpot's request bodies apart with the schemas here, turn HubSpot property names and values
into the tickets service's fields (:func:`to_fields`, :func:`search_query`), call the same RPCs
as our own API, and dress the answers in HubSpot's shapes (:func:`to_object`): ids as
strings, every property value a string or null, ``createdAt``/``updatedAt``/``archived``.

Property names (HubSpot -> ours): ``subject`` name, ``content`` description, ``hs_pipeline``
pipeline_id, ``hs_pipeline_stage`` status, ``hs_ticket_priority`` priority (LOW, MEDIUM,
HIGH, URGENT), ``hs_ticket_category`` category, ``hubspot_owner_id`` owner_id,
``source_type`` source (EMAIL, CHAT, FORM, API); read-only: ``hs_object_id`` id,
``createdate`` created_at, ``hs_lastmodifieddate`` updated_at, ``closed_date`` closed_at,
``hs_merged_object_ids`` merged_ticket_ids (``;``-separated).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from services.chassis.errors import ValidationFailed
from services.tickets import contract as tickets_contract

WRITABLE = {
    "subject": "name",
    "content": "description",
    "hs_pipeline": "pipeline_id",
    "hs_pipeline_stage": "status",
    "hs_ticket_priority": "priority",
    "hs_ticket_category": "category",
    "hubspot_owner_id": "owner_id",
    "source_type": "source",
}
READ_ONLY = {
    "hs_object_id": "id",
    "createdate": "created_at",
    "hs_lastmodifieddate": "updated_at",
    "closed_date": "closed_at",
    "hs_merged_object_ids": "merged_ticket_ids",
}
PROPERTIES = {**WRITABLE, **READ_ONLY}
DEFAULT_PROPERTIES = (
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_category",
    "hs_ticket_priority",
    "subject",
    "content",
)
"""What HubSpot answers when a request names no ``properties``."""

_IDS = ("pipeline_id", "status", "owner_id", "id")
_TIMES = ("created_at", "updated_at", "closed_at")
_UPPER = ("priority", "source")
_NULLABLE = ("category", "owner_id")
_SORTABLE = {
    "createdate": "created_at",
    "hs_lastmodifieddate": "updated_at",
    "hs_ticket_priority": "priority",
    "subject": "name",
    "hs_object_id": "id",
}

ASSOCIATION_TYPES = {"contacts": 16, "companies": 339, "deals": 28}
"""HubSpot's default (HUBSPOT_DEFINED) association type ids from tickets to each kind."""
KIND_OF_TYPE = {16: "contacts", 339: "companies", 26: "companies", 28: "deals"}
TYPE_LABELS = {"contacts": "ticket_to_contact", "companies": "ticket_to_company", "deals": "ticket_to_deal"}
OBJECT_TYPES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
}
"""The names HubSpot accepts for an object type in a path, to our association kinds."""


# -- errors ----------------------------------------------------------------------------------------


def invalid(problems: Mapping[str, tuple[str, str]]) -> ValidationFailed:
    """A 422 whose ``errors`` name each field, and whose ``codes`` carry HubSpot's error codes."""
    return ValidationFailed(
        "Property values were not valid",
        errors={name: [message] for name, (_code, message) in problems.items()},
        codes={name: code for name, (code, _message) in problems.items()},
    )


# -- values ----------------------------------------------------------------------------------------


def hubspot_time(value: str | None) -> str | None:
    """Our ISO 8601 moment as HubSpot writes one (UTC, milliseconds, ``Z``)."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _our_time(value: Any) -> str:
    """A HubSpot date filter value (epoch milliseconds, a date, or ISO 8601) as ISO 8601 with offset."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).isoformat()
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def _our_value(field: str, value: Any) -> Any:
    """A HubSpot property value (a string, mostly) as the tickets contract's value for ``field``."""
    if value is None or value == "":
        if field in _NULLABLE:
            return None
        if field == "description":
            return ""
        raise ValueError("a value is required")
    if field in _IDS:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            raise ValueError(f"{value!r} is not a valid id")
        return int(text)
    if field in _TIMES:
        return _our_time(value)
    if field in _UPPER:
        return str(value).strip().lower()
    return str(value)


def _hubspot_value(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if field in _TIMES:
        return hubspot_time(value)
    if field in _UPPER:
        return str(value).upper()
    if field == "merged_ticket_ids":
        return ";".join(str(i) for i in value) or None
    return str(value)


def to_fields(properties: Mapping[str, Any]) -> dict[str, Any]:
    """HubSpot ``properties`` of a create or update as tickets contract fields; 400 on any bad one."""
    data: dict[str, Any] = {}
    problems: dict[str, tuple[str, str]] = {}
    for name, value in properties.items():
        key = f"properties.{name}"
        if name in READ_ONLY:
            problems[key] = ("READ_ONLY_VALUE", f'Property "{name}" is read-only')
        elif name not in WRITABLE:
            problems[key] = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        else:
            try:
                data[WRITABLE[name]] = _our_value(WRITABLE[name], value)
            except ValueError as exc:
                problems[key] = ("INVALID_OPTION", f'Property "{name}": {exc}')
    if problems:
        raise invalid(problems)
    return data


def wanted_properties(names: Iterable[str] | None) -> tuple[str, ...]:
    """The properties to answer with: those named (HubSpot ignores unknown ones), else the defaults."""
    picked = []
    for name in names or ():
        for part in str(name).split(","):
            if part.strip() in PROPERTIES and part.strip() not in picked:
                picked.append(part.strip())
    return tuple(picked) or DEFAULT_PROPERTIES


def written_properties(given: Iterable[str]) -> tuple[str, ...]:
    """What a create or update answers with: HubSpot's defaults and every property that was set."""
    return tuple(dict.fromkeys([*DEFAULT_PROPERTIES, *(name for name in given if name in PROPERTIES)]))


def to_object(
    ticket: Mapping[str, Any], properties: Iterable[str], associations: Iterable[str] = ()
) -> dict[str, Any]:
    """A ticket of the tickets contract as HubSpot's SimplePublicObject (``associations`` on request)."""
    shown = {name: _hubspot_value(PROPERTIES[name], ticket.get(PROPERTIES[name])) for name in properties}
    found: dict[str, Any] = {
        "id": str(ticket["id"]),
        "properties": shown,
        "createdAt": hubspot_time(ticket["created_at"]),
        "updatedAt": hubspot_time(ticket["updated_at"]),
        "archived": False,
    }
    kinds = [OBJECT_TYPES[k] for k in associations if k in OBJECT_TYPES]
    if kinds:
        found["associations"] = {
            kind: {
                "results": [
                    {"id": str(ref), "type": TYPE_LABELS[kind]} for ref in ticket["associations"][kind]
                ]
            }
            for kind in kinds
            if ticket["associations"][kind]
        }
    return found


def associations_of(specs: Iterable[Mapping[str, Any]]) -> dict[str, list[int]]:
    """HubSpot's ``associations`` of a create (``to`` + ``types``) as the contract's associations."""
    found: dict[str, list[int]] = {kind: [] for kind in tickets_contract.ASSOCIATION_KINDS}
    problems: dict[str, tuple[str, str]] = {}
    for i, spec in enumerate(specs):
        try:
            ref_id = _our_value("id", (spec.get("to") or {}).get("id"))
            types = [t.get("associationTypeId") for t in spec.get("types") or ()]
            kinds = {KIND_OF_TYPE[t] for t in types if t in KIND_OF_TYPE}
            if len(kinds) != 1 or len(kinds) != len({KIND_OF_TYPE.get(t) for t in types}):
                raise ValueError(f"association types {types} are not one of {sorted(KIND_OF_TYPE)}")
        except (ValueError, AttributeError) as exc:
            problems[f"associations.{i}"] = ("INVALID_ASSOCIATION", str(exc))
            continue
        found[kinds.pop()].append(ref_id)
    if problems:
        raise invalid(problems)
    return found


# -- search ----------------------------------------------------------------------------------------


def _filter(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    name, operator = raw.get("propertyName"), raw.get("operator")
    if name not in PROPERTIES or name == "hs_merged_object_ids":
        raise ValueError(f'Property "{name}" cannot be searched')
    field = PROPERTIES[name]
    if operator == "BETWEEN":
        low, high = _our_value(field, raw.get("value")), _our_value(field, raw.get("highValue"))
        return [
            {"field": field, "operator": "GTE", "value": low},
            {"field": field, "operator": "LTE", "value": high},
        ]
    if operator not in tickets_contract.SEARCH_OPERATORS:
        raise ValueError(f"operator {operator!r} is not supported")
    found: dict[str, Any] = {"field": field, "operator": operator}
    if operator in ("IN", "NOT_IN"):
        found["values"] = [_our_value(field, v) for v in raw.get("values") or ()]
    elif operator == "CONTAINS_TOKEN":
        found["value"] = str(raw.get("value") or "")
    elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        found["value"] = _our_value(field, raw.get("value"))
    return [found]


def _sort(sorts: list[Any]) -> str:
    if not sorts:
        return "id"
    if len(sorts) > 1:
        raise ValueError("only one sort is supported")
    sort = sorts[0]
    if isinstance(sort, Mapping):
        name, descending = sort.get("propertyName"), sort.get("direction") == "DESCENDING"
    else:
        name, descending = str(sort).removeprefix("-"), str(sort).startswith("-")
    if name not in _SORTABLE:
        raise ValueError(f"cannot sort by {name!r}; sortable: {', '.join(_SORTABLE)}")
    return ("-" if descending else "") + _SORTABLE[name]


def search_query(body: Mapping[str, Any]) -> dict[str, Any]:
    """A loaded HubSpot search request as the query of the tickets ``search_tickets`` RPC."""
    problems: dict[str, tuple[str, str]] = {}
    groups = []
    for g, group in enumerate(body.get("filterGroups") or ()):
        filters: list[dict[str, Any]] = []
        for f, raw in enumerate(group.get("filters") or ()):
            try:
                filters += _filter(raw)
            except (ValueError, TypeError) as exc:
                problems[f"filterGroups.{g}.filters.{f}"] = ("INVALID_FILTER", str(exc))
        if filters:
            groups.append({"filters": filters})
    try:
        sort = _sort(list(body.get("sorts") or ()))
    except ValueError as exc:
        problems["sorts"] = ("INVALID_SORT", str(exc))
        sort = "id"
    if problems:
        raise invalid(problems)
    query: dict[str, Any] = {"filter_groups": groups, "sort": sort}
    if body.get("query"):
        query["query"] = body["query"]
    return query


def cursor_of(after: Any) -> str | None:
    """HubSpot's ``after`` as our cursor (``0`` and empty mean the first page)."""
    if after in (None, "", "0", 0):
        return None
    return str(after)


# -- schemas (validation and the OpenAPI document) -------------------------------------------------


class _Lenient(Schema):
    """HubSpot ignores fields it does not use; so do these bodies (properties are checked strictly)."""

    class Meta:
        unknown = EXCLUDE


class HubSpotAssociationTypeSchema(_Lenient):
    associationCategory = fields.String()
    associationTypeId = fields.Integer()


class HubSpotAssociationInputSchema(_Lenient):
    to = fields.Dict(required=True)
    types = fields.List(fields.Nested(HubSpotAssociationTypeSchema), load_default=list)


class HubSpotCreateSchema(_Lenient):
    """``SimplePublicObjectInputForCreate``."""

    properties = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)
    associations = fields.List(fields.Nested(HubSpotAssociationInputSchema), load_default=list)


class HubSpotUpdateSchema(_Lenient):
    """``SimplePublicObjectInput``."""

    properties = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)


class HubSpotObjectSchema(Schema):
    """``SimplePublicObject``: ids as strings, property values as strings or null."""

    id = fields.String()
    properties = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    createdAt = fields.String()
    updatedAt = fields.String()
    archived = fields.Boolean()
    associations = fields.Dict()


class HubSpotNextSchema(Schema):
    after = fields.String()
    link = fields.String()


class HubSpotPagingSchema(Schema):
    next = fields.Nested(HubSpotNextSchema)


class HubSpotPageSchema(Schema):
    """``CollectionResponse...ForwardPaging``; ``paging`` is absent on the last page."""

    results = fields.List(fields.Nested(HubSpotObjectSchema))
    paging = fields.Nested(HubSpotPagingSchema)


class HubSpotSearchPageSchema(HubSpotPageSchema):
    total = fields.Integer()


class HubSpotListQuerySchema(_Lenient):
    """Query of ``GET /crm/v3/objects/tickets``: HubSpot's page size is 10 by default, at most 100."""

    limit = fields.Integer(validate=validate.Range(1, 100), load_default=10)
    after = fields.String()
    properties = fields.String()
    associations = fields.String()
    archived = fields.Boolean()


class HubSpotReadQuerySchema(_Lenient):
    properties = fields.String()
    associations = fields.String()
    archived = fields.Boolean()
    idProperty = fields.String()


class HubSpotFilterSchema(_Lenient):
    propertyName = fields.String(required=True)
    operator = fields.String(required=True)
    value = fields.Raw(allow_none=True)
    highValue = fields.Raw(allow_none=True)
    values = fields.List(fields.Raw())


class HubSpotFilterGroupSchema(_Lenient):
    filters = fields.List(fields.Nested(HubSpotFilterSchema), load_default=list)


class HubSpotSearchSchema(_Lenient):
    """``PublicObjectSearchRequest``: at most 200 results a page, as HubSpot allows."""

    filterGroups = fields.List(fields.Nested(HubSpotFilterGroupSchema), load_default=list)
    sorts = fields.List(fields.Raw(), load_default=list)
    query = fields.String(allow_none=True)
    properties = fields.List(fields.String(), load_default=list)
    limit = fields.Integer(validate=validate.Range(1, 200), load_default=10)
    after = fields.Raw(allow_none=True)


class HubSpotIdSchema(_Lenient):
    id = fields.Raw(required=True)


class HubSpotBatchReadSchema(_Lenient):
    inputs = fields.List(fields.Nested(HubSpotIdSchema), required=True, validate=validate.Length(max=100))
    properties = fields.List(fields.String(), load_default=list)
    idProperty = fields.String(allow_none=True)


class HubSpotBatchCreateSchema(_Lenient):
    inputs = fields.List(fields.Nested(HubSpotCreateSchema), required=True, validate=validate.Length(max=100))


class HubSpotBatchUpdateItemSchema(HubSpotUpdateSchema):
    id = fields.Raw(required=True)


class HubSpotBatchUpdateSchema(_Lenient):
    inputs = fields.List(
        fields.Nested(HubSpotBatchUpdateItemSchema), required=True, validate=validate.Length(max=100)
    )


class HubSpotBatchArchiveSchema(_Lenient):
    inputs = fields.List(fields.Nested(HubSpotIdSchema), required=True, validate=validate.Length(max=100))


class HubSpotStandardErrorSchema(Schema):
    status = fields.String()
    category = fields.String()
    message = fields.String()
    context = fields.Dict()
    errors = fields.List(fields.Dict())
    links = fields.Dict()


class HubSpotBatchResultSchema(Schema):
    """``BatchResponseSimplePublicObject`` (200/201), with ``errors`` and ``numErrors`` when 207."""

    status = fields.String()
    results = fields.List(fields.Nested(HubSpotObjectSchema))
    startedAt = fields.String()
    completedAt = fields.String()
    numErrors = fields.Integer()
    errors = fields.List(fields.Nested(HubSpotStandardErrorSchema))


class HubSpotMergeSchema(_Lenient):
    """``PublicMergeInput``: the survivor keeps ``primaryObjectId``."""

    primaryObjectId = fields.Raw(required=True)
    objectIdToMerge = fields.Raw(required=True)


class HubSpotStageSchema(Schema):
    id = fields.String()
    label = fields.String()
    displayOrder = fields.Integer()
    metadata = fields.Dict()
    archived = fields.Boolean()
    createdAt = fields.String()
    updatedAt = fields.String()
    writePermissions = fields.String()


class HubSpotPipelineSchema(Schema):
    id = fields.String()
    label = fields.String()
    displayOrder = fields.Integer()
    stages = fields.List(fields.Nested(HubSpotStageSchema))
    archived = fields.Boolean()
    createdAt = fields.String()
    updatedAt = fields.String()


class HubSpotPipelinesSchema(Schema):
    results = fields.List(fields.Nested(HubSpotPipelineSchema))


class HubSpotDefaultAssociationSchema(Schema):
    status = fields.String()
    results = fields.List(fields.Dict())
    startedAt = fields.String()
    completedAt = fields.String()


class HubSpotErrorSchema(Schema):
    """HubSpot's error body."""

    status = fields.String(required=True)
    message = fields.String(required=True)
    correlationId = fields.String(required=True)
    category = fields.String(required=True)
    errors = fields.List(fields.Dict())
    context = fields.Dict()
