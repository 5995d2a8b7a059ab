"""Running lifecycle jobs (sagas) step by step, here and in the conversations service.

A job's first step committed with the job itself (see :mod:`services.tickets.store.jobs`);
:class:`Sagas` runs the rest. Each step is either one transaction here (which records the
next step with its effect) or one idempotent call to the conversations service (after
which the next step is recorded). A step that fails because a service is unreachable
leaves the job where it was, with the error and one more attempt noted; the resume sweep
(every instance's timer) retries it once its lease has run out. A step the conversations
service refuses for good (the messages of a split changed meanwhile) undoes what the job
did here and fails the job. The protocol of every kind is written down in
docs/architecture.md ("Sagas").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from services.chassis.errors import Conflict, HelpdeskError, NotFound, ValidationFailed
from services.tickets.store import Job, TicketStore

log = logging.getLogger(__name__)

PERMANENT = (ValidationFailed, NotFound, Conflict)
"""Refusals of a remote step that trying again will not change."""
INLINE_BUDGET = 2.0
"""Seconds a request runs its job before answering with the job still running (202)."""
SWEEP_BUDGET = 5.0
"""Seconds one tick of the resume sweep spends on one job."""


class Conversations(Protocol):
    """The conversations service's calls a job makes (as the tickets service itself)."""

    def reassign_threads(self, from_ticket_id: int, to_ticket_id: int) -> Any: ...
    def split_messages(self, key: str, ticket_id: int, message_ids: list[int], new_ticket_id: int) -> Any: ...
    def mark_spam(
        self, ticket_id: int, thread_ids: list[int], owner_id: int | None, actor_id: int
    ) -> Any: ...
    def unmark_spam(self, thread_id: int, ticket_id: int, actor_id: int) -> Any: ...
    def delete_ticket_threads(self, ticket_ids: list[int]) -> Any: ...
    def restore_ticket_threads(self, ticket_ids: list[int]) -> Any: ...


class Sagas:
    """Runs jobs: :meth:`run` one (a request's own, or one the sweep picked), :meth:`resume` the due ones."""

    def __init__(self, store: TicketStore, conversations: Conversations) -> None:
        self.store = store
        self.conversations = conversations
        self._steps: dict[tuple[str, str], Callable[[Job], None]] = {
            ("merge", "threads"): self._merge_threads,
            ("merge", "finish"): self._merge_finish,
            ("split", "move"): self._split_move,
            ("split", "finish"): lambda job: self.store.splits.finish(
                job_id=job.id, data=job.data, actor_id=job.actor_id
            ),
            ("spam", "mark"): self._spam_mark,
            ("spam", "finish"): lambda job: self.store.spam.finish(job_id=job.id, data=job.data),
            ("not_spam", "threads"): self._unspam_threads,
            ("not_spam", "finish"): lambda job: self.store.spam.unspam_finish(
                job_id=job.id, data=job.data, actor_id=job.actor_id
            ),
            ("delete", "threads"): self._delete_threads,
            ("delete", "batch"): self._delete_batch,
            ("bulk_delete", "threads"): self._delete_threads,
            ("bulk_delete", "batch"): self._delete_batch,
            ("restore", "threads"): self._restore_threads,
            ("restore", "finish"): lambda job: self.store.bin.restore_finish(
                job_id=job.id, ticket_id=job.data["ticket_id"], actor_id=job.actor_id
            ),
            ("bulk_update", "batch"): self._bulk_update_batch,
            ("delete_stage", "move"): self._retire_move,
            ("delete_stage", "remove"): lambda job: self.store.retire.remove(job=job),
            ("delete_pipeline", "move"): self._retire_move,
            ("delete_pipeline", "remove"): lambda job: self.store.retire.remove(job=job),
        }

    def run(self, job_id: int, *, held: bool = True, budget: float = INLINE_BUDGET) -> Job:
        """Run the job until it ends or ``budget`` seconds pass; returns it as it then is.

        ``held``: the caller already holds the lease (it just created the job). A job that
        someone else is running is left alone.
        """
        job = self.store.jobs.claim(job_id=job_id, held=held)
        if job is None:
            return self.store.jobs.current(job_id=job_id)
        ends = time.monotonic() + budget
        try:
            while job.running and time.monotonic() < ends:
                self._steps[(job.kind, job.step)](job)
                job = self.store.jobs.current(job_id=job_id)
        except HelpdeskError as exc:  # unreachable, or refusing without a rule for it: try later
            log.warning("job %s (%s) waits at step %s: %s", job.id, job.kind, job.step, exc)
            self.store.jobs.trouble(job_id=job.id, error=f"{type(exc).__name__}: {exc}")
            return self.store.jobs.current(job_id=job_id)
        except Exception as exc:  # a fault of ours or of the database: logged, retried by the sweep
            log.exception("job %s (%s) failed at step %s", job.id, job.kind, job.step)
            self.store.jobs.trouble(job_id=job.id, error=f"{type(exc).__name__}: {exc}")
            return self.store.jobs.current(job_id=job_id)
        if job.running:
            self.store.jobs.release(job_id=job.id)
        return job

    def resume(self, *, limit: int = 20, budget: float = SWEEP_BUDGET) -> int:
        """Run jobs nobody runs (their runner crashed, or answered 202); returns how many it ran."""
        ran = 0
        for job_id in self.store.jobs.due(limit=limit):
            self.run(job_id, held=False, budget=budget)
            ran += 1
        return ran

    def _bulk_update_batch(self, job: Job) -> None:
        self.store.bulk.run_batch(job=job)

    def _retire_move(self, job: Job) -> None:
        if not self.store.retire.move_batch(job=job):
            self.store.jobs.advance(job_id=job.id, after="move", step="remove")

    # -- merge -------------------------------------------------------------------------------------------
    def _merge_threads(self, job: Job) -> None:
        self.conversations.reassign_threads(job.data["secondary_id"], job.data["primary_id"])
        self.store.jobs.advance(job_id=job.id, after="threads", step="finish")

    def _merge_finish(self, job: Job) -> None:
        self.store.merges.finish(job_id=job.id, primary_id=job.data["primary_id"])

    # -- split -------------------------------------------------------------------------------------------
    def _split_move(self, job: Job) -> None:
        data = job.data
        try:
            self.conversations.split_messages(
                f"split-job-{job.id}", data["ticket_id"], data["message_ids"], data["new_ticket_id"]
            )
        except PERMANENT as exc:
            self.store.splits.undo(job_id=job.id, data=data, error=str(exc))
            return
        self.store.jobs.advance(job_id=job.id, after="move", step="finish")

    # -- spam --------------------------------------------------------------------------------------------
    def _spam_mark(self, job: Job) -> None:
        data = job.data
        self.conversations.mark_spam(data["ticket_id"], data["thread_ids"], data["owner_id"], job.actor_id)
        self.store.jobs.advance(job_id=job.id, after="mark", step="finish")

    def _unspam_threads(self, job: Job) -> None:
        data = job.data
        try:
            self.conversations.unmark_spam(data["thread_id"], data["ticket_id"], job.actor_id)
        except PERMANENT as exc:
            self.store.spam.unspam_undo(job_id=job.id, data=data, error=str(exc))
            return
        if data["mode"] == "restore":
            self.conversations.restore_ticket_threads([data["ticket_id"]])
        self.store.jobs.advance(job_id=job.id, after="threads", step="finish")

    # -- delete and restore ------------------------------------------------------------------------------
    def _delete_threads(self, job: Job) -> None:
        ticket_ids = self.store.bin.working(job_id=job.id)
        if ticket_ids:
            self.conversations.delete_ticket_threads(ticket_ids)
        self.store.bin.finish_batch(job_id=job.id)

    def _delete_batch(self, job: Job) -> None:
        if self.store.bin.mark_batch(job=job) < 0:
            result = {"ticket_id": job.data["ticket_id"]} if "ticket_id" in job.data else {}
            self.store.bin.complete(job_id=job.id, result=result)

    def _restore_threads(self, job: Job) -> None:
        self.conversations.restore_ticket_threads([job.data["ticket_id"]])
        self.store.jobs.advance(job_id=job.id, after="threads", step="finish")
