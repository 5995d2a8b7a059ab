"""Who may do what with conversations.

Threads in the help desk follow their ticket: whoever may open the ticket may read the
thread and answer it (the tickets service decides, with the one access rule). Threads in
the conversations inbox belong to no ticket: they are seen by super admins, by users with
account access, and by the user the thread is assigned to. Moving threads between the two
needs account access (SPEC "Move threads"); so do the sender allow/deny lists. Whoever a
move names as owner must be a user who may work tickets, since a thread in the help desk
makes its ticket theirs.
"""

from __future__ import annotations

from services.chassis.errors import Forbidden, SeatRequired
from services.chassis.identity import Caller
from services.permissions.contract import ACCOUNT_ACCESS, works_tickets


def require_ticket_work(caller: Caller) -> None:
    """Reading and answering conversations needs service or sales access (403 otherwise)."""
    if not works_tickets(caller):
        raise Forbidden("Conversations need service or sales access.")


def require_seat(caller: Caller, feature: str) -> None:
    """Suggestions and reply recommendations are seat features (403 ``seat-required`` without one)."""
    if not caller.has_seat:
        raise SeatRequired(f"{feature} need a service seat; ask an admin to assign you one.")


def may_see_inbox_thread(caller: Caller, owner_id: int | None) -> bool:
    return caller.has(ACCOUNT_ACCESS) or (owner_id is not None and owner_id == caller.user_id)


def sees_whole_inbox(caller: Caller) -> bool:
    return caller.has(ACCOUNT_ACCESS)


def require_mover(caller: Caller) -> None:
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Moving threads needs account access.")


def require_rule_admin(caller: Caller) -> None:
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Sender allow and deny lists need account access.")
