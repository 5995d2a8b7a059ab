"""``chassis.lru.LeastRecentlyUsed``: bounded, and what it forgets is the least recently used."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.chassis.lru import LeastRecentlyUsed


def test_reading_an_entry_keeps_it_and_the_least_recently_used_goes() -> None:
    held: LeastRecentlyUsed[str, int] = LeastRecentlyUsed(2)
    assert held.put("a", 1) is None and held.put("b", 2) is None
    assert held.get("a") == 1  # now b is the least recently used
    assert held.next_out() == "b"
    assert held.put("c", 3) == "b"
    assert (held.get("a"), held.get("b"), held.get("c"), len(held)) == (1, None, 3, 2)
    assert held.touch("a") and not held.touch("b")
    assert held.pop("c") == 3 and held.pop("c") is None and held.next_out() is None


def test_a_map_of_no_entries_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LeastRecentlyUsed(0)


@given(st.integers(1, 5), st.lists(st.tuples(st.sampled_from("gpt"), st.integers(0, 7)), max_size=60))
def test_it_behaves_as_a_list_ordered_by_last_use(size: int, steps: list[tuple[str, int]]) -> None:
    held: LeastRecentlyUsed[int, int] = LeastRecentlyUsed(size)
    order: list[int] = []  # the model: keys, least recently used first
    for step, key in steps:
        if step == "p":
            expected_out = order[0] if len(order) == size and key not in order else None
            assert held.put(key, key * 10) == expected_out
            order = [k for k in order if k not in (key, expected_out)] + [key]
        elif step == "g":
            assert held.get(key) == (key * 10 if key in order else None)
            if key in order:
                order = [k for k in order if k != key] + [key]
        else:
            assert held.touch(key) == (key in order)
            if key in order:
                order = [k for k in order if k != key] + [key]
        assert len(held) == len(order) <= size
        assert held.next_out() == (order[0] if len(order) == size else None)
