"""A service started on its own, as the README shows, refuses to run without an identity secret.

``nameko run`` of one service with no ``HELPDESK_IDENTITY_SECRET`` and no
``$HELPDESK_DATA_DIR/identity.secret`` must exit non-zero with one line naming what to set, and
no traceback. Its ``AMQP_URI`` names a port nothing listens on: the refusal has to come before
any broker connection (which would fail differently), so this needs no broker and is quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deploy.ports import free_port
from services import registry

ROOT = Path(__file__).resolve().parents[2]


def test_a_service_without_a_secret_exits_with_one_line_before_touching_the_broker(tmp_path: Path) -> None:
    service = registry.service("tickets")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HELPDESK_") and not k.endswith("_DB_URL") and k != "AMQP_URI"
    }
    env.update(
        HELPDESK_DATA_DIR=str(tmp_path),
        AMQP_URI=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        TICKETS_DB_URL=f"sqlite:///{tmp_path}/tickets.db",
        PYTHONWARNINGS="ignore",
    )
    done = subprocess.run(
        [sys.executable, *service.python_args()],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "tickets: refusing to start: no identity secret: set HELPDESK_IDENTITY_SECRET to "
    ), done.stderr
    assert str(tmp_path / "identity.secret") in last
