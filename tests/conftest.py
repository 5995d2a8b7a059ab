"""Shared fixtures: a real RabbitMQ (a fresh vhost per test), migrated databases, configs.

Environment (set by ``make test`` through ``deploy.test_runner``):

* ``HELPDESK_TEST_AMQP_URI`` - a running broker with the management plugin on
  port + 10000; without it a private node is started for the session.
* ``HELPDESK_TEST_CLUSTER_DATA`` and ``HELPDESK_TEST_CLUSTER_PORT`` - a 3-node RabbitMQ cluster
  (``deploy.rabbitmq.start_cluster``) for the tests marked ``cluster``; without them the first
  such test starts a private one for the session (~30 s).
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
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from deploy.ports import bindable  # noqa: E402

# Property tests check what holds, not how fast: no per-example deadline (Hypothesis's default is
# 200 ms) and no "too slow" health check. An example's time depends on the machine's load, and
# `make test` runs two passes at once on a two-CPU machine: an LRU property whose examples take
# about a millisecond on an idle machine failed its deadline there. Speed is the benchmarks' to
# measure (bench/). A test's own @settings still overrides any of this.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

IDENTITY_SECRET = "tests-only-identity-secret-5e0c8f1a9b2d47c3"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: touches a database (runs on SQLite and on PostgreSQL)")
    config.addinivalue_line("markers", "broker: needs a real RabbitMQ")
    config.addinivalue_line("markers", "e2e: starts the whole suite and talks HTTP to the gateway")
    config.addinivalue_line("markers", "cluster: needs a 3-node RabbitMQ cluster (kills its nodes)")


# -- broker -------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbit() -> Iterator[dict[str, Any]]:
    """The session's broker: ``{"uri", "host", "port", "mgmt_port", "data_dir"}``."""
    uri = os.environ.get("HELPDESK_TEST_AMQP_URI")
    started: tuple[str, int] | None = None
    kept: str | None = None
    if not uri:
        from deploy import rabbitmq

        port = int(os.environ.get("HELPDESK_TEST_RABBIT_PORT", "5690"))
        kept = os.environ.get("HELPDESK_TEST_RABBIT_DATA")
        data_dir = kept or tempfile.mkdtemp(prefix="hd-rabbit-")
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

        if kept:
            rabbitmq.stop(*started)
        else:  # its own folder, deleted with it
            rabbitmq.discard(*started)
            shutil.rmtree(started[0], ignore_errors=True)


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


def _create_vhost(rabbit: dict[str, Any]) -> tuple[str, str]:
    """Make a fresh vhost that guest may use; returns (name, AMQP URI)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    _management(rabbit, "PUT", f"vhosts/{quote(name, safe='')}")
    _management(
        rabbit,
        "PUT",
        f"permissions/{quote(name, safe='')}/guest",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    return name, f"amqp://guest:guest@{rabbit['host']}:{rabbit['port']}/{quote(name, safe='')}"


def _delete_vhost(rabbit: dict[str, Any], name: str) -> None:
    with contextlib.suppress(OSError):
        _management(rabbit, "DELETE", f"vhosts/{quote(name, safe='')}")


class VhostPool:
    """Fresh vhosts on the session's broker, made before a test asks and deleted after it, off
    the tests' time.

    Making a vhost and deleting it cost the broker 50-800 ms between them (measured on the test
    node), and hundreds of tests each paid both in their setup and teardown. A green thread keeps
    :data:`SPARE` vhosts made and deletes the ones given back while the tests run.

    Promises: a vhost handed out by :meth:`take` was made empty for that one caller and is never
    handed out again; one the pool has none ready for is made there and then (so a broker that
    was briefly unreachable costs that test the wait, nothing else); :meth:`close` deletes every
    vhost the pool made, given back or not.
    """

    SPARE = 2
    IDLE_POLL = 0.2  # seconds the worker waits for a vhost to delete before topping up spares

    def __init__(self, rabbit: dict[str, Any]) -> None:
        from eventlet.queue import LightQueue

        self.rabbit = rabbit
        self.ready: LightQueue = LightQueue()
        self.doomed: LightQueue = LightQueue()
        self.out: set[str] = set()  # handed out, not given back yet
        self.closing = False
        self.worker = eventlet.spawn(self._work)

    def take(self) -> tuple[str, str]:
        """``(name, AMQP URI)`` of a fresh vhost that guest may use."""
        made: tuple[str, str] = (
            self.ready.get_nowait() if not self.ready.empty() else _create_vhost(self.rabbit)
        )
        self.out.add(made[0])
        return made

    def give_back(self, name: str) -> None:
        """Delete ``name`` soon (its user is done with it)."""
        self.out.discard(name)
        self.doomed.put(name)

    def close(self) -> None:
        self.closing = True
        self.worker.wait()
        while not self.ready.empty():
            self.doomed.put(self.ready.get_nowait()[0])
        for name in sorted(self.out):
            self.give_back(name)
        while not self.doomed.empty():
            _delete_vhost(self.rabbit, self.doomed.get_nowait())

    def _work(self) -> None:
        from eventlet.queue import Empty

        while not self.closing:
            try:
                _delete_vhost(self.rabbit, self.doomed.get(timeout=self.IDLE_POLL))
                continue  # deletions first: they free what the broker holds
            except Empty:
                pass
            if self.ready.qsize() < self.SPARE and not self.closing:
                try:
                    self.ready.put(_create_vhost(self.rabbit))
                except OSError:  # the broker is away: take() makes its own meanwhile
                    eventlet.sleep(1.0)


@pytest.fixture(scope="session")
def vhost_pool(rabbit: dict[str, Any]) -> Iterator[VhostPool]:
    pool = VhostPool(rabbit)
    yield pool
    pool.close()


@pytest.fixture
def vhost_uri(vhost_pool: VhostPool) -> Iterator[str]:
    """An AMQP URI on a fresh, empty vhost, deleted after the test."""
    name, uri = vhost_pool.take()
    yield uri
    vhost_pool.give_back(name)


@pytest.fixture(scope="session")
def make_vhost(vhost_pool: VhostPool) -> Callable[[], str]:
    """``make_vhost()`` -> URI of a fresh vhost that lives until the end of the session.

    For fixtures wider than one test (a module-scoped e2e suite), where ``vhost_uri`` cannot be used;
    the pool deletes them when it closes.
    """

    def factory() -> str:
        return vhost_pool.take()[1]

    return factory


# -- private broker nodes -----------------------------------------------------


def free_rabbit_port() -> int:
    """An AMQP port P for a private node whose every port (``deploy.rabbitmq.Node.ports``: P,
    P+10000 management, P+20000 distribution, P+20001 its epmd, P+30000..P+30010 rabbitmqctl) is
    free."""
    from deploy import rabbitmq

    return rabbitmq.free_node_port(random.sample(range(11000, 15000), 200))


class PrivateRabbit:
    """A RabbitMQ node of one test's own (data in a temp folder), to stop and start at will."""

    def __init__(self, data_dir: str, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.uri = f"amqp://guest:guest@127.0.0.1:{port}/"

    def start(self) -> str:
        from deploy import rabbitmq

        return rabbitmq.start(self.data_dir, self.port)

    def stop(self) -> None:
        from deploy import rabbitmq

        rabbitmq.stop(self.data_dir, self.port)

    def discard(self) -> None:
        """End the node for good, its data about to be deleted (see ``rabbitmq.discard``)."""
        from deploy import rabbitmq

        rabbitmq.discard(self.data_dir, self.port)


@pytest.fixture
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A started private RabbitMQ node on free ports, stopped and wiped after the test."""
    data_dir = tempfile.mkdtemp(prefix="hd-prv-rabbit-")
    node = PrivateRabbit(data_dir, free_rabbit_port())
    node.start()
    try:
        yield node
    finally:
        node.discard()
        shutil.rmtree(data_dir, ignore_errors=True)


# -- a RabbitMQ cluster -------------------------------------------------------


class ClusterUnderTest:
    """A 3-node cluster (``deploy.rabbitmq.Cluster``) that tests may kill nodes of and restart.

    ``uri`` lists every node (``;``-separated, kombu fails over along it); ``uri_for(vhost,
    first=i)`` starts the list at node ``i``, so a client's first connection is to that node.
    """

    def __init__(self, data_dir: str, base_port: int) -> None:
        from deploy import rabbitmq

        self.cluster = rabbitmq.Cluster(Path(data_dir).resolve(), base_port)
        self.nodes = self.cluster.nodes

    def start(self) -> None:
        from deploy import rabbitmq

        rabbitmq.start_cluster(self.cluster.data_dir, self.cluster.base_port, self.cluster.size)

    def discard(self) -> None:
        """Kill every node: for a cluster whose data is deleted next."""
        from deploy import rabbitmq

        rabbitmq.discard_cluster(self.cluster.data_dir, self.cluster.base_port, self.cluster.size)

    def kill(self, index: int) -> None:
        from deploy import rabbitmq

        assert rabbitmq.kill_node(self.nodes[index]), f"node {index} was not running"

    def restart(self, index: int, timeout: float = 300.0) -> None:
        """Start a killed node again and wait until it is back in the cluster (a loaded machine
        can take minutes to boot one: rabbitmqctl's own wait gives up sooner, so it is repeated)."""
        import subprocess
        import time

        from deploy import rabbitmq

        node = self.nodes[index]
        rabbitmq.launch(node)
        deadline = time.monotonic() + timeout
        while True:
            try:
                rabbitmq.await_ready(node)
                return
            except (RuntimeError, subprocess.SubprocessError):
                if time.monotonic() > deadline:
                    raise

    def running(self) -> list[str]:
        from deploy import rabbitmq

        for node in self.nodes:
            if rabbitmq.is_running(node.data_dir, node.port):
                return rabbitmq.cluster_members(node)
        return []

    def uri_for(self, vhost: str, first: int = 0) -> str:
        order = self.nodes[first:] + self.nodes[:first]
        path = quote(vhost, safe="")
        return ";".join(f"amqp://guest:guest@127.0.0.1:{node.port}/{path}" for node in order)

    def management(self, method: str, path: str, body: Any = None) -> Any:
        """Call the management API of the first node that answers."""
        last: Exception | None = None
        for node in self.nodes:
            request = urllib.request.Request(
                f"http://127.0.0.1:{node.management_port}/api/{path}",
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    text = answer.read()
                    return json.loads(text) if text else None
            except OSError as error:
                last = error
        raise RuntimeError(f"no node of the cluster answers its management API: {last}")

    def make_vhost(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.management("PUT", f"vhosts/{quote(name, safe='')}")
        self.management(
            "PUT",
            f"permissions/{quote(name, safe='')}/guest",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        return name

    def delete_vhost(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.management("DELETE", f"vhosts/{quote(name, safe='')}")


def free_cluster_port(size: int = 3) -> int:
    """A base AMQP port P for a private cluster whose every port (``deploy.rabbitmq.Cluster.ports``:
    each node's, and the shared epmd) is free."""
    from deploy import rabbitmq

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(11000, 14900)
        if all(bindable(p) for p in rabbitmq.Cluster(Path("."), base, size).ports):
            return base
    raise RuntimeError("no free port range for a private RabbitMQ cluster")


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[ClusterUnderTest]:
    """The session's 3-node cluster: the one named by the environment, else a private one."""
    data_dir = os.environ.get("HELPDESK_TEST_CLUSTER_DATA")
    own = not data_dir
    if own:
        data_dir = tempfile.mkdtemp(prefix="hd-cluster-")
        port = free_cluster_port()
    else:
        port = int(os.environ.get("HELPDESK_TEST_CLUSTER_PORT") or 5730)
    assert data_dir is not None
    cluster = ClusterUnderTest(data_dir, port)
    cluster.start()
    try:
        yield cluster
    finally:
        if own:
            cluster.discard()
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def cluster_vhost(rabbit_cluster: ClusterUnderTest) -> Iterator[str]:
    """A fresh vhost on the cluster (its name), deleted after the test; every node is running
    again afterwards, whatever the test killed."""
    name = rabbit_cluster.make_vhost()
    try:
        yield name
    finally:
        rabbit_cluster.start()  # restarts whatever the test left dead; a no-op otherwise
        rabbit_cluster.delete_vhost(name)


# -- databases ----------------------------------------------------------------


def test_db_kind() -> str:
    return os.environ.get("HELPDESK_TEST_DB", "sqlite")


def _migrated_database(service: str, name: str, folder: Path, revision: str = "head") -> str:
    """URL of a new database ``name`` (on SQLite a file in ``folder``) migrated to ``revision``."""
    from deploy.migrate import upgrade

    if test_db_kind() == "postgresql":
        from deploy import postgres

        url = postgres.create_database(os.environ["HELPDESK_TEST_PG_URL"], name, drop_existing=True)
    else:
        url = f"sqlite:///{folder / name}.db"
    upgrade(service, url, revision)
    return url


class _MigratedTemplates:
    """One database per service migrated to head once a session; each test's is a copy of it.

    Running a service's migrations took 0.05-0.44 s per database (and creating a PostgreSQL one
    with three ``psql`` calls 0.06 s) for the ~470 databases a pass makes: about a minute of
    the PostgreSQL pass and half of one of the SQLite pass. A copy is a file copy on SQLite and
    one ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL (15 ms). The copy holds exactly what
    migrating afresh would (its ``alembic_version`` included); a test of a migration asks for a
    revision and gets a database migrated for it alone (:func:`_migrated_database`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.session = uuid.uuid4().hex[:8]
        self.made: set[str] = set()  # the services whose template exists

    def copy(self, service: str, name: str, folder: Path) -> str:
        """URL of a new database ``name`` (a file in ``folder`` on SQLite) holding ``service``'s
        schema at head."""
        template = self._ensure(service)
        if test_db_kind() == "postgresql":
            from deploy import postgres

            return postgres.copy_database(os.environ["HELPDESK_TEST_PG_URL"], template, name)
        shutil.copyfile(self.folder / f"{template}.db", folder / f"{name}.db")
        return f"sqlite:///{folder / name}.db"

    def _template(self, service: str) -> str:
        return f"tmpl_{service}_{self.session}"

    def _ensure(self, service: str) -> str:
        """The name of ``service``'s template, migrated the first time it is asked for."""
        template = self._template(service)
        if service not in self.made:
            url = _migrated_database(service, template, self.folder)
            if url.startswith("sqlite"):
                with contextlib.closing(sqlite3.connect(self.folder / f"{template}.db")) as db:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
            self.made.add(service)
        return template

    def drop(self) -> None:
        if test_db_kind() == "postgresql":
            from deploy import postgres

            for service in self.made:
                postgres.drop_database(os.environ["HELPDESK_TEST_PG_URL"], self._template(service))


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_MigratedTemplates]:
    templates = _MigratedTemplates(tmp_path_factory.mktemp("db-templates"))
    try:
        yield templates
    finally:
        templates.drop()


@pytest.fixture
def make_db(tmp_path: Any, migrated_templates: _MigratedTemplates) -> Callable[[str], str]:
    """``make_db(service)`` -> URL of a fresh database at head for that service (a copy of the
    session's migrated one, :class:`_MigratedTemplates`); ``make_db(service, revision)``: a
    database migrated to that revision, for tests of a migration."""

    def factory(service: str, revision: str = "head") -> str:
        name = f"t_{service}_{uuid.uuid4().hex[:10]}"
        if revision == "head":
            return migrated_templates.copy(service, name, Path(tmp_path))
        return _migrated_database(service, name, Path(tmp_path), revision)

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


@pytest.fixture
def scratch_db(tmp_path: Any) -> Iterator[Callable[[Any], str]]:
    """``scratch_db(metadata)`` -> URL of a fresh database holding ``metadata``'s tables.

    For the tiny services that chassis tests define (no migrations): SQLite in the test's
    folder, or a fresh database on ``HELPDESK_TEST_PG_URL`` when ``HELPDESK_TEST_DB=postgresql``.
    """
    from sqlalchemy import MetaData

    from services.chassis.db import make_engine

    engines: list[Any] = []

    def factory(metadata: MetaData) -> str:
        if test_db_kind() == "postgresql":
            from deploy import postgres

            server = os.environ["HELPDESK_TEST_PG_URL"]
            url = postgres.create_database(server, f"t_scratch_{uuid.uuid4().hex[:10]}", drop_existing=True)
        else:
            url = f"sqlite:///{tmp_path}/scratch-{uuid.uuid4().hex[:6]}.db"
        engine = make_engine(url)
        engines.append(engine)
        metadata.create_all(engine)
        return url

    yield factory
    for engine in engines:
        engine.dispose()


# -- mail ---------------------------------------------------------------------

pytest_plugins = ["tests.mail_fixtures"]
