"""Reading the ticket export HubSpot's "Export" writes (CSV or XLSX) into import items.

Columns are found by their header, ignoring case and spacing: ``Ticket ID`` (the external id),
``Ticket name``, ``Ticket description``, ``Pipeline``, ``Ticket status`` (the stage's label),
``Priority``, ``Ticket owner`` (an email, alone or as ``Name (email)``), ``Create date``,
``Last activity date`` (else ``Last modified date``), ``Close date``, ``Category``, ``Source``
and the associated contact, company and deal ids (``;`` or ``,`` between ids). Dates are
ISO 8601 or HubSpot's ``YYYY-MM-DD HH:MM``; without an offset they are read in the given
time zone (UTC by default). Each row becomes an item of ``POST /api/v1/imports/tickets`` plus
the labels and owner email the importer resolves to ids, or the problems that fail it.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HEADERS = {
    "ticket id": "external_id",
    "ticket name": "name",
    "ticket description": "description",
    "pipeline": "pipeline",
    "ticket status": "stage",
    "priority": "priority",
    "ticket owner": "owner",
    "create date": "created_at",
    "last activity date": "updated_at",
    "last modified date": "modified_at",
    "close date": "closed_at",
    "category": "category",
    "source": "source",
}
ASSOCIATION_HEADERS = {"contact": "contacts", "company": "companies", "deal": "deals"}
PRIORITIES = {"low": "low", "medium": "medium", "high": "high", "urgent": "urgent"}
SOURCES = {"email": "email", "chat": "chat", "form": "form"}
DATE_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M",
)
CLOSED_WORDS = re.compile(r"\b(closed|resolved|solved|done|complete[d]?)\b", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
MAX_NAME = 500


@dataclass
class Row:
    """One export row: the import item, what the importer still has to resolve, and its problems."""

    line: int
    item: dict[str, Any]
    pipeline: str | None = None
    stage: str | None = None
    owner: str | None = None
    owner_text: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


def _key(header: Any) -> str:
    return " ".join(str(header or "").replace("_", " ").split()).casefold()


def column_map(headers: list[Any]) -> dict[int, str]:
    """Column index -> our name, for the columns we know (others are ignored)."""
    found: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = _key(header)
        if key in HEADERS:
            found[index] = HEADERS[key]
        elif key.startswith("associated "):
            kind = next((k for word, k in ASSOCIATION_HEADERS.items() if word in key), None)
            if kind and ("id" in key.split() or "ids" in key.split()):
                found[index] = kind
    if "external_id" not in found.values() or "name" not in found.values():
        raise ValueError(
            "this is not a HubSpot ticket export: it needs the columns 'Ticket ID' and 'Ticket name'"
        )
    return found


def parse_time(value: Any, zone: ZoneInfo) -> dt.datetime | None:
    """A cell as an aware moment (naive ones are in ``zone``); None when empty; ValueError if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = _with_formats(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _with_formats(text: str) -> dt.datetime:
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date")


def _ids(value: Any) -> list[int]:
    found = []
    for part in re.split(r"[;,\s]+", str(value or "").strip()):
        if not part:
            continue
        number = part.removesuffix(".0")
        if not number.isdigit() or not 0 < len(number) <= 18:
            raise ValueError(f"{part!r} is not an id")
        found.append(int(number))
    return found


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _dates(row: Row, cells: dict[str, Any], zone: ZoneInfo) -> None:
    """Create, close and last activity dates (the last modified date when there is no activity date)."""
    for name, ours in (
        ("created_at", "created_at"),
        ("modified_at", "updated_at"),
        ("updated_at", "updated_at"),
        ("closed_at", "closed_at"),
    ):
        try:
            moment = parse_time(cells.get(name), zone)
        except ValueError as exc:
            row.problems.append((name, str(exc)))
            continue
        if moment is not None:
            row.item[ours] = moment.isoformat()


def _properties(row: Row, cells: dict[str, Any]) -> None:
    """Description, priority (HubSpot's labels), category and source channel."""
    if description := _text(cells.get("description")):
        row.item["description"] = description
    priority = _text(cells.get("priority")).casefold()
    if priority:
        if priority not in PRIORITIES:
            row.problems.append(("Priority", f"{priority!r} is not low, medium, high or urgent"))
        else:
            row.item["priority"] = PRIORITIES[priority]
    if category := _text(cells.get("category")):
        row.item["category"] = category[:200]
    source = _text(cells.get("source")).casefold()
    row.item["source"] = next((ours for word, ours in SOURCES.items() if word in source), "api")


def to_row(line: int, cells: dict[str, Any], zone: ZoneInfo) -> Row:
    """An export row (our column names -> cell values) as an import item with its problems."""
    external_id = _text(cells.get("external_id")).removesuffix(".0")
    name = _text(cells.get("name"))[:MAX_NAME]
    row = Row(line, {"external_id": external_id, "name": name})
    if not external_id:
        row.problems.append(("Ticket ID", "is empty"))
    if not name:
        row.problems.append(("Ticket name", "is empty"))
    _properties(row, cells)
    _dates(row, cells, zone)
    associations = {}
    for kind in ASSOCIATION_HEADERS.values():
        try:
            if ids := _ids(cells.get(kind)):
                associations[kind] = ids
        except ValueError as exc:
            row.problems.append((f"Associated {kind}", str(exc)))
    if associations:
        row.item["associations"] = associations
    row.pipeline = _text(cells.get("pipeline")) or None
    row.stage = _text(cells.get("stage")) or None
    owner = _text(cells.get("owner"))
    row.owner_text = owner or None
    if match := EMAIL.search(owner):
        row.owner = match.group(0).casefold()
    return row


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        yield from csv.reader(handle)


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def read_rows(path: Path, zone: ZoneInfo, *, skip: int = 0) -> Iterator[Row]:
    """The export's rows after the header, from row ``skip + 1`` on (``line`` counts the header as 1)."""
    raw = _xlsx_rows(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_rows(path)
    columns = column_map(next(raw, []))
    for index, values in enumerate(raw):
        if index < skip:
            continue
        if not any(v not in (None, "") for v in values):
            continue
        cells = {name: values[i] if i < len(values) else None for i, name in columns.items()}
        yield to_row(index + 2, cells, zone)


def stage_state(label: str, closed_rows: int) -> str:
    """A new stage is CLOSED if its tickets have close dates or its label says so; else OPEN."""
    return "CLOSED" if closed_rows or CLOSED_WORDS.search(label) else "OPEN"
