"""The web workspace in a real browser against the whole help desk.

* ``npm test`` (Vitest) passes: the front end's logic (API client, auth, cursor paging, the
  virtual window, filters in the URL, keyboard handling, i18n, components);
* with a :class:`Suite` running and seeded over HTTP (an agent with a token; 110 tickets, some by
  the agent so they are unread for the admin), ``npx playwright test`` drives Debian's Chromium
  (``/usr/bin/chromium``) through ``web/e2e``: set the admin's password from an invite link and
  sign in with it (session cookie, a write with the CSRF token, a password change on its page
  that renews the cookie, sign-out; then an API token), find
  a ticket in the table, open it in split and edit a property, drag it across the board, bulk
  update, an If-Match conflict between two browser contexts; a form message becomes a ticket, the
  reply typed in split reaches an SMTP sink (the suite relays its outgoing mail there), and so does
  one with a changed Cc and an attached file, print,
  merge, bulk delete with the typed count and restore from the recycle bin, spam and not spam,
  split (two mails sent to the suite's SMTP port make a two-message thread), move a thread to the
  inbox, a live update between two browser contexts and the bell counting live, notification
  preferences; a customer's email sent to the SMTP port showing up in an open table and its
  follow-up in the open conversation without a reload; the inbox page (open a thread by keyboard,
  move it to the help desk, which makes it a ticket); a saved view saved from the table, applied
  (``?view_id=``, kept on the board), renamed and deleted, and an SLA policy created, shown on a
  ticket's sidebar, edited and deleted (``e2e/views.spec.ts``); the assistance controls
  (``e2e/assist.spec.ts``: a note's @mention picked by keyboard reaches the agent as a
  ``mentioned`` notification, Move to help desk finds its ticket by words, the seated agent
  uses a name suggestion and inserts a recommended reply from a similar closed ticket, the admin
  without a seat is offered neither); axe-core on every page, and the figures (first-load JS
  gzip, table render p50, board drag -> persisted p50), which are printed.

The browser runs in a subprocess (this process is eventlet-patched). ``deploy/build_web.sh``
builds ``web/dist`` and installs ``web/node_modules`` first when they are stale; ``make test``
installs Chromium (``deploy/install.sh --browser``). Without Node.js or Chromium the tests are
skipped, except under CI, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Suite
from tests.mail_fixtures import SmtpSink

pytestmark = pytest.mark.e2e

WEB = ROOT / "web"
CHROMIUM = Path(os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium"))
SEED_TICKETS = 110
AGENT_TICKETS = 5
BROWSER_TIMEOUT = 900.0


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def web_ready() -> Path:
    """web/node_modules installed and web/dist built from the current sources."""
    have_node = shutil.which("node") is not None and shutil.which("npm") is not None
    _require(have_node, "Node.js and npm are needed")
    built = subprocess.run(
        [str(ROOT / "deploy" / "build_web.sh")], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, f"deploy/build_web.sh failed:\n{built.stdout}\n{built.stderr}"
    assert (WEB / "dist" / "index.html").is_file()
    return WEB


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    """An SMTP relay that keeps what the suite sends (the browser tests read its folder)."""
    folder = Path(tempfile.mkdtemp(prefix="hd-web-sink-"))
    running = SmtpSink(folder)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def suite(make_vhost: Callable[[], str], web_ready: Path, sink: SmtpSink) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-web-")
    env = {"HELPDESK_SMTP_RELAY": f"{sink.host}:{sink.port}", "HELPDESK_MAIL_FROM": "support@web.test"}
    running = Suite(Path(folder), make_vhost(), env=env)
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json()


def seed(suite: Suite) -> dict[str, str]:
    """An agent who may see everything, with a token; tickets by the admin and by the agent."""
    agent = _ok(
        suite.request(
            "POST",
            "/api/v1/users",
            json={
                "name": "Ada Agent",
                "email": "ada@example.com",
                "permissions": ["service_access"],
                "access_level": "everything",
                "include_unassigned": True,
                "seat": True,
            },
        ),
        201,
    )
    issued = suite.request("POST", f"/api/v1/users/{agent['id']}/tokens", json={"label": "browser tests"})
    token = _ok(issued, 201)
    priorities = ("low", "medium", "high", "urgent")
    for n in range(SEED_TICKETS):
        body = {"name": f"Seeded ticket {n}", "priority": priorities[n % 4], "description": f"Seed {n}"}
        _ok(suite.request("POST", "/api/v1/tickets", json=body), 201)
    for n in range(AGENT_TICKETS):
        body = {"name": f"Customer cannot log in {n}", "priority": "high"}
        _ok(suite.request("POST", "/api/v1/tickets", token=token["token"], json=body), 201)
    return {"HELPDESK_AGENT_TOKEN": token["token"]}


def _run(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=WEB,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_front_end_unit_tests_pass(web_ready: Path) -> None:
    result = _run(["npm", "test", "--silent"], dict(os.environ), 180.0)
    assert result.returncode == 0, f"npm test failed:\n{result.stdout}\n{result.stderr}"


def test_workspace_in_chromium(suite: Suite, sink: SmtpSink, tmp_path: Path) -> None:
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing (deploy/install.sh --browser installs it)")
    metrics = tmp_path / "metrics.json"
    env = {
        **os.environ,
        **seed(suite),
        "HELPDESK_BASE_URL": suite.base_url,
        "HELPDESK_TOKEN": suite.admin_token,
        "HELPDESK_CHROMIUM": str(CHROMIUM),
        "HELPDESK_METRICS_OUT": str(metrics),
        "HELPDESK_SMTP_SINK_DIR": str(sink.folder),
        "HELPDESK_SMTP_PORT": str(suite.smtp_port),
    }
    env.pop("HELPDESK_SCREENSHOTS_DIR", None)
    result = _run(["npx", "--no-install", "playwright", "test"], env, BROWSER_TIMEOUT)
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"the browser tests failed:\n{output}\nsuite log:\n{suite.tail()}"
    figures = json.loads(metrics.read_text())
    print("web workspace figures:", json.dumps(figures))
    assert figures["first_load_js_gzip_bytes"]["gzip"] <= 200 * 1024
    assert {"table_100_render_ms", "board_drag_to_persisted_ms"} <= set(figures)
