"""Runs the whole help desk on one machine: `python -m deploy.supervisor` (what `make run` does).

It starts (or finds) the broker, runs the one-off set-up steps (the broker's and the databases'
side by side, each side's in order; any failure aborts start-up with exit 1), then keeps every
service and the gateway running: a child that exits is restarted after a back-off of 0.5 s
doubling to 10 s, reset once a child has stayed up 30 s.
Each child's output goes to our stdout as `name | line` and to `$DATA/logs/<name>.log`; its pid
is in `$DATA/run/<name>.pid`. SIGINT or SIGTERM stops the children (SIGTERM, then SIGKILL after
10 s), stops the broker if we started it, and exits 0. Runs with different data folders and
ports do not interfere; a second run on the same data folder is refused while the first lives.

Settings (environment): HELPDESK_HTTP_PORT (8000), HELPDESK_SMTP_PORT (2525), HELPDESK_DATA_DIR
(./var), HELPDESK_AMQP_PORT (5672; our own RabbitMQ node, data in $DATA/rabbitmq, unless AMQP_URI
names a broker), <SERVICE>_DB_URL (sqlite:///$DATA/<service>.db), HELPDESK_IDENTITY_SECRET (else
kept in $DATA/identity.secret), HELPDESK_ADMIN_TOKEN (passed through). What runs comes from
`services.registry`. Standard library only (so are the registry, services.chassis.secrets and
services.chassis.queues, and deploy.credentials).

The data folder is readable by its owner only: it is made mode 0700, everything we and the
children create in it is 0600/0700 (umask 077), and databases and secrets left more open by an
earlier version are tightened at start.

Our own broker node (no AMQP_URI) has no guest: the first start generates a password per process
into $DATA/broker-users.json (0600), the node is created with `helpdesk-admin` only, and the
`broker-users` step (python -m deploy.broker_users apply --delete-guest) makes one least-privilege
user per child plus `helpdesk-deploy` for the deploy tools, and deletes guest if an earlier
version left it. Each child then gets an AMQP_URI of its own. With AMQP_URI, every process uses
that URI: per-process users on an operator's broker are made with `python -m deploy.broker_users`.

HELPDESK_BROKER=cluster starts a 3-node RabbitMQ cluster instead of one node (data in
$DATA/rabbitmq-cluster, AMQP ports HELPDESK_AMQP_PORT..+2, see deploy.rabbitmq.start_cluster):
every process gets all three nodes' URIs (`;`-separated, kombu fails over along them) and
HELPDESK_QUEUE_TYPE=quorum, so every durable queue is a quorum queue (services.chassis.queues).

HELPDESK_SCALE=tickets=2,notifications=2 runs that many instances of those children (any service
or the gateway; the gateways share the HTTP port with SO_REUSEPORT). Instance 1 keeps the
child's name, the others are `<name>-2`, `<name>-3`... (their logs and pid files too); they
share the child's broker user and compete for its queues. A service with more than one instance
needs PostgreSQL: its leases and row locks are what keep two instances from doing one job twice,
and SQLite cannot be shared between processes that way, so start-up refuses it in one line.
SIGTERM reaches instances in the order they were started; HELPDESK_STOP_GRACE (10 s) bounds how
long a child may take to finish its work before it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from deploy import credentials, rabbitmq
from deploy.ports import port_taken
from services import registry
from services.chassis.queues import ENV_VAR as QUEUE_TYPE_VAR
from services.chassis.queues import QUORUM
from services.chassis.secrets import ENV_VAR, FILE_NAME, WANTED, IdentitySecretError, check_secret

# One-off set-up steps, run before any child starts: (name, python arguments). This order is one
# that works run one at a time (deployments' set-up jobs); the supervisor runs the broker's and the
# databases' apart, side by side (SETUP_SIDES).
SETUP_STEPS: list[tuple[str, list[str]]] = [
    ("topology", ["-m", "deploy.topology"]),
    ("migrate", ["-m", "deploy.migrate", *(s.name for s in registry.SERVICES if s.migrations)]),
    ("bootstrap", ["-m", "services.permissions.bootstrap"]),
]
SETUP_SIDES: list[list[str]] = [["topology"], ["migrate", "bootstrap"]]
"""The set-up steps by what they touch: the broker's (its users first on our own node, then the
topology) and the databases' (migrations, then the first admin); each side's in order, the two
side by side, as neither reads what the other writes. A suite's start in the tests waited for
all three one after another."""

# Long-running children, kept alive: (name, python arguments).
CHILDREN: list[tuple[str, list[str]]] = [(child.name, child.python_args()) for child in registry.CHILDREN]

REPO_ROOT = Path(__file__).resolve().parent.parent
BROKER_TIMEOUT = 60.0  # seconds to wait for the broker to answer before the first step
STEP_TIMEOUT = 300.0
BACKOFF_MIN, BACKOFF_MAX, STABLE_AFTER = 0.5, 10.0, 30.0
CLUSTER_DIR = "rabbitmq-cluster"
READY_LINES = {child.name: child.ready_line for child in registry.CHILDREN}
READY_TIMEOUT = 60.0  # a rolling restart waits this long for a restarted instance's ready line
NO_READY_LINE_WAIT = 3.0  # ... or this long for a child that prints none
SETTLE = 1.0  # and this long after it, before stopping the next one
PRIVATE_FILES = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal", "*.secret", credentials.FILE_NAME)
STOP_GRACE = 10.0
BROKER_KINDS = ("node", "cluster")
MAX_INSTANCES = 8
_PRCTL = getattr(ctypes.CDLL(None), "prctl", None)  # Linux only
_PR_SET_PDEATHSIG = 1


class StartupError(Exception):
    """Start-up cannot go on; the message says why."""


@dataclass(frozen=True)
class Settings:
    http_port: int
    smtp_port: int
    amqp_port: int
    data_dir: Path
    amqp_uri: str | None  # None: start our own RabbitMQ node (or cluster)
    broker: str = "node"  # what we start without AMQP_URI: "node" or "cluster"
    scale: Mapping[str, int] = field(default_factory=dict)  # child name -> instances (default 1)
    stop_grace: float = STOP_GRACE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        broker = (environ.get("HELPDESK_BROKER") or "node").strip()
        if broker not in BROKER_KINDS:
            raise ValueError(f"HELPDESK_BROKER={broker!r}: expected one of {', '.join(BROKER_KINDS)}")
        return cls(
            http_port=int(environ.get("HELPDESK_HTTP_PORT") or 8000),
            smtp_port=int(environ.get("HELPDESK_SMTP_PORT") or 2525),
            amqp_port=int(environ.get("HELPDESK_AMQP_PORT") or 5672),
            data_dir=Path(environ.get("HELPDESK_DATA_DIR") or "var").resolve(),
            amqp_uri=environ.get("AMQP_URI") or None,
            broker=broker,
            scale=parse_scale(environ.get("HELPDESK_SCALE") or ""),
            stop_grace=float(environ.get("HELPDESK_STOP_GRACE") or STOP_GRACE),
        )

    def instances(self) -> list[tuple[str, str, list[str]]]:
        """``(instance name, child name, python arguments)`` of every process to keep running."""
        found = []
        for name, args in CHILDREN:
            for n in range(1, self.scale.get(name, 1) + 1):
                found.append((name if n == 1 else f"{name}-{n}", name, args))
        return found


METRICS_PORT_STRIDE = 100
"""Instance ``n`` of a service serves its metrics ``(n - 1) * 100`` ports above the first's."""


def instance_env(instance: str, env: Mapping[str, str]) -> dict[str, str]:
    """Settings of one extra instance (``tickets-2``) that differ from its first: its own metrics
    port, so every instance on one machine can be scraped (the first keeps the configured one)."""
    child, _, number = instance.rpartition("-")
    service = next((s for s in registry.SERVICES if s.name == child), None)
    if service is None or not number.isdigit() or not service.metrics_port:
        return {}
    variable = f"{service.name.upper()}_METRICS_BIND"
    host, _, port = (env.get(variable) or f"127.0.0.1:{service.metrics_port}").rpartition(":")
    if not port.isdigit() or port == "0":
        return {}
    return {variable: f"{host}:{int(port) + (int(number) - 1) * METRICS_PORT_STRIDE}"}


def parse_scale(text: str) -> dict[str, int]:
    """``tickets=2,notifications=2`` -> ``{"tickets": 2, "notifications": 2}``; ValueError on
    anything else (an unknown name, a count outside 1..8, the SMTP edge, which binds one port)."""
    scale: dict[str, int] = {}
    scalable = [s.name for s in registry.SERVICES] + [registry.GATEWAY.name]
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, count = part.partition("=")
        name = name.strip()
        if not sep or not count.strip().isdigit():
            raise ValueError(f"HELPDESK_SCALE: {part!r} is not <name>=<count>")
        if name not in scalable:
            raise ValueError(f"HELPDESK_SCALE: {name!r} cannot be scaled; these can: {', '.join(scalable)}")
        if not 1 <= int(count) <= MAX_INSTANCES:
            raise ValueError(f"HELPDESK_SCALE: {name}={count}: between 1 and {MAX_INSTANCES} instances")
        scale[name] = int(count)
    return scale


def check_scale(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """StartupError (one line) if a service with more than one instance would use SQLite."""
    for svc in registry.SERVICES:
        count, variable = settings.scale.get(svc.name, 1), svc.db_url_variable
        if count < 2 or variable is None:
            continue
        url = environ.get(variable) or "sqlite:///"
        if not url.startswith("postgresql"):
            raise StartupError(
                f"{svc.name} cannot run {count} instances on SQLite: set {variable} to a PostgreSQL URL"
                f" (leases and row locks shared between instances need it), or run one instance"
            )


def check_ports(settings: Settings) -> None:
    """StartupError (one line) if the gateway's or the SMTP edge's port is already taken.

    Gateways bind with ``SO_REUSEPORT`` so that several instances of one run share the port; a
    second run on the same port would bind beside the first as well, and the kernel would hand
    each request to either help desk. So a taken port refuses the start instead."""
    for variable, port in (
        ("HELPDESK_HTTP_PORT", settings.http_port),
        ("HELPDESK_SMTP_PORT", settings.smtp_port),
    ):
        if port_taken(port):
            raise StartupError(
                f"127.0.0.1:{port} ({variable}) is already in use, perhaps by another run: stop it or"
                f" set {variable} (and a HELPDESK_DATA_DIR of its own) to run beside it"
            )


@dataclass(frozen=True)
class BrokerAccess:
    """How each process reaches the broker: one shared URI (an operator's broker), or our own node's
    port and a password per role."""

    shared_uri: str | None
    port: int = 0
    passwords: Mapping[str, str] | None = None
    nodes: int = 1  # our own cluster: ports port..port+nodes-1

    def uri(self, role: str) -> str:
        """The AMQP URI ``role`` (a child's name, or ``deploy`` for the set-up steps) connects with
        (on our own cluster, every node's, ``;``-separated)."""
        if self.shared_uri is not None:
            return self.shared_uri
        assert self.passwords is not None
        user, password = credentials.user_name(role), self.passwords[role]
        ports = range(self.port, self.port + self.nodes)
        return ";".join(credentials.amqp_uri(port, user, password) for port in ports)

    def describe(self) -> str:
        """Where the broker is, without any password."""
        if self.shared_uri is not None:
            parts = [urlsplit(uri) for uri in self.shared_uri.split(";")]
            return ", ".join(f"{p.hostname}:{p.port or 5672}{p.path or '/'}" for p in parts)
        if self.nodes > 1:
            last = self.port + self.nodes - 1
            return f"127.0.0.1:{self.port}-{last} (own {self.nodes}-node cluster, quorum queues)"
        return f"127.0.0.1:{self.port} (own node, a user per process)"


def secure_data_dir(data_dir: Path) -> None:
    """Make the data folder its owner's alone: the folder 0700, its databases and secrets 0600."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for pattern in PRIVATE_FILES:
        for path in data_dir.glob(pattern):
            path.chmod(0o600)


def build_env(settings: Settings, amqp_uri: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment every step and child runs with (each child's AMQP_URI may then be its own)."""
    data = settings.data_dir
    env = dict(environ)
    env.update(
        AMQP_URI=amqp_uri,
        HELPDESK_HTTP_PORT=str(settings.http_port),
        HELPDESK_SMTP_PORT=str(settings.smtp_port),
        HELPDESK_AMQP_PORT=str(settings.amqp_port),
        HELPDESK_DATA_DIR=str(data),
        HELPDESK_IDENTITY_SECRET=identity_secret(data, environ),
        GATEWAY_BIND=f"127.0.0.1:{settings.http_port}",
        PYTHONUNBUFFERED="1",
        # eventlet announces its own deprecation on every start; keep the logs readable
        PYTHONWARNINGS=environ.get("PYTHONWARNINGS", "ignore"),
    )
    for svc in registry.SERVICES:
        if key := svc.db_url_variable:
            env[key] = environ.get(key) or f"sqlite:///{data / svc.name}.db"
    if settings.broker == "cluster" and settings.amqp_uri is None:
        env[QUEUE_TYPE_VAR] = QUORUM  # every durable queue replicated over the cluster's nodes
    return env


def identity_secret(data_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """HELPDESK_IDENTITY_SECRET, else the one kept in $DATA/identity.secret (created once).

    Checked as every service will check it, so an unusable one (too short, a placeholder) stops
    start-up with the reason instead of leaving every service refusing to start in turn.
    """
    if environ.get(ENV_VAR):
        source, remedy = ENV_VAR, f"set {ENV_VAR} to {WANTED}"
        value = environ[ENV_VAR]
    else:
        path = data_dir / FILE_NAME
        source, remedy = str(path), f"put {WANTED} in it, or delete it so the next start writes a new one"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
        value = path.read_text()
    try:
        return check_secret(value, source, remedy)
    except IdentitySecretError as error:
        raise StartupError(str(error)) from None


def wait_for_broker(uri: str, timeout: float = BROKER_TIMEOUT, stop: threading.Event | None = None) -> None:
    """Return once something at `uri` (any of a `;`-separated list) answers the AMQP 0-9-1
    protocol header (or `stop` is set)."""
    stop = stop or threading.Event()
    addresses = [(p.hostname or "localhost", p.port or 5672) for p in map(urlsplit, uri.split(";"))]
    deadline = time.monotonic() + timeout
    while True:
        for address in addresses:
            try:
                with socket.create_connection(address, timeout=2) as sock:
                    sock.sendall(b"AMQP\x00\x00\x09\x01")
                    if sock.recv(1) == b"\x01":  # a method frame: Connection.Start
                        return
            except OSError:
                pass
        if time.monotonic() > deadline:
            where = ", ".join(f"{host}:{port}" for host, port in addresses)
            raise StartupError(f"no AMQP broker answers at {where}")
        if stop.wait(0.5):
            return


class Console:
    """Prefixes each line with its source's padded name; also appends it to that source's log."""

    def __init__(self, logs_dir: Path, names: list[str]) -> None:
        self.logs_dir = logs_dir
        self.width = max(len(name) for name in names)
        self.lock = threading.Lock()

    def say(self, text: str, name: str = "supervisor") -> None:
        with open(self.logs_dir / f"{name}.log", "a") as log:
            self.write(name, text, log)

    def write(self, name: str, line: str, log: IO[str]) -> None:
        log.write(line + "\n")
        log.flush()
        with self.lock:
            try:
                sys.stdout.write(f"{name:<{self.width}} | {line}\n")
                sys.stdout.flush()
            except (OSError, ValueError):
                pass  # nobody reads our stdout any more; the log file still has it

    def follow(
        self, name: str, stream: IO[bytes] | None, on_line: Callable[[str], None] | None = None
    ) -> threading.Thread:
        """Copy `stream` line by line in a background thread until it closes (each line also to
        `on_line`)."""
        assert stream is not None

        def pump() -> None:
            with stream, open(self.logs_dir / f"{name}.log", "a") as log:
                for raw in iter(stream.readline, b""):
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    self.write(name, line, log)
                    if on_line is not None:
                        on_line(line)

        thread = threading.Thread(target=pump, name=f"output-{name}", daemon=True)
        thread.start()
        return thread


def _die_with_parent() -> None:
    # If the supervisor is SIGKILLed, its children get SIGTERM instead of holding the ports.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start `python <args>` in its own session (a terminal's Ctrl-C reaches only us)."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # safe beside our threads: it only calls prctl
    )


def describe_exit(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


class Child:
    """One long-running child process and its restart schedule."""

    def __init__(self, name: str, args: list[str], run_dir: Path, *, role: str | None = None) -> None:
        self.name, self.args = name, args
        self.role = role or name  # the child it is an instance of (its broker user)
        self.ready_line = READY_LINES.get(self.role, "")
        self.ready = threading.Event()  # set when its output shows ready_line
        self.pid_file = run_dir / f"{name}.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: threading.Thread | None = None
        self.started_at = self.restart_at = 0.0
        self.delay = BACKOFF_MIN

    def start(self, env: Mapping[str, str], console: Console) -> None:
        self.proc = spawn(self.args, env)
        self.started_at = time.monotonic()
        ready = self.ready = threading.Event()

        def notice(line: str) -> None:
            if self.ready_line and self.ready_line in line:
                ready.set()

        self.output = console.follow(self.name, self.proc.stdout, notice)
        self.pid_file.write_text(f"{self.proc.pid}\n")

    def check(self, env: Mapping[str, str], console: Console) -> None:
        """Notice an exit and schedule the restart, or restart when its time has come."""
        now = time.monotonic()
        if self.proc is None:
            if now >= self.restart_at:
                console.say(f"restarting {self.name}")
                self.start(env, console)
            return
        code = self.proc.poll()
        if code is None:
            return
        uptime = now - self.started_at
        if uptime >= STABLE_AFTER:
            self.delay = BACKOFF_MIN
        console.say(
            f"{self.name} ({describe_exit(code)}) after {uptime:.1f}s up; restarting in {self.delay:g}s"
        )
        self.proc, self.restart_at = None, now + self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX)
        self.pid_file.unlink(missing_ok=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def gone(self) -> bool:
        return not self.alive()

    def signal(self, signum: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)  # its own session: the whole group

    def reap(self) -> None:
        """Collect the exited process and its output thread; forget the pid file."""
        if self.proc is not None:
            self.proc.wait()
        if self.output is not None:
            self.output.join(timeout=2)
        self.pid_file.unlink(missing_ok=True)


class Supervisor:
    """Start-up, watch, shutdown; `run()` returns the exit code."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
        self.settings, self.environ = settings, environ
        data = settings.data_dir
        self.logs_dir, self.run_dir = data / "logs", data / "run"
        instances = settings.instances()
        names = ["supervisor", "broker-users", *(name for name, _ in SETUP_STEPS), *(i[0] for i in instances)]
        self.console = Console(self.logs_dir, names)
        self.children = [Child(name, args, self.run_dir, role=role) for name, role, args in instances]
        self.stopping = threading.Event()
        self.rolling = threading.Event()  # SIGHUP: restart every instance, one at a time
        self.own_broker = settings.amqp_uri is None
        self.broker = BrokerAccess(shared_uri=settings.amqp_uri)  # settled by _start_broker

    def run(self) -> int:
        os.umask(0o077)  # children inherit it: databases, logs and secrets are the owner's alone
        secure_data_dir(self.settings.data_dir)
        for directory in (self.logs_dir, self.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        # Held (never closed) until we exit, so a second run on this data folder is refused.
        self.lock_file = open(self.run_dir / "supervisor.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another supervisor is using {self.settings.data_dir}", file=sys.stderr)
            return 1
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self.rolling.set())
        (self.run_dir / "supervisor.pid").write_text(f"{os.getpid()}\n")
        try:
            self.broker = self._start_broker()
            env = build_env(self.settings, self.broker.uri(credentials.DEPLOY), self.environ)
            self._set_up(env)
            self._watch(env)
            return 0
        except StartupError as error:
            self.console.say(f"start-up aborted: {error}")
            return 1
        finally:
            self._shut_down()

    def _start_broker(self) -> BrokerAccess:
        s = self.settings
        if s.amqp_uri is not None:
            return BrokerAccess(shared_uri=s.amqp_uri)
        roles = [credentials.ADMIN, credentials.DEPLOY, *(name for name, _ in CHILDREN)]
        try:
            passwords = credentials.ensure(credentials.credentials_file(s.data_dir), roles)
        except (OSError, ValueError) as error:
            raise StartupError(f"broker credentials: {error}") from error
        admin = (credentials.user_name(credentials.ADMIN), passwords[credentials.ADMIN])
        nodes = rabbitmq.CLUSTER_SIZE if s.broker == "cluster" else 1
        try:
            if nodes > 1:
                last = s.amqp_port + nodes - 1
                self.console.say(
                    f"starting a {nodes}-node RabbitMQ cluster on 127.0.0.1:{s.amqp_port}-{last}"
                )
                rabbitmq.start_cluster(s.data_dir / CLUSTER_DIR, s.amqp_port, nodes, admin=admin)
            else:
                self.console.say(f"starting RabbitMQ on 127.0.0.1:{s.amqp_port}")
                rabbitmq.start(s.data_dir / "rabbitmq", s.amqp_port, admin=admin)
        except (RuntimeError, subprocess.SubprocessError) as error:
            raise StartupError(f"RabbitMQ did not start: {error}") from error
        return BrokerAccess(shared_uri=None, port=s.amqp_port, passwords=passwords, nodes=nodes)

    def _sides(self) -> list[list[tuple[str, list[str]]]]:
        """The set-up steps of each side (:data:`SETUP_SIDES`); on our own node, making the broker
        users comes first on the broker's."""
        args = dict(SETUP_STEPS)
        sides = [[(name, args[name]) for name in side] for side in SETUP_SIDES]
        if self.own_broker:
            management = f"http://127.0.0.1:{self.settings.amqp_port + 10000}"
            users = [
                "-m", "deploy.broker_users", "apply", "--management", management,
                "--credentials", str(credentials.credentials_file(self.settings.data_dir)), "--delete-guest",
            ]  # fmt: skip
            sides[0].insert(0, ("broker-users", users))
        return sides

    def _set_up(self, env: Mapping[str, str]) -> None:
        """Run each side's steps in order, the sides at once; the first failure stops both sides'
        later steps (a step already running finishes) and aborts start-up once both are done."""
        wait_for_broker(env["AMQP_URI"], stop=self.stopping)
        failed = threading.Event()
        failures: list[str] = []

        def run_side(steps: list[tuple[str, list[str]]]) -> None:
            for name, args in steps:
                if self.stopping.is_set() or failed.is_set():
                    return
                problem = self._run_step(name, args, env)
                if problem:
                    failures.append(problem)
                    failed.set()
                    return

        sides = [threading.Thread(target=run_side, args=(steps,), name="set-up") for steps in self._sides()]
        for side in sides:
            side.start()
        for side in sides:
            side.join()
        if failures and not self.stopping.is_set():
            raise StartupError("; ".join(failures))

    def _run_step(self, name: str, args: list[str], env: Mapping[str, str]) -> str | None:
        """Run one step to its end (killed past STEP_TIMEOUT or when asked to stop); what went
        wrong, or None."""
        proc = spawn(args, env)
        output = self.console.follow(name, proc.stdout)
        deadline = time.monotonic() + STEP_TIMEOUT
        while proc.poll() is None and not self.stopping.is_set():
            if time.monotonic() > deadline:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
        if proc.poll() is None:  # asked to stop while the step ran
            proc.kill()
        proc.wait()
        output.join(timeout=2)
        if proc.returncode != 0 and not self.stopping.is_set():
            return (
                f"step {name} ({' '.join(args)}) failed: {describe_exit(proc.returncode)};"
                f" its output is above and in {self.logs_dir / name}.log"
            )
        return None

    def _watch(self, env: Mapping[str, str]) -> None:
        if self.stopping.is_set():
            return
        envs = {
            child.name: {**env, "AMQP_URI": self.broker.uri(child.role), **instance_env(child.name, env)}
            for child in self.children
        }
        for child in self.children:
            child.start(envs[child.name], self.console)
        s = self.settings
        self.console.say(
            f"ready: gateway http://127.0.0.1:{s.http_port}  data {s.data_dir}"
            f"  broker {self.broker.describe()}"
        )
        while not self.stopping.wait(0.2):
            for child in self.children:
                child.check(envs[child.name], self.console)
            if self.rolling.is_set():
                self.rolling.clear()
                self._rolling_restart(envs)

    def _rolling_restart(self, envs: Mapping[str, Mapping[str, str]]) -> None:
        """Restart every instance in start order, one at a time: SIGTERM (it stops consuming, lets
        its workers finish, then exits; SIGKILL after the stop grace), start it again, wait for its
        ready line, then a second more, while watching the others as usual. With two instances of
        everything, the other instance serves meanwhile."""
        began = time.monotonic()
        self.console.say(f"rolling restart of {len(self.children)} instances, one at a time")
        for child in self.children:
            if self.stopping.is_set():
                return
            t0 = time.monotonic()
            if child.alive():
                child.signal(signal.SIGTERM)
                grace = self.settings.stop_grace
                if not self._wait(envs, child.gone, grace, child):
                    self.console.say(f"{child.name} did not stop in {grace:g}s; killing it")
                    child.signal(signal.SIGKILL)
                    self._wait(envs, child.gone, 5.0, child)
                child.reap()
                child.proc = None
            stopped = time.monotonic() - t0
            child.start(envs[child.name], self.console)
            t1 = time.monotonic()
            if child.ready_line:
                ok = self._wait(envs, child.ready.is_set, READY_TIMEOUT)
                what = (
                    f"ready in {time.monotonic() - t1:.1f}s" if ok else f"not ready after {READY_TIMEOUT:g}s"
                )
            else:
                self._wait(envs, lambda: False, NO_READY_LINE_WAIT)
                what = f"given {NO_READY_LINE_WAIT:g}s"
            self.console.say(f"rolling restart: {child.name} stopped in {stopped:.1f}s, {what}")
            self._wait(envs, lambda: False, SETTLE)
        self.console.say(f"rolling restart done in {time.monotonic() - began:.1f}s")

    def _wait(
        self,
        envs: Mapping[str, Mapping[str, str]],
        done: Callable[[], bool],
        timeout: float,
        skip: Child | None = None,
    ) -> bool:
        """Watch the children (all but ``skip``) until ``done()`` or ``timeout``; returns done()."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or self.stopping.is_set():
                return done()
            for other in self.children:
                if other is not skip:
                    other.check(envs[other.name], self.console)
            time.sleep(0.05)
        return True

    def _shut_down(self) -> None:
        running = [c for c in self.children if c.alive()]
        if running:
            self.console.say(f"stopping {', '.join(c.name for c in running)}")
        for child in running:
            child.signal(signal.SIGTERM)
        grace = self.settings.stop_grace
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.alive() for c in running):
            time.sleep(0.1)
        for child in running:
            if child.alive():
                self.console.say(f"{child.name} did not stop in {grace:g}s; killing it")
                child.signal(signal.SIGKILL)
        for child in self.children:
            child.reap()
        if self.own_broker:
            self.console.say("stopping RabbitMQ")
            try:
                if self.settings.broker == "cluster":  # even if start-up failed half-way
                    size = rabbitmq.CLUSTER_SIZE
                    rabbitmq.stop_cluster(self.settings.data_dir / CLUSTER_DIR, self.settings.amqp_port, size)
                else:
                    rabbitmq.stop(self.settings.data_dir / "rabbitmq", self.settings.amqp_port)
            except (OSError, subprocess.SubprocessError) as error:
                self.console.say(f"RabbitMQ did not stop cleanly: {error}")
        (self.run_dir / "supervisor.pid").unlink(missing_ok=True)
        self.console.say("stopped")


def main() -> int:
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"deploy.supervisor: bad setting: {error}", file=sys.stderr)
        return 2
    try:
        check_scale(settings)
        check_ports(settings)
    except StartupError as error:
        print(f"deploy.supervisor: {error}", file=sys.stderr)
        return 2
    return Supervisor(settings).run()


if __name__ == "__main__":
    sys.exit(main())
