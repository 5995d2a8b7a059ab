"""services.notifications.directory: the admins' answer is never older than the event, and handlers
that must ask at once share one question."""

from __future__ import annotations

import datetime as dt
from typing import Any

import eventlet
import pytest
from nameko.exceptions import MethodNotFound

from services.chassis.cache import EventFlushedCache
from services.chassis.errors import ValidationFailed
from services.notifications.directory import Directory


class SlowPermissions:
    """Answers after ``delay`` seconds; counts the questions; fails while ``failing`` is set."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.asked = 0
        self.admins = [1]
        self.failing = False

    def admin_directory(self) -> dict[str, Any]:
        self.asked += 1
        answer, failing = list(self.admins), self.failing  # as things stood when it was asked
        eventlet.sleep(self.delay)
        if failing:
            raise ConnectionError("permissions is away")
        return {"super_admin_ids": answer, "user_count": 3}


class EarlierPermissions:
    """A permissions service of an earlier release: no ``admin_directory``, as nameko answers."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def admin_directory(self) -> dict[str, Any]:
        self.asked.append("admin_directory")
        raise MethodNotFound("admin_directory")

    def super_admin_ids(self) -> list[int]:
        self.asked.append("super_admin_ids")
        return [1, 7]

    def user_count(self) -> int:
        self.asked.append("user_count")
        return 9


def ask(d: Directory, permissions: SlowPermissions | EarlierPermissions, as_of: str) -> tuple[list[int], int]:
    client: Any = permissions  # the ServiceClient methods the directory calls
    return d.super_admins(client, as_of=as_of)


def directory() -> Directory:
    d = Directory()
    d.cache = EventFlushedCache(60.0)
    return d


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def test_handlers_asking_at_once_share_a_question_asked_no_earlier_than_they_began() -> None:
    # Half a second in flight: the nine must all join the second question before it is answered,
    # which a CI machine that stalls this process for 50 ms (the default delay) did not allow.
    d, permissions = directory(), SlowPermissions(delay=0.5)
    first = eventlet.spawn(ask, d, permissions, now())
    eventlet.sleep(0.01)  # the first question is in flight, asked before the others began
    later = [eventlet.spawn(ask, d, permissions, now()) for _ in range(9)]
    answers = [first.wait(), *(g.wait() for g in later)]
    assert answers == [([1], 3)] * 10
    # one question for the first, one (asked after they began) shared by the nine others
    assert permissions.asked == 2


def test_a_change_made_while_a_question_was_in_flight_is_seen_by_those_who_began_after() -> None:
    d, permissions = directory(), SlowPermissions()
    early = eventlet.spawn(ask, d, permissions, now())
    eventlet.sleep(0.01)
    permissions.admins = [1, 2]  # an admin added after the first question was asked
    late = eventlet.spawn(ask, d, permissions, now())
    assert early.wait() == ([1], 3)
    assert late.wait() == ([1, 2], 3)


def test_an_answer_asked_for_after_the_event_is_reused() -> None:
    d, permissions = directory(), SlowPermissions(delay=0)
    ask(d, permissions, now())
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    assert ask(d, permissions, old) == ([1], 3)
    assert permissions.asked == 1


def test_a_failed_question_fails_everyone_who_shared_it_and_the_next_asks_again() -> None:
    d, permissions = directory(), SlowPermissions()
    permissions.failing = True
    first = eventlet.spawn(ask, d, permissions, now())
    eventlet.sleep(0.01)
    sharing: list[Any] = [eventlet.spawn(ask, d, permissions, now()) for _ in range(3)]
    for g in [first, *sharing]:
        with pytest.raises(ConnectionError):
            g.wait()
    permissions.failing = False
    assert ask(d, permissions, now()) == ([1], 3)


def test_one_question_answers_both_and_an_earlier_release_is_asked_the_two_it_knows() -> None:
    current = SlowPermissions(delay=0)
    assert ask(directory(), current, now()) == ([1], 3) and current.asked == 1
    earlier = EarlierPermissions()
    assert ask(directory(), earlier, now()) == ([1, 7], 9)
    assert earlier.asked == ["admin_directory", "super_admin_ids", "user_count"]


def test_an_answer_missing_a_part_is_an_error_not_a_guess() -> None:
    class Incomplete(SlowPermissions):
        def admin_directory(self) -> dict[str, Any]:
            return {"super_admin_ids": [1]}

    with pytest.raises(ValidationFailed):
        ask(directory(), Incomplete(delay=0), now())
