"""Rules of the tickets service, as plain Python (no nameko, no SQLAlchemy).

The access rule lives here, once: :func:`scope_for` turns a caller into a
:class:`Scope`, which every read path applies (the store as a SQL filter, and
:meth:`Scope.allows` for one ticket). A ticket outside the scope does not exist
for the caller.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from services.chassis.errors import Forbidden
from services.chassis.identity import Caller


@dataclass(frozen=True)
class Scope:
    """Which tickets a caller may see: all, or those owned by ``owner_ids`` (plus unassigned)."""

    everything: bool
    owner_ids: frozenset[int] = frozenset()
    unassigned: bool = False

    def allows(self, owner_id: int | None) -> bool:
        if self.everything:
            return True
        if owner_id is None:
            return self.unassigned
        return owner_id in self.owner_ids


def scope_for(caller: Caller) -> Scope:
    """The one ticket access rule. Raises Forbidden for callers without service/sales access."""
    if not caller.works_tickets:
        raise Forbidden("Tickets need service or sales access.")
    if caller.is_super_admin or caller.access_level == "everything":
        return Scope(everything=True)
    if caller.access_level == "team":
        return Scope(False, frozenset(caller.teammate_ids) | {caller.user_id}, caller.include_unassigned)
    if caller.access_level == "owned":
        return Scope(False, frozenset({caller.user_id}), caller.include_unassigned)
    return Scope(False)


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    """Fingerprint of a request, to refuse an idempotency key reused with another body."""
    text = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()



