"""The chassis's mail sender: a transport that does blocking file I/O runs in eventlet's thread pool,
so writing ``.eml`` files (with fsync) never stalls a service's other green threads; every relay
result is counted (``helpdesk_mail_attempts_total``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlet import patcher
from prometheus_client import REGISTRY

from services.chassis.mail.transport import PermanentSendError, TransientSendError
from services.chassis.mailer import MailSender

real_threading = patcher.original("threading")


@dataclass(frozen=True)
class Due:
    id: int
    mail_from: str
    recipients: list[str]
    raw: bytes


class Queue:
    def __init__(self, *due: Due) -> None:
        self.due = list(due)
        self.outcomes: list[tuple[str, int]] = []

    def claim_due(self, *, limit: int) -> list[Due]:
        batch, self.due = self.due[:limit], self.due[limit:]
        return batch

    def sent(self, *, due: Any) -> None:
        self.outcomes.append(("sent", due.id))

    def not_sent(self, *, due: Any, error: str, permanent: bool) -> bool:
        self.outcomes.append(("not sent", due.id))
        return permanent


class Recorder:
    def __init__(self, blocking: bool) -> None:
        self.blocking = blocking
        self.threads: list[int] = []

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        self.threads.append(real_threading.get_ident())


class Sender(MailSender):
    def queue_of(self, store: Any) -> Any:
        return store


def sender_for(queue: Queue, transport: Recorder) -> Sender:
    sender = Sender.__new__(Sender)
    sender.transport = transport
    sender._store = lambda: queue  # type: ignore[method-assign]
    return sender


def test_blocking_transports_run_in_the_thread_pool_and_others_in_place() -> None:
    here = real_threading.get_ident()
    for blocking in (True, False):
        queue = Queue(Due(1, "a@x", ["b@x"], b"raw"), Due(2, "a@x", ["c@x"], b"raw"))
        transport = Recorder(blocking)
        assert sender_for(queue, transport).send_due() == 2
        assert queue.outcomes == [("sent", 1), ("sent", 2)]
        assert all((thread != here) is blocking for thread in transport.threads)


class Flaky(Recorder):
    """Takes mail 1, refuses mail 2 for now and mail 3 for good."""

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        if recipients == ["later@x"]:
            raise TransientSendError("try later")
        if recipients == ["never@x"]:
            raise PermanentSendError("no such mailbox")


def test_each_relay_result_is_counted_sent_retry_or_failed() -> None:
    def count(result: str) -> float:
        return (
            REGISTRY.get_sample_value("helpdesk_mail_attempts_total", {"service": "", "result": result})
            or 0.0
        )

    before = {result: count(result) for result in ("sent", "retry", "failed")}
    queue = Queue(
        Due(1, "a@x", ["b@x"], b"raw"), Due(2, "a@x", ["later@x"], b"raw"), Due(3, "a@x", ["never@x"], b"raw")
    )
    assert sender_for(queue, Flaky(blocking=False)).send_due() == 3
    assert {result: count(result) - before[result] for result in before} == {
        "sent": 1,
        "retry": 1,
        "failed": 1,
    }
