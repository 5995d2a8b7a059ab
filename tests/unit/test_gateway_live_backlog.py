"""The live stream's backlog keeps its bounds: time, entries and bytes, with its key index in step.

Proves that a burst of large events is trimmed from the oldest by the byte bound (the newest
always kept), that the count of bytes returns to zero as entries leave, and that a trimmed
entry's key is no longer found for a client resuming from another instance.
"""

from __future__ import annotations

import pytest

from gateway import live


def test_a_burst_of_large_events_is_trimmed_by_bytes_from_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "BACKLOG_BYTES", 10_000)
    hub = live.LiveHub()
    payload = {"text": "x" * 1_000}
    entries = [hub.append("ticket_updated", payload, ticket_id=i, key=f"event-{i}") for i in range(40)]

    assert hub.backlog_bytes <= live.BACKLOG_BYTES
    kept = list(hub.backlog)
    assert kept == entries[-len(kept) :] and 1 < len(kept) < 40
    assert hub.backlog_bytes == sum(live.entry_bytes(e) for e in kept)
    assert "event-0" not in hub.keys and hub.keys["event-39"] == entries[-1].seq
    assert set(hub.keys) == {e.key for e in kept}


def test_small_events_are_kept_up_to_the_entry_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "BACKLOG_ENTRIES", 25)
    hub = live.LiveHub()
    for i in range(100):
        hub.append("unread", {"unread": i}, user_id=7, key=f"read-{i}")
    assert len(hub.backlog) == 25 and hub.backlog[0].key == "read-75"
    assert hub.backlog_bytes == sum(live.entry_bytes(e) for e in hub.backlog)


def test_expired_entries_leave_and_their_bytes_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = live.LiveHub()
    for i in range(5):
        hub.append("unread", {"unread": i}, user_id=7, key=f"old-{i}")
    monkeypatch.setattr(live, "BACKLOG_SECONDS", -1.0)  # everything already kept is now too old
    newest = hub.append("unread", {"unread": 5}, user_id=7, key="new")
    assert list(hub.backlog) == [] and hub.backlog_bytes == 0 and hub.keys == {}
    assert newest.seq == 6
