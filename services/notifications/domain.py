"""Rules of the notifications service."""

from __future__ import annotations

from collections.abc import Iterable


def ticket_created_recipients(super_admin_ids: Iterable[int], creator_id: int, user_count: int) -> list[int]:
    """Super admins other than the creator; a lone bootstrap admin hears of its own tickets."""
    admins = sorted(set(super_admin_ids))
    others = [uid for uid in admins if uid != creator_id]
    if not others and user_count == 1 and admins == [creator_id]:
        return [creator_id]
    return others


def sla_breach_recipients(owner_id: int | None, follower_ids: Iterable[int]) -> list[int]:
    """SPEC: a breach notifies the ticket's owner and its followers (each once)."""
    found = set(follower_ids)
    if owner_id is not None:
        found.add(owner_id)
    return sorted(found)
