"""Building blocks of the services' domain code (plain Python: no nameko, no SQLAlchemy).

Domain objects decide; stores save. A rule that changes something returns the
:class:`Event` values that announce it, and the store records exactly those in the
outbox in the same transaction as the change (:meth:`services.chassis.outbox.Outbox.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """An event a rule decided on: its type (a contract constant) and its payload."""

    type: str
    payload: dict[str, Any]
