"""Private RabbitMQ nodes for local runs and tests, without systemd.

A node is identified by (data_dir, port). All of its state lives in data_dir: its Erlang cookie
(HOME=data_dir), Mnesia database, logs, pid file, config and enabled-plugins file. Everything it
opens listens on 127.0.0.1 only: AMQP on `port`, the management HTTP API on `port + 10000`, Erlang
distribution on `port + 20000` (rabbitmqctl's own on `port + 30000`..`port + 30010`), and a private
epmd (the Erlang port mapper) on `port + 20001`, started for this node and stopped with it, so the
node never registers with a machine-wide epmd listening on every interface.

Users: by default `guest`/`guest` may log in remotely (`loopback_users = none`), so the AMQP URI is
`amqp://guest:guest@127.0.0.1:<port>/`: for tests, which make vhosts as guest. Given `admin=(user,
password)`, a node created afresh has that administrator instead of guest and refuses guest; a
node created before keeps its users until `deploy.broker_users apply --delete-guest` (what `make
run` does) removes guest.

`start` is a no-op (apart from waiting for readiness) when the node already runs; `stop` is a
no-op when it does not. Only the standard library is used, so the supervisor can import this
under plain CPython.

A cluster (:func:`start_cluster`) is ``size`` such nodes under one data folder on consecutive AMQP
ports, sharing one Erlang cookie and one epmd; clients get every node's URI, ``;``-separated, and
kombu fails over from one to the next.

Schedulers: a node runs :func:`schedulers` Erlang schedulers, half the CPUs this process may use
(at least one), where Erlang's default is one per CPU: a private node shares its machine with the
suite's Python processes, and on two CPUs its second scheduler cost it ~18 % more CPU per message
(waking and stealing work from the first) for no more throughput (``bench.creates``' load,
``bench/RESULTS.md`` stop 52). ``HELPDESK_RABBITMQ_SCHEDULERS`` sets the number.

CPU policy: on Linux a node runs under ``SCHED_BATCH`` (:func:`cpu_policy`), set on the launcher
and inherited by every thread of the VM. Its threads wake several times for every message (~5 a
create under ``bench.creates``' 10-client load) and, under the default policy, each wake-up could
preempt a Python service in the middle of a request; a batch task waits for the running one's
turn to end instead, and finds more messages to handle when it runs. Toggled on running nodes
(18 ABBA sets of 3-second 10-client loads, two stacks): the whole suite's CPU per create -7.8 %,
creates/s +5.7 %, one client at a time unchanged (a free CPU runs a waking task at once, whatever
its policy; ``bench/RESULTS.md`` stop 53). The services themselves gained nothing from it and keep the
default. ``HELPDESK_RABBITMQ_CPU_POLICY=normal`` keeps the default for the node too.

CLI: python -m deploy.rabbitmq start|stop|status --data DIR --port P [--nodes 3]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.ports import bindable

SBIN_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"
LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"
SCHEDULERS_ENV = "HELPDESK_RABBITMQ_SCHEDULERS"
CPU_POLICY_ENV = "HELPDESK_RABBITMQ_CPU_POLICY"
READY_TIMEOUT = 60
STOP_TIMEOUT = 30
EPMD_READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Node:
    """Names and paths of the node kept in `data_dir` and listening on `port`."""

    data_dir: Path
    port: int
    shared_epmd: int | None = None
    """A cluster's nodes must find each other, so they share one epmd on this port; a lone node
    has its own on ``port + 20001``."""

    @property
    def name(self) -> str:
        return f"helpdesk-{self.port}@localhost"

    @property
    def management_port(self) -> int:
        return self.port + 10000

    @property
    def dist_port(self) -> int:
        return self.port + 20000

    @property
    def epmd_port(self) -> int:
        return self.shared_epmd or self.port + 20001

    @property
    def ports(self) -> list[int]:
        """Every port on 127.0.0.1 this node (and rabbitmqctl talking to it) binds."""
        ctl = range(self.port + 30000, self.port + 30011)
        own_epmd = [] if self.shared_epmd else [self.epmd_port]
        return [self.port, self.management_port, self.dist_port, *own_epmd, *ctl]

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "rabbitmq.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "log" / f"{self.name}.log"

    @property
    def uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        """The environment for the server and for rabbitmqctl (they must share the cookie)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        d = self.data_dir
        env.update(
            HOME=str(d),
            ERL_CRASH_DUMP=str(d / "erl_crash.dump"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            # distribution, rabbitmqctl's listener and epmd on loopback only, epmd our own
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=f"{LOOPBACK_DIST} +S {schedulers()}",
            RABBITMQ_CTL_ERL_ARGS=LOOPBACK_DIST,
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            # The system-wide env file could rename the node or move its state out of data_dir.
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
        )
        return env


def schedulers(environ: dict[str, str] | None = None) -> int:
    """Erlang schedulers for a node (see the module docstring): ``HELPDESK_RABBITMQ_SCHEDULERS``
    when set (a whole number, at least 1), else half the CPUs this process may run on, at least 1."""
    env = os.environ if environ is None else environ
    raw = env.get(SCHEDULERS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{SCHEDULERS_ENV} must be a whole number of at least 1, not {raw!r}")
        return int(raw)
    return max(1, len(os.sched_getaffinity(0)) // 2)


def cpu_policy(environ: Mapping[str, str] | None = None) -> int | None:
    """The Linux scheduling policy a node runs under (see the module docstring): ``SCHED_BATCH``,
    or the default ``SCHED_OTHER`` with ``HELPDESK_RABBITMQ_CPU_POLICY=normal``; None where the
    platform has no such policies (the node then runs as it would anyway). Any other value is a
    ValueError, before anything starts."""
    env = os.environ if environ is None else environ
    raw = env.get(CPU_POLICY_ENV, "").strip().lower() or "batch"
    if raw not in ("batch", "normal"):
        raise ValueError(f"{CPU_POLICY_ENV} must be batch or normal, not {raw!r}")
    if not hasattr(os, "sched_setscheduler"):
        return None
    return os.SCHED_BATCH if raw == "batch" else os.SCHED_OTHER


def _runs_under(policy: int | None) -> Callable[[], None] | None:
    """What a child runs before it executes the server: it sets ``policy`` for itself, which the
    VM's threads inherit. The parameter object is made here, so the child (forked from a process
    that may have threads) only makes the system call; a refusal leaves the default policy."""
    if policy is None:
        return None
    param = os.sched_param(0)

    def apply() -> None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, param)

    return apply


def start(data_dir: str | Path, port: int, *, admin: tuple[str, str] | None = None) -> str:
    """Start the node (or find it running), wait until it accepts work, return its AMQP URI (guest's:
    with ``admin``, the URI names no user; the caller knows whom to connect as)."""
    node = Node(Path(data_dir).resolve(), port)
    launch(node, admin)
    await_ready(node)
    return node.uri if admin is None else f"amqp://127.0.0.1:{port}/"


def launch(node: Node, admin: tuple[str, str] | None = None, *, cookie: str | None = None) -> None:
    """Start the node's VM in the background unless it already runs (see :func:`await_ready`)."""
    if _running_pid(node) is not None:
        return
    policy = cpu_policy()
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.data_dir.chmod(0o700)
    if node.shared_epmd is None:
        _stop_epmd(node)  # one left behind by a node that died without `stop` (it refuses if in use)
    _check_ports_free(node)
    _start_epmd(node)
    _write_config(node, admin)
    if cookie is not None:
        _write_cookie(node, cookie)
    node.pid_file.unlink(missing_ok=True)
    with open(node.data_dir / "startup.log", "ab") as out:
        subprocess.run(
            [str(_sbin() / "rabbitmq-server"), "-detached"],
            env=node.env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_runs_under(policy),  # safe beside threads: only a system call
            check=True,
        )


def await_ready(node: Node) -> None:
    """Wait until the node accepts work; RuntimeError with its log's tail otherwise."""
    ready = _ctl(node, "wait", str(node.pid_file), "--timeout", str(READY_TIMEOUT))
    if ready.returncode != 0 and "nodistribution" in ready.stdout:  # rabbitmqctl's own start failed
        ready = _ctl(node, "wait", str(node.pid_file), "--timeout", str(READY_TIMEOUT))
    if ready.returncode != 0:
        raise RuntimeError(
            f"RabbitMQ node {node.name} did not become ready:\n{ready.stdout}\n"
            f"last lines of {node.log_file}:\n{_tail(node.log_file)}"
        )


def stop(data_dir: str | Path, port: int) -> None:
    """Stop the node and wait for its process to exit; nothing happens if it is not running."""
    stop_node(Node(Path(data_dir).resolve(), port))


def stop_node(node: Node) -> None:
    """Stop one node (of a cluster, or alone) and wait for its VM to exit."""
    pid = _running_pid(node)
    if pid is None:
        return
    _ctl(node, "-n", node.name, "stop")
    if not _wait_gone(pid, STOP_TIMEOUT):
        os.kill(pid, 9)  # rabbitmqctl failed or the node hung: do not leave it behind
        _wait_gone(pid, 5)
    node.pid_file.unlink(missing_ok=True)
    _stop_epmd(node)  # a cluster's shared one refuses while another node is registered


def discard(data_dir: str | Path, port: int) -> None:
    """End a node whose data is deleted next (a test session's, a test's own): its VM killed, its
    epmd stopped. A clean ``stop`` takes 6-20 s to keep what is thrown away right after."""
    node = Node(Path(data_dir).resolve(), port)
    _discard_vm(node)
    _stop_epmd_of_killed(node)


def _discard_vm(node: Node) -> None:
    kill_node(node)
    node.pid_file.unlink(missing_ok=True)


def _stop_epmd_of_killed(node: Node) -> None:
    """Stop the epmd of a node just killed: it refuses until it has noticed the VM's registration
    gone, which can take a moment (seen: three private nodes' epmd left running)."""
    deadline = time.monotonic() + EPMD_READY_TIMEOUT
    _stop_epmd(node)
    while _listening(node.epmd_port) and time.monotonic() < deadline:
        time.sleep(0.05)
        _stop_epmd(node)


CLUSTER_SIZE = 3


@dataclass(frozen=True)
class Cluster:
    """``size`` nodes kept in ``data_dir/node<i>`` on AMQP ports ``base_port``..``base_port+size-1``,
    joined into one RabbitMQ cluster: one Erlang cookie (``data_dir/cookie``) and one epmd on
    ``base_port + 20000 + size`` (just past the nodes' distribution ports) shared by all of them,
    every port on loopback as for a lone node. The first node is the one the others join."""

    data_dir: Path
    base_port: int
    size: int = CLUSTER_SIZE

    @property
    def epmd_port(self) -> int:
        return self.base_port + 20000 + self.size

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(self.data_dir / f"node{i + 1}", self.base_port + i, shared_epmd=self.epmd_port)
            for i in range(self.size)
        ]

    @property
    def ports(self) -> list[int]:
        """Every port on 127.0.0.1 the cluster binds: the shared epmd's and each node's."""
        return sorted({self.epmd_port, *(port for node in self.nodes for port in node.ports)})

    @property
    def uri(self) -> str:
        """guest's URIs of every node, ``;``-separated: kombu fails over from one to the next."""
        return ";".join(node.uri for node in self.nodes)


def start_cluster(
    data_dir: str | Path, base_port: int, size: int = CLUSTER_SIZE, *, admin: tuple[str, str] | None = None
) -> str:
    """Start (or find running) a cluster of ``size`` nodes and return guest's URIs, ``;``-separated
    (with ``admin``, URIs without a user). Nodes start in parallel; a node not yet in the cluster
    (a fresh one) is reset and joins the first. A node restarted after a crash rejoins by itself."""
    cluster = Cluster(Path(data_dir).resolve(), base_port, size)
    cluster.data_dir.mkdir(parents=True, exist_ok=True)
    cluster.data_dir.chmod(0o700)
    cookie = _cluster_cookie(cluster.data_dir)
    nodes = cluster.nodes
    for node in nodes:
        launch(node, admin, cookie=cookie)
    for node in nodes:
        await_ready(node)
    for node in nodes[1:]:
        _join(node, nodes[0])
    if admin is None:
        return cluster.uri
    return ";".join(f"amqp://127.0.0.1:{node.port}/" for node in nodes)


def stop_cluster(data_dir: str | Path, base_port: int, size: int = CLUSTER_SIZE) -> None:
    """Stop every node of the cluster (the first last, so it is the one to start first next time;
    :func:`start_cluster` starts them all together anyway)."""
    for node in reversed(Cluster(Path(data_dir).resolve(), base_port, size).nodes):
        stop_node(node)


def discard_cluster(data_dir: str | Path, base_port: int, size: int = CLUSTER_SIZE) -> None:
    """End a cluster whose data is deleted next (a test session's own): every node's VM killed and
    its epmd stopped. A clean ``stop`` of three nodes takes ~20 s to keep what is thrown away."""
    nodes = Cluster(Path(data_dir).resolve(), base_port, size).nodes
    for node in nodes:
        _discard_vm(node)
    for node in nodes:
        _stop_epmd_of_killed(node)


def kill_node(node: Node) -> bool:
    """SIGKILL the node's VM (a crash, for fault tests); returns whether it was running."""
    pid = _running_pid(node)
    if pid is None:
        return False
    os.kill(pid, 9)
    _wait_gone(pid, 10)
    return True


def cluster_members(node: Node) -> list[str]:
    """The names of the cluster's running nodes, as ``node`` sees them (empty if it cannot say)."""
    out = _ctl(node, "-n", node.name, "eval", "rabbit_nodes:all_running().")
    if out.returncode != 0:
        return []
    text = out.stdout.translate(str.maketrans("[],'", "    "))
    return [name for name in text.split() if "@" in name]


def _join(node: Node, first: Node) -> None:
    status = _ctl(node, "-n", node.name, "eval", "rabbit_nodes:all().")
    if status.returncode == 0 and first.name in status.stdout:
        return
    for args in (["stop_app"], ["reset"], ["join_cluster", first.name], ["start_app"]):
        done = _ctl(node, "-n", node.name, *args)
        if done.returncode != 0:
            raise RuntimeError(
                f"RabbitMQ node {node.name} could not join {first.name} ({args[0]}):\n{done.stdout}"
            )


def _cluster_cookie(data_dir: Path) -> str:
    path = data_dir / "cookie"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(20).upper())
    return path.read_text().strip()


def _write_cookie(node: Node, cookie: str) -> None:
    path = node.data_dir / ".erlang.cookie"
    with contextlib.suppress(OSError):
        if path.read_text() == cookie:
            return
    if path.exists():
        path.chmod(0o600)
    path.write_text(cookie)
    path.chmod(0o400)


def _start_epmd(node: Node) -> None:
    """Start the node's epmd (a cluster's shared one: once) before the node and rabbitmqctl.
    Each of them would otherwise start one on the same port at the same moment, and the one that
    loses fails its distribution ("nodistribution"): seen twice in a day of benchmarks."""
    if _listening(node.epmd_port):
        return
    epmd = shutil.which("epmd")
    if epmd is None:
        return  # the server starts its own, as before
    _epmd(node, epmd, "-daemon")  # ERL_EPMD_ADDRESS (the node's env) keeps it on loopback
    deadline = time.monotonic() + EPMD_READY_TIMEOUT
    while not _listening(node.epmd_port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"epmd did not listen on 127.0.0.1:{node.epmd_port} for {node.name}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop_epmd(node: Node) -> None:
    """Stop the node's private epmd (nothing else registers with it; epmd refuses while a node is
    registered)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        _epmd(node, shutil.which("epmd") or "epmd", "-kill")


def _epmd(node: Node, epmd: str, *args: str) -> None:
    """Run ``epmd -port <the node's> ...args`` in the node's environment, quietly."""
    subprocess.run(
        [epmd, "-port", str(node.epmd_port), *args],
        env=node.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )


def is_running(data_dir: str | Path, port: int) -> bool:
    """Whether the node's Erlang VM process is alive (it may still be booting)."""
    return _running_pid(Node(Path(data_dir).resolve(), port)) is not None


def _running_pid(node: Node) -> int | None:
    try:
        pid = int(node.pid_file.read_text().strip())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # The pid file may be stale and its pid reused: require our node's own environment.
    ours = {f"RABBITMQ_NODENAME={node.name}".encode(), f"HOME={node.data_dir}".encode()}
    return pid if ours <= set(environ) and _alive(pid) else None


def _sbin() -> Path:
    found = sorted(glob.glob(SBIN_GLOB))
    if not found:
        raise RuntimeError("RabbitMQ is not installed; run deploy/install.sh")
    return Path(found[-1])


def _ctl(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_sbin() / "rabbitmqctl"), *args],
        check=False,
        env=node.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=READY_TIMEOUT + 30,
    )


def _write_config(node: Node, admin: tuple[str, str] | None) -> None:
    (node.data_dir / "log").mkdir(parents=True, exist_ok=True)
    (node.data_dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (node.data_dir / "rabbitmq-env.conf").write_text("")
    if admin is None:
        users = "loopback_users = none\n"
    else:
        user, password = admin
        users = (
            f"default_user = {user}\n"
            f"default_pass = {password}\n"
            "default_user_tags.administrator = true\n"
            "default_permissions.configure = .*\n"
            "default_permissions.read = .*\n"
            "default_permissions.write = .*\n"
        )
    conf = node.data_dir / "rabbitmq.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(f"{users}management.tcp.port = {node.management_port}\nmanagement.tcp.ip = 127.0.0.1\n")


def free_node_port(candidates: Iterable[int]) -> int:
    """The first of ``candidates`` that a lone node could use: every port of :attr:`Node.ports`
    can be bound now (not merely "nothing listens": a client socket holding a port as its own end
    keeps epmd or the node from binding it too)."""
    for port in candidates:
        if port + 30010 < 65536 and all(bindable(p) for p in Node(Path("."), port).ports):
            return port
    raise RuntimeError("no free port range for a RabbitMQ node")


def _check_ports_free(node: Node) -> None:
    ports = [node.port, node.management_port, node.dist_port]
    if node.shared_epmd is None:  # a cluster's epmd is running already once its first node is
        ports.append(node.epmd_port)
    for port in ports:
        if _listening(port):
            raise RuntimeError(
                f"cannot start RabbitMQ node {node.name}: port {port} on 127.0.0.1 is in use"
                " by another process"
            )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited; a container without an init may never reap it.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.rabbitmq", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--data", required=True, help="folder holding all of the node's state")
    parser.add_argument("--port", type=int, default=5672, help="AMQP port (default 5672)")
    parser.add_argument(
        "--nodes", type=int, default=1, help="a cluster of this many nodes on ports P, P+1, ... (default 1)"
    )
    args = parser.parse_args(argv)
    began = time.monotonic()
    cluster = Cluster(Path(args.data).resolve(), args.port, args.nodes)
    try:
        if args.command == "start":
            if args.nodes > 1:
                uri = start_cluster(args.data, args.port, args.nodes)
            else:
                uri = start(args.data, args.port)
            print(f"{uri}  (ready in {time.monotonic() - began:.1f}s)")
        elif args.command == "stop":
            if args.nodes > 1:
                stop_cluster(args.data, args.port, args.nodes)
            else:
                stop(args.data, args.port)
            print(f"stopped in {time.monotonic() - began:.1f}s")
        else:
            nodes = cluster.nodes if args.nodes > 1 else [Node(cluster.data_dir, args.port)]
            running = [_running_pid(node) is not None for node in nodes]
            for node, up in zip(nodes, running, strict=True):
                print(f"{node.name}: {'running' if up else 'stopped'}")
            return 0 if all(running) else 3
    except (RuntimeError, subprocess.SubprocessError) as error:
        print(f"deploy.rabbitmq: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
