"""The importer's decisions against a fake gateway: pipelines and stages created by label (open
stages first), owners by email, unknown owners reported, a dry run that creates nothing, batches
that stay under the body limit, and the error report."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from helpdesk_cli import hubspot_sample
from helpdesk_cli.importer import Importer, Options

HEADERS = list(hubspot_sample.HEADERS)


class FakeApi:
    """Answers the few calls the importer makes, and records them."""

    def __init__(self) -> None:
        self.pipelines: list[dict[str, Any]] = [
            {"id": 1, "label": "Support Pipeline", "stages": [{"id": 1, "label": "New", "state": "OPEN"}]}
        ]
        self.calls: list[tuple[str, Any]] = []
        self.batches: list[dict[str, Any]] = []

    def get(self, path: str, **params: Any) -> Any:
        assert path == "/api/v1/pipelines"
        return self.pipelines

    def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        assert path == "/api/v1/users"
        return [
            {"id": 7, "email": "Ada@Example.com", "permissions": ["service_access"]},
            {"id": 8, "email": "viewer@example.com", "permissions": []},
        ]

    def post(self, path: str, body: Any = None, headers: Any = None) -> Any:
        self.calls.append((path, body))
        if path == "/api/v1/pipelines":
            stages = [{"id": 100 + i, **s} for i, s in enumerate(body["stages"])]
            return {"id": 2, "label": body["label"], "stages": stages}
        if path.endswith("/stages"):
            self.pipelines[0]["stages"].append({"id": 50, "label": body["label"], "state": body["state"]})
            return self.pipelines[0]
        assert path == "/api/v1/imports/tickets"
        self.batches.append(body)
        results = [
            {"index": i, "external_id": item["external_id"], "outcome": "created", "id": i + 1, "changes": []}
            for i, item in enumerate(body["items"])
        ]
        return {"dry_run": body["dry_run"], "results": results}


def _export(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for row in rows:
            writer.writerow(row + [""] * (len(HEADERS) - len(row)))
    return path


def _row(
    ticket_id: str, pipeline: str, stage: str, owner: str = "", close: str = "", priority: str = ""
) -> list[str]:
    return [
        ticket_id,
        f"Ticket {ticket_id}",
        "",
        pipeline,
        stage,
        priority,
        owner,
        "2024-01-01 10:00",
        "",
        close,
    ]


ROWS = [
    _row("1", "Support Pipeline", "New", owner="ada@example.com"),
    _row("2", "Support Pipeline", "Escalated", owner="Grace (grace@example.com)"),
    _row("3", "Billing", "Refunded", close="2024-01-03 10:00"),
    _row("4", "Billing", "Open", owner="viewer@example.com"),
    _row("5", "Billing", "Open", priority="Severe"),
]


def test_an_import_resolves_labels_and_owners_and_reports(tmp_path: Path) -> None:
    api = FakeApi()
    summary = Importer(api, Options(path=_export(tmp_path / "e.csv", ROWS))).run()  # type: ignore[arg-type]
    created = {path: body for path, body in api.calls if path != "/api/v1/imports/tickets"}
    assert created["/api/v1/pipelines"] == {
        "label": "Billing",
        "stages": [{"label": "Open", "state": "OPEN"}, {"label": "Refunded", "state": "CLOSED"}],
    }
    assert created["/api/v1/pipelines/1/stages"] == {"label": "Escalated", "state": "OPEN"}
    items = {i["external_id"]: i for b in api.batches for i in b["items"]}
    assert set(items) == {"1", "2", "3", "4"}
    assert (items["1"]["pipeline_id"], items["1"]["status"], items["1"]["owner_id"]) == (1, 1, 7)
    assert (items["2"]["status"], items["2"]["owner_id"]) == (50, None)
    assert (items["3"]["pipeline_id"], items["3"]["status"]) == (2, 101)
    assert items["3"]["closed_at"] == "2024-01-03T10:00:00+00:00"
    assert items["4"]["owner_id"] is None
    assert (summary.created, summary.failed) == (4, 1)
    assert dict(summary.unknown_owners) == {"grace@example.com": 1, "viewer@example.com": 1}
    with open(summary.report or "", encoding="utf-8") as handle:
        report = [(r["row"], r["level"], r["field"]) for r in csv.DictReader(handle)]
    assert report == [
        ("3", "warning", "Ticket owner"),
        ("5", "warning", "Ticket owner"),
        ("6", "error", "Priority"),
    ]
    assert not (tmp_path / "e.csv.import-state.json").exists()


def test_a_dry_run_creates_no_pipeline_and_sends_dry_batches(tmp_path: Path) -> None:
    api = FakeApi()
    summary = Importer(api, Options(path=_export(tmp_path / "e.csv", ROWS), dry_run=True)).run()  # type: ignore[arg-type]
    assert [path for path, _body in api.calls] == ["/api/v1/imports/tickets"]
    assert all(b["dry_run"] for b in api.batches)
    assert summary.new_pipelines == ["Billing"] and "Support Pipeline / Escalated" in summary.new_stages


def test_batches_respect_the_size_and_the_body_limit(tmp_path: Path) -> None:
    api = FakeApi()
    long = "x" * 30_000
    rows = [[str(i), f"T{i}", long, "Support Pipeline", "New"] for i in range(60)]
    Importer(api, Options(path=_export(tmp_path / "e.csv", rows), batch_size=50)).run()  # type: ignore[arg-type]
    sizes = [len(b["items"]) for b in api.batches]
    assert sum(sizes) == 60 and max(sizes) < 30
