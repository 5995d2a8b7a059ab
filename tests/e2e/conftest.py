"""The whole help desk as an operator runs it: ``python -m deploy.supervisor`` in a subprocess.

A :class:`Suite` is one supervisor with its own data folder, HTTP and SMTP ports and broker: a
vhost of the test broker given as ``AMQP_URI`` (every process logs in as guest there), or, without
one, the supervisor's own RabbitMQ node as ``make run`` starts it (no guest; a least-privilege user
per process). It is driven over HTTP with the bootstrap admin's token. Starting waits for ``/readyz`` to
answer 200; stopping sends SIGTERM and asserts a clean exit (exit 0, no child left behind).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventlet
import pytest
import requests

from deploy.ports import free_port
from services import registry
from tests.conftest import free_rabbit_port

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
CHILDREN = tuple(child.name for child in registry.CHILDREN)
_PRCTL = getattr(ctypes.CDLL(None), "prctl", None)


def _die_with_us() -> None:
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed test run takes the suite with it


class Suite:
    """One running supervisor and the HTTP face of what it runs."""

    def __init__(self, data_dir: Path, amqp_uri: str | None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.amqp_uri = amqp_uri
        self.amqp_port = None if amqp_uri else free_rabbit_port()
        self.extra_env = dict(env or {})
        self.http_port = free_port()
        self.smtp_port = free_port()
        self.admin_token = f"admin-{uuid.uuid4().hex}"
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.output = data_dir / "supervisor.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()

    # -- life cycle ------------------------------------------------------------

    def start(self) -> float:
        """Start the supervisor and wait until ready; returns the seconds it took."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("HELPDESK_") and not k.endswith("_DB_URL") and k != "AMQP_URI"
        }
        env.update(
            HELPDESK_DATA_DIR=str(self.data_dir),
            HELPDESK_HTTP_PORT=str(self.http_port),
            HELPDESK_SMTP_PORT=str(self.smtp_port),
            HELPDESK_ADMIN_TOKEN=self.admin_token,
        )
        if self.amqp_uri is not None:
            env.update(AMQP_URI=self.amqp_uri)
        else:
            env.update(HELPDESK_AMQP_PORT=str(self.amqp_port))
        env.update(self.extra_env)
        began = time.monotonic()
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deploy.supervisor"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_us,
            )
        self.wait_ready(READY_TIMEOUT)
        return time.monotonic() - began

    def wait_ready(self, timeout: float) -> float:
        """Poll ``/readyz`` until 200; returns the seconds it took."""
        began = time.monotonic()
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the supervisor exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if self.http.get(self.base_url + "/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - began
            except requests.RequestException:
                pass
            if time.monotonic() - began > timeout:
                raise AssertionError(f"/readyz did not answer 200 within {timeout:g}s:\n{self.tail()}")
            eventlet.sleep(0.5)

    def child_pids(self) -> dict[str, int]:
        pids = {}
        for name in CHILDREN:
            path = self.data_dir / "run" / f"{name}.pid"
            try:
                pids[name] = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
        return pids

    def pid(self, name: str) -> int:
        return self.child_pids()[name]

    def stop(self) -> None:
        """SIGTERM the supervisor; assert it exits 0 and leaves no child running."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise AssertionError(f"the supervisor was not running at teardown ({code}):\n{self.tail()}")
        children = self.child_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"the supervisor ignored SIGTERM for {STOP_TIMEOUT:g}s:\n{self.tail()}"
            ) from None
        finally:
            self.http.close()
        assert code == 0, f"the supervisor exited {code} on SIGTERM:\n{self.tail()}"
        left = {name: pid for name, pid in children.items() if _alive(pid)}
        assert not left, f"children still running after the supervisor exited: {left}"

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    # -- HTTP ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "admin",
        session: requests.Session | None = None,
        timeout: float = 15.0,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {self.admin_token if token == 'admin' else token}"
        return (session or self.http).request(
            method, self.base_url + path, headers=headers, timeout=timeout, **kwargs
        )

    def feed(self, page_size: int = 100, max_pages: int = 100) -> list[dict[str, Any]]:
        """The admin's whole notification feed, page by page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            response = self.request("GET", "/api/v1/notifications", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items
        raise AssertionError(f"the feed has more than {max_pages} pages")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def suite_factory() -> Iterator[Callable[..., Suite]]:
    """``suite_factory(amqp_uri, env=None)`` starts a suite of the test's own (``amqp_uri`` None: on
    its own broker node; ``env`` adds to its environment); it is stopped (cleanly) after it."""
    suites: list[Suite] = []
    folders: list[str] = []

    def factory(amqp_uri: str | None, env: dict[str, str] | None = None) -> Suite:
        folder = tempfile.mkdtemp(prefix="hd-e2e-")
        folders.append(folder)
        suite = Suite(Path(folder), amqp_uri, env)
        suites.append(suite)
        suite.start()
        return suite

    yield factory
    try:
        for suite in suites:
            suite.stop()
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


TWO_OF_EVERYTHING = ",".join(f"{s.name}=2" for s in registry.SERVICES) + f",{registry.GATEWAY.name}=2"
"""``HELPDESK_SCALE`` for two instances of every service and of the gateway."""


def postgres_urls(prefix: str) -> dict[str, str]:
    """A fresh PostgreSQL database per service (``<SERVICE>_DB_URL``) on the test server, named
    ``<prefix>_<service>_<random>``: several instances of a service need PostgreSQL."""
    from deploy import postgres

    server = os.environ["HELPDESK_TEST_PG_URL"]
    return {
        s.db_url_variable: postgres.create_database(server, f"{prefix}_{s.name}_{uuid.uuid4().hex[:8]}")
        for s in registry.SERVICES
        if s.db_url_variable
    }


def count_tickets(suite: Suite) -> int:
    """Every ticket the suite's admin sees, counted page by page (a list's ``total`` stops at 1,000)."""
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = suite.request("GET", "/api/v1/tickets", params=params).json()
        count += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        eventlet.sleep(interval)
