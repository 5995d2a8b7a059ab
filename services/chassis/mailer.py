"""Sending a service's outgoing mail: a queue in its own database, drained after commit, with back-off.

A service that sends mail stores each message (its exact bytes, envelope sender and recipients)
in a queue table in the same transaction as the change that caused it, so a mail exists exactly
when its cause does. :class:`MailSender` (a dependency the service declares, sending in a
:class:`~services.chassis.loop.WakeableLoop`) is woken after each commit that queued mail (the
store names :data:`~services.chassis.db.MAIL_QUEUED` with
:func:`~services.chassis.db.wake_after_commit` in the transaction that queues it), and every
second anyway, which also sends what falls due later (retries, mail held back a moment); it
claims due mail through the service's :class:`MailQueue` (with a lease, so several instances
never send one mail twice at once), hands each to the transport, and tells the queue the
result: sent, not sent this time (the queue schedules a retry after a growing delay,
:func:`next_retry`) or not sent for good.
A crash between the relay's acceptance and the ``sent`` mark sends that mail again when the
lease ends: at least once, never lost; the mail keeps its Message-ID, so a receiver can tell.

What a queue row is, and what else a result changes (a reply's delivery state, a counter), is
the service's: it implements :class:`MailQueue` in its store and names the store here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from eventlet import tpool
from nameko.extensions import DependencyProvider
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import text

from services.chassis import metrics
from services.chassis.clock import SYSTEM_CLOCK, aware
from services.chassis.db import MAIL_QUEUED, Database
from services.chassis.loop import WakeableLoop
from services.chassis.mail.transport import (
    PermanentSendError,
    SendError,
    TransientSendError,
    Transport,
    transport_from_env,
)

log = logging.getLogger(__name__)

RELAY_SETTINGS = (
    "HELPDESK_SMTP_RELAY",
    "HELPDESK_SMTP_RELAY_USER",
    "HELPDESK_SMTP_RELAY_PASSWORD",
    "HELPDESK_SMTP_RELAY_STARTTLS",
)
"""The relay settings of API.md, read from the service's config (which takes them from the environment)."""

RETRY_DELAYS = (2, 4, 8, 16, 32, 60, 120, 300, 600, 1200, 1800, 3600)
"""Seconds before each retry of a mail the relay did not take; after the last, it failed (~2.5 hours)."""

BATCH = 20
RETRY_PAUSE = 1.0
"""Pause after a pass that failed (the database away) before the next; a mail's own retries are
:data:`RETRY_DELAYS`."""


def next_retry(attempts: int, delays: Sequence[int] = RETRY_DELAYS) -> int | None:
    """Seconds until the next try after ``attempts`` failed ones, or None when it is time to give up."""
    return delays[attempts - 1] if 0 < attempts <= len(delays) else None


def transport_from_config(config: dict[str, Any]) -> Transport:
    """The relay the service's config names (API.md's settings), else ``.eml`` files in the data folder."""
    settings = {name: str(config.get(name) or "") for name in RELAY_SETTINGS}
    return transport_from_env(settings, Path(str(config.get("DATA_DIR") or "var")))


class DueMail(Protocol):
    """One queued mail, claimed for sending now."""

    @property
    def id(self) -> int: ...

    @property
    def mail_from(self) -> str: ...

    @property
    def recipients(self) -> list[str]: ...

    @property
    def raw(self) -> bytes: ...


class MailQueue(Protocol):
    """A service's queue of outgoing mail (a part of its store; each method one transaction)."""

    def claim_due(self, *, limit: int) -> Sequence[Any]:
        """Up to ``limit`` due mails (each a :class:`DueMail`), leased to the caller."""
        ...

    def sent(self, *, due: Any) -> None:
        """The relay took ``due``."""
        ...

    def not_sent(self, *, due: Any, error: str, permanent: bool) -> bool:
        """A failed try; True when ``due`` is given up (``permanent``, or out of tries)."""
        ...


class MailSender(DependencyProvider):
    """Drains a service's :class:`MailQueue` (see the module docstring).

    ``store_attr`` names the service's store dependency (a :class:`Database` whose ``store``
    attribute holds the service's store object); subclasses say where the queue is in that
    store with :meth:`queue_of`.
    """

    table = "outgoing_mail"
    """The queue's table, read when metrics are scraped: a ``state`` (queued, sent, failed) and a
    ``next_attempt_at`` per mail."""

    def __init__(self, store_attr: str = "store", poll_seconds: float = 1.0) -> None:
        self.store_attr = store_attr
        self.poll_seconds = poll_seconds
        self.loop = WakeableLoop(
            "mail sender", self._pass, poll_seconds=poll_seconds, backoff=(RETRY_PAUSE, RETRY_PAUSE), log=log
        )

    def queue_of(self, store: Any) -> MailQueue:
        """The queue inside the service's store object."""
        raise NotImplementedError

    def setup(self) -> None:
        self.transport: Transport = transport_from_config(self.container.config)

    def _dependency(self) -> Database:
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database) and dependency.attr_name == self.store_attr:
                return dependency
        raise RuntimeError(f"no store dependency named {self.store_attr!r}")

    def _store(self) -> Any:
        dependency: Any = self._dependency()
        return dependency.store  # set by the store dependency's own setup()

    def start(self) -> None:
        factory = self._dependency().factory
        assert factory is not None, "the store dependency must be set up first"
        factory.on_commit(MAIL_QUEUED, self.wake)
        self.loop.start(self.container.spawn_managed_thread)

    def stop(self) -> None:
        self.loop.stop()

    def kill(self) -> None:
        self.loop.kill()

    def wake(self) -> None:
        """Send soon (after a commit that may have queued mail)."""
        self.loop.wake()

    def _pass(self) -> None:
        while self.loop.running and self.send_due() == BATCH:
            pass

    def send_due(self) -> int:
        """Try every due mail once; returns how many were tried."""
        queue = self.queue_of(self._store())
        batch = queue.claim_due(limit=BATCH)
        for due in batch:
            self._send(queue, due)
        return len(batch)

    def _hand_over(self, due: DueMail) -> None:
        """Give ``due`` to the transport; blocking file I/O runs in eventlet's thread pool, so it never
        stalls the service's other green threads (its RPC replies, its event handlers)."""
        if getattr(self.transport, "blocking", False):
            tpool.execute(self.transport.send, due.mail_from, due.recipients, due.raw)
        else:
            self.transport.send(due.mail_from, due.recipients, due.raw)

    def _send(self, queue: MailQueue, due: DueMail) -> None:
        try:
            self._hand_over(due)
        except (TransientSendError, PermanentSendError) as exc:
            gave_up = queue.not_sent(due=due, error=str(exc), permanent=isinstance(exc, PermanentSendError))
            self._count("failed" if gave_up else "retry")
            log.warning("mail %s not sent (%s)%s", due.id, exc, "; gave up" if gave_up else "; will retry")
            return
        except (SendError, OSError) as exc:
            queue.not_sent(due=due, error=str(exc), permanent=False)
            self._count("retry")
            log.warning("mail %s not sent (%s); will retry", due.id, exc)
            return
        queue.sent(due=due)
        self._count("sent")
        log.info("mail %s sent to %d recipients", due.id, len(due.recipients))

    def _count(self, result: str) -> None:
        metrics.MAIL_ATTEMPTS.labels(metrics.service_of(self), result).inc()

    def metrics_probe(self) -> Iterator[Metric]:
        """The queue by state, and how long its most overdue mail has waited, read when scraped."""
        factory = self._dependency().factory
        assert factory is not None
        service = self.container.service_name
        with factory.read() as session:
            by_state = text(f"SELECT state, count(*) FROM {self.table} GROUP BY state")
            counts: dict[str, int] = {state: count for state, count in session.execute(by_state)}
            due = session.scalar(
                text(f"SELECT min(next_attempt_at) FROM {self.table} WHERE state = 'queued'")
            )
        family = GaugeMetricFamily(
            "helpdesk_mail_queue",
            "Outgoing mail by state (queued, sent, failed).",
            labels=["service", "state"],
        )
        for state in sorted({"queued", "sent", "failed", *counts}):
            family.add_metric([service, state], counts.get(state, 0))
        yield family
        overdue = 0.0
        if due is not None:
            if isinstance(due, str):  # SQLite hands a raw text column back through text()
                due = dt.datetime.fromisoformat(due)
            overdue = max(0.0, (SYSTEM_CLOCK.now() - aware(due)).total_seconds())
        yield metrics.gauge(
            "helpdesk_mail_overdue_seconds",
            "How long the queued mail that was due first has been waiting past its time.",
            {"service": service},
            overdue,
        )

    def get_dependency(self, worker_ctx: Any) -> MailSender:
        return self
