"""Sending agents' replies: the outgoing mail queue, drained after commit, retried with back-off.

A reply is committed together with its outgoing mail row; :class:`MailSender` (a dependency
the service declares) is woken after each commit that recorded events, and every second
anyway, claims due rows with a lease (so several instances never send one mail twice at
once), hands each to the transport, and records the result: ``sent``, a retry after a
growing delay (:data:`~.domain.thread.RETRY_DELAYS`), or ``failed`` with the relay's reason.
A crash between the relay's acceptance and the ``sent`` mark sends that mail again when the
lease ends: at least once, never lost.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider

from services.conversations.mail.transport import (
    PermanentSendError,
    SendError,
    TransientSendError,
    Transport,
    transport_from_env,
)
from services.conversations.store import ConversationStore, Due, Store

log = logging.getLogger(__name__)

RELAY_SETTINGS = (
    "HELPDESK_SMTP_RELAY",
    "HELPDESK_SMTP_RELAY_USER",
    "HELPDESK_SMTP_RELAY_PASSWORD",
    "HELPDESK_SMTP_RELAY_STARTTLS",
)
BATCH = 20


def transport_from_config(config: dict[str, Any]) -> Transport:
    """The relay the service's config names (API.md's settings), else ``.eml`` files in the data folder."""
    settings = {name: str(config.get(name) or "") for name in RELAY_SETTINGS}
    return transport_from_env(settings, Path(str(config.get("DATA_DIR") or "var")))


class MailSender(DependencyProvider):
    """Drains the outgoing mail queue (see the module docstring)."""

    def __init__(self, store_attr: str = "store", poll_seconds: float = 1.0) -> None:
        self.store_attr = store_attr
        self.poll_seconds = poll_seconds
        self._wake = Event()
        self._running = False
        self._gt: Any = None

    def setup(self) -> None:
        self.transport: Transport = transport_from_config(self.container.config)

    def _store(self) -> ConversationStore:
        for dependency in self.container.dependencies:
            if isinstance(dependency, Store) and dependency.attr_name == self.store_attr:
                return dependency.store
        raise RuntimeError(f"no conversations Store dependency named {self.store_attr!r}")

    def start(self) -> None:
        store = self._store()
        store.db.after_commit.append(self.wake)
        self._running = True
        self._gt = self.container.spawn_managed_thread(self._run)

    def stop(self) -> None:
        self._running = False
        self.wake()
        if self._gt is not None:
            self._gt.kill()

    kill = stop

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _run(self) -> None:
        while self._running:
            with eventlet.Timeout(self.poll_seconds, False):
                self._wake.wait()
            self._wake = Event()
            try:
                while self._running and self.send_due() == BATCH:
                    pass
            except Exception as exc:  # the database is away: keep the rows, try again later
                log.warning("mail sender paused: %s", exc)
                eventlet.sleep(1.0)

    def send_due(self) -> int:
        """Try every due mail once; returns how many were tried."""
        store = self._store()
        batch = store.messages.claim_due(limit=BATCH)
        for due in batch:
            self._send(store, due)
        return len(batch)

    def _send(self, store: ConversationStore, due: Due) -> None:
        try:
            self.transport.send(due.mail_from, due.recipients, due.raw)
        except (TransientSendError, PermanentSendError) as exc:
            gave_up = store.messages.not_sent(
                due=due, error=str(exc), permanent=isinstance(exc, PermanentSendError)
            )
            log.warning(
                "reply %s not sent (%s)%s", due.message_id, exc, "; gave up" if gave_up else "; will retry"
            )
            return
        except (SendError, OSError) as exc:
            store.messages.not_sent(due=due, error=str(exc), permanent=False)
            log.warning("reply %s not sent (%s); will retry", due.message_id, exc)
            return
        store.messages.sent(due=due)
        log.info("reply %s sent to %d recipients", due.message_id, len(due.recipients))

    def get_dependency(self, worker_ctx: Any) -> MailSender:
        return self
