"""Rules of retention, as plain Python: the periods, when an item is due, when a run is due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.retention import contract

DEFAULTS = {
    "SPAM_DAYS": 90.0,
    "BIN_DAYS": 90.0,
    "HOUSEKEEPING_DAYS": 30.0,
    "RUN_EVERY_SECONDS": 3600.0,
    "PURGE_BATCH": 500,
    "PURGE_PAUSE": 0.5,
}


@dataclass(frozen=True)
class Policy:
    """The configured periods (days; fractions allowed) and how a run paces itself.

    ``batch`` items per call to an owner; ``pause`` seconds between batches, so that a large
    purge leaves the databases and the broker to the people using them.
    """

    spam_days: float = 90.0
    bin_days: float = 90.0
    housekeeping_days: float = 30.0
    every_seconds: float = 3600.0
    batch: int = 500
    pause: float = 0.5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        def number(name: str) -> float:
            value = config.get(name)
            return float(DEFAULTS[name] if value in (None, "") else value)

        policy = cls(
            spam_days=number("SPAM_DAYS"),
            bin_days=number("BIN_DAYS"),
            housekeeping_days=number("HOUSEKEEPING_DAYS"),
            every_seconds=number("RUN_EVERY_SECONDS"),
            batch=int(number("PURGE_BATCH")),
            pause=number("PURGE_PAUSE"),
        )
        if min(policy.spam_days, policy.bin_days, policy.housekeeping_days, policy.pause) < 0:
            raise ValueError("retention periods and the pause cannot be negative")
        if not 1 <= policy.batch <= 1000:
            raise ValueError("PURGE_BATCH must be from 1 to 1000")
        return policy

    def days(self, kind: str) -> float:
        """The period of what ``kind`` names (``spam_thread``, ``bin_ticket``, or a policy name)."""
        policy = contract.KIND_POLICY.get(kind, kind)
        return {"spam": self.spam_days, "bin": self.bin_days, "housekeeping": self.housekeeping_days}[policy]

    def cutoff(self, kind: str, now: dt.datetime, horizon_days: float = 0.0) -> dt.datetime:
        """Items of ``kind`` marked at this moment or earlier are due at ``now`` (+ the horizon)."""
        return now + dt.timedelta(days=horizon_days) - dt.timedelta(days=self.days(kind))

    def due_at(self, kind: str, marked_at: dt.datetime) -> dt.datetime:
        return marked_at + dt.timedelta(days=self.days(kind))

    def as_list(self) -> list[dict[str, Any]]:
        return [
            {"policy": "spam", "days": self.spam_days},
            {"policy": "bin", "days": self.bin_days},
            {"policy": "housekeeping", "days": self.housekeeping_days},
        ]


def run_is_due(last_started: dt.datetime | None, now: dt.datetime, every_seconds: float) -> bool:
    """A scheduled run is due when none ran yet, or the last began ``every_seconds`` ago."""
    return last_started is None or (now - last_started).total_seconds() >= every_seconds
