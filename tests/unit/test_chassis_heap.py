"""A service process freezes what its start-up made, once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.chassis import heap


@pytest.fixture
def unsettled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap, "_settled", False)
    yield
    gc.unfreeze()


def walked_by_the_collector() -> set[int]:
    """The ids of the objects in the generations collections walk (not the frozen ones)."""
    return {id(o) for o in gc.get_objects()}


def test_start_up_objects_are_frozen_once(unsettled: None) -> None:
    gc.unfreeze()
    start_up: list[list[int]] = [[] for _ in range(10)]
    assert heap.settle_start_up() >= len(start_up)
    assert not {id(x) for x in start_up} & walked_by_the_collector(), "start-up's objects are frozen"
    frozen = gc.get_freeze_count()
    made_after: list[list[int]] = [[] for _ in range(10)]
    assert heap.settle_start_up() == 0, "a second service in the process does not freeze again"
    assert gc.get_freeze_count() == frozen
    assert {id(x) for x in made_after} <= walked_by_the_collector(), "later objects are collected as usual"


def test_a_frozen_heap_still_collects_garbage_made_afterwards(unsettled: None) -> None:
    heap.settle_start_up()
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
