"""deploy.rabbitmq: how many Erlang schedulers a private node runs (half the CPUs, at least one,
unless HELPDESK_RABBITMQ_SCHEDULERS says)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy import rabbitmq
from deploy.rabbitmq import SCHEDULERS_ENV, Node, schedulers


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_a_node_runs_a_scheduler_for_every_two_cpus(
    monkeypatch: pytest.MonkeyPatch, cpus: int, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    assert schedulers({}) == expected


def test_the_environment_sets_the_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(2)))
    assert schedulers({SCHEDULERS_ENV: "3"}) == 3
    assert schedulers({SCHEDULERS_ENV: " "}) == 1


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_number_that_is_not_a_whole_positive_one_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=SCHEDULERS_ENV):
        schedulers({SCHEDULERS_ENV: raw})


def test_the_server_is_started_with_that_many_schedulers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEDULERS_ENV, "2")
    args = Node(Path("."), 12000).env()["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert args.endswith("+S 2")
    assert rabbitmq.LOOPBACK_DIST in args
