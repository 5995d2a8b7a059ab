"""The outbox relay's pass without a database or broker: while commits keep coming, a batch's marking
rides in the next claim's transaction; the pass's last batch, and a batch whose publish failed, are
marked on their own before the pass ends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.chassis.loop import WakeableLoop
from services.chassis.outbox import OutboxRelay


class Recorder:
    """Stands in for the relay's claim, publish and settle; ``batches`` are the claims' answers,
    ``wake_during`` the publishes during which a commit wakes the loop."""

    def __init__(
        self, relay: OutboxRelay, batches: list[list[int]], wake_during: set[int], fail: set[int]
    ) -> None:
        self.relay = relay
        self.batches = batches
        self.wake_during = wake_during
        self.fail = fail
        self.calls: list[tuple[Any, ...]] = []
        self.publishes = 0

    def claim(self, unsettled: Any = None) -> list[Any]:
        self.calls.append(("claim", unsettled))
        ids = self.batches.pop(0) if self.batches else []
        return [SimpleNamespace(id=i) for i in ids]

    def publish(self, rows: list[Any]) -> list[int]:
        self.publishes += 1
        if self.publishes in self.wake_during:
            self.relay.loop.wake()
        if self.publishes in self.fail:
            raise ConnectionError("the broker went away")
        return [row.id for row in rows]

    def settle(self, ids: list[int], published: list[int]) -> None:
        self.calls.append(("settle", (ids, published)))


def relay_with(
    batches: list[list[int]], wake_during: set[int], fail: frozenset[int] = frozenset()
) -> Recorder:
    relay = OutboxRelay.__new__(OutboxRelay)
    relay.poll_seconds = 1.0
    relay._foreign_lease_end = None
    relay.loop = WakeableLoop("test relay", lambda: None)
    relay.loop._running = True
    recorder = Recorder(relay, batches, wake_during, set(fail))
    relay._claim = recorder.claim  # type: ignore[method-assign]
    relay._publish = recorder.publish  # type: ignore[method-assign]
    relay._settle = recorder.settle  # type: ignore[method-assign]
    return recorder


def test_under_a_stream_of_commits_each_batch_is_marked_in_the_next_claim() -> None:
    recorder = relay_with([[1, 2], [3], [4, 5]], wake_during={1, 2})
    assert recorder.relay._pass() == 1.0
    assert recorder.calls == [
        ("claim", None),
        ("claim", ([1, 2], [1, 2])),
        ("claim", ([3], [3])),
        ("settle", ([4, 5], [4, 5])),  # no commit during its publish: the pass ends, marked alone
    ]
    assert not recorder.relay.loop.woken, "the wakes were taken by the pass's own claims"


def test_a_batch_then_nothing_new_costs_a_claim_and_a_settle() -> None:
    recorder = relay_with([[7]], wake_during=set())
    recorder.relay._pass()
    assert recorder.calls == [("claim", None), ("settle", ([7], [7]))]


def test_a_woken_claim_that_finds_nothing_still_marks_the_batch_before() -> None:
    recorder = relay_with([[1], []], wake_during={1})
    recorder.relay._pass()
    assert recorder.calls == [("claim", None), ("claim", ([1], [1]))]


def test_a_failed_publish_releases_its_batch_on_its_own_and_raises() -> None:
    recorder = relay_with([[1], [2, 3]], wake_during={1}, fail=frozenset({2}))
    with pytest.raises(ConnectionError):
        recorder.relay._pass()
    assert recorder.calls == [("claim", None), ("claim", ([1], [1])), ("settle", ([2, 3], []))]
