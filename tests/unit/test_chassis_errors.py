"""Errors cross the wire as the same class, with their fields."""

from __future__ import annotations

import pytest
from nameko.exceptions import deserialize, serialize

from services.chassis import errors


@pytest.mark.parametrize("cls", errors.WIRE_ERRORS)
def test_every_wire_error_round_trips_as_its_class(cls: type[errors.HelpdeskError]) -> None:
    rebuilt = deserialize(serialize(cls("something went wrong", ticket_id=5)))
    assert type(rebuilt) is cls
    assert rebuilt.detail == "something went wrong"
    assert rebuilt.extra["ticket_id"] == 5
    assert rebuilt.status == cls.status


def test_validation_errors_keep_field_messages() -> None:
    rebuilt = deserialize(serialize(errors.ValidationFailed(errors={"name": ["required"]})))
    assert isinstance(rebuilt, errors.ValidationFailed)
    assert rebuilt.errors == {"name": ["required"]}
    assert rebuilt.to_dict()["status"] == 422


def test_unregistered_exceptions_do_not_become_helpdesk_errors() -> None:
    rebuilt = deserialize(serialize(KeyError("x")))
    assert not isinstance(rebuilt, errors.HelpdeskError)
