"""The only package of the tickets service that talks to its database.

:class:`TicketStore` is composed of parts that share one session factory, one clock and
one snapshot of the configuration (:class:`~.base.Records`; :mod:`.config`): ``tickets``
(create, read, change, associations), ``pipelines`` (configuration, resolving stages),
``lists`` (table and board), ``activity`` (follow, read state, timeline), ``search``
(conditions on any field), ``imports`` (tickets from another help desk, by external id),
``slas`` (SLA policies and ticket clocks), ``views`` (saved views), and the lifecycle parts
(docs/architecture.md "Sagas"): ``jobs`` (job records, leases, items), ``merges``,
``splits``, ``bin`` (delete, restore, purge), ``spam``, ``bulk`` and ``retire`` (deleting
stages and pipelines). Each public method of a part is one transaction and takes keyword
arguments only: a change, its timeline entries and its events (through the outbox) commit
together or not at all. Reads for a person always go through the access rule as SQL
(:func:`visible`); a ticket outside it raises NotFound. Statements shared by several parts
are built in :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import Database, SessionFactory
from services.tickets.store.activity import Activity
from services.tickets.store.base import Errors, Records
from services.tickets.store.bin import Bin
from services.tickets.store.bulk import Bulk
from services.tickets.store.imports import ImportItem, Imports, failed
from services.tickets.store.jobs import Job, Jobs
from services.tickets.store.lists import Lists
from services.tickets.store.merges import Merges
from services.tickets.store.pipelines import Pipelines
from services.tickets.store.queries import visible
from services.tickets.store.retire import Retire
from services.tickets.store.search import Search
from services.tickets.store.sla import Slas
from services.tickets.store.spam import Spam
from services.tickets.store.splits import Splits
from services.tickets.store.tickets import Tickets
from services.tickets.store.views import Views

__all__ = ["Errors", "ImportItem", "Job", "Store", "TicketStore", "failed", "visible"]


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
        self.search = Search(records)
        self.imports = Imports(records, pipelines=self.pipelines)
        self.jobs = Jobs(records)
        self.merges = Merges(records, jobs=self.jobs, slas=self.slas)
        self.splits = Splits(records, jobs=self.jobs, tickets=self.tickets)
        self.bin = Bin(records, jobs=self.jobs)
        self.spam = Spam(records, jobs=self.jobs, tickets=self.tickets)
        self.bulk = Bulk(records, jobs=self.jobs, tickets=self.tickets)
        self.retire = Retire(records, jobs=self.jobs)
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
