"""A private node started by ``deploy.rabbitmq`` (the session's own) runs every thread of its VM
as a batch task (``deploy.rabbitmq.cpu_policy``): set before the server starts, so inherited by
each scheduler, dirty scheduler and async thread the VM makes. Skipped, saying so, on a platform
that refuses or does not keep the policy (a sandbox), where the node runs with the default by design."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy import rabbitmq

pytestmark = pytest.mark.broker


def _platform_keeps_batch() -> bool:
    """Whether this platform keeps a ``SCHED_BATCH`` a process sets for itself: some sandboxes
    refuse the call, others accept it and still report the default policy (a stub). A probe
    process makes the launcher's own call (:func:`deploy.rabbitmq._runs_under`, which leaves the
    default where refused) and reads its policy back; where it does not hold, the node runs
    under the default policy by design."""
    probe = (
        "import os, sys\n"
        "from deploy import rabbitmq\n"
        "rabbitmq._runs_under(os.SCHED_BATCH)()\n"
        "sys.exit(0 if os.sched_getscheduler(0) == os.SCHED_BATCH else 1)\n"
    )
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", probe], cwd=root, check=False).returncode == 0


def _policies(pid: int) -> dict[int, int]:
    """The policy of each thread of ``pid`` still there when asked (a VM thread may end meanwhile)."""
    policies = {}
    for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
        with contextlib.suppress(ProcessLookupError):
            policies[tid] = os.sched_getscheduler(tid)
    return policies


def test_every_thread_of_the_sessions_node_runs_as_a_batch_task(rabbit: dict[str, Any]) -> None:
    if not _platform_keeps_batch():
        pytest.skip("this platform refuses or does not keep SCHED_BATCH: the node runs with the default")
    if not rabbit["data_dir"]:
        pytest.skip("the broker was given by HELPDESK_TEST_AMQP_URI: not a node deploy.rabbitmq started")
    if os.environ.get(rabbitmq.CPU_POLICY_ENV, "").strip().lower() == "normal":
        pytest.skip(f"{rabbitmq.CPU_POLICY_ENV}=normal: the node was started with the default policy")
    node = rabbitmq.Node(Path(rabbit["data_dir"]).resolve(), rabbit["port"])
    pid = int(node.pid_file.read_text().strip())
    policies = _policies(pid)
    assert len(policies) > 1  # the VM's schedulers and helpers, not only its main thread
    assert policies == dict.fromkeys(policies, os.SCHED_BATCH)
