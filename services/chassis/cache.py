"""Caches that never outlive a change they were told about.

An :class:`EventFlushedCache` is emptied whenever one of a chosen set of broadcast
events arrives and after every reconnection of the :class:`BrokerLink` that feeds it
(events may have been missed meanwhile). Entries also expire after ``max_age`` as a
backstop. A value computed while a flush happened is not stored: callers read
:attr:`generation` before computing and hand it back to :meth:`put`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from services.chassis.rpc import BrokerLink

T = TypeVar("T")


class EventFlushedCache:
    def __init__(self, max_age: float, max_entries: int = 50_000) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[Any, float]] = {}
        self.generation = 0

    def attach(self, link: BrokerLink, exchange: str, event_types: Iterable[str]) -> None:
        """Flush on ``event_types`` from ``exchange`` and on every (re)connection of ``link``."""
        link.subscribe_broadcast(
            exchange, event_types, lambda _type, _body: self.flush(), on_connect=self.flush
        )

    def flush(self) -> None:
        self._entries = {}
        self.generation += 1

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, key: Any, value: Any, generation: int, max_age: float | None = None) -> None:
        """Store ``value`` unless the cache was flushed since ``generation`` was read."""
        if generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries = {}
        age = self.max_age if max_age is None else min(max_age, self.max_age)
        self._entries[key] = (value, time.time() + age)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (a lookup's limit per call)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
