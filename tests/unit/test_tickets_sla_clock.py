"""SLA clock arithmetic: working time on 24/7 and business-hour schedules, across the edges of
opening hours, weekends, holidays and DST changes, with pauses; then what a ticket's clocks say
(due moments, fulfilment, breaches announced once, policy changes, merges)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from services.tickets.domain.sla import (
    FOREVER,
    Facts,
    Opening,
    Policy,
    Schedule,
    TicketTimes,
    add_working,
    after_message,
    after_stage,
    choose_policy,
    decide,
    evaluate,
    merged_breach,
    state_at,
    working_seconds,
)

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
NEW, WAITING, CLOSED = 1, 2, 4
CLOSED_STAGES = frozenset({CLOSED})


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(dt.UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def office(zone: str = "Europe/Warsaw", holidays: frozenset[dt.date] = frozenset()) -> Schedule:
    """Monday to Friday, 09:00-17:00."""
    return Schedule(zone, tuple(Opening(d, 9 * 60, 17 * 60) for d in range(5)), holidays)


ALWAYS = Schedule()


# -- 24/7 ------------------------------------------------------------------------------------------


def test_round_the_clock_is_plain_addition() -> None:
    start = utc(2026, 3, 28, 23, 30)
    assert add_working(ALWAYS, start, 2 * HOUR) == utc(2026, 3, 29, 1, 30)
    assert working_seconds(ALWAYS, start, utc(2026, 3, 29, 1, 30)) == 2 * HOUR
    assert working_seconds(ALWAYS, start, start - dt.timedelta(hours=1)) == 0


def test_a_pause_moves_the_due_moment_by_its_length() -> None:
    start = utc(2026, 5, 4, 10)
    pauses = [(utc(2026, 5, 4, 11), utc(2026, 5, 4, 13))]
    assert add_working(ALWAYS, start, 4 * HOUR, pauses) == utc(2026, 5, 4, 16)
    assert working_seconds(ALWAYS, start, utc(2026, 5, 4, 16), pauses) == 4 * HOUR


def test_an_open_pause_stops_the_clock_for_good() -> None:
    start = utc(2026, 5, 4, 10)
    pauses = [(utc(2026, 5, 4, 11), None)]
    assert add_working(ALWAYS, start, 4 * HOUR, pauses) is None
    assert add_working(ALWAYS, start, HOUR, pauses) == utc(2026, 5, 4, 11)  # reached just as it stops
    assert working_seconds(ALWAYS, start, utc(2026, 5, 5), pauses) == HOUR


def test_pauses_that_overlap_or_start_before_the_clock_count_once() -> None:
    start = utc(2026, 5, 4, 10)
    pauses = [(utc(2026, 5, 4, 9), utc(2026, 5, 4, 11)), (utc(2026, 5, 4, 10, 30), utc(2026, 5, 4, 12))]
    assert add_working(ALWAYS, start, HOUR, pauses) == utc(2026, 5, 4, 13)


# -- business hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        ((2026, 5, 4, 10), 2, (2026, 5, 4, 12)),  # Monday, inside the day
        ((2026, 5, 4, 7), 1, (2026, 5, 4, 10)),  # before opening: the clock starts at 09:00
        ((2026, 5, 4, 9), 8, (2026, 5, 4, 17)),  # due exactly at closing, not the next morning
        ((2026, 5, 4, 16), 2, (2026, 5, 5, 10)),  # over the night
        ((2026, 5, 4, 17), 1, (2026, 5, 5, 10)),  # starting at closing time
        ((2026, 5, 8, 16), 2, (2026, 5, 11, 10)),  # Friday afternoon: over the weekend
        ((2026, 5, 9, 12), 1, (2026, 5, 11, 10)),  # a Saturday: Monday morning
        ((2026, 5, 4, 10), 40, (2026, 5, 11, 10)),  # a working week
    ],
)
def test_business_hours_edges(
    start: tuple[int, int, int, int], hours: int, due: tuple[int, int, int, int]
) -> None:
    assert add_working(office(), local(WARSAW, *start), hours * HOUR) == local(WARSAW, *due)


def test_working_seconds_count_only_open_hours() -> None:
    schedule = office()
    friday_noon, monday_noon = local(WARSAW, 2026, 5, 8, 12), local(WARSAW, 2026, 5, 11, 12)
    assert working_seconds(schedule, friday_noon, monday_noon) == 8 * HOUR
    assert working_seconds(schedule, local(WARSAW, 2026, 5, 9, 0), local(WARSAW, 2026, 5, 10, 23)) == 0


def test_holidays_are_skipped_in_local_dates() -> None:
    schedule = office(holidays=frozenset({dt.date(2026, 5, 11), dt.date(2026, 5, 12)}))
    assert add_working(schedule, local(WARSAW, 2026, 5, 8, 16), 2 * HOUR) == local(WARSAW, 2026, 5, 13, 10)


def test_split_days_and_an_opening_until_midnight() -> None:
    lunch_break = Schedule("UTC", (Opening(0, 9 * 60, 12 * 60), Opening(0, 13 * 60, 24 * 60)))
    monday = utc(2026, 5, 4, 11)
    assert add_working(lunch_break, monday, 2 * HOUR) == utc(2026, 5, 4, 14)
    assert add_working(lunch_break, monday, 12 * HOUR) == utc(2026, 5, 4, 24 - 1) + dt.timedelta(hours=1)
    assert add_working(lunch_break, monday, 13 * HOUR) == utc(2026, 5, 11, 10)  # next Monday


def test_a_pause_inside_business_hours() -> None:
    pauses = [(local(WARSAW, 2026, 5, 4, 12), local(WARSAW, 2026, 5, 5, 11))]
    # 09:00-12:00 Monday runs (3 h), Tuesday from 11:00: 5 h more
    assert add_working(office(), local(WARSAW, 2026, 5, 4, 9), 8 * HOUR, pauses) == local(
        WARSAW, 2026, 5, 5, 16
    )


def test_business_hours_over_the_spring_dst_change() -> None:
    # Warsaw moves from +01:00 to +02:00 on Sunday 2026-03-29; the office hours stay 09-17 local
    due = add_working(office(), local(WARSAW, 2026, 3, 27, 16), 2 * HOUR)
    assert due == local(WARSAW, 2026, 3, 30, 10) == utc(2026, 3, 30, 8)
    # an opening that spans the change is an hour shorter that night
    night = Schedule("Europe/Warsaw", (Opening(6, 60, 4 * 60),))
    sunday = local(WARSAW, 2026, 3, 29, 0)
    assert working_seconds(night, sunday, sunday + dt.timedelta(days=1)) == 2 * HOUR
    assert add_working(night, sunday, 2 * HOUR) == utc(2026, 3, 29, 2)  # 04:00 CEST


def test_business_hours_over_the_autumn_dst_change() -> None:
    night = Schedule("Europe/Warsaw", (Opening(6, 60, 4 * 60),))
    sunday = local(WARSAW, 2026, 10, 25, 0)
    assert working_seconds(night, sunday, sunday + dt.timedelta(days=1)) == 4 * HOUR
    due = add_working(office("America/New_York"), local(NEW_YORK, 2026, 10, 30, 16), 2 * HOUR)
    assert due == local(NEW_YORK, 2026, 11, 2, 10) == utc(2026, 11, 2, 15)  # EST after the change


def test_every_day_around_the_clock_in_a_zone_is_real_time_across_dst() -> None:
    all_day = Schedule("Europe/Warsaw", tuple(Opening(d, 0, 24 * 60) for d in range(7)))
    start = local(WARSAW, 2026, 3, 28, 12)
    assert add_working(all_day, start, 24 * HOUR) == start + dt.timedelta(hours=24)


def test_a_schedule_with_no_working_time_gives_up() -> None:
    everything_off = office(
        holidays=frozenset(dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(4000))
    )
    assert add_working(everything_off, utc(2026, 1, 1), HOUR) is None


# -- policies and clocks ---------------------------------------------------------------------------

T0 = utc(2026, 5, 4, 10)


def policy(**targets: int) -> Policy:
    return Policy(
        id=1, version=1, targets=targets or {"first_reply": HOUR}, pause_stage_ids=frozenset({WAITING})
    )


def times(first_reply_at: dt.datetime | None = None, closed_at: dt.datetime | None = None) -> TicketTimes:
    return TicketTimes(T0, first_reply_at, closed_at)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_the_most_specific_policy_applies() -> None:
    default = Policy(1, 1, {"close": HOUR})
    urgent = Policy(2, 1, {"close": HOUR}, priority="urgent")
    pipeline = Policy(3, 1, {"close": HOUR}, pipeline_id=7)
    both = Policy(4, 1, {"close": HOUR}, priority="urgent", pipeline_id=7)
    every = [both, pipeline, urgent, default]
    assert choose_policy(every, priority="urgent", pipeline_id=7) == both
    assert choose_policy(every, priority="low", pipeline_id=7) == pipeline
    assert choose_policy([urgent, pipeline], priority="urgent", pipeline_id=7) == urgent  # oldest of a tie
    assert choose_policy(every, priority="low", pipeline_id=1) == default
    assert choose_policy([urgent], priority="low", pipeline_id=1) is None


def test_first_reply_on_time_and_late() -> None:
    facts = Facts.start(NEW, T0)
    on_time = evaluate(policy(), facts, times(at(30)), closed_stage_ids=CLOSED_STAGES, now=at(90))
    goal = on_time.goals[0]
    assert (goal.due_at, goal.met_at, goal.breached_at) == (at(60), at(30), None)
    assert goal.state(at(90), 600) == "met" and on_time.phase == "met"
    late = evaluate(policy(), facts, times(at(75)), closed_stage_ids=CLOSED_STAGES, now=at(90))
    assert late.goals[0].breached_at == at(60) and late.goals[0].state(at(90), 600) == "breached"


def test_states_of_a_running_goal() -> None:
    clocks = evaluate(policy(), Facts.start(NEW, T0), times(), closed_stage_ids=CLOSED_STAGES, now=at(10))
    goal = clocks.goals[0]
    assert [goal.state(at(m), 15 * 60) for m in (10, 45, 60, 61)] == [
        "on_track",
        "due_soon",
        "breached",
        "breached",
    ]
    assert (
        clocks.next_due_at == at(60) and clocks.alarm_at(at(10)) == at(60) and clocks.alarm_at(at(60)) is None
    )


def test_a_pause_stage_stops_every_clock_and_resuming_moves_the_due_moment() -> None:
    facts = after_stage(Facts.start(NEW, T0), WAITING, closed=False, at=at(20))
    paused = evaluate(policy(), facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(200))
    goal = paused.goals[0]
    assert goal.due_at is None and goal.remaining_seconds == 40 * 60 and paused.phase == "paused"
    assert goal.state(at(200), 0) == "paused" and paused.next_due_at is None
    resumed = after_stage(facts, NEW, closed=False, at=at(200))
    goal = evaluate(policy(), resumed, times(), closed_stage_ids=CLOSED_STAGES, now=at(200)).goals[0]
    assert goal.due_at == at(240) and goal.remaining_seconds is None


def test_closing_fulfils_every_goal_and_reopening_resumes_the_close_clock() -> None:
    rules = policy(first_reply=HOUR, close=2 * HOUR)
    closed = after_stage(Facts.start(NEW, T0), CLOSED, closed=True, at=at(30))
    clocks = evaluate(rules, closed, times(closed_at=at(30)), closed_stage_ids=CLOSED_STAGES, now=at(300))
    assert [(g.goal, g.met_at, g.breached_at) for g in clocks.goals] == [
        ("first_reply", at(30), None),
        ("close", at(30), None),
    ]
    reopened = after_stage(closed, NEW, closed=False, at=at(300))
    clocks = evaluate(rules, reopened, times(), closed_stage_ids=CLOSED_STAGES, now=at(300))
    close = clocks.goals[1]
    assert clocks.goals[0].met_at == at(30)  # still fulfilled by the first closing
    assert close.met_at is None and close.due_at == at(300 + 90)  # 30 min ran before closing


def test_next_reply_cycles() -> None:
    rules = policy(next_reply=HOUR)
    facts = Facts.start(NEW, T0)
    first_reply = at(10)
    assert after_message(facts, kind="customer", at=at(5), first_reply_at=None) == facts  # first reply's job
    waiting = after_message(facts, kind="customer", at=at(20), first_reply_at=first_reply)
    again = after_message(waiting, kind="customer", at=at(40), first_reply_at=first_reply)
    assert waiting.awaiting_since == again.awaiting_since == at(20)  # the first unanswered message counts
    goal = evaluate(rules, again, times(first_reply), closed_stage_ids=CLOSED_STAGES, now=at(50)).goals[0]
    assert (goal.key, goal.due_at) == (f"next_reply:{at(20).isoformat()}", at(80))
    answered = after_message(again, kind="reply", at=at(90), first_reply_at=first_reply)
    assert answered.awaiting_since is None and answered.last_cycle == (at(20), at(90))
    goal = evaluate(rules, answered, times(first_reply), closed_stage_ids=CLOSED_STAGES, now=at(95)).goals[0]
    assert goal.met_at == at(90) and goal.breached_at == at(80)
    closed = after_stage(again, CLOSED, closed=True, at=at(60))
    assert closed.awaiting_since is None and closed.last_cycle == (at(20), at(60))


def test_decide_announces_each_breach_once_and_keeps_it() -> None:
    facts = Facts.start(NEW, T0)
    first = decide(policy(), facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(10))
    assert (
        first.breaches == ()
        and first.values["sla_alarm_at"] == at(60)
        and first.values["sla_phase"] == "running"
    )
    due = decide(policy(), first.facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(60))
    assert [(b.goal, b.due_at) for b in due.breaches] == [("first_reply", at(60))]
    assert due.values["sla_breached_at"] == at(60) and due.values["sla_alarm_at"] is None
    replied = decide(policy(), due.facts, times(at(70)), closed_stage_ids=CLOSED_STAGES, now=at(70))
    assert replied.breaches == () and replied.values["sla_breached_at"] == at(60)
    assert replied.values["sla_phase"] == "met" and replied.values["sla_next_due_at"] == FOREVER


def test_a_reply_after_the_due_moment_the_timer_missed_is_still_a_breach_announced_once() -> None:
    first = decide(policy(), Facts.start(NEW, T0), times(), closed_stage_ids=CLOSED_STAGES, now=at(10))
    late = decide(policy(), first.facts, times(at(61)), closed_stage_ids=CLOSED_STAGES, now=at(61))
    assert [b.due_at for b in late.breaches] == [at(60)]
    assert (
        decide(policy(), late.facts, times(at(61)), closed_stage_ids=CLOSED_STAGES, now=at(62)).breaches == ()
    )


def test_a_changed_policy_recomputes_and_forgets_what_it_no_longer_calls_a_breach() -> None:
    breached = decide(policy(), Facts.start(NEW, T0), times(), closed_stage_ids=CLOSED_STAGES, now=at(61))
    assert breached.values["sla_breached_at"] == at(60)
    relaxed = Policy(id=1, version=2, targets={"first_reply": 2 * HOUR})
    again = decide(relaxed, breached.facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(61))
    assert again.breaches == () and again.values["sla_breached_at"] is None
    assert again.values["sla_next_due_at"] == at(120) and again.values["sla_alarm_at"] == at(120)
    gone = decide(None, breached.facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(61))
    assert gone.values["sla_policy_id"] is None and gone.values["sla_next_due_at"] == FOREVER


def test_a_merge_keeps_the_earliest_breach_across_recomputes() -> None:
    facts = merged_breach(Facts.start(NEW, T0), 99, at(-500))
    result = decide(policy(), facts, times(at(5)), closed_stage_ids=CLOSED_STAGES, now=at(10))
    assert result.values["sla_breached_at"] == at(-500) and result.breaches == ()
    other = Policy(id=2, version=1, targets={"close": HOUR})
    assert decide(other, result.facts, times(), closed_stage_ids=CLOSED_STAGES, now=at(10)).values[
        "sla_breached_at"
    ] == at(-500)
    assert merged_breach(facts, 98, None) == facts


def test_facts_travel_as_json() -> None:
    facts = after_message(
        after_stage(Facts.start(NEW, T0), WAITING, closed=False, at=at(3)),
        kind="customer",
        at=at(9),
        first_reply_at=at(1),
    )
    facts = merged_breach(facts, 4, at(2))
    assert Facts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    assert Facts.start(CLOSED, T0, closed_at=at(5)).stages == ((0, T0), (CLOSED, at(5)))


def test_the_stored_summary_gives_the_state_at_any_moment() -> None:
    def state(phase: str | None, now: int, breached: dt.datetime | None = None) -> str | None:
        return state_at(phase=phase, next_due_at=at(60), soon_at=at(45), breached_at=breached, now=at(now))

    assert state(None, 0) is None
    assert [state("running", m) for m in (0, 45, 60)] == ["on_track", "due_soon", "breached"]
    assert state("paused", 90) == "paused" and state("met", 90) == "met"
    assert state("met", 0, breached=at(-5)) == "breached"
