"""A bounded map that forgets its least recently used entry first.

The one such map of the suite: a process's verified identities (:class:`.identity.Verifier`),
each PostgreSQL connection's prepared statements (:mod:`.prepared`), the tickets service's
remembered text probes (``services.tickets.store.queries.TextProbe``). Its promises: it never
holds more than ``size`` entries; reading or writing an entry makes it the most recently used;
the entry forgotten to make room is the least recently used one, and :meth:`put` says which.
No lock: green threads switch only on I/O, and no method does any.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LeastRecentlyUsed(Generic[K, V]):
    """At most ``size`` entries, the least recently used forgotten first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a bounded map holds at least one entry")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def touch(self, key: K) -> bool:
        """Whether ``key`` is held (it is then the most recently used)."""
        if key not in self._entries:
            return False
        self._entries.move_to_end(key)
        return True

    def put(self, key: K, value: V) -> K | None:
        """Hold ``value`` for ``key`` as the most recently used; the key forgotten to make room, if
        any."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) <= self.size:
            return None
        forgotten, _ = self._entries.popitem(last=False)
        return forgotten

    def next_out(self) -> K | None:
        """The key :meth:`put` of a new key would forget now (None while there is room)."""
        if len(self._entries) < self.size:
            return None
        return next(iter(self._entries))

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None."""
        return self._entries.pop(key, None)
