"""Which kind of durable queue the suite declares: classic (one node) or quorum (a cluster).

A classic queue lives on one node and dies with it; a quorum queue is replicated (Raft) over the
cluster's nodes and keeps working while a majority of them live. Every durable queue of ours (the
RPC request queues ``rpc-<service>``, the subscription queues and their ``.retry`` and ``.dead``
companions) is declared with the arguments :func:`durable_arguments` gives, so the kind is decided
in one place: setting ``QUEUE_TYPE`` in a service's config, or ``HELPDESK_QUEUE_TYPE`` in the
environment (what deploy tools read), to ``quorum``. Reply and broadcast queues stay classic,
exclusive and auto-deleted: they belong to one connection and die with it anyway.

A queue's kind cannot change once it exists (the broker refuses a declaration with other
arguments), so switching a running deployment means new queues (a fresh vhost or cluster).

On quorum queues (RabbitMQ 3.10):

* a message whose consumer keeps dying with it (a poison message that crashes the process) would
  be redelivered for ever; ``x-delivery-limit`` stops that. A subscription's message over the limit
  goes to its dead-letter queue; an RPC request over the limit is dropped (its caller's deadline
  passed long before, and its reply could reach nobody);
* dead-lettering (retries coming back from ``.retry`` when their TTL expires, messages over the
  delivery limit) is ``at-least-once``: the broker keeps the message until the target queue has
  confirmed it, instead of dropping it if the target is briefly unavailable (it requires
  ``x-overflow: reject-publish``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

CLASSIC = "classic"
QUORUM = "quorum"
CONFIG_KEY = "QUEUE_TYPE"
ENV_VAR = "HELPDESK_QUEUE_TYPE"

DELIVERY_LIMIT = 10
"""Deliveries of one event to a subscriber before it is dead-lettered: a handler's own failures are
retried (and counted) by :mod:`services.chassis.events`, so these are deliveries whose consumer died
with the message, which a crash loop makes and an ordinary instance restart does not."""

RPC_DELIVERY_LIMIT = 5
"""Deliveries of one RPC request before it is dropped."""


def queue_type(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The kind of durable queue to declare: ``config[QUEUE_TYPE]``, else ``$HELPDESK_QUEUE_TYPE``,
    else classic."""
    value = (config or {}).get(CONFIG_KEY) or environ.get(ENV_VAR) or CLASSIC
    if value not in (CLASSIC, QUORUM):
        raise RuntimeError(
            f"queue type {value!r} is neither {CLASSIC!r} nor {QUORUM!r} ({CONFIG_KEY}/{ENV_VAR})"
        )
    return str(value)


def durable_arguments(
    kind: str, *, delivery_limit: int | None = None, dead_letter: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The ``queue_arguments`` of a durable queue of ``kind``.

    ``dead_letter`` is ``(exchange, routing key)`` for messages that expire or are rejected (and, on
    quorum queues, that go over ``delivery_limit``). On a classic queue the delivery limit does not
    exist and is left out."""
    arguments: dict[str, Any] = {}
    if dead_letter is not None:
        arguments["x-dead-letter-exchange"], arguments["x-dead-letter-routing-key"] = dead_letter
    if kind == QUORUM:
        arguments["x-queue-type"] = QUORUM
        if delivery_limit is not None:
            arguments["x-delivery-limit"] = delivery_limit
        if dead_letter is not None:
            arguments["x-dead-letter-strategy"] = "at-least-once"
            arguments["x-overflow"] = "reject-publish"
    return arguments
