"""Group commit: the units of work that a process's green threads hand in together share one
transaction.

A create under load costs as much in its commit as in its statements: SQLite writes every page the
insert touched (the table's and each index's) to its log, one write call per page, at each commit,
and PostgreSQL flushes its log. Concurrent creates touch the same last pages of the same indexes,
so one commit for all of them writes each page once. :class:`CommitGroup` is that, for work that
asks for it (:meth:`services.chassis.db.SessionFactory.grouped`), with these promises:

* **As if alone.** ``run(work)`` returns what ``work(session)`` returned, only after the
  transaction that holds its writes has committed, and raises what it raised. A group in which any
  work raises is rolled back whole, and then every member runs its work again alone, each in its
  own transaction, one after the other in the order they were handed in: one request's failure
  (bad input, a unique key taken) never fails or changes another's, nothing a rolled-back group
  wrote is kept, and which of two clashing works wins does not depend on scheduling. So a work must
  be safe to run twice up to a rollback: it talks only to the database it is handed (no RPC, no
  publishing), which is what a transaction's body must do anyway.
* **Serial order.** The works of a group run one after the other in the order they were handed
  in, each seeing the writes of those before it, as if each had committed in turn.
* **No wait for company.** A work handed in while no group is running starts one at once; the
  group's runner yields once (``gather``) so that works already scheduled in other green threads
  (the rest of a burst of requests the consumer took in one read) join it, and never waits longer.
  Works handed in while a group runs make the next group, started as soon as that one ends.
* **Its own trace.** Each work runs in a copy of its caller's context variables (the request's
  trace, so that the events it records carry it), not the runner's.
* **Bounded.** A group holds at most :data:`MAX_GROUP` works; more wait for the next.

The runner is a green thread of its own, so a request that is killed while it waits strands no one.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import eventlet
from eventlet.event import Event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from services.chassis.db import SessionFactory

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_GROUP = 32
"""The most works one transaction holds: enough for any burst of one process's workers (nameko
runs 10 at a time by default), few enough that a group's rollback and retry stay cheap."""


class _Alone:
    """The group failed: run the work again alone."""


ALONE = _Alone()


@dataclass
class _Done(Generic[T]):
    result: T | None = None
    error: BaseException | None = None


class _Member(Generic[T]):
    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        self.context = contextvars.copy_context()
        self.outcome: Event = Event()

    def run_in(self, session: Session) -> T:
        return self.context.run(self.work, session)


class CommitGroup:
    """Runs works handed in together in one transaction of ``factory``; see the module docstring.
    ``gather`` is how the runner lets the other scheduled green threads hand in theirs."""

    def __init__(self, factory: SessionFactory, *, gather: Callable[[], Any] = eventlet.sleep) -> None:
        self.factory = factory
        self.gather = gather
        self._waiting: list[_Member[Any]] = []
        self._running = False

    def run(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a transaction shared with the works handed in beside it."""
        member: _Member[T] = _Member(work)
        self._waiting.append(member)
        if not self._running:
            self._running = True
            eventlet.spawn(self._run_groups)
        outcome = member.outcome.wait()
        if outcome is ALONE:
            with self.factory.transaction() as session:
                return work(session)
        if outcome.error is not None:
            raise outcome.error
        result: T = outcome.result
        return result

    def _run_groups(self) -> None:
        try:
            self.gather()
            while self._waiting:
                group = self._waiting[:MAX_GROUP]
                del self._waiting[:MAX_GROUP]
                self._run_group(group)
        except Exception:
            log.warning("group commit: the runner failed; its works run alone", exc_info=True)
        finally:
            self._running = False
            if self._waiting:  # the runner failed or was killed with works still waiting
                stranded, self._waiting = self._waiting, []
                for member in stranded:
                    member.outcome.send(ALONE)

    def _run_group(self, group: list[_Member[Any]]) -> None:
        outcomes: list[Any] = [ALONE] * len(group)
        try:
            if len(group) == 1:
                outcomes = [self._alone(group[0])]
            else:
                try:
                    with self.factory.transaction() as session:
                        results = [member.run_in(session) for member in group]
                    outcomes = [_Done(result=result) for result in results]
                except Exception:  # each member meets its own error alone, in order
                    for index, member in enumerate(group):
                        outcomes[index] = self._alone(member)
        finally:
            for member, outcome in zip(group, outcomes, strict=True):
                member.outcome.send(outcome)

    def _alone(self, member: _Member[Any]) -> _Done[Any]:
        try:
            with self.factory.transaction() as session:
                result = member.run_in(session)
        except Exception as exc:
            return _Done(error=exc)
        return _Done(result=result)
