"""The only package of the conversations service that talks to its database.

:class:`ConversationStore` is composed of parts sharing one session factory and one clock:
``threads`` (what arrives, tickets attached, moves, lists), ``messages`` (agents' replies
and notes, the outgoing mail queue, attachments), ``rules`` (sender allow/deny lists),
``lifecycle`` (threads following their ticket's merge, split, spam, delete, restore, purge) and
``search`` (the per-ticket text index behind reply recommendations and suggestions).
Every public method of a part is one transaction and takes keyword arguments only; a
change and the events announcing it commit together.
"""

from __future__ import annotations

from typing import Any

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import Database, SessionFactory
from services.conversations.store.base import Records
from services.conversations.store.lifecycle import Lifecycle, Purged
from services.conversations.store.messages import Author, Draft, Due, Messages
from services.conversations.store.rules import Rules
from services.conversations.store.search import Search
from services.conversations.store.threads import Pending, Received, Threads

__all__ = ["Author", "ConversationStore", "Draft", "Due", "Pending", "Purged", "Received", "Store"]


class ConversationStore:
    """Threads, messages and sender rules, by part."""

    def __init__(self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK) -> None:
        records = Records(db, clock=clock)
        self.db = db
        self.clock = clock
        self.threads = Threads(records)
        self.messages = Messages(records)
        self.rules = Rules(records)
        self.lifecycle = Lifecycle(records)
        self.search = Search(records)


class Store(Database):
    """Dependency giving workers a :class:`ConversationStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        self.store = ConversationStore(self.factory, clock=self.clock)

    def get_dependency(self, worker_ctx: Any) -> ConversationStore:  # type: ignore[override]
        return self.store
