"""bench.creates: the broker's work per create, from two readings of its counters."""

from __future__ import annotations

from bench.creates import broker_table


def test_the_broker_table_divides_the_difference_by_the_creates_and_lists_busy_queues_first() -> None:
    before = {"publish": 100, "confirm": 50, "disk_writes": 10, "queue rpc-tickets": 40, "queue idle": 5}
    after = {
        "publish": 500,
        "confirm": 250,
        "disk_writes": 110,
        "queue rpc-tickets": 240,
        "queue rpc.reply-gateway-*": 300,
        "queue idle": 5,
    }
    lines = broker_table(before, after, creates=200)
    counters = lines[4].strip("| ").split(" | ")
    header = lines[2].strip("| ").split(" | ")
    assert dict(zip(header, counters, strict=True)) == {
        "publish": "2.00",
        "confirm": "1.00",
        "deliver": "0.00",
        "deliver_no_ack": "0.00",
        "ack": "0.00",
        "disk_writes": "0.50",
    }
    queues = lines[lines.index("| --- | ---: |") + 1 :]
    assert queues == ["| rpc.reply-gateway-* | 1.500 |", "| rpc-tickets | 1.000 |"]
    assert not any("idle" in line for line in lines)  # no message in: not listed
