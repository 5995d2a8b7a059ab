"""Moving a thread between the conversations inbox and the help desk, against the whole suite:
the owner a move names is vetted by the permissions service (an unknown user is a 422 and
nothing moves) and owns the ticket the thread gets, so an owned-only mover who names themself
still sees the ticket by the one access rule."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Suite, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db]


@pytest.fixture
def suite(make_vhost: Callable[[], str]) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-move-")
    running = Suite(Path(folder), make_vhost())
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_the_owner_a_move_names_must_exist_and_owns_the_ticket_the_thread_gets(suite: Suite) -> None:
    mover = ok(
        suite.request(
            "POST",
            "/api/v1/users",
            json={
                "name": "Mona Mover",
                "email": "mona@example.com",
                "permissions": ["service_access", "account_access"],
                "access_level": "owned",
            },
        ),
        201,
    )
    token = ok(suite.request("POST", f"/api/v1/users/{mover['id']}/tokens", json={}), 201)["token"]
    form = {"channel": "form", "from": {"email": "kim@example.com"}, "subject": "Move me", "body": "Hi"}
    thread_id = ok(suite.request("POST", "/api/v1/intake/messages", json=form), 201)["thread_id"]
    ok(suite.request("POST", f"/api/v1/threads/{thread_id}/move", json={"to": "inbox"}))

    def move(owner_id: int) -> Any:
        body = {"to": "helpdesk", "owner_id": owner_id}
        return suite.request("POST", f"/api/v1/threads/{thread_id}/move", json=body, token=token)

    refused = move(99999999)
    assert refused.status_code == 422 and refused.json()["errors"] == {
        "owner_id": ["user 99999999 does not exist"]
    }
    assert ok(suite.request("GET", f"/api/v1/threads/{thread_id}"))["location"] == "inbox"

    moved = ok(move(mover["id"]))
    assert moved["location"] == "helpdesk" and moved["owner_id"] == mover["id"]

    def ticket_id() -> Any:
        return ok(suite.request("GET", f"/api/v1/threads/{thread_id}", token=token))["ticket_id"]

    assert wait_for(lambda: ticket_id() is not None, 15), "the moved thread got no ticket"
    ticket = ok(suite.request("GET", f"/api/v1/tickets/{ticket_id()}", token=token))
    assert ticket["owner_id"] == mover["id"]
