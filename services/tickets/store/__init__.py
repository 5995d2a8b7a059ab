"""The only package of the tickets service that talks to its database.

Each public method of :class:`TicketStore` is one transaction: a change, its
timeline entries and its events (through the outbox) commit together or not at
all. Reads for a person always go through the access rule as SQL
(:func:`visible`); a ticket outside it raises NotFound. Statements shared by
several parts are built in :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any

from services.chassis.db import Database
from services.tickets.store.activity import ActivityStore
from services.tickets.store.base import EVERYTHING, Errors
from services.tickets.store.lists import ListStore
from services.tickets.store.queries import visible
from services.tickets.store.tickets import TicketWrites

__all__ = ["EVERYTHING", "Errors", "Store", "TicketStore", "visible"]


class TicketStore(TicketWrites, ListStore, ActivityStore):
    """Queries and changes of tickets and pipelines; each public method is one transaction."""


class Store(Database):
    """Dependency giving workers a :class:`TicketStore`."""

    def get_dependency(self, worker_ctx: Any) -> TicketStore:  # type: ignore[override]
        return TicketStore(super().get_dependency(worker_ctx))
