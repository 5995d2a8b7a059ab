"""Which durable queues the chassis declares: classic by default, quorum when asked, with the
arguments each kind supports."""

from __future__ import annotations

import pytest

from services.chassis.events import subscription_queues
from services.chassis.queues import (
    DELIVERY_LIMIT,
    QUORUM,
    durable_arguments,
    queue_type,
)


def test_the_kind_comes_from_the_config_then_the_environment_then_classic() -> None:
    assert queue_type({}, {}) == "classic"
    assert queue_type({}, {"HELPDESK_QUEUE_TYPE": "quorum"}) == "quorum"
    assert queue_type({"QUEUE_TYPE": "classic"}, {"HELPDESK_QUEUE_TYPE": "quorum"}) == "classic"
    with pytest.raises(RuntimeError, match="is neither"):
        queue_type({"QUEUE_TYPE": "stream"}, {})


def test_classic_queues_keep_the_arguments_they_always_had() -> None:
    main, retry, dead = subscription_queues("src", "thing_happened", "svc", "handle")
    assert main.queue_arguments in (None, {})
    assert retry.queue_arguments == {
        "x-dead-letter-exchange": "svc.redelivery",
        "x-dead-letter-routing-key": main.name,
    }
    assert dead.queue_arguments in (None, {})
    assert durable_arguments("classic", delivery_limit=5) == {}


def test_quorum_queues_bound_poison_and_dead_letter_at_least_once() -> None:
    main, retry, dead = subscription_queues("src", "thing_happened", "svc", "handle", kind=QUORUM)
    assert main.queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "svc.redelivery",
        "x-dead-letter-routing-key": f"{main.name}.dead",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert retry.queue_arguments["x-dead-letter-routing-key"] == main.name
    assert retry.queue_arguments["x-dead-letter-strategy"] == "at-least-once"
    assert "x-delivery-limit" not in retry.queue_arguments
    assert dead.queue_arguments == {"x-queue-type": "quorum"}
