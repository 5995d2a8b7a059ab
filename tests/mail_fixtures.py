"""Fixtures for mail tests: an SMTP sink in a subprocess, and helpers to wait for a TCP port.

``smtp_sink`` is a started :class:`SmtpSink` that accepts everything; ``make_smtp_sink(*args)``
starts more, with ``tests.smtp_sink`` options such as ``"--refuse", "rcpt-5xx"``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[Any] | None = None) -> None:
    """Return once ``host:port`` accepts connections; fail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> int:
    """SIGTERM, wait, SIGKILL if it must; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


class SmtpSink:
    """A running ``tests.smtp_sink`` process and the folder it stores messages in."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.smtp_sink", "--port", str(self.port), "--dir", str(folder), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.host, self.port, 15, self.process)
        except Exception:
            self.stop()
            raise

    def _stems(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def messages(self) -> list[bytes]:
        """Every message received so far, exact bytes, in arrival order."""
        return [path.read_bytes() for path in self._stems()]

    def envelopes(self) -> list[dict[str, Any]]:
        """``{"mail_from", "rcpt_tos"}`` of each message, in arrival order."""
        return [json.loads(path.with_suffix(".json").read_text()) for path in self._stems()]

    def received(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Each message so far with its envelope, from one listing of the folder (two separate
        calls to :meth:`messages` and :meth:`envelopes` may straddle a new arrival)."""
        return [
            (path.read_bytes(), json.loads(path.with_suffix(".json").read_text())) for path in self._stems()
        ]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The messages once there are at least ``count``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"{len(self.messages())} messages after {timeout}s, wanted {count}")

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def make_smtp_sink(tmp_path: Path) -> Iterator[Callable[..., SmtpSink]]:
    """``make_smtp_sink(*options)`` -> a started sink with its own folder, stopped after the test."""
    sinks: list[SmtpSink] = []

    def factory(*args: str) -> SmtpSink:
        sink = SmtpSink(tmp_path / f"sink-{len(sinks)}", *args)
        sinks.append(sink)
        return sink

    yield factory
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(make_smtp_sink: Callable[..., SmtpSink]) -> SmtpSink:
    """A started sink that accepts every message."""
    return make_smtp_sink()
