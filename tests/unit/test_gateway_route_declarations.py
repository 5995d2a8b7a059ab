"""Routes are declared once: duplicate handler names or paths are refused when the class is built,
and each route's declared statuses follow from what it takes."""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Request, Response

from gateway.http import check_routes, route
from gateway.openapi import routes_of
from gateway.service import GatewayService
from services.tickets import contract as tickets_contract


class _First:
    @route("GET", "/a", summary="a", tag="t")
    def handler(self, request: Request) -> Response:
        return Response()


class _Second:
    @route("GET", "/b", summary="b", tag="t")
    def handler(self, request: Request) -> Response:
        return Response()


class _SamePath:
    @route("GET", "/a", summary="a again", tag="t")
    def other(self, request: Request) -> Response:
        return Response()


def test_a_handler_name_used_by_two_mixins_is_refused() -> None:
    with pytest.raises(TypeError, match="handler"):
        check_routes(type("Gateway", (_First, _Second), {}))


def test_a_path_handled_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="GET /a"):
        check_routes(type("Gateway", (_First, _SamePath), {}))


def test_the_gateway_passes_its_own_check() -> None:
    assert check_routes(GatewayService) is GatewayService


def test_declared_statuses_follow_from_the_declaration() -> None:
    routes = {name: r for name, r in routes_of(GatewayService)}
    create = routes["create_ticket"]
    assert create.idempotent and {409, 413, 415, 422, 401}.issubset(create.errors)
    assert 201 not in create.errors
    patch = routes["update_ticket"]
    assert patch.if_match and 412 in patch.errors
    listing = routes["list_tickets"]
    assert listing.query_schema is tickets_contract.TicketQuerySchema and 413 not in listing.errors
    assert set(routes["healthz"].errors) == {400, 408, 414, 431}  # only the protocol can go wrong
