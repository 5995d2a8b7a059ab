"""Names on the wire that every publisher of events agrees on, nameko's and not (plain Python).

The outbox relay sets these headers on each event; the SMTP edge (an asyncio process that
publishes with pika) sets the same ones, so subscribers cannot tell the two apart.
"""

from __future__ import annotations

EVENT_ID_HEADER = "nameko.event_id"
"""The event's id; nameko hands it to the handler's worker context."""

PRODUCER_HEADER = "x-helpdesk-producer"
"""Header naming the service that published an event; subscriptions refuse events whose producer
is not the service that owns the exchange they came through."""


def event_exchange_name(service_name: str) -> str:
    """The topic exchange a service's events are published to (nameko's naming)."""
    return f"{service_name}.events"
