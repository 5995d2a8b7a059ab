"""What happens to a thread, as the events that announce it.

The store saves threads and messages; these functions decide what each change announces,
so every payload is written in one place, in the contract's terms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from services.chassis.clock import isoformat
from services.chassis.domain import Event
from services.conversations import contract


def thread_created(
    *, thread_id: int, channel: str, location: str, subject: str, customer_email: str, actor_id: int | None
) -> Event:
    return Event(
        contract.THREAD_CREATED,
        {
            "thread_id": thread_id,
            "ticket_id": None,
            "channel": channel,
            "location": location,
            "subject": subject,
            "customer_email": customer_email,
            "actor_id": actor_id,
        },
    )


@dataclass(frozen=True)
class ThreadRef:
    """What every event about a thread's messages names: the thread, its ticket, its channel."""

    id: int
    ticket_id: int | None
    channel: str


def message_added(
    thread: ThreadRef,
    *,
    message_id: int,
    kind: str,
    author_id: int | None,
    auto: str | None,
    mentions: Sequence[int],
    at: dt.datetime,
) -> Event:
    """A message on the thread; the tickets service turns it into unread, reply times, assignment."""
    return Event(
        contract.MESSAGE_ADDED,
        {
            "thread_id": thread.id,
            "ticket_id": thread.ticket_id,
            "message_id": message_id,
            "kind": kind,
            "channel": thread.channel,
            "author_id": author_id,
            "auto": auto,
            "mentions": sorted(set(mentions)),
            "at": isoformat(at),
        },
    )


def thread_attached(*, thread_id: int, ticket_id: int, actor_id: int | None) -> Event:
    return Event(
        contract.THREAD_ATTACHED, {"thread_id": thread_id, "ticket_id": ticket_id, "actor_id": actor_id}
    )


def thread_moved(
    *,
    thread_id: int,
    ticket_id: int | None,
    previous_ticket_id: int | None,
    from_location: str,
    to_location: str,
    owner_id: int | None,
    actor_id: int,
) -> Event:
    return Event(
        contract.THREAD_MOVED,
        {
            "thread_id": thread_id,
            "ticket_id": ticket_id,
            "previous_ticket_id": previous_ticket_id,
            "from_location": from_location,
            "to_location": to_location,
            "owner_id": owner_id,
            "actor_id": actor_id,
        },
    )


def delivery_changed(
    *, thread_id: int, ticket_id: int | None, message_id: int, state: str, reason: str | None
) -> Event:
    return Event(
        contract.MESSAGE_DELIVERY_CHANGED,
        {
            "thread_id": thread_id,
            "ticket_id": ticket_id,
            "message_id": message_id,
            "state": state,
            "reason": reason,
        },
    )


RETRY_DELAYS = (2, 4, 8, 16, 32, 60, 120, 300, 600, 1200, 1800, 3600)
"""Seconds before each retry of a mail the relay did not take; after the last, it failed."""


def next_retry(attempts: int) -> int | None:
    """Seconds until the next try after ``attempts`` failed ones, or None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else None
