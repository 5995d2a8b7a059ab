"""The only package of the notifications service that talks to its database.

:class:`NotificationStore` is composed of parts sharing one session factory, one clock and the
mail settings (:class:`~.base.Records`): ``feed`` (notifications as people see them, read state),
``preferences``, ``mail`` (the outgoing queue the chassis's sender drains, the daily cap's
counts, digests) and ``delivery`` (everything one event causes, in one transaction). Every public
method of a part is one transaction and takes keyword arguments only.
"""

from __future__ import annotations

from typing import Any

from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import Database, SessionFactory
from services.notifications.store.base import MailSettings, Records
from services.notifications.store.delivery import Delivery, Person
from services.notifications.store.feed import Feed
from services.notifications.store.mail import DigestEntry, Due, Mail
from services.notifications.store.preferences import PreferenceStore

__all__ = ["DigestEntry", "Due", "MailSettings", "NotificationStore", "Person", "Store", "mail_settings"]


class NotificationStore:
    """Notifications, preferences and their mail, by part."""

    def __init__(
        self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK, mail: MailSettings | None = None
    ) -> None:
        records = Records(db, clock=clock, mail=mail or MailSettings())
        self.db = db
        self.clock = clock
        self.settings = records.mail
        self.feed = Feed(records)
        self.preferences = PreferenceStore(records)
        self.mail = Mail(records)
        self.delivery = Delivery(records, feed=self.feed, mail=self.mail, preferences=self.preferences)


def mail_settings(config: dict[str, Any]) -> MailSettings:
    """The mail settings of the service's config (``config.yaml``: API.md's environment variables)."""
    base_url = str(config.get("PUBLIC_URL") or "").strip()
    if not base_url:
        base_url = f"http://127.0.0.1:{config.get('HTTP_PORT') or 8000}"
    return MailSettings(
        from_address=str(config.get("MAIL_FROM") or "support@localhost"),
        base_url=base_url,
        daily_cap=int(config.get("EMAIL_DAILY_CAP") or MailSettings.daily_cap),
        batch_settle_seconds=float(config.get("BATCH_SETTLE_SECONDS") or MailSettings.batch_settle_seconds),
        digest_seconds=float(config.get("DIGEST_SECONDS") or MailSettings.digest_seconds),
    )


class Store(Database):
    """Dependency giving workers a :class:`NotificationStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        self.store = NotificationStore(
            self.factory, clock=self.clock, mail=mail_settings(self.container.config)
        )

    def get_dependency(self, worker_ctx: Any) -> NotificationStore:  # type: ignore[override]
        return self.store
