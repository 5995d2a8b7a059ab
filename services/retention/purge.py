"""A purge run, phase by phase, safe to kill anywhere and to run again.

Phases, recorded on the run: ``resume`` (finish the intents a killed run left), ``spam``
(threads in the spam view past their period), ``bin`` (tickets in the recycle bin past
theirs), ``housekeeping`` (every service's old outbox rows, processed-event ids and
idempotency keys), then ``finished``. Each batch of a purge phase is:

1. ask the owner what is due (``spam_due`` / ``bin_due``, with a cutoff from the policy);
2. record an intent per item in the audit (an item already purged gets none);
3. ask the owner to delete; the owner checks the cutoff again itself, so an item given back
   or restored meanwhile stays (nothing is purged early), and answers what it deleted and what
   was already gone (an earlier, interrupted call);
4. turn those intents into audit records, and drop the intents of items the owner kept.

A recycle-bin ticket is first marked by the tickets service (``begin_purge``: no restore can
take it back any more), then its conversations go, then the ticket itself. Every call is
idempotent, so a run killed between any two steps is finished by the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import eventlet

from services.chassis.errors import HelpdeskError
from services.retention.domain import Policy
from services.retention.store import RetentionStore

log = logging.getLogger(__name__)

PHASES = ("resume", "spam", "bin", "housekeeping", "finished")
HOUSEKEEPING_ROUNDS = 20
"""Batches of housekeeping per service and run (the rest waits for the next run)."""
HOUSEKEEPING_BATCH = 1000


class Purger:
    """Runs one purge run for as long as it is given; see the module docstring."""

    def __init__(
        self,
        store: RetentionStore,
        policy: Policy,
        *,
        tickets: Any,
        conversations: Any,
        housekeepers: Mapping[str, Callable[[str, int], Mapping[str, int]]],
        pause: Callable[[float], None] = eventlet.sleep,
    ) -> None:
        self.store = store
        self.policy = policy
        self.tickets = tickets
        self.conversations = conversations
        self.housekeepers = housekeepers
        self.pause = pause

    def run(self, run_id: int, *, budget: float) -> None:
        """Work on the run until it finishes or ``budget`` seconds pass (then it is released for the
        schedule to resume). An owner that cannot be reached stops the run the same way."""
        ends = time.monotonic() + budget
        phase = self.store.run_row(run_id=run_id).phase
        try:
            while phase != "finished" and time.monotonic() < ends:
                if not self._step(run_id, phase):
                    phase = PHASES[PHASES.index(phase) + 1]
                    self.store.progress(run_id=run_id, phase=phase)
        except HelpdeskError as exc:
            log.warning("purge run %s stops at %s: %s", run_id, phase, exc)
            self.store.release(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
            return
        if phase == "finished":
            self.store.finish_run(run_id=run_id)
        else:
            self.store.release(run_id=run_id)

    def _step(self, run_id: int, phase: str) -> bool:
        """One batch of ``phase``; False when the phase has nothing left."""
        if phase == "resume":
            return self._resume(run_id)
        if phase == "spam":
            return self._due(run_id, "spam_thread", self.conversations.spam_due)
        if phase == "bin":
            return self._due(run_id, "bin_ticket", self.tickets.bin_due)
        self._housekeeping(run_id)
        return False

    def _resume(self, run_id: int) -> bool:
        for kind in ("spam_thread", "bin_ticket"):
            left = self.store.intents(kind=kind, limit=self.policy.batch)
            if left:
                self._purge(run_id, kind, [int(i["id"]) for i in left])
                return True
        return False

    def _due(self, run_id: int, kind: str, due: Callable[[str, int], Sequence[Mapping[str, Any]]]) -> bool:
        cutoff = self.policy.cutoff(kind, self.store.clock.now())
        items = list(due(cutoff.isoformat(), self.policy.batch))
        if not items:
            return False
        ids = self.store.intend(run_id=run_id, kind=kind, policy=self.policy, items=items)
        self._purge(run_id, kind, ids)
        if self.policy.pause:
            self.pause(self.policy.pause)
        return True

    def _purge(self, run_id: int, kind: str, ids: list[int]) -> None:
        """Ask the owner to delete ``ids`` (intents recorded), then record what it did."""
        if not ids:
            return
        cutoff = self.policy.cutoff(kind, self.store.clock.now()).isoformat()
        if kind == "spam_thread":
            answer = self.conversations.purge_spam_threads(ids, cutoff)
            gone = [*answer["purged"], *answer["missing"]]
        else:
            marked = self.tickets.begin_purge(ids, cutoff)
            if marked["purging"]:
                self.conversations.purge_ticket_threads(marked["purging"])
                self.tickets.purge_tickets(marked["purging"])
            gone = [*marked["purging"], *marked["missing"]]
        kept = sorted(set(ids) - set(gone))
        count = self.store.purged(run_id=run_id, kind=kind, ids=gone)
        self.store.drop_intents(kind=kind, ids=kept)
        self.store.progress(run_id=run_id, purged={kind: count})

    def _housekeeping(self, run_id: int) -> None:
        cutoff = self.policy.cutoff("housekeeping", self.store.clock.now()).isoformat()
        for name, housekeep in self.housekeepers.items():
            total = 0
            for _ in range(HOUSEKEEPING_ROUNDS):
                swept = sum(housekeep(cutoff, HOUSEKEEPING_BATCH).values())
                total += swept
                if swept == 0:
                    break
            self.store.progress(run_id=run_id, housekeeping={name: total})
