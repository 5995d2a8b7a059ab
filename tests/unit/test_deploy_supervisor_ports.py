"""A run's listening ports are its own: the supervisor refuses a gateway or SMTP port another
process holds, and a service's metrics port is never shared with another process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.ports import free_port, port_taken
from deploy.supervisor import Settings, StartupError, check_ports
from services.chassis.metrics import METRICS_BIND, MetricsServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_listener() -> Iterator[int]:
    """A port listened on the way a running gateway listens: ``SO_REUSEPORT``, which would let a
    second such socket bind beside it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", free_port()))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def settings(**environ: str) -> Settings:
    return Settings.from_env({"HELPDESK_DATA_DIR": "/tmp/hd-ports-unit", **environ})


@pytest.mark.parametrize("variable", ["HELPDESK_HTTP_PORT", "HELPDESK_SMTP_PORT"])
def test_a_port_another_run_holds_refuses_the_start_naming_the_setting(
    shared_listener: int, variable: str
) -> None:
    other = "HELPDESK_SMTP_PORT" if variable == "HELPDESK_HTTP_PORT" else "HELPDESK_HTTP_PORT"
    chosen = settings(**{variable: str(shared_listener), other: str(free_port())})
    with pytest.raises(
        StartupError, match=rf"127\.0\.0\.1:{shared_listener} \({variable}\) is already in use"
    ):
        check_ports(chosen)


def test_free_ports_and_a_stopped_runs_closed_connections_pass() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", free_port()))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
    client.close()
    server.close()
    assert not port_taken(port)
    check_ports(settings(HELPDESK_HTTP_PORT=str(port), HELPDESK_SMTP_PORT=str(free_port())))


def test_a_metrics_port_held_by_another_process_is_not_shared(shared_listener: int) -> None:
    server = MetricsServer()
    server.container = type("Container", (), {"config": {METRICS_BIND: f"127.0.0.1:{shared_listener}"}})()
    server.setup()
    assert server.socket is None, "bound beside the other process: a scrape would read either one"
    free = MetricsServer()
    free.container = type("Container", (), {"config": {METRICS_BIND: f"127.0.0.1:{free_port()}"}})()
    free.setup()
    try:
        assert free.socket is not None
    finally:
        free.socket.close()


def test_a_second_run_on_a_taken_port_says_so_in_one_line_before_starting_anything(
    shared_listener: int, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "HELPDESK_HTTP_PORT": str(shared_listener),
        "HELPDESK_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "deploy.supervisor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{shared_listener} (HELPDESK_HTTP_PORT) is already in use" in lines[0]
    assert not (tmp_path / "data").exists(), "nothing was started or created"
