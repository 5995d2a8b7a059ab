"""Rules of a ticket's life beyond edits: merge, split, spam, delete, restore, purge.

Each action is a job (a saga) whose first step commits here, decisively, and whose later
steps finish it in the conversations service; :class:`Standing` is what the rules need to
know about a ticket to allow an action, and the functions below decide (refuse, or say what
changes). While a job has not finished everywhere the ticket carries ``in_progress`` (the
action) and ``job_id``; a second lifecycle action on it waits (409) until then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.domain import Event
from services.chassis.errors import Conflict, Moved, ValidationFailed
from services.tickets import contract
from services.tickets.domain.access import Scope
from services.tickets.domain.ticket import Change, Entry

MAX_MERGES = contract.MAX_MERGES


@dataclass(frozen=True)
class Standing:
    """A ticket as the lifecycle rules see it."""

    id: int
    owner_id: int | None
    state: str  # its stage's OPEN or CLOSED
    merged_into_id: int | None
    deleted: bool
    purging: bool
    in_progress: str | None
    job_id: int | None
    merge_count: int
    created_at: dt.datetime
    unread_seq: int
    version: int


def moved(ticket_id: int, survivor_id: int) -> Moved:
    """The answer about an absorbed ticket: it lives on as ``survivor_id`` (301 at the gateway)."""
    return Moved(
        f"ticket {ticket_id} was merged into ticket {survivor_id}",
        merged_into=survivor_id,
        location=f"/api/v1/tickets/{survivor_id}",
    )


def busy(t: Standing) -> Conflict:
    return Conflict(
        f"ticket {t.id}: a {t.in_progress} is still in progress (job {t.job_id}); try again once it finished",
        job_id=t.job_id,
    )


def check_live(t: Standing) -> None:
    """Refuse an action on an absorbed ticket (it lives on as its survivor) or one being worked on."""
    if t.merged_into_id is not None:
        raise moved(t.id, t.merged_into_id)
    if t.in_progress is not None:
        raise busy(t)


# -- merge -------------------------------------------------------------------------------------------


def check_merge(primary: Standing, secondary: Standing) -> None:
    """SPEC "Merge": not with itself, not a deleted or an already absorbed ticket, not past 250 merges."""
    if primary.id == secondary.id:
        raise ValidationFailed(errors={"secondary_id": ["a ticket cannot be merged with itself"]})
    for t in (primary, secondary):
        if t.merged_into_id is not None:
            raise Conflict(
                f"ticket {t.id} was already merged into ticket {t.merged_into_id}",
                merged_into=t.merged_into_id,
            )
        if t.deleted:
            raise Conflict(f"ticket {t.id} is in the recycle bin")
        if t.in_progress is not None:
            raise busy(t)
        if t.merge_count >= MAX_MERGES:
            raise Conflict(f"ticket {t.id} has taken part in {MAX_MERGES} merges and cannot merge again")


def merge_change(
    primary: Standing, secondary: Standing, *, actor_id: int, absorbed: list[int], now: dt.datetime
) -> Change:
    """What a merge does to the survivor: the older create date, one more merge (plus those the
    absorbed ticket carried), a new version, a timeline entry and ``ticket_merged``.

    ``absorbed`` lists every id the survivor will have absorbed, this one included.
    """
    values: dict[str, Any] = {
        "created_at": min(primary.created_at, secondary.created_at),
        "merge_count": primary.merge_count + secondary.merge_count + 1,
        "version": primary.version + 1,
    }
    entry = Entry("merged", "merged_ticket_ids", new=secondary.id)
    event = Event(
        contract.TICKET_MERGED,
        {
            "ticket_id": primary.id,
            "actor_id": actor_id,
            "merged_ticket_id": secondary.id,
            "merged_ticket_ids": sorted(absorbed),
            "owner_id": primary.owner_id,
        },
    )
    return Change(values, (entry,), (event,))


def reads_after_merge(
    primary_reads: Mapping[int, int], secondary_reads: Mapping[int, int], primary_seq: int, secondary_seq: int
) -> set[int]:
    """Users who stay read on the survivor: those who had read both tickets (SPEC "Merge").

    A read mark counts when it is at the ticket's current unread sequence; anyone else, who
    had not read one of the two, sees the survivor unread.
    """
    read_primary = {user for user, seq in primary_reads.items() if seq >= primary_seq}
    read_secondary = {user for user, seq in secondary_reads.items() if seq >= secondary_seq}
    return read_primary & read_secondary


# -- split -------------------------------------------------------------------------------------------


def check_split(t: Standing) -> None:
    """A closed ticket cannot be split (SPEC "Split"); nor can one absorbed or being worked on."""
    check_live(t)
    if t.state == "CLOSED":
        raise Conflict(f"ticket {t.id} is closed; a closed ticket cannot be split")


def split_entries(source_id: int, new_id: int, message_ids: list[int]) -> tuple[Entry, Entry]:
    """The links both ways: ``split_into`` on the source, ``split_from`` on the new ticket."""
    return (
        Entry("split_into", "ticket_id", new={"ticket_id": new_id, "message_ids": message_ids}),
        Entry("split_from", "ticket_id", new={"ticket_id": source_id, "message_ids": message_ids}),
    )


def split_event(source: Standing, new_id: int, message_ids: list[int], actor_id: int) -> Event:
    return Event(
        contract.TICKET_SPLIT,
        {
            "ticket_id": source.id,
            "actor_id": actor_id,
            "new_ticket_id": new_id,
            "message_ids": message_ids,
            "owner_id": source.owner_id,
        },
    )


# -- delete, restore, purge ----------------------------------------------------------------------------


def delete_skip_reason(t: Standing | None, scope: Scope) -> str | None:
    """Why a bulk delete leaves this ticket alone, or None to delete it."""
    if t is None or not scope.allows(t.owner_id):
        return "not found"
    if t.merged_into_id is not None:
        return f"merged into ticket {t.merged_into_id}"
    if t.deleted:
        return "already in the recycle bin"
    if t.in_progress is not None:
        return f"a {t.in_progress} is in progress (job {t.job_id})"
    return None


def deleted(t: Standing, *, actor_id: int, reason: str) -> Change:
    """A ticket goes to the recycle bin: a timeline entry and ``ticket_deleted``."""
    event = Event(
        contract.TICKET_DELETED,
        {"ticket_id": t.id, "actor_id": actor_id, "reason": reason, "owner_id": t.owner_id},
    )
    return Change({}, (Entry("deleted", "reason", new=reason),), (event,))


def check_restore(t: Standing) -> None:
    """Only a ticket in the bin, not yet being purged and not being worked on, can be restored."""
    if t.merged_into_id is not None:
        raise moved(t.id, t.merged_into_id)
    if not t.deleted:
        raise Conflict(f"ticket {t.id} is not in the recycle bin")
    if t.purging:
        raise Conflict(f"ticket {t.id} is being purged and can no longer be restored")
    if t.in_progress is not None:
        raise busy(t)


def restored(t: Standing, *, actor_id: int) -> Change:
    event = Event(contract.TICKET_RESTORED, {"ticket_id": t.id, "actor_id": actor_id, "owner_id": t.owner_id})
    return Change({}, (Entry("restored"),), (event,))


# -- spam ----------------------------------------------------------------------------------------------


def check_spam(t: Standing, chosen: list[int], live_threads: list[int]) -> bool:
    """Spam marks only the ticket's own threads; returns True when all of them are chosen (SPEC
    "Spam": the ticket is then deleted as well)."""
    check_live(t)
    unknown = sorted(set(chosen) - set(live_threads))
    if unknown:
        raise ValidationFailed(
            errors={"thread_ids": [f"not threads of ticket {t.id}: {', '.join(map(str, unknown))}"]}
        )
    return set(chosen) == set(live_threads)


def spam_entry(thread_ids: list[int]) -> Entry:
    return Entry("marked_spam", "thread_ids", new=sorted(thread_ids))


def not_spam_entry(thread_id: int) -> Entry:
    return Entry("not_spam", "thread_id", new=thread_id)


# -- scopes travel with jobs ---------------------------------------------------------------------------


def scope_to_wire(scope: Scope) -> dict[str, Any]:
    """A job keeps its actor's scope as it was when the job began, for the steps that run later."""
    return {
        "everything": scope.everything,
        "owner_ids": sorted(scope.owner_ids),
        "unassigned": scope.unassigned,
    }


def scope_from_wire(data: Mapping[str, Any]) -> Scope:
    return Scope(
        bool(data["everything"]), frozenset(data.get("owner_ids") or ()), bool(data.get("unassigned"))
    )
