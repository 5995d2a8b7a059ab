"""SLA clocks, as plain Python: working time, policies, and what a ticket's clocks say.

A policy sets goals (time to first reply, to next reply, to close) measured in *working
time*: every second on a 24/7 schedule, or only the seconds inside a weekly schedule of
business hours in a time zone, holidays excluded. A clock also stops while the ticket sits
in a stage the policy pauses on, and while it is closed.

Everything here is a pure function of what it is given (moments are aware UTC datetimes;
``now`` is always passed in), so the arithmetic is unit-tested across business-hour edges,
DST changes and pauses without a database or a sleep:

* :class:`Schedule` - when the clock may run; :func:`add_working` / :func:`working_seconds`
  are the arithmetic, with pauses.
* :class:`Policy` and :func:`choose_policy` - which policy applies to a ticket.
* :class:`Facts` - what happened to a ticket that the clocks depend on (its stage history,
  the customer message awaiting an answer, breaches already announced); the ``after_*``
  functions say how each happening changes them.
* :func:`evaluate` - each goal's due moment, fulfilment and breach, and the ticket's
  summary (:class:`Clocks`); :func:`decide` turns that into the column values to store and
  the breaches to announce (each one exactly once).
* :func:`state_at` - the ticket's state (``on_track``, ``due_soon``, ``breached``,
  ``paused``, ``met``) at a moment, from the stored summary alone (lists compute it per row).

Decisions where the SPEC is silent: closing a ticket fulfils every running goal (a ticket
closed without a reply is not a first-reply breach); reopening resumes the close clock where
it stopped; a business-hours interval is wall-clock time in its zone, so one that spans a DST
change is an hour shorter or longer; a ticket that ever breached stays ``breached``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from services.chassis.clock import aware

GOALS = ("first_reply", "next_reply", "close")
STATES = ("on_track", "due_soon", "breached", "paused", "met")
PHASES = ("running", "paused", "met")
"""What the stored summary says without looking at the time: some clock runs, all unmet
clocks are stopped, or every goal is fulfilled."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
"""The sort key of a ticket with no running clock: after every real due moment."""
MAX_DAYS = 3700
"""How far (in days) the arithmetic looks for working time before it gives up: ten years."""
MAX_STAGE_HISTORY = 200
MERGED_PREFIX = "merged:"


# -- working time ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """Business hours on one weekday: ``start``..``end`` minutes after local midnight (end <= 1440)."""

    day: int  # 0 = Monday
    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    """When an SLA clock may run: always (``openings`` empty), or the weekly openings in ``timezone``
    except on ``holidays`` (local dates)."""

    timezone: str = "UTC"
    openings: tuple[Opening, ...] = ()
    holidays: frozenset[dt.date] = frozenset()

    @property
    def always(self) -> bool:
        return not self.openings

    def open_intervals(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The schedule's open intervals from ``start`` on (the first one clipped to it), in order."""
        start = aware(start)
        if self.always:
            yield start, FOREVER
            return
        zone = ZoneInfo(self.timezone)
        by_day: dict[int, list[Opening]] = {}
        for opening in sorted(self.openings, key=lambda o: (o.day, o.start)):
            by_day.setdefault(opening.day, []).append(opening)
        day = start.astimezone(zone).date() - dt.timedelta(days=1)
        for _ in range(MAX_DAYS):
            day += dt.timedelta(days=1)
            if day in self.holidays:
                continue
            for opening in by_day.get(day.weekday(), ()):
                begin, end = _local(day, opening.start, zone), _local(day, opening.end, zone)
                if end <= start or end <= begin:
                    continue
                yield max(begin, start), end


def _local(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    """``minute`` minutes after local midnight of ``day`` (1440: the next midnight), in UTC.

    A wall-clock time skipped by a DST change is read with the offset before the change.
    """
    if minute >= MINUTES_PER_DAY:
        day, minute = day + dt.timedelta(days=1), minute - MINUTES_PER_DAY
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone).astimezone(dt.UTC)


Pause = tuple[dt.datetime, dt.datetime | None]
"""A stretch of time the clock is stopped: from, until (None: still stopped)."""


def running_intervals(
    schedule: Schedule, start: dt.datetime, pauses: Sequence[Pause] = ()
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """The stretches from ``start`` on when the clock runs: open and not paused. Ends at an open pause."""
    ordered = sorted((aware(a), aware(b) if b is not None else None) for a, b in pauses)
    for begin, end in schedule.open_intervals(start):
        cursor = begin
        for p_start, p_end in ordered:
            if p_end is not None and p_end <= cursor:
                continue
            if p_start >= end:
                break
            if p_start > cursor:
                yield cursor, p_start
            if p_end is None:
                return
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            yield cursor, end


def add_working(
    schedule: Schedule, start: dt.datetime, seconds: float, pauses: Sequence[Pause] = ()
) -> dt.datetime | None:
    """The moment ``seconds`` of running time have passed since ``start``; None if the clock
    stops for good first (an open pause) or no working time is found within :data:`MAX_DAYS`."""
    left = max(0.0, float(seconds))
    for begin, end in running_intervals(schedule, start, pauses):
        span = (end - begin).total_seconds()
        if left <= span:
            return begin + dt.timedelta(seconds=left)
        left -= span
    return None


def working_seconds(
    schedule: Schedule, start: dt.datetime, end: dt.datetime, pauses: Sequence[Pause] = ()
) -> float:
    """Running time between ``start`` and ``end`` (0 when ``end`` is not after ``start``)."""
    end = aware(end)
    total = 0.0
    for begin, stop in running_intervals(schedule, start, pauses):
        if begin >= end:
            break
        total += (min(stop, end) - begin).total_seconds()
    return total


# -- policies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """An SLA policy as the clocks need it: its criteria, goals (seconds), schedule and pauses."""

    id: int
    version: int
    targets: Mapping[str, int]  # goal -> seconds of working time; absent goals are not measured
    priority: str | None = None
    pipeline_id: int | None = None
    schedule: Schedule = Schedule()
    pause_stage_ids: frozenset[int] = frozenset()
    due_soon_seconds: int = 3600

    def applies_to(self, priority: str, pipeline_id: int) -> bool:
        return self.priority in (None, priority) and self.pipeline_id in (None, pipeline_id)

    @property
    def specificity(self) -> int:
        return (self.priority is not None) + (self.pipeline_id is not None)


def schedule_from(hours: Mapping[str, Any] | None) -> Schedule:
    """A schedule from a policy's ``business_hours`` (``contract.BusinessHoursSchema``; None: 24/7)."""
    if not hours:
        return Schedule()
    openings = tuple(
        Opening(DAYS.index(o["day"]), _minutes(o["start"]), _minutes(o["end"])) for o in hours["weekly"]
    )
    holidays = frozenset(
        day if isinstance(day, dt.date) else dt.date.fromisoformat(day) for day in hours.get("holidays", ())
    )
    return Schedule(hours["timezone"], openings, holidays)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def policy_problems(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """A policy measures at least one goal."""
    if not any(data.get(f"{goal}_minutes") for goal in GOALS):
        names = ", ".join(f"{goal}_minutes" for goal in GOALS)
        return {"_schema": [f"set at least one goal: {names}"]}
    return {}


def choose_policy(policies: Iterable[Policy], *, priority: str, pipeline_id: int) -> Policy | None:
    """The policy for a ticket: the most specific that applies (priority and pipeline, then either,
    then the default with neither), the oldest on a tie."""
    found = [p for p in policies if p.applies_to(priority, pipeline_id)]
    return min(found, key=lambda p: (-p.specificity, p.id), default=None)


# -- facts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What happened to a ticket that its clocks depend on (kept as JSON with the ticket).

    ``stages``: the stages it has been in and since when. ``awaiting_since``: the first
    customer message after an answer (the running next-reply cycle); ``last_cycle``: the
    latest finished cycle (started, fulfilled). ``breaches``: breach key -> moment, for every
    breach already announced. ``policy``: ``(id, version)`` the clocks were last computed with.
    """

    stages: tuple[tuple[int, dt.datetime], ...]
    awaiting_since: dt.datetime | None = None
    last_cycle: tuple[dt.datetime, dt.datetime] | None = None
    breaches: Mapping[str, dt.datetime] = field(default_factory=dict)
    policy: tuple[int, int] | None = None

    @classmethod
    def start(cls, stage_id: int, created_at: dt.datetime, closed_at: dt.datetime | None = None) -> Facts:
        """The facts of a new ticket; for one that predates SLAs and is closed, stage 0 (unknown,
        never paused) until ``closed_at``."""
        if closed_at is not None:
            return cls(((0, aware(created_at)), (stage_id, aware(closed_at))))
        return cls(((stage_id, aware(created_at)),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [[s, t.isoformat()] for s, t in self.stages],
            "awaiting_since": _iso(self.awaiting_since),
            "last_cycle": [t.isoformat() for t in self.last_cycle] if self.last_cycle else None,
            "breaches": {k: v.isoformat() for k, v in sorted(self.breaches.items())},
            "policy": list(self.policy) if self.policy else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Facts:
        cycle = data.get("last_cycle")
        policy = data.get("policy")
        return cls(
            stages=tuple((int(s), _moment(t)) for s, t in data["stages"]),
            awaiting_since=_moment(data["awaiting_since"]) if data.get("awaiting_since") else None,
            last_cycle=(_moment(cycle[0]), _moment(cycle[1])) if cycle else None,
            breaches={k: _moment(v) for k, v in (data.get("breaches") or {}).items()},
            policy=(int(policy[0]), int(policy[1])) if policy else None,
        )

    @property
    def stage_id(self) -> int:
        return self.stages[-1][0]

    @property
    def earliest_breach(self) -> dt.datetime | None:
        return min(self.breaches.values(), default=None)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat()


def _moment(text: str) -> dt.datetime:
    return aware(dt.datetime.fromisoformat(text))


def after_stage(facts: Facts, stage_id: int, *, closed: bool, at: dt.datetime) -> Facts:
    """The ticket is now in ``stage_id`` (``closed``: a CLOSED stage) since ``at``.

    Closing fulfils the running next-reply cycle. The history keeps the latest
    :data:`MAX_STAGE_HISTORY` entries.
    """
    if stage_id == facts.stage_id:
        return facts
    stages = (*facts.stages, (stage_id, aware(at)))[-MAX_STAGE_HISTORY:]
    changed = replace(facts, stages=stages)
    if closed and facts.awaiting_since is not None:
        changed = replace(changed, awaiting_since=None, last_cycle=(facts.awaiting_since, aware(at)))
    return changed


def after_message(facts: Facts, *, kind: str, at: dt.datetime, first_reply_at: dt.datetime | None) -> Facts:
    """A message on the ticket's conversation (automatic mail never counts; the caller skips it).

    A customer's message after the first reply starts a next-reply cycle unless one is running;
    an agent's reply fulfils the running cycle.
    """
    at = aware(at)
    if kind == "customer":
        if facts.awaiting_since is None and first_reply_at is not None and at >= aware(first_reply_at):
            return replace(facts, awaiting_since=at)
        return facts
    if kind == "reply" and facts.awaiting_since is not None and at >= facts.awaiting_since:
        return replace(facts, awaiting_since=None, last_cycle=(facts.awaiting_since, at))
    return facts


def merged_breach(facts: Facts, absorbed_id: int, absorbed_breach: dt.datetime | None) -> Facts:
    """The survivor of a merge keeps the absorbed ticket's earliest breach (kept across recomputes)."""
    if absorbed_breach is None:
        return facts
    return replace(
        facts, breaches={**facts.breaches, f"{MERGED_PREFIX}{absorbed_id}": aware(absorbed_breach)}
    )


# -- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketTimes:
    """The ticket's own columns the clocks read."""

    created_at: dt.datetime
    first_reply_at: dt.datetime | None
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class GoalClock:
    """One goal of one ticket. ``due_at`` None: the clock is stopped before reaching it
    (``remaining_seconds`` says how much working time is left)."""

    goal: str
    key: str  # breach key: the goal, and for next reply the cycle's start
    started_at: dt.datetime
    due_at: dt.datetime | None
    met_at: dt.datetime | None
    breached_at: dt.datetime | None
    remaining_seconds: float | None

    def state(self, now: dt.datetime, due_soon_seconds: int) -> str:
        if self.breached_at is not None or (
            self.met_at is None and self.due_at is not None and self.due_at <= now
        ):
            return "breached"
        if self.met_at is not None:
            return "met"
        if self.due_at is None:
            return "paused"
        if (self.due_at - now).total_seconds() <= due_soon_seconds:
            return "due_soon"
        return "on_track"

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "key": self.key,
            "started_at": _iso(self.started_at),
            "due_at": _iso(self.due_at),
            "met_at": _iso(self.met_at),
            "breached_at": _iso(self.breached_at),
            "remaining_seconds": None if self.remaining_seconds is None else round(self.remaining_seconds),
        }


@dataclass(frozen=True)
class Clocks:
    """Every measured goal of a ticket under a policy, and the summary the store indexes."""

    goals: tuple[GoalClock, ...]

    @property
    def unmet(self) -> list[GoalClock]:
        return [g for g in self.goals if g.met_at is None]

    @property
    def phase(self) -> str:
        unmet = self.unmet
        if not unmet:
            return "met"
        return "running" if any(g.due_at is not None for g in unmet) else "paused"

    @property
    def next_due_at(self) -> dt.datetime | None:
        """The earliest due moment of an unfulfilled goal (past ones included: overdue first)."""
        return min((g.due_at for g in self.unmet if g.due_at is not None), default=None)

    def alarm_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the next breach would happen: the earliest due moment still ahead."""
        return min((g.due_at for g in self.unmet if g.due_at is not None and g.due_at > now), default=None)

    def breaches(self, now: dt.datetime) -> list[GoalClock]:
        """Goals breached by ``now``: due before they were fulfilled, or due and still open."""
        return [g for g in self.goals if g.breached_at is not None and g.breached_at <= now]


def paused_spans(facts: Facts, stopped: frozenset[int]) -> list[Pause]:
    """The stretches the ticket spent in ``stopped`` stages, from its stage history."""
    spans: list[Pause] = []
    for i, (stage_id, since) in enumerate(facts.stages):
        if stage_id not in stopped:
            continue
        until = facts.stages[i + 1][1] if i + 1 < len(facts.stages) else None
        if spans and spans[-1][1] == since:
            spans[-1] = (spans[-1][0], until)
        else:
            spans.append((since, until))
    return spans


def first_closing(facts: Facts, closed_stage_ids: frozenset[int], after: dt.datetime) -> dt.datetime | None:
    """The first moment at or after ``after`` the ticket entered a CLOSED stage (from its history)."""
    for i, (stage_id, since) in enumerate(facts.stages):
        if stage_id in closed_stage_ids:
            until = facts.stages[i + 1][1] if i + 1 < len(facts.stages) else None
            if until is None or until > after:
                return max(since, after)
    return None


def _goal(
    schedule: Schedule,
    pauses: Sequence[Pause],
    *,
    goal: str,
    key: str,
    target: int,
    started_at: dt.datetime,
    met_at: dt.datetime | None,
    now: dt.datetime,
) -> GoalClock:
    due = add_working(schedule, started_at, target, pauses)
    limit = met_at if met_at is not None else now
    breached = due if due is not None and due <= limit and (met_at is None or due < met_at) else None
    remaining = None
    if due is None and met_at is None:
        remaining = max(0.0, target - working_seconds(schedule, started_at, now, pauses))
    return GoalClock(goal, key, started_at, due, met_at, breached, remaining)


def evaluate(
    policy: Policy,
    facts: Facts,
    times: TicketTimes,
    *,
    closed_stage_ids: frozenset[int],
    now: dt.datetime,
) -> Clocks:
    """Each goal the policy measures, computed from the facts alone (recomputable at any time)."""
    stopped = policy.pause_stage_ids | closed_stage_ids
    pauses = paused_spans(facts, stopped)
    schedule = policy.schedule
    created = aware(times.created_at)
    goals: list[GoalClock] = []

    def fulfilled(at: dt.datetime | None, since: dt.datetime) -> dt.datetime | None:
        closing = first_closing(facts, closed_stage_ids, since)
        return min((m for m in (at, closing) if m is not None), default=None)

    if "first_reply" in policy.targets:
        reply = aware(times.first_reply_at) if times.first_reply_at else None
        goals.append(
            _goal(
                schedule,
                pauses,
                goal="first_reply",
                key="first_reply",
                target=policy.targets["first_reply"],
                started_at=created,
                met_at=fulfilled(reply, created),
                now=now,
            )
        )
    if "next_reply" in policy.targets:
        cycle = _cycle(facts)
        if cycle is not None:
            start, met = cycle
            goals.append(
                _goal(
                    schedule,
                    pauses,
                    goal="next_reply",
                    key=f"next_reply:{start.isoformat()}",
                    target=policy.targets["next_reply"],
                    started_at=start,
                    met_at=met,
                    now=now,
                )
            )
    if "close" in policy.targets:
        closed = aware(times.closed_at) if times.closed_at else None
        goals.append(
            _goal(
                schedule,
                pauses,
                goal="close",
                key="close",
                target=policy.targets["close"],
                started_at=created,
                met_at=closed,
                now=now,
            )
        )
    return Clocks(tuple(goals))


def _cycle(facts: Facts) -> tuple[dt.datetime, dt.datetime | None] | None:
    if facts.awaiting_since is not None:
        return facts.awaiting_since, None
    return facts.last_cycle


# -- deciding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """A breach to announce: which goal, due when (the moment it happened)."""

    goal: str
    key: str
    due_at: dt.datetime


@dataclass(frozen=True)
class SlaChange:
    """What a recompute writes: the facts, the indexed summary columns, and new breaches."""

    facts: Facts
    values: dict[str, Any]
    breaches: tuple[Breach, ...]
    clocks: Clocks | None


def snapshot(facts: Facts, clocks: Clocks | None, due_soon_seconds: int) -> str:
    """What ``tickets.sla_data`` holds: the facts, and each goal as last computed (reads need no policy)."""
    goals = [g.to_dict() for g in clocks.goals] if clocks is not None else []
    data = {"facts": facts.to_dict(), "goals": goals, "due_soon_seconds": due_soon_seconds}
    return json.dumps(data, separators=(",", ":"))


def read_facts(text: str | None) -> Facts | None:
    """The facts kept in ``tickets.sla_data`` (None for a ticket that has none yet)."""
    return Facts.from_dict(json.loads(text)["facts"]) if text else None


NO_SLA_VALUES: dict[str, Any] = {
    "sla_policy_id": None,
    "sla_phase": None,
    "sla_next_due_at": FOREVER,
    "sla_soon_at": None,
    "sla_alarm_at": None,
}


def decide(
    policy: Policy | None,
    facts: Facts,
    times: TicketTimes,
    *,
    closed_stage_ids: frozenset[int],
    now: dt.datetime,
) -> SlaChange:
    """Recompute a ticket's clocks: the summary to store, and each breach not announced before.

    Under the same policy (id and version) announced breaches are history and stay; under
    another, only those that still hold (and those a merge brought) are kept, so relaxing a
    policy clears what it no longer calls a breach. A breach is announced once per key.
    """
    if policy is None:
        kept = {k: v for k, v in facts.breaches.items() if k.startswith(MERGED_PREFIX)}
        facts = replace(facts, policy=None, breaches=kept)
        data = snapshot(facts, None, 0)
        values = {**NO_SLA_VALUES, "sla_data": data, "sla_breached_at": facts.earliest_breach}
        return SlaChange(facts, values, (), None)
    clocks = evaluate(policy, facts, times, closed_stage_ids=closed_stage_ids, now=now)
    current = clocks.breaches(now)
    same_policy = facts.policy == (policy.id, policy.version)
    known = (
        dict(facts.breaches)
        if same_policy
        else {k: v for k, v in facts.breaches.items() if k.startswith(MERGED_PREFIX)}
    )
    fresh = tuple(
        Breach(g.goal, g.key, g.breached_at)
        for g in current
        if g.breached_at is not None and g.key not in facts.breaches
    )
    for g in current:
        if g.breached_at is not None:
            known.setdefault(g.key, g.breached_at)
    facts = replace(facts, breaches=known, policy=(policy.id, policy.version))
    next_due = clocks.next_due_at
    values = {
        "sla_policy_id": policy.id,
        "sla_data": snapshot(facts, clocks, policy.due_soon_seconds),
        "sla_phase": clocks.phase,
        "sla_next_due_at": next_due or FOREVER,
        "sla_soon_at": next_due - dt.timedelta(seconds=policy.due_soon_seconds) if next_due else None,
        "sla_alarm_at": clocks.alarm_at(now),
        "sla_breached_at": facts.earliest_breach,
    }
    return SlaChange(facts, values, fresh, clocks)


def state_at(
    *,
    phase: str | None,
    next_due_at: dt.datetime | None,
    soon_at: dt.datetime | None,
    breached_at: dt.datetime | None,
    now: dt.datetime,
) -> str | None:
    """The ticket's SLA state at ``now`` from its stored summary (None: no policy applies).

    The same rule, as SQL, filters lists by state (``store.queries``).
    """
    if phase is None:
        return None
    running = phase == "running" and next_due_at is not None
    if breached_at is not None or (running and next_due_at is not None and aware(next_due_at) <= now):
        return "breached"
    if phase != "running":
        return phase
    if soon_at is not None and aware(soon_at) <= now:
        return "due_soon"
    return "on_track"


def view(
    *,
    policy_id: int | None,
    data: str | None,
    phase: str | None,
    next_due_at: dt.datetime | None,
    soon_at: dt.datetime | None,
    breached_at: dt.datetime | None,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """A ticket's ``sla`` as readers see it at ``now`` (``contract.TicketSlaSchema``), from its
    stored columns alone; None when no policy applies."""
    state = state_at(phase=phase, next_due_at=next_due_at, soon_at=soon_at, breached_at=breached_at, now=now)
    if state is None or policy_id is None or not data:
        return None
    stored = json.loads(data)
    due_soon = int(stored.get("due_soon_seconds", 0))
    goals = []
    for item in stored.get("goals", ()):
        goal = GoalClock(
            goal=item["goal"],
            key=item["key"],
            started_at=_moment(item["started_at"]),
            due_at=_moment(item["due_at"]) if item["due_at"] else None,
            met_at=_moment(item["met_at"]) if item["met_at"] else None,
            breached_at=_moment(item["breached_at"]) if item["breached_at"] else None,
            remaining_seconds=item["remaining_seconds"],
        )
        shown = goal.to_dict()
        del shown["key"]
        goals.append({**shown, "state": goal.state(now, due_soon)})
    due = aware(next_due_at) if next_due_at is not None and aware(next_due_at) < FOREVER else None
    return {
        "policy_id": policy_id,
        "state": state,
        "next_due_at": _iso(due),
        "breached_at": _iso(breached_at),
        "goals": goals,
    }
