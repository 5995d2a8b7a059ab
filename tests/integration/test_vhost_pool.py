"""The tests' vhost pool (``tests.conftest.VhostPool``) on the session's broker: every vhost it
hands out is fresh, empty and its caller's alone, and every one it made is gone once it closes."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import eventlet
import pytest
from kombu import Connection

from tests.conftest import VhostPool

pytestmark = pytest.mark.broker


def management(rabbit: dict[str, Any], path: str) -> Any:
    """The management API's answer for ``path``, or ``None`` for a 404."""
    request = urllib.request.Request(
        f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api/{path}",
        headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def test_each_vhost_is_fresh_and_its_callers_alone_and_all_are_deleted_at_close(
    rabbit: dict[str, Any],
) -> None:
    pool = VhostPool(rabbit)
    try:
        eventlet.sleep(1.0)  # spares made meanwhile
        taken = [pool.take() for _ in range(VhostPool.SPARE + 2)]  # spares, then made on the spot
        names = [name for name, _uri in taken]
        assert len(set(names)) == len(names)
        for name, uri in taken:
            assert management(rabbit, f"queues/{quote(name, safe='')}") == []
            with Connection(uri) as connection:  # guest may use it
                connection.SimpleQueue("probe").put({"n": 1})
        pool.give_back(names[0])
        eventlet.sleep(1.0)  # refills its spares meanwhile, which are new names
        later = pool.take()[0]
        assert later not in names
        names.append(later)
    finally:
        pool.close()
    for name in names:
        assert management(rabbit, f"vhosts/{quote(name, safe='')}") is None, f"{name} left behind"
    assert pool.ready.empty() and pool.doomed.empty()
