"""The gateway's request rules as every route declares them, without a broker: a write without a
body schema refuses a body (before its query is read), a malformed body is described in our words,
a 422 about the query says so, query numbers refuse a leading zero on every list, body numbers
are JSON numbers, and every create takes an Idempotency-Key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from marshmallow import fields
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.http import QUERY_INVALID, WRITE_METHODS, Route, UnsupportedMediaType, parse_json
from gateway.openapi import routes_of
from gateway.service import GatewayService
from services.chassis.errors import BadRequest, ValidationFailed
from services.chassis.schema import QueryInteger, load
from services.tickets import contract as tickets_contract

OURS = {name: r for name, r in routes_of(GatewayService) if r.url.startswith("/api/v1/")}


def _request(method: str, path: str, data: bytes | str | None = None, **kwargs: Any) -> Request:
    return Request(EnvironBuilder(method=method, path=path, data=data, **kwargs).get_environ())


def _writes(r: Route) -> bool:
    return bool(WRITE_METHODS.intersection(r.method.split(",")))


# -- bodies ------------------------------------------------------------------------------------------


def test_every_write_without_a_body_schema_refuses_a_body() -> None:
    bodyless = [name for name, r in OURS.items() if _writes(r) and r.body_schema is None]
    assert {"delete_view", "revoke_token", "delete_sla_policy", "revoke_session", "sign_out"} <= set(bodyless)
    assert {"delete_sender_rule", "delete_pipeline", "delete_stage", "delete_ticket"} <= set(bodyless)
    for name in bodyless:
        assert OURS[name].action, name
        assert {413, 415, 422}.issubset(OURS[name].errors), name


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("delete_view", "/api/v1/views/3"),
        ("revoke_token", "/api/v1/tokens/3"),
        ("delete_sla_policy", "/api/v1/sla-policies/3"),
        ("revoke_session", "/api/v1/sessions/3"),
        ("delete_sender_rule", "/api/v1/sender-rules/3"),
        ("delete_pipeline", "/api/v1/pipelines/3"),  # no move_to: the body is refused first
        ("delete_stage", "/api/v1/pipelines/3/stages/4"),
    ],
)
def test_a_delete_refuses_a_body_as_any_action_does(name: str, path: str) -> None:
    r = OURS[name]
    with pytest.raises(UnsupportedMediaType):
        r.check_request(_request("DELETE", path, "not json at all", content_type="text/plain"))
    with pytest.raises(BadRequest):
        r.check_request(_request("DELETE", path, "{", content_type="application/json"))
    with pytest.raises(ValidationFailed) as caught:
        r.check_request(_request("DELETE", path, "[1]", content_type="application/json"))
    assert caught.value.errors == {"_body": ["this action takes no body"]}
    if r.query_schema is None:
        r.check_request(_request("DELETE", path, "{}", content_type="application/json"))
        r.check_request(_request("DELETE", path, "", content_type="text/plain"))


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "x", }', b'{"a": "abc', b'{"a": "a\nb"}', b'{"a": "\\x"}', b"{} x", b'{"a":', b"{'a': 1}"],
)
def test_malformed_json_is_described_in_our_words(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json(raw)
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        parsers_words = exc.msg
    detail = caught.value.detail
    assert detail.startswith("The body is not valid JSON: ")
    assert parsers_words not in detail and "Expecting" not in detail


def test_a_malformed_body_names_where_it_goes_wrong() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json(b'{"name": "x",\n  }')
    assert caught.value.detail == 'The body is not valid JSON: unexpected "}" at line 2, column 3.'


# -- queries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["sort=bogus", "limit=0", "limit=01", "owner_id=01", "status=007", "bogus=1"]
)
def test_a_bad_query_is_a_422_that_says_the_query_is_at_fault(query: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        OURS["list_tickets"].check_request(_request("GET", "/api/v1/tickets", query_string=query))
    assert caught.value.detail == QUERY_INVALID
    assert list(caught.value.errors) == [query.split("=")[0]]


def test_a_services_422_about_a_query_parameter_says_the_query_is_at_fault() -> None:
    refused = ValidationFailed(errors={"cursor": ["was issued by another list"]})
    placed = OURS["list_users"]._placed(refused)
    assert isinstance(placed, ValidationFailed) and placed.detail == QUERY_INVALID
    assert placed.errors == refused.errors
    # a search's cursor comes in its body; a body field, or any other error, stays as it was
    assert OURS["search_tickets"]._placed(refused) is refused
    about_the_body = ValidationFailed(errors={"email": ["taken"]})
    assert OURS["create_user"]._placed(about_the_body) is about_the_body
    worded = ValidationFailed("Another detail.", errors={"cursor": []})
    assert OURS["list_users"]._placed(worded) is worded


def _numbers(schema: Any) -> list[str]:
    loader = schema()
    return [
        name
        for name, f in loader.fields.items()
        if isinstance(f, fields.Integer | tickets_contract.OwnerFilter)
    ]


def test_every_query_number_of_every_list_refuses_a_leading_zero() -> None:
    checked = set()
    for name, r in OURS.items():  # HubSpot's paths keep HubSpot's conventions
        if r.query_schema is None:
            continue
        for field in _numbers(r.query_schema):
            assert isinstance(r.query_schema().fields[field], QueryInteger | tickets_contract.OwnerFilter), (
                name,
                field,
            )
            with pytest.raises(ValidationFailed) as caught:
                load(r.query_schema, {field: "01"}, partial=True)
            assert field in caught.value.errors, (name, field)
            checked.add((r.query_schema.__name__, field))
    assert {
        ("TicketQuerySchema", f) for f in ("limit", "status", "pipeline_id", "owner_id", "view_id")
    } <= checked
    assert ("UserQuerySchema", "team_id") in checked and ("MoveToQuerySchema", "move_to") in checked


def _query_integers(schema: Any, seen: set[type]) -> list[str]:
    """Fields of ``schema`` (nested included) that take query-string text for a number."""
    loader = schema() if isinstance(schema, type) else schema
    found = []
    for name, f in loader.fields.items():
        inner = f.inner if isinstance(f, fields.List) else f
        if isinstance(inner, QueryInteger):
            found.append(name)
        if isinstance(inner, fields.Nested) and isinstance(inner.nested, type) and inner.nested not in seen:
            seen.add(inner.nested)
            if inner.nested is not tickets_contract.ViewFiltersSchema:  # a view's filters are a query
                found += [f"{name}.{sub}" for sub in _query_integers(inner.nested, seen)]
    return found


def test_body_numbers_are_json_numbers_not_query_text() -> None:
    for name, r in OURS.items():
        if r.body_schema is not None:
            assert not _query_integers(r.body_schema, set()), name


# -- idempotency -------------------------------------------------------------------------------------

NOT_KEYED = {
    "sign_in": "a session, for a caller not known yet: idempotency keys are per caller",
    "invite_user": "a newer invite replaces the earlier one, so a retry leaves one live link",
}


NEVER_REPLAYED = {"issue_token"}
"""Keyed, but a replay is a 409 naming the token: its value is not kept, so it is never shown again."""


def test_every_create_accepts_an_idempotency_key_and_says_when_it_replayed() -> None:
    creates = [name for name, r in OURS.items() if "POST" in r.method and r.status == 201]
    assert {"create_user", "issue_token", "create_team", "add_sender_rule", "intake_message"} <= set(creates)
    for name in creates:
        if name not in NOT_KEYED:
            assert OURS[name].idempotent and 409 in OURS[name].errors, name
    for name, r in OURS.items():  # the jobs too (merge, spam, bulk...): every replay says so
        if r.idempotent and name not in NEVER_REPLAYED:
            assert "Idempotent-Replayed" in r.response_headers, name
    assert "Idempotent-Replayed" not in OURS["issue_token"].response_headers
