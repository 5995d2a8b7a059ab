"""The only package of the tickets service that talks to its database.

:class:`TicketStore` is composed of parts that share one session factory and one
clock (:class:`~.base.Records`): ``tickets`` (create, read, change, associations),
``pipelines`` (configuration, resolving stages), ``lists`` (table and board),
``activity`` (follow, read state, timeline), ``slas`` (SLA policies and ticket clocks) and
``views`` (saved views). Each public method of a part is one
transaction and takes keyword arguments only: a change, its timeline entries and its
events (through the outbox) commit together or not at all. Reads for a person always
go through the access rule as SQL (:func:`visible`); a ticket outside it raises
NotFound. Statements shared by several parts are built in :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import Database, SessionFactory
from services.tickets.store.activity import Activity
from services.tickets.store.base import Errors, Records
from services.tickets.store.lists import Lists
from services.tickets.store.pipelines import Pipelines
from services.tickets.store.queries import visible
from services.tickets.store.sla import Slas
from services.tickets.store.tickets import Tickets
from services.tickets.store.views import Views

__all__ = ["Errors", "Store", "TicketStore", "visible"]


class TicketStore:
    """Queries and changes of tickets and pipelines, by part."""

    def __init__(self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK) -> None:
        records = Records(db, clock=clock)
        self.db = db
        self.clock = clock
        self.pipelines = Pipelines(records)
        self.slas = Slas(records)
        self.tickets = Tickets(records, pipelines=self.pipelines, slas=self.slas)
        self.lists = Lists(records, pipelines=self.pipelines)
        self.activity = Activity(records, slas=self.slas)
        self.views = Views(records)


class Store(Database):
    """Dependency giving workers a :class:`TicketStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        self.store = TicketStore(self.factory, clock=self.clock)

    def get_dependency(self, worker_ctx: Any) -> TicketStore:  # type: ignore[override]
        return self.store
