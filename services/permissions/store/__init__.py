"""The only package of the permissions service that talks to its database.

:class:`PermissionStore` is composed of parts sharing one session factory and one clock
(:class:`~.base.Records`): ``users``, ``teams``, ``tokens`` and ``credentials`` (passwords,
invites, browser sessions). Every public method
of a part is one transaction and takes keyword arguments only. Writes record their
events in that transaction (outbox), and the rules a write must pass are handed in as
``check`` callbacks that run inside it, on the rows as they are then.

Whenever team membership changes, by either path (a user's ``team_ids`` or a team's
member list), both sides are announced: ``user_updated`` for each user whose teams
changed and ``team_updated`` for each team whose members changed, each naming in
``affected_user_ids`` everyone whose signed identity (team ids, team-mates) may differ.
"""

from __future__ import annotations

from typing import Any

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import Database, SessionFactory
from services.permissions.credentials import SessionPolicy
from services.permissions.store.base import Records
from services.permissions.store.credentials import Credentials
from services.permissions.store.teams import Teams
from services.permissions.store.tokens import Tokens
from services.permissions.store.users import Users

__all__ = ["PermissionStore", "Store"]


class PermissionStore:
    """Users, teams, tokens and credentials, by part."""

    def __init__(
        self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK, session_policy: SessionPolicy | None = None
    ) -> None:
        records = Records(db, clock=clock)
        self.db = db
        self.clock = clock
        self.users = Users(records)
        self.teams = Teams(records)
        self.tokens = Tokens(records)
        self.credentials = Credentials(records, session_policy)


class Store(Database):
    """Dependency giving workers a :class:`PermissionStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        policy = SessionPolicy.from_config(self.container.config.get("SESSIONS"))
        self.store = PermissionStore(self.factory, clock=self.clock, session_policy=policy)

    def get_dependency(self, worker_ctx: Any) -> PermissionStore:  # type: ignore[override]
        return self.store
