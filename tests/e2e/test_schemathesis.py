"""Schemathesis against the whole help desk: the OpenAPI document tells the truth.

A :class:`Suite` runs with the bootstrap admin; the run acts as a second super admin made for it.
``st run`` fetches ``/api/v1/openapi.json`` from the live gateway and runs every phase (examples,
coverage, fuzzing, stateful via the document's links) with every check, a fixed seed and a
bounded number of examples per operation; it must report no failure. Settings that need a reason
are in ``tests/e2e/schemathesis.toml``. What the run must not do to itself:

* ``DELETE /api/v1/tokens/{token_id}`` (revoke_token) is excluded: ids are small integers, and a
  super admin may revoke anybody's token, the run's own included;
* ``GET /api/v1/stream`` (stream) is excluded: an event stream never ends, so every case of it
  waited out the request timeout (two thirds of the run's time for no finding). Its messages are
  checked against the same schema by ``tests/e2e/test_suite_http.py`` and the live-stream tests;
* ``PATCH /api/v1/users/{user_id}`` is pointed at a user made for it, so the run never takes
  super_admin away from its own user;
* the failed-authentication limits are off (``HELPDESK_RATE_FAILED_AUTH_*=0``): the
  ``ignored_auth`` check fails authentication on purpose for every operation, from one address,
  far past the default burst. The limits have tests of their own
  (``tests/component/test_gateway_hardening.py``).

Figures (operations, test cases, seconds) are printed for the README.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Suite

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261201
MAX_EXAMPLES = 30
RUN_TIMEOUT = 900.0
"""A cap against a hung run, not a speed check: 125 operations take about four minutes alone (the
client's case generation, not the suite, is most of it) and six or more on a loaded machine."""
NO_AUTH_LIMITS = {"HELPDESK_RATE_FAILED_AUTH_PER_ADDRESS": "0", "HELPDESK_RATE_FAILED_AUTH_PER_TOKEN": "0"}


def _created(suite: Suite, path: str, body: dict[str, object]) -> dict[str, object]:
    response = suite.request("POST", path, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def test_schemathesis_finds_no_failure(
    suite_factory: Callable[..., Suite], make_vhost: Callable[[], str]
) -> None:
    suite = suite_factory(make_vhost(), env=NO_AUTH_LIMITS)
    target = _created(suite, "/api/v1/users", {"name": "PATCH target", "email": "target@example.com"})
    runner = _created(
        suite,
        "/api/v1/users",
        {"name": "schemathesis", "email": "schemathesis@example.com", "permissions": ["super_admin"]},
    )
    token = _created(suite, f"/api/v1/users/{runner['id']}/tokens", {"label": "schemathesis"})["token"]
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{suite.base_url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-operation-id",
        "revoke_token",
        "--exclude-operation-id",
        "stream",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    env = {**os.environ, "HELPDESK_SCHEMATHESIS_TARGET_USER": str(target["id"])}
    began = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=suite.data_dir, check=False
    )
    seconds = time.monotonic() - began
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20000:]
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested and cases, output[-3000:]
    assert int(tested.group(1)) >= 40
    print(
        f"METRIC schemathesis operations={tested.group(1)} test_cases={cases.group(1)} "
        f"seconds={seconds:.0f} seed={SEED} max_examples={MAX_EXAMPLES}"
    )
    me = suite.request("GET", "/api/v1/me", token=str(token))
    assert me.status_code == 200 and "super_admin" in me.json()["permissions"], "the run changed its own user"
