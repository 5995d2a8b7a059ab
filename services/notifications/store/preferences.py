"""People's notification preferences: their choices per type and channel, and their digest mode."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.notifications.contract import DIGEST_OFF
from services.notifications.domain import Preferences, changed_choices
from services.notifications.models import preferences, settings
from services.notifications.store.base import Records, upsert

_CHOICES = select(preferences).where(preferences.c.user_id.in_(bindparam("user_ids", expanding=True)))
_DIGESTS = select(settings).where(settings.c.user_id.in_(bindparam("user_ids", expanding=True)))
"""Read on every delivery, so built once (building a statement costs more than running it)."""


class PreferenceStore:
    """Each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def get(self, *, user_id: int) -> Preferences:
        with self.db.read() as s:
            return self.of_in(s, [user_id])[user_id]

    def of_in(self, s: Session, user_ids: Collection[int]) -> dict[int, Preferences]:
        """Everyone's preferences (defaults for those who chose nothing), in two queries."""
        wanted = sorted(set(user_ids))
        choices: dict[int, dict[tuple[str, str], bool]] = {uid: {} for uid in wanted}
        digests: dict[int, str] = {}
        if wanted:
            for row in s.execute(_CHOICES, {"user_ids": wanted}):
                choices[row.user_id][(row.type, row.channel)] = bool(row.enabled)
            for row in s.execute(_DIGESTS, {"user_ids": wanted}):
                digests[row.user_id] = row.email_digest
        return {uid: Preferences(choices[uid], digests.get(uid, DIGEST_OFF)) for uid in wanted}

    def update(self, *, user_id: int, changes: Mapping[str, Any]) -> Preferences:
        """Apply a validated ``contract.PreferencesSchema`` body; what it does not name stays."""
        with self.db.transaction() as s:
            insert = upsert(s)
            for kind, channel, on in changed_choices(changes):
                statement = insert(preferences).values(
                    user_id=user_id, type=kind, channel=channel, enabled=on
                )
                s.execute(
                    statement.on_conflict_do_update(
                        index_elements=[preferences.c.user_id, preferences.c.type, preferences.c.channel],
                        set_={"enabled": on},
                    )
                )
            if "email_digest" in changes:
                now = self.r.clock.now()
                mode = changes["email_digest"]
                statement = insert(settings).values(user_id=user_id, email_digest=mode, updated_at=now)
                s.execute(
                    statement.on_conflict_do_update(
                        index_elements=[settings.c.user_id], set_={"email_digest": mode, "updated_at": now}
                    )
                )
            return self.of_in(s, [user_id])[user_id]
