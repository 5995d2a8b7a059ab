"""EventFlushedCache: flushed values and values computed across a flush are never served."""

from __future__ import annotations

import time

from services.chassis.cache import EventFlushedCache


def test_put_then_get() -> None:
    cache = EventFlushedCache(max_age=10)
    cache.put("k", "v", cache.generation)
    assert cache.get("k") == "v"


def test_flush_drops_everything() -> None:
    cache = EventFlushedCache(max_age=10)
    cache.put("k", "v", cache.generation)
    cache.flush()
    assert cache.get("k") is None


def test_a_value_computed_across_a_flush_is_not_stored() -> None:
    cache = EventFlushedCache(max_age=10)
    generation = cache.generation
    cache.flush()  # a change was announced while the value was being fetched
    cache.put("k", "stale", generation)
    assert cache.get("k") is None


def test_entries_expire_after_the_shorter_of_both_ages() -> None:
    cache = EventFlushedCache(max_age=10)
    cache.put("k", "v", cache.generation, max_age=0.05)
    time.sleep(0.1)
    assert cache.get("k") is None


def test_the_cache_is_bounded() -> None:
    cache = EventFlushedCache(max_age=10, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key, cache.generation)
    assert cache.get("c") == "c"
    assert sum(cache.get(k) is not None for k in ("a", "b", "c")) <= 2
