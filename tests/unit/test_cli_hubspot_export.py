"""Reading HubSpot ticket exports: headers, HubSpot's labels and date formats, owners, problems per row,
and the generator's files (CSV and XLSX read the same)."""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpdesk_cli import hubspot_sample
from helpdesk_cli.hubspot_export import column_map, read_rows, stage_state, to_row

UTC = ZoneInfo("UTC")
WARSAW = ZoneInfo("Europe/Warsaw")


def test_headers_are_found_by_name_whatever_their_case_and_order() -> None:
    headers = ["Priority", "ticket  NAME", "Ticket ID", "Associated Deal IDs", "Associated Contact", "Notes"]
    assert column_map(headers) == {0: "priority", 1: "name", 2: "external_id", 3: "deals"}
    with pytest.raises(ValueError, match="Ticket ID"):
        column_map(["Name", "Email"])


def test_a_row_becomes_an_item_with_labels_and_owner_to_resolve() -> None:
    row = to_row(
        2,
        {
            "external_id": "123.0",
            "name": "Refund",
            "description": 'Line one,\n"two"',
            "pipeline": "Support Pipeline",
            "stage": "Waiting on us",
            "priority": "HIGH",
            "owner": "Ada Lovelace (Ada@Example.com)",
            "created_at": "2024-03-05 14:22",
            "updated_at": "2024-03-06 09:00",
            "modified_at": "2024-03-07 10:00",
            "closed_at": "",
            "category": "Billing issue",
            "source": "Chat",
            "contacts": "11; 12",
            "deals": "7",
        },
        WARSAW,
    )
    assert row.problems == []
    assert row.item == {
        "external_id": "123",
        "name": "Refund",
        "description": 'Line one,\n"two"',
        "priority": "high",
        "category": "Billing issue",
        "source": "chat",
        "created_at": "2024-03-05T13:22:00+00:00",
        "updated_at": "2024-03-06T08:00:00+00:00",
        "associations": {"contacts": [11, 12], "deals": [7]},
    }
    assert (row.pipeline, row.stage, row.owner) == ("Support Pipeline", "Waiting on us", "ada@example.com")


def test_bad_cells_are_problems_of_their_row() -> None:
    row = to_row(
        9,
        {
            "external_id": "",
            "name": "",
            "priority": "Severe",
            "created_at": "yesterday",
            "contacts": "12,abc",
        },
        UTC,
    )
    fields = [field for field, _message in row.problems]
    assert fields == ["Ticket ID", "Ticket name", "Priority", "created_at", "Associated contacts"]


def test_owner_without_an_email_is_kept_as_text_to_report() -> None:
    row = to_row(2, {"external_id": "1", "name": "x", "owner": "Jan Kowalski"}, UTC)
    assert row.owner is None and row.owner_text == "Jan Kowalski"


def test_stage_state_comes_from_close_dates_or_the_label() -> None:
    assert stage_state("Waiting on us", 0) == "OPEN"
    assert stage_state("Refund issued", 3) == "CLOSED"
    assert stage_state("Resolved", 0) == "CLOSED"


def test_generated_exports_read_back_the_same_from_csv_and_xlsx(tmp_path: Path) -> None:
    csv_path = hubspot_sample.write(tmp_path / "export.csv", 200)
    xlsx_path = hubspot_sample.write(tmp_path / "export.xlsx", 200)
    with csv_path.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(hubspot_sample.HEADERS)
    from_csv = list(read_rows(csv_path, UTC))
    from_xlsx = list(read_rows(xlsx_path, UTC))
    assert len(from_csv) == 200 and all(not r.problems for r in from_csv)
    assert [(r.item, r.pipeline, r.stage, r.owner) for r in from_csv] == [
        (r.item, r.pipeline, r.stage, r.owner) for r in from_xlsx
    ]
    closed = [r for r in from_csv if r.stage in ("Closed", "Refund issued", "Resolved")]
    assert closed and all("closed_at" in r.item for r in closed)
    assert all("closed_at" not in r.item for r in from_csv if r not in closed)
    assert len({r.item["external_id"] for r in from_csv}) == 200
    assert [r.line for r in read_rows(csv_path, UTC, skip=198)] == [200, 201]
