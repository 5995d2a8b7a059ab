"""``deploy.rabbitmq.discard``: a node whose data is deleted next ends at once and leaves nothing
running, its epmd included, even after it was stopped and started again (as the broker outage
tests do)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from deploy import rabbitmq
from tests.conftest import free_rabbit_port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_discarded_node_leaves_no_process_and_no_epmd() -> None:
    data_dir = tempfile.mkdtemp(prefix="hd-discard-")
    port = free_rabbit_port()
    node = rabbitmq.Node(Path(data_dir).resolve(), port)
    try:
        rabbitmq.start(data_dir, port)
        rabbitmq.stop(data_dir, port)
        rabbitmq.start(data_dir, port)
        assert rabbitmq.is_running(data_dir, port) and _listening(node.epmd_port)
        rabbitmq.discard(data_dir, port)
        assert not rabbitmq.is_running(data_dir, port)
        assert not any(_listening(p) for p in (port, node.management_port, node.epmd_port))
        rabbitmq.discard(data_dir, port)  # nothing running: nothing to do, no error
    finally:
        rabbitmq.discard(data_dir, port)
        shutil.rmtree(data_dir, ignore_errors=True)
