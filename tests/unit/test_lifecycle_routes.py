"""The gateway's lifecycle routes without a broker: URL matching, the RPC each makes, 200 vs 202
for jobs, and what OpenAPI publishes about them."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway import openapi
from gateway.problems import response_for_exception
from gateway.routes.lifecycle import LifecycleRoutes
from gateway.routes.tickets import TicketRoutes
from gateway.service import GatewayService
from services.chassis.errors import SeatRequired
from services.tickets.domain.lifecycle import moved


def _request(method: str = "GET", path: str = "/", body: Any = None, **kwargs: Any) -> Request:
    data = json.dumps(body) if body is not None else kwargs.pop("data", None)
    kwargs.setdefault("content_type", "application/json")
    return Request(EnvironBuilder(method=method, path=path, data=data, **kwargs).get_environ())


def _url_map() -> Map:
    return Map(
        [
            Rule(r.url, methods=r.method.split(","), endpoint=attr)
            for attr, r in openapi.routes_of(GatewayService)
        ]
    )


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", "/api/v1/tickets/merge", "merge_tickets"),
        ("POST", "/api/v1/tickets/3/split", "split_ticket"),
        ("POST", "/api/v1/tickets/3/spam", "mark_spam"),
        ("DELETE", "/api/v1/tickets/3", "delete_ticket"),
        ("POST", "/api/v1/tickets/bulk-delete", "bulk_delete"),
        ("GET", "/api/v1/recycle-bin", "recycle_bin"),
        ("POST", "/api/v1/tickets/3/restore", "restore_ticket"),
        ("GET", "/api/v1/spam", "list_spam"),
        ("POST", "/api/v1/threads/3/not-spam", "not_spam"),
        ("GET", "/api/v1/jobs/3", "get_job"),
        ("GET", "/api/v1/jobs/3/items", "job_items"),
        ("POST", "/api/v1/retention/runs", "start_retention_run"),
        ("GET", "/api/v1/retention/runs/3", "get_retention_run"),
        ("GET", "/api/v1/retention/audit", "retention_audit"),
    ],
)
def test_paths_reach_the_right_route(method: str, path: str, endpoint: str) -> None:
    assert _url_map().bind("localhost").match(path, method)[0] == endpoint


@pytest.fixture
def routes() -> Any:
    service = worker_factory(GatewayService)
    service.tickets = MagicMock()
    service.tickets.with_timeout.return_value = service.tickets
    service.retention = MagicMock()
    return service


def test_a_finished_bulk_job_is_a_200_a_running_one_a_202_with_its_location(routes: Any) -> None:
    body = {"ids": [1, 2], "confirm_count": 2}
    routes.tickets.bulk_delete.return_value = {"id": 9, "state": "done", "results": []}
    done = LifecycleRoutes.bulk_delete(routes, _request("POST", "/api/v1/tickets/bulk-delete", body))
    assert done.status_code == 200 and "Location" not in done.headers
    routes.tickets.bulk_delete.return_value = {"id": 9, "state": "running"}
    running = LifecycleRoutes.bulk_delete(
        routes, _request("POST", "/api/v1/tickets/bulk-delete", body, headers={"Idempotency-Key": "k"})
    )
    assert running.status_code == 202 and running.headers["Location"] == "/api/v1/jobs/9"
    routes.tickets.bulk_delete.assert_called_with(body, idempotency_key="k")
    routes.tickets.bulk_update.return_value = {"id": 4, "state": "running"}
    request = _request("POST", "/api/v1/tickets/bulk-update", {"ids": [1], "changes": {"priority": "low"}})
    assert TicketRoutes.bulk_update(routes, request).status_code == 202


def test_a_split_answers_201_with_the_new_ticket(routes: Any) -> None:
    routes.tickets.split_ticket.return_value = {"id": 12, "version": 1}
    body = {"message_ids": [4], "ticket": {"name": "x"}}
    response = LifecycleRoutes.split_ticket(
        routes, _request("POST", "/api/v1/tickets/3/split", body), ticket_id=3
    )
    assert response.status_code == 201 and response.headers["Location"] == "/api/v1/tickets/12"
    assert response.headers["ETag"] == '"1"'


def test_an_absorbed_ticket_is_a_301_to_its_survivor_and_a_missing_seat_a_403_seat_required() -> None:
    response = response_for_exception(moved(5, 8))
    body = json.loads(response.get_data())
    assert response.status_code == 301 and response.headers["Location"] == "/api/v1/tickets/8"
    assert body["merged_into"] == 8
    seat = response_for_exception(SeatRequired("needs a seat"))
    assert seat.status_code == 403 and json.loads(seat.get_data())["type"].endswith("/seat-required")


def test_openapi_documents_the_lifecycle() -> None:
    paths = openapi.build(GatewayService)["paths"]
    assert "202" in paths["/api/v1/tickets/bulk-delete"]["post"]["responses"]
    assert "202" in paths["/api/v1/tickets/bulk-update"]["post"]["responses"]
    assert "301" in paths["/api/v1/tickets/{ticket_id}"]["get"]["responses"]
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/tickets/{ticket_id}"])
    for path in ("/api/v1/tickets/merge", "/api/v1/spam", "/api/v1/recycle-bin", "/api/v1/jobs/{job_id}"):
        assert path in paths
