"""The gateway's seat-feature routes without a broker: the problem type of a missing seat, the RPC
each route makes, and what OpenAPI publishes."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway import openapi
from gateway.problems import response_for_exception
from gateway.routes.seats import SeatRoutes
from gateway.service import GatewayService
from services.chassis.errors import Forbidden, SeatRequired


def _request(method: str = "GET", path: str = "/", body: Any = None, **kwargs: Any) -> Request:
    data = json.dumps(body) if body is not None else kwargs.pop("data", None)
    if data:
        kwargs.setdefault("content_type", "application/json")
    return Request(EnvironBuilder(method=method, path=path, data=data, **kwargs).get_environ())


def test_a_missing_seat_is_a_403_of_its_own_problem_type() -> None:
    response = response_for_exception(SeatRequired("SLAs need a service seat."))
    body = json.loads(response.get_data())
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert body["type"].endswith("/seat-required") and body["title"] == "Seat required"
    assert isinstance(SeatRequired(), Forbidden)
    other = json.loads(response_for_exception(Forbidden("no")).get_data())
    assert not other["type"].endswith("/seat-required")


@pytest.fixture
def routes() -> Any:
    service = worker_factory(GatewayService)
    service.tickets, service.conversations, service.permissions = MagicMock(), MagicMock(), MagicMock()
    return service


@pytest.mark.parametrize("data", [None, "", "{}"])
def test_suggestions_take_an_empty_body(routes: Any, data: str | None) -> None:
    routes.conversations.suggest.return_value = {"kind": "name", "suggestion": "Printer on fire"}
    request = _request("POST", "/api/v1/tickets/7/suggestions/name", data=data)
    response = SeatRoutes.suggest_name(routes, request, ticket_id=7)
    routes.conversations.suggest.assert_called_once_with(7, "name", {})
    assert json.loads(response.get_data())["suggestion"] == "Printer on fire"


def test_each_route_makes_its_call(routes: Any) -> None:
    routes.tickets.create_view.return_value = {"id": 3}
    response = SeatRoutes.create_view(routes, _request("POST", "/api/v1/views", {"name": "v"}))
    assert response.status_code == 201 and response.headers["Location"] == "/api/v1/views/3"
    routes.tickets.create_view.assert_called_once_with({"name": "v"}, idempotency_key=None)
    assert SeatRoutes.delete_sla_policy(routes, _request("DELETE"), policy_id=4).status_code == 204
    routes.tickets.delete_sla_policy.assert_called_once_with(4)
    routes.conversations.suggest.return_value = {"kind": "summary", "suggestion": "s"}
    SeatRoutes.suggest_summary(routes, _request("POST", data='{"exclude": ["a"]}'), ticket_id=5)
    routes.conversations.suggest.assert_called_once_with(5, "summary", {"exclude": ["a"]})
    routes.conversations.reply_recommendations.return_value = {"items": []}
    SeatRoutes.reply_recommendations(routes, _request(), ticket_id=6)
    routes.conversations.reply_recommendations.assert_called_once_with(6)
    routes.permissions.seat_count.return_value = {"in_use": 2, "users": 5}
    assert json.loads(SeatRoutes.seat_count(routes, _request()).get_data()) == {"in_use": 2, "users": 5}


def test_openapi_publishes_the_seat_features() -> None:
    document = openapi.build(GatewayService)
    paths = document["paths"]
    for path, verbs in {
        "/api/v1/views": {"get", "post"},
        "/api/v1/views/{view_id}": {"get", "patch", "delete"},
        "/api/v1/sla-policies": {"get", "post"},
        "/api/v1/sla-policies/{policy_id}": {"get", "patch", "delete"},
        "/api/v1/tickets/{ticket_id}/suggestions/name": {"post"},
        "/api/v1/tickets/{ticket_id}/suggestions/summary": {"post"},
        "/api/v1/tickets/{ticket_id}/reply-recommendations": {"get"},
        "/api/v1/seats": {"get"},
    }.items():
        assert verbs <= set(paths[path]), path
    listed = {p["name"] for p in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert {"view_id", "sla_state"} <= listed
    schemas = document["components"]["schemas"]
    assert {"TicketSla", "SlaGoal", "SlaPolicy", "View", "ViewPage", "Recommendation", "Suggestion"} <= set(
        schemas
    )
    assert "sla" in schemas["Ticket"]["properties"]
