"""Shared fixtures: a real RabbitMQ (a fresh vhost per test), migrated databases, configs.

Environment (set by ``make test`` through ``deploy.test_runner``):

* ``HELPDESK_TEST_AMQP_URI`` - a running broker with the management plugin on
  port + 10000; without it a private node is started for the session.
* ``HELPDESK_TEST_DB`` - ``sqlite`` (default) or ``postgresql``; with
  ``postgresql``, ``HELPDESK_TEST_PG_URL`` names the server and every test gets
  fresh databases on it.

Markers: ``db`` (touches a database: runs on SQLite and PostgreSQL), ``broker``
(needs RabbitMQ), ``e2e`` (starts the whole suite).
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import base64  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402

import pytest  # noqa: E402

IDENTITY_SECRET = "test-identity-secret"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: touches a database (runs on SQLite and on PostgreSQL)")
    config.addinivalue_line("markers", "broker: needs a real RabbitMQ")
    config.addinivalue_line("markers", "e2e: starts the whole suite and talks HTTP to the gateway")


# -- broker -------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbit() -> Iterator[dict[str, Any]]:
    """The session's broker: ``{"uri", "host", "port", "mgmt_port", "data_dir"}``."""
    uri = os.environ.get("HELPDESK_TEST_AMQP_URI")
    started: tuple[str, int] | None = None
    if not uri:
        from deploy import rabbitmq

        port = int(os.environ.get("HELPDESK_TEST_RABBIT_PORT", "5690"))
        data_dir = os.environ.get("HELPDESK_TEST_RABBIT_DATA") or tempfile.mkdtemp(prefix="hd-rabbit-")
        uri = rabbitmq.start(data_dir, port)
        started = (data_dir, port)
    parts = urlsplit(uri)
    port = parts.port or 5672
    info = {
        "uri": uri,
        "host": parts.hostname or "127.0.0.1",
        "port": port,
        "mgmt_port": port + 10000,
        "data_dir": os.environ.get("HELPDESK_TEST_RABBIT_DATA", started[0] if started else ""),
    }
    yield info
    if started:
        from deploy import rabbitmq

        rabbitmq.stop(*started)


def _management(rabbit: dict[str, Any], method: str, path: str, body: Any = None) -> None:
    request = urllib.request.Request(
        f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def vhost_uri(rabbit: dict[str, Any]) -> Iterator[str]:
    """An AMQP URI on a fresh, empty vhost, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    _management(rabbit, "PUT", f"vhosts/{quote(name, safe='')}")
    _management(
        rabbit,
        "PUT",
        f"permissions/{quote(name, safe='')}/guest",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    yield f"amqp://guest:guest@{rabbit['host']}:{rabbit['port']}/{quote(name, safe='')}"
    with contextlib.suppress(OSError):
        _management(rabbit, "DELETE", f"vhosts/{quote(name, safe='')}")


# -- databases ----------------------------------------------------------------


def test_db_kind() -> str:
    return os.environ.get("HELPDESK_TEST_DB", "sqlite")


@pytest.fixture
def make_db(tmp_path: Any) -> Callable[[str], str]:
    """``make_db(service)`` -> URL of a fresh database migrated to head for that service."""
    from services.chassis.migrate import upgrade

    def factory(service: str) -> str:
        if test_db_kind() == "postgresql":
            from deploy import postgres

            server = os.environ["HELPDESK_TEST_PG_URL"]
            url = postgres.create_database(server, f"t_{service}_{uuid.uuid4().hex[:10]}", drop_existing=True)
        else:
            url = f"sqlite:///{tmp_path}/{service}-{uuid.uuid4().hex[:6]}.db"
        upgrade(service, url)
        return url

    return factory


@pytest.fixture
def service_config(vhost_uri: str, make_db: Callable[[str], str]) -> Callable[..., dict[str, Any]]:
    """``service_config(service, **extra)`` -> nameko config with its own broker vhost and database."""

    def factory(service: str, **extra: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "AMQP_URI": vhost_uri,
            "IDENTITY_SECRET": IDENTITY_SECRET,
            "max_workers": 10,
        }
        if service != "gateway":
            config["DB_URL"] = make_db(service)
        config.update(extra)
        return config

    return factory
