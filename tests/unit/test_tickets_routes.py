"""The gateway's ticket routes without a broker: header parsing, URL matching, the RPC each
route makes, and what OpenAPI publishes."""

from __future__ import annotations

import json
import random
import re
from typing import Any
from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway import openapi
from gateway.routes.tickets import TicketRoutes, if_match_versions, query_args
from gateway.service import GatewayService
from gateway.wsgi import CONVERTERS, at_most
from services.chassis.errors import PreconditionFailed, ValidationFailed

TICKET = {"id": 7, "version": 3, "name": "x"}


@pytest.mark.parametrize(
    ("header", "versions"),
    [(None, None), ("*", None), (" * ", None), ('"3"', [3]), (' "3" , "4"', [3, 4]), ('"0"', [0])],
)
def test_if_match_versions(header: str | None, versions: list[int] | None) -> None:
    assert if_match_versions(header) == versions


@pytest.mark.parametrize("header", ["3", 'W/"3"', '"3', '"three"', "", '"3",', '"-1"', '"3" "4"', '"1e3"'])
def test_malformed_or_weak_if_match_is_a_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        if_match_versions(header)


def _request(method: str = "GET", path: str = "/", body: Any = None, **kwargs: Any) -> Request:
    data = json.dumps(body) if body is not None else kwargs.pop("data", None)
    if data:
        kwargs.setdefault("content_type", "application/json")
    return Request(EnvironBuilder(method=method, path=path, data=data, **kwargs).get_environ())


def test_empty_query_values_count_as_absent() -> None:
    request = _request(path="/api/v1/tickets", query_string="status=&limit=5&q=a+b&cursor=x%2By%3D")
    assert query_args(request) == {"limit": "5", "q": "a b", "cursor": "x+y="}


def _url_map() -> Map:
    routes = openapi.routes_of(GatewayService)
    return Map(
        [Rule(r.url, methods=r.method.split(","), endpoint=a) for a, r in routes], converters=CONVERTERS
    )


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "values"),
    [
        ("GET", "/api/v1/tickets", "list_tickets", {}),
        ("GET", "/api/v1/tickets/board", "ticket_board", {}),
        ("GET", "/api/v1/tickets/12", "get_ticket", {"ticket_id": 12}),
        ("PATCH", "/api/v1/tickets/12", "update_ticket", {"ticket_id": 12}),
        ("POST", "/api/v1/tickets/bulk-update", "bulk_update", {}),
        ("PUT", "/api/v1/tickets/12/follow", "follow_ticket", {"ticket_id": 12}),
        ("DELETE", "/api/v1/tickets/12/follow", "unfollow_ticket", {"ticket_id": 12}),
        ("POST", "/api/v1/tickets/12/read", "mark_read", {"ticket_id": 12}),
        ("POST", "/api/v1/tickets/12/unread", "mark_unread", {"ticket_id": 12}),
        ("GET", "/api/v1/tickets/12/timeline", "ticket_timeline", {"ticket_id": 12}),
        ("GET", "/api/v1/tickets/12/followers", "ticket_followers", {"ticket_id": 12}),
        (
            "POST",
            "/api/v1/tickets/12/associations/contacts/5",
            "add_association",
            {"ticket_id": 12, "kind": "contacts", "ref_id": 5},
        ),
        (
            "DELETE",
            "/api/v1/tickets/12/associations/deals/5",
            "remove_association",
            {"ticket_id": 12, "kind": "deals", "ref_id": 5},
        ),
        ("POST", "/api/v1/pipelines", "create_pipeline", {}),
        ("PUT", "/api/v1/pipelines/2/stage-order", "reorder_stages", {"pipeline_id": 2}),
        ("PATCH", "/api/v1/pipelines/2/stages/9", "rename_stage", {"pipeline_id": 2, "stage_id": 9}),
    ],
)
def test_paths_reach_the_right_route(method: str, path: str, endpoint: str, values: dict[str, Any]) -> None:
    assert _url_map().bind("localhost").match(path, method) == (endpoint, values)


def test_board_is_never_read_as_a_ticket_id() -> None:
    adapter = _url_map().bind("localhost")
    assert adapter.match("/api/v1/tickets/board", "GET")[0] == "ticket_board"
    with pytest.raises(MethodNotAllowed):
        adapter.match("/api/v1/tickets/board", "PATCH")


def test_openapi_lists_every_ticket_route_with_its_query_options() -> None:
    document = openapi.build(GatewayService)
    paths = document["paths"]
    for path, verbs in {
        "/api/v1/tickets": {"get", "post"},
        "/api/v1/tickets/board": {"get"},
        "/api/v1/tickets/{ticket_id}": {"get", "patch"},
        "/api/v1/tickets/bulk-update": {"post"},
        "/api/v1/tickets/{ticket_id}/timeline": {"get"},
        "/api/v1/tickets/{ticket_id}/follow": {"put", "delete"},
        "/api/v1/tickets/{ticket_id}/followers": {"get"},
        "/api/v1/tickets/{ticket_id}/read": {"post"},
        "/api/v1/tickets/{ticket_id}/unread": {"post"},
        "/api/v1/tickets/{ticket_id}/associations/{kind}/{ref_id}": {"post", "delete"},
        "/api/v1/pipelines": {"get", "post"},
        "/api/v1/pipelines/{pipeline_id}": {"get", "patch"},
        "/api/v1/pipelines/{pipeline_id}/stages": {"post"},
        "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}": {"patch"},
        "/api/v1/pipelines/{pipeline_id}/stage-order": {"put"},
    }.items():
        assert verbs <= set(paths[path]), path
    listed = {p["name"] for p in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert {"status", "pipeline_id", "owner_id", "priority", "view", "q", "sort", "limit", "cursor"} <= listed
    assert "TicketPage" in document["components"]["schemas"]
    assert "Board" in document["components"]["schemas"]


@pytest.fixture
def routes() -> Any:
    service = worker_factory(GatewayService)
    service.tickets = MagicMock()
    return service


def test_patch_passes_if_match_versions_and_answers_the_etag(routes: Any) -> None:
    routes.tickets.update_ticket.return_value = {**TICKET, "version": 4}
    request = _request("PATCH", "/api/v1/tickets/7", {"priority": "high"}, headers={"If-Match": '"3"'})
    response = TicketRoutes.update_ticket(routes, request, ticket_id=7)
    routes.tickets.update_ticket.assert_called_once_with(7, {"priority": "high"}, expected_versions=[3])
    assert response.status_code == 200 and response.headers["ETag"] == '"4"'


def test_patch_with_a_malformed_if_match_never_reaches_the_service(routes: Any) -> None:
    request = _request("PATCH", "/api/v1/tickets/7", {"priority": "high"}, headers={"If-Match": "3"})
    with pytest.raises(PreconditionFailed):
        TicketRoutes.update_ticket(routes, request, ticket_id=7)
    routes.tickets.update_ticket.assert_not_called()


@pytest.mark.parametrize("data", [None, "", "{}", "  "])
def test_actions_accept_no_body_or_an_empty_object(routes: Any, data: str | None) -> None:
    routes.tickets.follow.return_value = {"ticket_id": 7, "following": True}
    response = TicketRoutes.follow_ticket(
        routes, _request("PUT", "/api/v1/tickets/7/follow", data=data), ticket_id=7
    )
    assert json.loads(response.get_data()) == {"ticket_id": 7, "following": True}


def _route(name: str) -> Any:
    return dict(openapi.routes_of(GatewayService))[name]


def test_actions_refuse_a_body() -> None:
    with pytest.raises(ValidationFailed):
        _route("mark_read").check_request(_request("POST", "/api/v1/tickets/7/read", {"x": 1}))


def test_list_hands_the_query_to_the_service(routes: Any) -> None:
    routes.tickets.list_tickets.return_value = {"items": [], "next_cursor": None, "total": 0}
    request = _request(path="/api/v1/tickets", query_string="view=mine&sort=-priority&limit=")
    TicketRoutes.list_tickets(routes, request)
    routes.tickets.list_tickets.assert_called_once_with({"view": "mine", "sort": "-priority"})


def test_actions_refuse_json_null() -> None:
    with pytest.raises(ValidationFailed):
        _route("mark_read").check_request(_request("POST", "/api/v1/tickets/7/read", data="null"))


def test_patch_reads_the_body_before_the_if_match() -> None:
    routes = worker_factory(GatewayService)
    request = _request("PATCH", "/api/v1/tickets/7", headers={"If-Match": "3"})
    with pytest.raises(ValidationFailed):
        TicketRoutes.update_ticket(routes, request, ticket_id=7)


def test_openapi_parameters_are_typed_and_bounded() -> None:
    paths = openapi.build(GatewayService)["paths"]
    listed = {p["name"]: p for p in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert listed["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}
    assert listed["cursor"]["schema"]["maxLength"] == 1024
    assert listed["status"]["schema"]["maximum"] == 2**63 - 1
    assert listed["priority"]["schema"]["enum"] == ["low", "medium", "high", "urgent"]
    assert listed["owner_id"]["schema"]["pattern"] == "^(none|[1-9][0-9]{0,18})$"
    assert all(p["allowEmptyValue"] for p in listed.values())
    association = paths["/api/v1/tickets/{ticket_id}/associations/{kind}/{ref_id}"]["post"]
    kinds = {p["name"]: p["schema"] for p in association["parameters"]}
    assert kinds["kind"] == {"type": "string", "enum": ["contacts", "companies", "deals"]}
    assert kinds["ticket_id"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert association["requestBody"]["required"] is False


def test_openapi_declares_headers_and_every_status_a_route_answers() -> None:
    document = openapi.build(GatewayService)
    get_ticket = document["paths"]["/api/v1/tickets/{ticket_id}"]["get"]["responses"]
    assert set(get_ticket) == {
        "200",
        "301",  # a merged-away id answers with its survivor
        "400",
        "401",
        "403",
        "404",
        "405",
        "408",
        "414",
        "429",
        "431",
        "503",
        "504",
    }
    assert set(get_ticket["200"]["headers"]) == {"X-Request-Id", "ETag"}
    assert get_ticket["429"]["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert "403" not in me and "422" not in me and "404" not in me
    create = document["paths"]["/api/v1/tickets"]["post"]["responses"]
    assert {"408", "409", "413", "415", "422"} <= set(create)
    assert "ticket_id" in str(create["201"]["links"]["get_ticket"]["parameters"])
    errors = document["components"]["schemas"]["Problem"]["properties"]["errors"]
    assert errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
    assert "team_ids.0" in errors["description"]


def test_openapi_names_are_clean_text() -> None:
    schemas = openapi.build(GatewayService)["components"]["schemas"]
    assert schemas["Team"]["properties"]["name"]["pattern"] == openapi.CLEAN_TEXT_PATTERN
    assert schemas["User"]["properties"]["email"]["format"] == "email"


def test_the_id_converter_bounds_ids_in_its_regex() -> None:
    pattern = re.compile(at_most(2**63 - 1))
    for n in (1, 9, 10, 2**63 - 1, 10**18, 9223372036854775799):
        assert pattern.fullmatch(str(n)), n
    for text in ("0", "01", str(2**63), "9223372036854775810", "99999999999999999999", "١٢"):
        assert not pattern.fullmatch(text), text


@pytest.mark.parametrize("seed", range(20))
def test_an_id_out_of_range_is_404_whatever_order_the_rules_were_added_in(seed: int) -> None:
    routes = openapi.routes_of(GatewayService)
    random.Random(seed).shuffle(routes)
    rules = [Rule(r.url, methods=r.method.split(","), endpoint=a) for a, r in routes]
    adapter = Map(rules, converters=CONVERTERS).bind("localhost")
    with pytest.raises(NotFound):
        adapter.match(f"/api/v1/tickets/{2**63}", "GET")
