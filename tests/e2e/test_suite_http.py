"""The whole help desk over HTTP, started as an operator starts it (``python -m deploy.supervisor``).

Proves, with every service, the gateway, a real broker and real databases, that

* the suite becomes ready (``/readyz`` 200) and stops cleanly on SIGTERM;
* a ticket created with POST reads back with GET, with its ``version`` as a strong ``ETag``;
* an ``Idempotency-Key`` replay returns the first ticket and creates nothing, and the same key with
  another body answers 409;
* the bootstrap admin's feed gets one ``ticket_created`` item for the new ticket;
* a request without a token answers 401 and an unknown ticket 404, both as problem+json;
* the SMTP edge runs with the suite: it answers EHLO with SIZE on ``HELPDESK_SMTP_PORT``, has its
  own log and pid file, and is restarted when killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Suite, wait_for

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def suite(make_vhost: Callable[[], str]) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-e2e-")
    running = Suite(Path(folder), make_vhost())
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def create(suite: Suite, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return suite.request("POST", "/api/v1/tickets", json=body, headers=headers)


def test_created_ticket_reads_back_with_its_version_as_etag(suite: Suite) -> None:
    created = create(suite, {"name": "Printer on fire", "priority": "urgent", "description": "smoke"})
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["name"] == "Printer on fire" and ticket["priority"] == "urgent"
    assert created.headers["ETag"] == f'"{ticket["version"]}"'

    read = suite.request("GET", f"/api/v1/tickets/{ticket['id']}")
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["id"] == ticket["id"]
    assert body["name"] == "Printer on fire"
    assert body["description"] == "smoke"
    assert read.headers["ETag"] == f'"{body["version"]}"'


def test_idempotency_key_replays_the_first_ticket_and_refuses_another_body(suite: Suite) -> None:
    key = f"key-{uuid.uuid4().hex}"
    first = create(suite, {"name": "Only once"}, key)
    assert first.status_code == 201, first.text
    replay = create(suite, {"name": "Only once"}, key)
    assert replay.status_code == 201, replay.text
    assert replay.json() == first.json()
    assert replay.headers["ETag"] == first.headers["ETag"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    other = create(suite, {"name": "Something else"}, key)
    assert other.status_code == 409, other.text
    assert other.headers["Content-Type"].startswith(PROBLEM_JSON)


def test_admin_feed_gets_one_item_for_a_new_ticket(suite: Suite) -> None:
    created = create(suite, {"name": "Tell the admin"})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    def mine() -> list[dict[str, Any]]:
        return [item for item in suite.feed() if item["ticket_id"] == ticket_id]

    assert wait_for(lambda: bool(mine()), 15.0), "no ticket_created item reached the admin's feed"
    items = mine()
    assert [(item["type"], item["read"]) for item in items] == [("ticket_created", False)]
    assert {"id", "type", "ticket_id", "created_at", "read"} <= items[0].keys()


def test_request_without_token_is_401(suite: Suite) -> None:
    response = suite.request("GET", "/api/v1/notifications", token=None)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert suite.request("GET", "/api/v1/notifications", token="not-a-real-token").status_code == 401


def test_unknown_ticket_is_404(suite: Suite) -> None:
    response = suite.request("GET", "/api/v1/tickets/987654321")
    assert response.status_code == 404, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 404


def smtp_answers(port: int) -> bool:
    """EHLO on ``port`` answers 250 and advertises SIZE."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            code, _ = client.ehlo()
            return code == 250 and int(client.esmtp_features.get("size") or 0) > 0
    except (OSError, smtplib.SMTPException):
        return False


def test_the_smtp_edge_answers_ehlo_with_size_and_is_restarted_like_the_others(suite: Suite) -> None:
    # /readyz waits for the RPC services only; the edge starts beside them
    assert wait_for(lambda: smtp_answers(suite.smtp_port), 30.0), suite.tail()
    assert "smtp edge listening" in (suite.data_dir / "logs" / "smtp_edge.log").read_text()

    pid = suite.pid("smtp_edge")
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: suite.child_pids().get("smtp_edge") not in (None, pid), 30.0), suite.tail()
    assert wait_for(lambda: smtp_answers(suite.smtp_port), 30.0), suite.tail()
