"""Rules of configuring pipelines and their stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.chassis.errors import ValidationFailed


def stage_label_problems(labels: Iterable[str]) -> list[str]:
    """Stage labels of one pipeline must be distinct (ignoring case and surrounding spaces)."""
    seen: set[str] = set()
    problems = []
    for label in labels:
        key = label.strip().casefold()
        if not key:
            problems.append("a stage label cannot be blank")
        elif key in seen:
            problems.append(f"stage label {label!r} is used twice")
        seen.add(key)
    return problems


def check_new_pipeline(data: Mapping[str, Any]) -> None:
    """A new pipeline needs distinct stage labels and at least one OPEN stage to start tickets in."""
    errors: dict[str, list[str]] = {}
    stages = list(data["stages"])
    if problems := stage_label_problems(s["label"] for s in stages):
        errors["stages"] = problems
    if not any(s["state"] == "OPEN" for s in stages):
        errors.setdefault("stages", []).append("at least one stage must be OPEN")
    if errors:
        raise ValidationFailed(errors=errors)


def check_stage_order(current_ids: Iterable[int], requested_ids: list[int]) -> None:
    """A reorder names every stage of the pipeline exactly once."""
    if sorted(requested_ids) != sorted(current_ids):
        raise ValidationFailed(errors={"stage_ids": ["must list every stage of the pipeline exactly once"]})


def stage_position_problem(position: int, stage_count: int) -> str | None:
    """A new stage goes somewhere from the first place to just after the last."""
    if position > stage_count:
        return f"must be between 0 and {stage_count}"
    return None
