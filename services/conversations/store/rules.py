"""Sender allow and deny lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.clock import isoformat
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.idempotency import IdempotencyKey
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.conversations.models import sender_rules
from services.conversations.store.base import Records

BY_PATTERN = Sort("id", descending=False)


def rule_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "pattern": row.pattern,
        "action": row.action,
        "created_by": row.created_by,
        "created_at": isoformat(row.created_at),
    }


class Rules:
    """Allow and deny rules by address or domain."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def all(self) -> dict[str, str]:
        """pattern -> action, for deciding about one sender."""
        with self.db.read() as s:
            return {row.pattern: row.action for row in s.execute(select(sender_rules))}

    def page(self, *, limit: int, cursor: str | None) -> dict[str, Any]:
        with self.db.read() as s:
            return keyset_page(
                s,
                select(sender_rules),
                key=sender_rules.c.id,
                ident=sender_rules.c.id,
                sort=BY_PATTERN,
                limit=limit,
                cursor=cursor,
                item=rule_dict,
            )

    def add(
        self, *, pattern: str, action: str, actor_id: int, key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """A new rule; a pattern that has one already is a 422. Under ``key`` the answer is
        remembered, and a replay answers it again (marked ``REPLAYED``) before the pattern is
        looked at."""

        def work(s: Session) -> dict[str, Any]:
            rule_id = s.scalar(
                sender_rules.insert()
                .values(pattern=pattern, action=action, created_by=actor_id, created_at=self.r.clock.now())
                .returning(sender_rules.c.id)
            )
            return rule_dict(s.execute(select(sender_rules).where(sender_rules.c.id == rule_id)).one())

        try:
            return self.r.idempotency.run(key, work)
        except IntegrityError as exc:
            raise ValidationFailed(errors={"pattern": ["there is a rule for this pattern already"]}) from exc

    def remove(self, *, rule_id: int) -> None:
        with self.db.transaction() as s:
            gone = s.execute(delete(sender_rules).where(sender_rules.c.id == rule_id))
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"sender rule {rule_id} does not exist")
