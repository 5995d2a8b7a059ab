"""``helpdesk import hubspot FILE``: a HubSpot ticket export into the help desk, through its API.

1. **Scan** the file once: rows, the pipelines and stage labels it uses (a stage whose
   tickets have close dates is CLOSED), the owners' emails.
2. **Resolve** labels and emails to ids: pipelines and stages are matched by label (case
   ignored) and created when missing; owners are matched by email among the users who may
   own tickets; an unknown owner is reported and the ticket left unassigned.
3. **Send** the rows in batches to ``POST /api/v1/imports/tickets``: the tickets service
   creates each ticket with its original dates and keeps the HubSpot id as its external id,
   so a rerun updates in place (or changes nothing) instead of duplicating.

Rows that cannot be imported are written to an error report (CSV: row, ticket id, level,
field, message); unknown owners appear there as warnings. After each batch the position is
saved in a state file beside the export, so an import that was killed resumes where it
stopped (the batch in flight is simply sent again: by external id it changes nothing twice).
``--dry-run`` resolves and sends everything with ``dry_run`` and reports what would change,
creating and writing nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from helpdesk_cli.api import Api
from helpdesk_cli.hubspot_export import Row, read_rows, stage_state

MAX_BATCH = 500
MAX_BATCH_BYTES = 800_000
"""Below the gateway's 1 MiB body limit, with room for long descriptions."""
TICKET_PERMISSIONS = {"service_access", "sales_access", "super_admin"}


@dataclass
class Options:
    path: Path
    source: str = "hubspot"
    dry_run: bool = False
    batch_size: int = MAX_BATCH
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    errors_path: Path | None = None
    state_path: Path | None = None
    restart: bool = False
    pause: float = 0.0

    @property
    def report(self) -> Path:
        return self.errors_path or self.path.with_name(self.path.name + ".errors.csv")

    @property
    def state(self) -> Path:
        return self.state_path or self.path.with_name(self.path.name + ".import-state.json")


@dataclass
class Scan:
    rows: int = 0
    stages: dict[str | None, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    owners: set[str] = field(default_factory=set)


@dataclass
class Summary:
    """What an import did (or, dry, would do)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    resumed_at: int = 0
    unknown_owners: Counter[str] = field(default_factory=Counter)
    new_pipelines: list[str] = field(default_factory=list)
    new_stages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report: str | None = None
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("created", "updated", "unchanged", "failed")}

    def as_dict(self) -> dict[str, Any]:
        found = {
            "rows": self.rows,
            **self.counts(),
            "resumed_at_row": self.resumed_at,
            "unknown_owners": dict(self.unknown_owners),
            "new_pipelines": self.new_pipelines,
            "new_stages": self.new_stages,
            "seconds": round(self.seconds, 1),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds else None,
            "error_report": self.report,
            "dry_run": self.dry_run,
        }
        return found


def fingerprint(path: Path) -> str:
    """Size, modification time and the first MiB: enough to know a resumed file is the same."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(1 << 20)).hexdigest()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{head}"


class _Report:
    """The error report, created on the first problem (appended to when resuming)."""

    COLUMNS = ("row", "ticket_id", "level", "field", "message")

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self.append = append and path.exists()
        self.handle: TextIO | None = None
        self.writer: Any = None
        self.lines = 0
        if not append and path.exists():
            path.unlink()

    def write(self, row: int, ticket_id: str, level: str, fld: str, message: str) -> None:
        if self.writer is None:
            self.handle = self.path.open("a" if self.append else "w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.handle)
            if not self.append:
                self.writer.writerow(self.COLUMNS)
        self.writer.writerow((row, ticket_id, level, fld, message))
        self.lines += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


class Importer:
    """One import run; ``progress(rows_done, rows_total)`` is called after each batch."""

    def __init__(
        self, api: Api, options: Options, progress: Callable[[int, int], None] | None = None
    ) -> None:
        self.api = api
        self.o = options
        self.progress = progress or (lambda done, total: None)
        self.summary = Summary(dry_run=options.dry_run)
        self.stage_ids: dict[tuple[str, str], int] = {}
        self.pipeline_ids: dict[str, int] = {}
        self.owner_ids: dict[str, int] = {}

    # 1. scan ---------------------------------------------------------------------------------------
    def scan(self) -> Scan:
        scan = Scan()
        for row in read_rows(self.o.path, self.o.zone):
            scan.rows += 1
            if row.stage:
                stages = scan.stages[row.pipeline]
                stages[row.stage] = stages.get(row.stage, 0) + (1 if "closed_at" in row.item else 0)
            elif row.pipeline:
                scan.stages.setdefault(row.pipeline, {})
            if row.owner:
                scan.owners.add(row.owner)
        return scan

    # 2. resolve ------------------------------------------------------------------------------------
    def resolve(self, scan: Scan) -> None:
        """Ids for every pipeline and stage label (created when missing) and every owner email."""
        pipelines = {p["label"].casefold(): p for p in self.api.get("/api/v1/pipelines")}
        first = next(iter(pipelines.values()), None)
        for label, stages in scan.stages.items():
            pipeline = pipelines.get(label.casefold()) if label else first
            if pipeline is None and label:
                pipeline = self._new_pipeline(label, stages)
            if pipeline is None:
                continue
            if label:
                self.pipeline_ids[label.casefold()] = pipeline["id"]
            self._stages(label, pipeline, stages)
        people = self.api.pages("/api/v1/users")
        self.owner_ids = {
            u["email"].casefold(): u["id"]
            for u in people
            if TICKET_PERMISSIONS & set(u.get("permissions") or ())
        }

    def _new_pipeline(self, label: str, stages: dict[str, int]) -> dict[str, Any] | None:
        wanted = [{"label": s, "state": stage_state(s, closed)} for s, closed in stages.items()]
        wanted.sort(key=lambda s: s["state"] == "CLOSED")  # open stages first, as tickets move
        if not any(s["state"] == "OPEN" for s in wanted):
            wanted.insert(0, {"label": "New", "state": "OPEN"})
        self.summary.new_pipelines.append(label)
        self.summary.new_stages += [f"{label} / {s['label']}" for s in wanted]
        if self.o.dry_run:
            return None
        created: dict[str, Any] = self.api.post("/api/v1/pipelines", {"label": label, "stages": wanted})
        return created

    def _stages(self, label: str | None, pipeline: dict[str, Any], stages: dict[str, int]) -> None:
        known = {s["label"].casefold(): s["id"] for s in pipeline["stages"]}
        for stage, closed in stages.items():
            stage_id = known.get(stage.casefold())
            if stage_id is None and stage.casefold() not in known:
                self.summary.new_stages.append(f"{pipeline['label']} / {stage}")
                if self.o.dry_run:
                    continue
                body = {"label": stage, "state": stage_state(stage, closed)}
                updated = self.api.post(f"/api/v1/pipelines/{pipeline['id']}/stages", body)
                known = {s["label"].casefold(): s["id"] for s in updated["stages"]}
                stage_id = known[stage.casefold()]
            if stage_id is not None:
                self.stage_ids[((label or "").casefold(), stage.casefold())] = stage_id

    # 3. send ---------------------------------------------------------------------------------------
    def item_of(self, row: Row, report: _Report) -> dict[str, Any]:
        """The row's item with ids in place of labels and emails (unknown owner: unassigned, reported)."""
        item = dict(row.item)
        if row.pipeline and row.pipeline.casefold() in self.pipeline_ids:
            item["pipeline_id"] = self.pipeline_ids[row.pipeline.casefold()]
        if row.stage:
            stage = self.stage_ids.get(((row.pipeline or "").casefold(), row.stage.casefold()))
            if stage is not None:
                item["status"] = stage
        if row.owner_text:
            owner = self.owner_ids.get(row.owner or "")
            if owner is None:
                who = row.owner or row.owner_text
                self.summary.unknown_owners[who] += 1
                report.write(
                    row.line,
                    item["external_id"],
                    "warning",
                    "Ticket owner",
                    f"unknown owner {who!r}: unassigned",
                )
            item["owner_id"] = owner
        return item

    def _batches(
        self, rows: Iterable[Row], report: _Report
    ) -> Iterable[tuple[list[Row], list[dict[str, Any]]]]:
        batch: list[Row] = []
        items: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            if row.problems:
                self.summary.failed += 1
                for fld, message in row.problems:
                    report.write(row.line, row.item.get("external_id", ""), "error", fld, message)
                if not batch:
                    yield [row], []
                continue
            item = self.item_of(row, report)
            length = len(json.dumps(item))
            if batch and (len(batch) >= self.o.batch_size or size + length > MAX_BATCH_BYTES):
                yield batch, items
                batch, items, size = [], [], 0
            batch.append(row)
            items.append(item)
            size += length
        if batch:
            yield batch, items

    def _send(self, rows: list[Row], items: list[dict[str, Any]], report: _Report) -> None:
        body = {"source": self.o.source, "items": items, "dry_run": self.o.dry_run}
        answer = self.api.post("/api/v1/imports/tickets", body)
        for row, result in zip(rows, answer["results"], strict=True):
            outcome = result["outcome"]
            setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)
            if outcome == "failed":
                error = result.get("error") or {}
                problems = error.get("errors") or {"": [error.get("detail", "failed")]}
                for fld, messages in problems.items():
                    for message in messages if isinstance(messages, list) else [messages]:
                        report.write(row.line, result.get("external_id") or "", "error", fld, str(message))

    # the run ---------------------------------------------------------------------------------------
    def _resume_point(self, mark: str) -> int:
        if self.o.dry_run or self.o.restart:
            return 0
        try:
            state = json.loads(self.o.state.read_text())
        except (OSError, ValueError):
            return 0
        if state.get("fingerprint") != mark or state.get("source") != self.o.source:
            return 0
        for name, value in (state.get("counts") or {}).items():
            setattr(self.summary, name, int(value))
        return int(state.get("rows_done", 0))

    def _save(self, mark: str, rows_done: int) -> None:
        if self.o.dry_run:
            return
        state = {
            "fingerprint": mark,
            "source": self.o.source,
            "rows_done": rows_done,
            "counts": self.summary.counts(),
        }
        temporary = self.o.state.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.o.state)

    def run(self) -> Summary:
        began = time.monotonic()
        mark = fingerprint(self.o.path)
        done = self.summary.resumed_at = self._resume_point(mark)
        scan = self.scan()
        self.summary.rows = scan.rows
        self.resolve(scan)
        report = _Report(self.o.report, append=done > 0)
        self.progress(done, scan.rows)
        try:
            for rows, items in self._batches(read_rows(self.o.path, self.o.zone, skip=done), report):
                if items:
                    self._send(rows, items, report)
                done = rows[-1].line - 1
                self._save(mark, done)
                self.progress(done, scan.rows)
                if self.o.pause:
                    time.sleep(self.o.pause)
        finally:
            report.close()
        if not self.o.dry_run:
            self.o.state.unlink(missing_ok=True)
        self.summary.seconds = time.monotonic() - began
        self.summary.report = str(report.path) if report.lines else None
        return self.summary
