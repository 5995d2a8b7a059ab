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
