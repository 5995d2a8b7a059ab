"""deploy.rabbitmq: how many Erlang schedulers a private node runs (half the CPUs, at least one,
unless HELPDESK_RABBITMQ_SCHEDULERS says) and the CPU policy its VM runs under (SCHED_BATCH unless
HELPDESK_RABBITMQ_CPU_POLICY=normal)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy import rabbitmq
from deploy.rabbitmq import CPU_POLICY_ENV, SCHEDULERS_ENV, Node, schedulers


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


# -- the CPU policy the node's VM runs under ------------------------------------------------------


def test_a_node_runs_as_a_batch_task_unless_told_otherwise() -> None:
    assert rabbitmq.cpu_policy({}) == os.SCHED_BATCH
    assert rabbitmq.cpu_policy({CPU_POLICY_ENV: " Batch "}) == os.SCHED_BATCH
    assert rabbitmq.cpu_policy({CPU_POLICY_ENV: "normal"}) == os.SCHED_OTHER


@pytest.mark.parametrize("raw", ["idle", "fifo", "0", "batchy"])
def test_a_policy_that_is_not_batch_or_normal_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=CPU_POLICY_ENV):
        rabbitmq.cpu_policy({CPU_POLICY_ENV: raw})


def test_a_refused_policy_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CPU_POLICY_ENV, "realtime")
    with pytest.raises(ValueError, match=CPU_POLICY_ENV):
        rabbitmq.launch(Node(tmp_path / "node", 12000))
    assert not (tmp_path / "node").exists()


@pytest.mark.parametrize("policy", [os.SCHED_BATCH, os.SCHED_OTHER])
def test_the_child_sets_the_policy_for_itself(policy: int) -> None:
    apply = rabbitmq._runs_under(policy)
    assert apply is not None
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: as subprocess runs it between fork and exec
        try:
            other = os.SCHED_OTHER if policy == os.SCHED_BATCH else os.SCHED_BATCH
            os.sched_setscheduler(0, other, os.sched_param(0))
            apply()
            os.write(write, str(os.sched_getscheduler(0)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        seen = int(answer.read())
    os.waitpid(child, 0)
    assert seen == policy


def test_no_policy_means_nothing_runs_before_the_server() -> None:
    assert rabbitmq._runs_under(None) is None


def test_a_platform_without_scheduling_policies_starts_the_node_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "sched_setscheduler")
    assert rabbitmq.cpu_policy({}) is None
    with pytest.raises(ValueError, match=CPU_POLICY_ENV):
        rabbitmq.cpu_policy({CPU_POLICY_ENV: "fifo"})
