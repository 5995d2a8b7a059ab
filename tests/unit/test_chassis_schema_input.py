"""The schema toolkit's guarantees: clean names, ASCII query numbers, flat validation errors."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import fields, validate

from services.chassis.errors import ValidationFailed
from services.chassis.schema import (
    MAX_ID,
    CleanEmail,
    CleanText,
    Id,
    Input,
    QueryId,
    QueryInteger,
    clean_text,
    flat_errors,
    load,
)
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract


class Named(Input):
    name = CleanText(required=True, validate=validate.Length(min=1, max=5))
    email = CleanEmail()


def test_clean_text_is_nfc_normalised_before_its_length_is_checked() -> None:
    assert load(Named(), {"name": "Cafe\u0301"})["name"] == "Caf\u00e9"
    assert load(Named(), {"name": "e\u0301" * 5})["name"] == "\u00e9" * 5


@pytest.mark.parametrize(
    "name",
    [
        "evil\u202egnp.exe",
        "a\u202ab",
        "a\u202db",
        "a\u2066b",
        "a\u2069b",
        "line\nbreak",
        "nul\0",
        "esc\x1b[31m",
        "\x7f",
    ],
)
def test_clean_text_refuses_control_and_bidi_override_characters(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Named(), {"name": name})
    assert list(caught.value.errors) == ["name"]


def test_clean_text_refuses_lone_surrogates() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Named(), {"name": "a\ud800"})
    assert caught.value.errors == {"name": ["Must be valid Unicode text."]}


def test_clean_text_drops_spaces_at_either_end_so_a_name_of_spaces_is_refused() -> None:
    assert load(Named(), {"name": "  Ana "})["name"] == "Ana"
    for blank in ("", "   "):
        with pytest.raises(ValidationFailed) as caught:
            load(Named(), {"name": blank})
        assert "name" in caught.value.errors
    with pytest.raises(ValidationFailed):
        load(Named(), {"name": "Ana\n"})  # a line break is a control character, not a space


def test_clean_text_makes_a_name_from_text_found_elsewhere() -> None:
    assert clean_text(" \u202eRe:\x85 Invoice\t\u2069 due  ") == "Re: Invoice due"
    assert clean_text("Cafe\u0301") == "Caf\u00e9" and clean_text("\x00\u202e ") == ""


def test_clean_email_is_clean_text_and_an_address() -> None:
    assert load(Named(), {"name": "x", "email": "ana@example.com"})["email"] == "ana@example.com"
    for bad in ("not-an-address", "ana\u202e@example.com", "ana@example.com\n"):
        with pytest.raises(ValidationFailed) as caught:
            load(Named(), {"name": "x", "email": bad})
        assert "email" in caught.value.errors


@pytest.mark.parametrize(
    ("schema", "data", "field"),
    [
        (permissions_contract.UserSchema(), {"name": "a\u202eb", "email": "a@example.com"}, "name"),
        (permissions_contract.UserSchema(), {"name": "ab", "email": "a\u2066@example.com"}, "email"),
        (permissions_contract.UserPatchSchema(), {"name": "tab\there"}, "name"),
        (permissions_contract.TeamSchema(), {"name": "team\u202d"}, "name"),
        (tickets_contract.TicketCreateSchema(), {"name": "subject\u2067"}, "name"),
        (tickets_contract.TicketPatchSchema(), {"name": "subject\r\nBcc: x"}, "name"),
        (tickets_contract.PipelinePatchSchema(), {"label": "stage\u202b"}, "label"),
    ],
)
def test_contracts_hold_names_to_clean_text(schema: Any, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(schema, data)
    assert list(caught.value.errors) == [field]


def test_contract_names_are_normalised() -> None:
    user = load(permissions_contract.UserSchema(), {"name": "Zo\u0065\u0308", "email": "z@example.com"})
    assert user["name"] == "Zo\u00eb"


class Numbers(Input):
    limit = QueryInteger(validate=validate.Range(1, 100))
    id = QueryId()


@pytest.mark.parametrize(
    "text", ["\u0661\u0662", "+5", "-5", "5.0", "1e3", " ", "\uff11", "99999999999999999999"]
)
def test_query_integers_are_ascii_digits_within_64_bits(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Numbers(), {"limit": text, "id": text})
    assert set(caught.value.errors) == {"limit", "id"}


@pytest.mark.parametrize("text", ["01", "007", "010", "00"])
def test_query_integers_with_a_leading_zero_are_refused_like_path_ids(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Numbers(), {"limit": text, "id": text})
    assert set(caught.value.errors) == {"limit", "id"}
    assert "leading zero" in caught.value.errors["id"][0]
    assert QueryInteger().deserialize("0") == 0  # zero itself is one digit


def test_query_integers_accept_plain_digits() -> None:
    assert load(Numbers(), {"limit": "12", "id": str(MAX_ID)}) == {"limit": 12, "id": MAX_ID}
    with pytest.raises(ValidationFailed):
        load(Numbers(), {"id": str(MAX_ID + 1)})


class Inner(Input):
    contacts = fields.List(Id())


class Outer(Input):
    team_ids = fields.List(Id())
    associations = fields.Nested(Inner)
    tags = fields.Dict(keys=fields.String(validate=validate.Length(max=2)), values=Id())


def test_load_flattens_nested_errors_to_field_paths() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Outer(), {"team_ids": [1, "x"], "associations": {"contacts": [2, 0, True]}, "extra": 1})
    assert caught.value.errors == {
        "team_ids.1": ["Not a valid integer."],
        "associations.contacts.1": [
            "Must be greater than or equal to 1 and less than or equal to 9223372036854775807."
        ],
        "associations.contacts.2": ["Not a valid integer."],
        "extra": ["Unknown field."],
    }
    for messages in caught.value.errors.values():
        assert all(isinstance(m, str) for m in messages)


def test_flat_errors_keeps_a_nested_schema_error_under_its_field() -> None:
    assert flat_errors({"changes": {"_schema": ["name one"]}, "_schema": ["top"]}) == {
        "changes": ["name one"],
        "_schema": ["top"],
    }
    assert flat_errors({"tags": {"k": {"key": ["too long"], "value": ["bad"]}}}) == {
        "tags.k.key": ["too long"],
        "tags.k.value": ["bad"],
    }


def test_tickets_bulk_changes_errors_are_flat() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(tickets_contract.BulkUpdateSchema(), {"ids": [1], "changes": {}})
    assert caught.value.errors == {"changes": ["name at least one of owner_id, status, priority"]}
