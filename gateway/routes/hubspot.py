"""HubSpot-compatible tickets API: HubSpot's paths and shapes over our own services.

Scripts and integrations written against HubSpot's CRM tickets API (and HubSpot's SDKs)
work by changing only the host. Every route here is an adapter: it translates HubSpot's
request into the tickets contract (:mod:`gateway.hubspot_shapes`), calls the same RPCs as
``/api/v1`` (so the access rule, idempotency keys, the timeline and the events are the same),
and answers in HubSpot's shapes. Errors under these paths take HubSpot's error body
(``status``, ``message``, ``correlationId``, ``category``) instead of problem+json, and a
validation failure is a 400 as at HubSpot.

Reading a ticket here does not mark it read: an integration is not a person opening it.
Merging and archiving call the tickets RPCs ``merge_tickets`` and ``delete_ticket``; while
the tickets service has no such RPC they answer 501.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import Schema
from nameko.exceptions import MethodNotFound
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from gateway import hubspot_shapes as hs
from gateway.http import Route, action_body, empty_response, idempotency_key, json_object, read_json
from services.chassis.errors import HelpdeskError, Moved, NotFound, ValidationFailed
from services.chassis.rpc import ServiceRpc
from services.chassis.schema import load
from services.tickets import contract as tickets_contract

log = logging.getLogger(__name__)

CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
    412: "CONFLICT",
    413: "VALIDATION_ERROR",
    415: "VALIDATION_ERROR",
    429: "RATE_LIMITS",
    501: "NOT_IMPLEMENTED",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}
_FIELD_PROPERTY = {ours: theirs for theirs, ours in hs.PROPERTIES.items()}
MAX_PAGE = 100


class NotImplementedYet(HelpdeskError):
    """The tickets service has no RPC for this yet."""

    status = 501
    title = "Not implemented"


def _error_details(exc: ValidationFailed) -> list[dict[str, Any]]:
    codes = exc.extra.get("codes") or {}
    details = []
    for key, messages in exc.errors.items():
        name = key.removeprefix("properties.")
        name = _FIELD_PROPERTY.get(name, name)
        for message in messages if isinstance(messages, list) else [messages]:
            details.append(
                {
                    "message": message if isinstance(message, str) else json.dumps(message),
                    "code": codes.get(key, "INVALID_PROPERTY_VALUE"),
                    "context": {"propertyName": [name]},
                }
            )
    return details


def hubspot_error(status: int, message: str, **extra: Any) -> Response:
    """HubSpot's error body for ``status``."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": CATEGORIES.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"),
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="helpdesk"'} if status == 401 else {}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def hubspot_response_for(exc: BaseException) -> Response:
    """Any exception as HubSpot's error body; our 422 is HubSpot's 400, only a fault is a 500."""
    if isinstance(exc, ValidationFailed):
        return hubspot_error(400, exc.detail, errors=_error_details(exc))
    if isinstance(exc, HelpdeskError):
        return hubspot_error(exc.status, exc.detail)
    if isinstance(exc, MethodNotFound):
        return hubspot_error(501, f"This help desk cannot do that yet ({exc}).")
    if isinstance(exc, HTTPException):
        return hubspot_error(exc.code or 500, exc.description or exc.name)
    log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return hubspot_error(500, "An unexpected error occurred; it has been logged.")


class HubSpotRoute(Route):
    """A :class:`~gateway.http.Route` whose errors take HubSpot's body instead of problem+json.

    A write without a body schema reads what it takes itself (the v4 association PUT accepts any
    JSON body): HubSpot's clients keep HubSpot's conventions, not this API's rule for actions."""

    bodyless_writes_are_actions = False
    error_schema = hs.HubSpotErrorSchema
    error_media_type = "application/json"

    def response_from_exception(self, exc: Exception, request_id: str = "") -> Response:
        return hubspot_response_for(exc)


hubspot_route = HubSpotRoute.decorator


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _body(request: Request, schema: type[Schema]) -> dict[str, Any]:
    return load(schema(), json_object(request))


def _listed(request: Request, name: str) -> list[str]:
    """A query parameter that HubSpot clients send repeated or comma-separated."""
    return [part for value in request.args.getlist(name) for part in value.split(",") if part.strip()]


def _ticket_id(value: Any) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < len(text) <= 18:
        raise NotFound(f"ticket {value!r} does not exist")
    return int(text)


def _batch_inputs(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every input of a batch create in our terms; a malformed one fails the whole batch (400), as
    at HubSpot, before anything is created (only what the services refuse is reported per item)."""
    datas, problems = [], {}
    for index, item in enumerate(inputs):
        try:
            datas.append(
                {**hs.to_fields(item["properties"]), "associations": hs.associations_of(item["associations"])}
            )
        except ValidationFailed as exc:
            problems.update({f"inputs.{index}.{field}": messages for field, messages in exc.errors.items()})
    if problems:
        raise ValidationFailed("Some inputs of the batch are not valid.", errors=problems)
    return datas


def _per_item(exc: HelpdeskError) -> None:
    """Re-raise what concerns the whole batch (no access at all, outages); the rest is one item's."""
    if exc.status in (401, 403, 429) or exc.status >= 500:
        raise exc


def _standard_error(status: int, message: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": CATEGORIES.get(status, "VALIDATION_ERROR"),
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, ok: int) -> Response:
    """A batch answer: ``ok`` when everything worked, 207 with ``errors`` otherwise."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": _now(),
    }
    if errors:
        body.update(numErrors=len(errors), errors=errors)
        return _json(body, 207)
    return _json(body, ok)


def _stage(stage: dict[str, Any], position: int) -> dict[str, Any]:
    closed = stage["state"] == "CLOSED"
    return {
        "id": str(stage["id"]),
        "label": stage["label"],
        "displayOrder": position,
        "metadata": {"ticketState": stage["state"], "isClosed": "true" if closed else "false"},
        "archived": False,
        "createdAt": "1970-01-01T00:00:00.000Z",
        "updatedAt": "1970-01-01T00:00:00.000Z",
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


class HubSpotRoutes:
    """``/crm/v3/objects/tickets...``, ``/crm/v3/pipelines/tickets`` and v4 default associations."""

    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)

    # helpers --------------------------------------------------------------------------------------
    def _read(self, ticket_id: int) -> dict[str, Any]:
        """The ticket (not marked read); a merged-away id reads as its survivor, as at HubSpot."""
        try:
            ticket: dict[str, Any] = self.tickets.get_ticket(ticket_id, mark_read=False)
        except Moved as exc:
            target = exc.extra.get("location_id") or str(exc.extra.get("location", "")).rsplit("/", 1)[-1]
            ticket = self.tickets.get_ticket(_ticket_id(target), mark_read=False)
        if ticket.get("merged_into"):
            ticket = self.tickets.get_ticket(int(ticket["merged_into"]), mark_read=False)
        return ticket

    def _rpc(self, name: str) -> Callable[..., Any]:
        """A tickets RPC that may not exist yet (``merge_tickets``, ``delete_ticket``): 501 until it does."""
        call = getattr(self.tickets, name)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except MethodNotFound:
                raise NotImplementedYet(f"The tickets service has no {name} RPC yet.") from None

        return guarded

    def _search(self, query: dict[str, Any], limit: int, cursor: str | None) -> dict[str, Any]:
        """Up to ``limit`` matches (HubSpot pages reach 200; ours 100, so two calls at most)."""
        page: dict[str, Any] = self.tickets.search_tickets(
            {**query, "limit": min(limit, MAX_PAGE), "cursor": cursor}
        )
        while len(page["items"]) < limit and page["next_cursor"]:
            more = self.tickets.search_tickets(
                {**query, "limit": min(limit - len(page["items"]), MAX_PAGE), "cursor": page["next_cursor"]}
            )
            page = {**more, "items": page["items"] + more["items"]}
        return page

    def _visible(self, ids: list[int]) -> list[dict[str, Any]]:
        """The tickets among ``ids`` the caller may see (the service applies the access rule even to none)."""
        if not ids:
            self.tickets.search_tickets({"limit": 1})
            return []
        flt = {"field": "id", "operator": "IN", "values": ids}
        found: list[dict[str, Any]] = self.tickets.search_tickets(
            {"limit": MAX_PAGE, "filter_groups": [{"filters": [flt]}]}
        )["items"]
        return found

    @staticmethod
    def _page(
        page: dict[str, Any], properties: Iterable[str], link: str, associations: Iterable[str] = ()
    ) -> dict[str, Any]:
        wanted, kinds = tuple(properties), tuple(associations)
        body: dict[str, Any] = {"results": [hs.to_object(t, wanted, kinds) for t in page["items"]]}
        if page["next_cursor"]:
            body["paging"] = {
                "next": {"after": page["next_cursor"], "link": f"{link}?after={page['next_cursor']}"}
            }
        return body

    # basic ----------------------------------------------------------------------------------------
    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets",
        summary="HubSpot: create a ticket from properties (and associations); accepts Idempotency-Key.",
        body=hs.HubSpotCreateSchema,
        returns=hs.HubSpotObjectSchema,
        status=201,
        idempotent=True,
        tag="hubspot",
    )
    def hubspot_create_ticket(self, request: Request) -> Response:
        body = _body(request, hs.HubSpotCreateSchema)
        data = {**hs.to_fields(body["properties"]), "associations": hs.associations_of(body["associations"])}
        ticket = self.tickets.create_ticket(data, idempotency_key=idempotency_key(request))
        return _json(hs.to_object(ticket, hs.written_properties(body["properties"])), 201)

    @hubspot_route(
        "GET",
        "/crm/v3/objects/tickets",
        summary="HubSpot: a page of tickets by id (limit 10 by default, after=, properties=).",
        query=hs.HubSpotListQuerySchema,
        returns=hs.HubSpotPageSchema,
        tag="hubspot",
    )
    def hubspot_list_tickets(self, request: Request) -> Response:
        query = load(hs.HubSpotListQuerySchema, request.args.to_dict())
        if query.get("archived"):
            return _json({"results": []})
        page = self.tickets.list_tickets(
            {"limit": query["limit"], "cursor": hs.cursor_of(query.get("after")), "sort": "id"}
        )
        properties = hs.wanted_properties(_listed(request, "properties"))
        return _json(self._page(page, properties, request.base_url, _listed(request, "associations")))

    @hubspot_route(
        "GET",
        "/crm/v3/objects/tickets/<int:ticket_id>",
        summary="HubSpot: a ticket (properties=, associations=); a merged-away id reads as its survivor.",
        query=hs.HubSpotReadQuerySchema,
        returns=hs.HubSpotObjectSchema,
        tag="hubspot",
    )
    def hubspot_get_ticket(self, request: Request, ticket_id: int) -> Response:
        if request.args.get("archived", "").lower() == "true":
            raise NotFound(f"ticket {ticket_id} is not archived")
        ticket = self._read(ticket_id)
        properties = hs.wanted_properties(_listed(request, "properties"))
        return _json(hs.to_object(ticket, properties, _listed(request, "associations")))

    @hubspot_route(
        "PATCH",
        "/crm/v3/objects/tickets/<int:ticket_id>",
        summary="HubSpot: change properties of a ticket.",
        body=hs.HubSpotUpdateSchema,
        returns=hs.HubSpotObjectSchema,
        errors=(409,),
        tag="hubspot",
    )
    def hubspot_update_ticket(self, request: Request, ticket_id: int) -> Response:
        body = _body(request, hs.HubSpotUpdateSchema)
        ticket = self.tickets.update_ticket(ticket_id, hs.to_fields(body["properties"]))
        return _json(hs.to_object(ticket, hs.written_properties(body["properties"])))

    @hubspot_route(
        "DELETE",
        "/crm/v3/objects/tickets/<int:ticket_id>",
        summary="HubSpot: archive a ticket (to the recycle bin; tickets RPC delete_ticket).",
        status=204,
        errors=(404, 501),
        tag="hubspot",
    )
    def hubspot_archive_ticket(self, request: Request, ticket_id: int) -> Response:
        self._rpc("delete_ticket")(ticket_id)
        return empty_response(204)

    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/search",
        summary="HubSpot: search (filterGroups: EQ..CONTAINS_TOKEN, BETWEEN; one sort; query; after/limit).",
        body=hs.HubSpotSearchSchema,
        returns=hs.HubSpotSearchPageSchema,
        tag="hubspot",
    )
    def hubspot_search_tickets(self, request: Request) -> Response:
        body = _body(request, hs.HubSpotSearchSchema)
        page = self._search(hs.search_query(body), body["limit"], hs.cursor_of(body.get("after")))
        found = self._page(page, hs.wanted_properties(body["properties"]), request.base_url)
        return _json({"total": page["total"], **found})

    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/merge",
        summary="HubSpot: merge two tickets; the survivor keeps primaryObjectId (tickets RPC merge_tickets).",
        body=hs.HubSpotMergeSchema,
        returns=hs.HubSpotObjectSchema,
        errors=(404, 501),
        tag="hubspot",
    )
    def hubspot_merge_tickets(self, request: Request) -> Response:
        body = _body(request, hs.HubSpotMergeSchema)
        merge = {
            "primary_id": _ticket_id(body["primaryObjectId"]),
            "secondary_id": _ticket_id(body["objectIdToMerge"]),
        }
        survivor = self._rpc("merge_tickets")(merge)
        return _json(hs.to_object(survivor, (*hs.DEFAULT_PROPERTIES, "hs_merged_object_ids")))

    # batch ----------------------------------------------------------------------------------------
    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/batch/read",
        summary="HubSpot: read up to 100 tickets by id; ids you may not see are reported (207).",
        body=hs.HubSpotBatchReadSchema,
        returns=hs.HubSpotBatchResultSchema,
        errors=(207,),
        tag="hubspot",
    )
    def hubspot_batch_read(self, request: Request) -> Response:
        started = _now()
        body = _body(request, hs.HubSpotBatchReadSchema)
        if body.get("idProperty") not in (None, "", "hs_object_id"):
            raise ValidationFailed(errors={"idProperty": ["only hs_object_id is supported"]})
        wanted = list(dict.fromkeys(str(i["id"]).strip() for i in body["inputs"]))
        ids = sorted({int(i) for i in wanted if i.isascii() and i.isdigit() and 0 < len(i) <= 18})
        by_id = {str(t["id"]): t for t in self._visible(ids)}
        properties = hs.wanted_properties(body["properties"])
        results = [hs.to_object(by_id[i], properties) for i in wanted if i in by_id]
        missing = [i for i in wanted if i not in by_id]
        errors = []
        if missing:
            message = "Could not get some TICKET objects, they may be deleted or not exist."
            errors.append(_standard_error(404, message, {"ids": missing}))
        return _batch(results, errors, started, 200)

    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/batch/create",
        summary="HubSpot: create up to 100 tickets; failed ones are reported (207).",
        body=hs.HubSpotBatchCreateSchema,
        returns=hs.HubSpotBatchResultSchema,
        status=201,
        errors=(207,),
        idempotent=True,
        tag="hubspot",
    )
    def hubspot_batch_create(self, request: Request) -> Response:
        started = _now()
        body = _body(request, hs.HubSpotBatchCreateSchema)
        key = idempotency_key(request)
        results, errors = [], []
        datas = _batch_inputs(body["inputs"])
        for index, (item, data) in enumerate(zip(body["inputs"], datas, strict=True)):
            try:
                ticket = self.tickets.create_ticket(data, idempotency_key=f"{key}#{index}" if key else None)
                results.append(hs.to_object(ticket, hs.written_properties(item["properties"])))
            except HelpdeskError as exc:
                _per_item(exc)
                errors.append(
                    _standard_error(
                        400 if exc.status == 422 else exc.status, exc.detail, {"index": [str(index)]}
                    )
                )
        if not body["inputs"]:
            self.tickets.search_tickets({"limit": 1})  # the access rule answers even for an empty batch
        return _batch(results, errors, started, 201)

    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/batch/update",
        summary="HubSpot: change properties of up to 100 tickets; failed ones are reported (207).",
        body=hs.HubSpotBatchUpdateSchema,
        returns=hs.HubSpotBatchResultSchema,
        errors=(207,),
        tag="hubspot",
    )
    def hubspot_batch_update(self, request: Request) -> Response:
        started = _now()
        body = _body(request, hs.HubSpotBatchUpdateSchema)
        results, errors = [], []
        for item in body["inputs"]:
            try:
                ticket = self.tickets.update_ticket(_ticket_id(item["id"]), hs.to_fields(item["properties"]))
                results.append(hs.to_object(ticket, hs.written_properties(item["properties"])))
            except HelpdeskError as exc:
                _per_item(exc)
                errors.append(
                    _standard_error(
                        400 if exc.status == 422 else exc.status, exc.detail, {"ids": [str(item["id"])]}
                    )
                )
        if not body["inputs"]:
            self.tickets.search_tickets({"limit": 1})
        return _batch(results, errors, started, 200)

    @hubspot_route(
        "POST",
        "/crm/v3/objects/tickets/batch/archive",
        summary="HubSpot: archive up to 100 tickets (ids you may not see are ignored, as at HubSpot).",
        body=hs.HubSpotBatchArchiveSchema,
        status=204,
        errors=(404, 501),
        tag="hubspot",
    )
    def hubspot_batch_archive(self, request: Request) -> Response:
        body = _body(request, hs.HubSpotBatchArchiveSchema)
        delete = self._rpc("delete_ticket")
        for item in body["inputs"]:
            try:
                delete(_ticket_id(item["id"]))
            except NotFound:
                continue
        if not body["inputs"]:
            self.tickets.search_tickets({"limit": 1})
        return empty_response(204)

    # pipelines and associations -------------------------------------------------------------------
    @hubspot_route(
        "GET",
        "/crm/v3/pipelines/tickets",
        summary="HubSpot: ticket pipelines with their stages (metadata.ticketState OPEN/CLOSED).",
        returns=hs.HubSpotPipelinesSchema,
        tag="hubspot",
    )
    def hubspot_pipelines(self, request: Request) -> Response:
        results = [
            {
                "id": str(p["id"]),
                "label": p["label"],
                "displayOrder": position,
                "stages": [_stage(s, i) for i, s in enumerate(p["stages"])],
                "archived": False,
                "createdAt": "1970-01-01T00:00:00.000Z",
                "updatedAt": "1970-01-01T00:00:00.000Z",
            }
            for position, p in enumerate(self.tickets.list_pipelines())
        ]
        return _json({"results": results})

    @hubspot_route(
        "PUT",
        "/crm/v4/objects/tickets/<int:ticket_id>/associations/default/<to_type>/<int:to_id>",
        summary="HubSpot: associate a contact, company or deal with the default association type.",
        returns=hs.HubSpotDefaultAssociationSchema,
        tag="hubspot",
    )
    def hubspot_associate(self, request: Request, ticket_id: int, to_type: str, to_id: int) -> Response:
        started = _now()
        read_json(request, allow_empty=True)
        kind = _kind(to_type)
        self.tickets.add_association(ticket_id, kind, to_id)
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": hs.ASSOCIATION_TYPES[kind]}
        result = {"from": {"id": str(ticket_id)}, "to": {"id": str(to_id)}, "associationSpec": spec}
        return _batch([result], [], started, 200)

    @hubspot_route(
        "DELETE",
        "/crm/v4/objects/tickets/<int:ticket_id>/associations/default/<to_type>/<int:to_id>",
        summary="HubSpot: remove the association with a contact, company or deal.",
        status=204,
        tag="hubspot",
    )
    def hubspot_dissociate(self, request: Request, ticket_id: int, to_type: str, to_id: int) -> Response:
        action_body(request)
        self.tickets.remove_association(ticket_id, _kind(to_type), to_id)
        return empty_response(204)

    @hubspot_route(
        "DELETE",
        "/crm/v4/objects/tickets/<int:ticket_id>/associations/<to_type>/<int:to_id>",
        summary="HubSpot: remove every association with a contact, company or deal (the SDK's archive).",
        status=204,
        tag="hubspot",
    )
    def hubspot_dissociate_all(self, request: Request, ticket_id: int, to_type: str, to_id: int) -> Response:
        action_body(request)
        self.tickets.remove_association(ticket_id, _kind(to_type), to_id)
        return empty_response(204)


def _kind(to_type: str) -> str:
    kind = hs.OBJECT_TYPES.get(to_type.lower())
    if kind is None:
        raise NotFound(f"tickets cannot be associated with {to_type!r}; use contacts, companies or deals")
    return kind
