"""HubSpot's property names and shapes to and from the tickets contract (the adapter's translations)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import hubspot_shapes as hs
from services.chassis.errors import ValidationFailed

TICKET: dict[str, Any] = {
    "id": 12,
    "name": "Printer",
    "description": "",
    "pipeline_id": 1,
    "status": 4,
    "priority": "urgent",
    "category": None,
    "owner_id": 7,
    "source": "email",
    "associations": {"contacts": [3], "companies": [], "deals": [9, 10]},
    "created_at": "2024-01-02T03:04:05.678901+00:00",
    "updated_at": "2024-01-03T00:00:00+00:00",
    "closed_at": "2024-01-03T00:00:00+00:00",
    "merged_ticket_ids": [5, 6],
}


def test_properties_in() -> None:
    given = {
        "subject": "Hi",
        "content": "",
        "hs_pipeline": "1",
        "hs_pipeline_stage": 2,
        "hs_ticket_priority": "HIGH",
        "hs_ticket_category": "",
        "hubspot_owner_id": "",
        "source_type": "CHAT",
    }
    assert hs.to_fields(given) == {
        "name": "Hi",
        "description": "",
        "pipeline_id": 1,
        "status": 2,
        "priority": "high",
        "category": None,
        "owner_id": None,
        "source": "chat",
    }


def test_bad_properties_are_named_with_hubspot_codes() -> None:
    with pytest.raises(ValidationFailed) as caught:
        hs.to_fields({"color": "red", "createdate": "2020-01-01", "hs_pipeline": "one", "subject": None})
    assert caught.value.extra["codes"] == {
        "properties.color": "PROPERTY_DOESNT_EXIST",
        "properties.createdate": "READ_ONLY_VALUE",
        "properties.hs_pipeline": "INVALID_OPTION",
        "properties.subject": "INVALID_OPTION",
    }


def test_object_out() -> None:
    found = hs.to_object(
        TICKET, ("subject", "hs_ticket_priority", "closed_date", "hs_merged_object_ids"), ["deals"]
    )
    assert found == {
        "id": "12",
        "properties": {
            "subject": "Printer",
            "hs_ticket_priority": "URGENT",
            "closed_date": "2024-01-03T00:00:00.000Z",
            "hs_merged_object_ids": "5;6",
        },
        "createdAt": "2024-01-02T03:04:05.678Z",
        "updatedAt": "2024-01-03T00:00:00.000Z",
        "archived": False,
        "associations": {
            "deals": {
                "results": [{"id": "9", "type": "ticket_to_deal"}, {"id": "10", "type": "ticket_to_deal"}]
            }
        },
    }
    assert set(hs.to_object(TICKET, hs.wanted_properties(None))["properties"]) == set(hs.DEFAULT_PROPERTIES)
    assert hs.wanted_properties(["subject,nonsense", "subject"]) == ("subject",)
    written = hs.written_properties({"closed_date": None, "nonsense": 1, "subject": "x"})
    assert written == (*hs.DEFAULT_PROPERTIES, "closed_date")


def test_search_request_to_our_query() -> None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "createdate",
                        "operator": "BETWEEN",
                        "value": "1704067200000",
                        "highValue": "2024-02-01",
                    },
                    {"propertyName": "hs_ticket_priority", "operator": "IN", "values": ["HIGH", "URGENT"]},
                ]
            },
            {"filters": [{"propertyName": "subject", "operator": "CONTAINS_TOKEN", "value": "print*"}]},
            {"filters": [{"propertyName": "hubspot_owner_id", "operator": "HAS_PROPERTY"}]},
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
        "query": "paper",
    }
    assert hs.search_query(body) == {
        "filter_groups": [
            {
                "filters": [
                    {"field": "created_at", "operator": "GTE", "value": "2024-01-01T00:00:00+00:00"},
                    {"field": "created_at", "operator": "LTE", "value": "2024-02-01T00:00:00+00:00"},
                    {"field": "priority", "operator": "IN", "values": ["high", "urgent"]},
                ]
            },
            {"filters": [{"field": "name", "operator": "CONTAINS_TOKEN", "value": "print*"}]},
            {"filters": [{"field": "owner_id", "operator": "HAS_PROPERTY"}]},
        ],
        "sort": "-updated_at",
        "query": "paper",
    }
    assert hs.search_query({"sorts": ["-createdate"]})["sort"] == "-created_at"
    assert hs.search_query({})["sort"] == "id"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {"filterGroups": [{"filters": [{"propertyName": "shoe", "operator": "EQ", "value": "9"}]}]},
            "filterGroups.0.filters.0",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "subject", "operator": "NOT_CONTAINS_TOKEN", "value": "a"}]}
                ]
            },
            "filterGroups.0.filters.0",
        ),
        ({"sorts": ["subject", "createdate"]}, "sorts"),
        ({"sorts": ["content"]}, "sorts"),
    ],
)
def test_bad_searches_are_400s_naming_the_part(body: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        hs.search_query(body)
    assert list(caught.value.errors) == [where]


def test_associations_of_a_create() -> None:
    specs = [
        {"to": {"id": "5"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 16}]},
        {"to": {"id": 8}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 28}]},
    ]
    assert hs.associations_of(specs) == {"contacts": [5], "companies": [], "deals": [8]}
    with pytest.raises(ValidationFailed):
        hs.associations_of([{"to": {"id": "5"}, "types": [{"associationTypeId": 999}]}])
    assert hs.cursor_of("0") is None and hs.cursor_of("abc") == "abc"
