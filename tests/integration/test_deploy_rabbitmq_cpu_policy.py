"""A private node started by ``deploy.rabbitmq`` (the session's own) runs every thread of its VM
as a batch task (``deploy.rabbitmq.cpu_policy``): set before the server starts, so inherited by
each scheduler, dirty scheduler and async thread the VM makes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from deploy import rabbitmq

pytestmark = pytest.mark.broker


def test_every_thread_of_the_sessions_node_runs_as_a_batch_task(rabbit: dict[str, Any]) -> None:
    if not rabbit["data_dir"]:
        pytest.skip("the broker was given by HELPDESK_TEST_AMQP_URI: not a node deploy.rabbitmq started")
    if os.environ.get(rabbitmq.CPU_POLICY_ENV, "").strip().lower() == "normal":
        pytest.skip(f"{rabbitmq.CPU_POLICY_ENV}=normal: the node was started with the default policy")
    node = rabbitmq.Node(Path(rabbit["data_dir"]).resolve(), rabbit["port"])
    pid = int(node.pid_file.read_text().strip())
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    policies = {tid: os.sched_getscheduler(tid) for tid in threads}
    assert len(threads) > 1  # the VM's schedulers and helpers, not only its main thread
    assert policies == dict.fromkeys(threads, os.SCHED_BATCH)
