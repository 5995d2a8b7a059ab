"""How the command line answers: Rich tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True)


def emit_json(data: Any) -> None:
    """JSON on stdout, exactly what the API answered (or the command's own summary)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items() if v)
    return str(value)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, title: str | None = None) -> None:
    """A table of ``columns`` (keys of each row)."""
    shown = Table(title=title, header_style="bold")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(_cell(row.get(c)) for c in columns))
    out.print(shown)


def record(data: dict[str, Any], *, title: str | None = None) -> None:
    """One object as a two-column table of its fields."""
    shown = Table(title=title, show_header=False)
    shown.add_column("field", style="bold")
    shown.add_column("value", overflow="fold")
    for key, value in data.items():
        shown.add_row(key, _cell(value))
    out.print(shown)


def progress(*, quiet: bool) -> Progress:
    """A progress bar with count, rate, elapsed time and ETA (on stderr, so stdout stays clean)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


def rate(done: int, seconds: float, unit: str = "rows") -> str:
    return f"{done / seconds:,.0f} {unit}/s" if seconds > 0 else ""
