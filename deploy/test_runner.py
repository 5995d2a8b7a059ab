"""`make test`: the test suite against private RabbitMQ nodes and a PostgreSQL cluster.

    python -m deploy.test_runner [pytest args...]

Starts the servers afresh in `$TMPDIR/helpdesk-test-<amqp port>-<pg port>` (leftovers of an
earlier, interrupted run there are stopped and wiped first), then runs pytest from the repository
root in two lanes at once, with any extra arguments appended to every run:

1. the SQLite pass, `pytest -p no:cacheprovider -q tests/unit ... tests/e2e` with
   HELPDESK_TEST_DB=sqlite: the whole suite but SECOND_LANE, the tests that start whole suites last;
2. the PostgreSQL pass, `pytest ... tests/e2e tests/unit ... -m db` with
   HELPDESK_TEST_DB=postgresql: only the tests marked `db`, the tests that start whole suites first
   (`HEAVY`); then, in the same lane, `pytest ... SECOND_LANE` on SQLite (`sqlite-2`).

Each lane has a RabbitMQ node of its own (the first's on HELPDESK_TEST_AMQP_PORT, the second's
PASS_PORT_STEP above it), so neither sees the other's vhosts or load on its broker; PostgreSQL is
the PostgreSQL pass's alone (the others make no database there). Each line a run prints reaches
our output whole, after its name (`sqlite     | `, `postgresql | `, `sqlite-2   | `). One after
the other, the two passes took ~36 minutes here, each keeping about one of the machine's two CPUs
busy; in these two lanes ~22 (bench/RESULTS.md, stop 51).

Tests marked `cluster` start their own 3-node RabbitMQ cluster for the session (~30 s; see
tests/conftest.py); the rolling-restart and chaos tests need several instances per service and so
run in the PostgreSQL pass only (the chaos test for 2 minutes there).

Each run sees HELPDESK_TEST_AMQP_URI, HELPDESK_TEST_RABBIT_DATA and HELPDESK_TEST_RABBIT_PORT of
its lane's node (tests may stop and restart the node with deploy.rabbitmq), and HELPDESK_TEST_PG_URL,
the server URL without a database name (`postgresql+psycopg2://postgres@127.0.0.1:<port>`, which
connects to the `postgres` database; tests make their own with deploy.postgres.create_database).
Ports: HELPDESK_TEST_AMQP_PORT (5682) and HELPDESK_TEST_PG_PORT (5442). Python writes its bytecode
cache in the passes even where PYTHONDONTWRITEBYTECODE is set (`pass_env`).

`python -m deploy.test_runner --chaos [pytest args...]` (`make test-chaos`) runs only the chaos
proof, `tests/e2e/test_chaos.py`, on PostgreSQL for HELPDESK_CHAOS_SECONDS (600 unless set); its
3-node RabbitMQ cluster is started by the test's own fixture.

Exit status is 0 only if every run passes. Pytest's "no tests collected" (5) counts as a pass in
the second lane only: no test is marked `db`, or the extra arguments chose none of SECOND_LANE;
the output says so. A failed run's failing tests (pytest's summary lines) are printed again just
before the verdict, so the last lines of the output name them. The servers are stopped on every
exit, including SIGINT and SIGTERM.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy import postgres, rabbitmq

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTEST = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--durations=25"]
"""``--durations``: each pass ends with its 25 slowest tests, where CI time goes."""
HEAVY = "e2e"
"""The folder of the tests that start whole suites (fault, chaos and rolling-restart runs among
them): the SQLite pass runs it last and the PostgreSQL pass first, so the two passes' heaviest
tests meet as little as they can (side by side, a suite started beside the chaos run took 47 s
to be ready where it takes ~11)."""
NO_TESTS_COLLECTED = 5
CHAOS_TEST = "tests/e2e/test_chaos.py"
PASS_PORT_STEP = 11
"""The PostgreSQL pass's node's AMQP port is this far above the SQLite pass's: clear of every port
the first node binds (``deploy.rabbitmq.Node.ports``: its AMQP port plus 0, 10000, 20000, 20001
and 30000-30010)."""
PASSES = ("sqlite", "postgresql")
SECOND_LANE = ("tests/e2e/test_schemathesis.py", "tests/e2e/test_web_workspace.py")
"""The two longest modules that run on SQLite only (~200 and ~150 s alone), run by the PostgreSQL
pass's lane once that pass is done, on its node: the PostgreSQL pass ended ~12 minutes before the
SQLite pass, which then ran alone on one of the two CPUs."""


def say(text: str) -> None:
    print(f"test_runner: {text}", flush=True)


def servers_dir(amqp_port: int, pg_port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"helpdesk-test-{amqp_port}-{pg_port}"


def start_servers(
    work: Path, amqp_port: int, pg_port: int, kinds: tuple[str, ...] = PASSES
) -> dict[str, dict[str, str]]:
    """Fresh servers in `work` for the passes of ``kinds``, started side by side; returns each
    such pass's environment variables that name its servers."""
    stop_servers(work, amqp_port, report=False)  # an interrupted run's
    discard_dir(work)
    work.mkdir(parents=True)
    work.chmod(0o755)  # the postgres user must be able to enter it

    def timed(name: str, start: Callable[[], str]) -> str:
        began = time.monotonic()
        found = start()
        say(f"{name} ready at {found} in {time.monotonic() - began:.1f}s")
        return found

    ports = {kind: port for kind, port in node_ports(amqp_port).items() if kind in kinds}
    with ThreadPoolExecutor(len(ports) + 1) as pool:
        nodes = {
            kind: pool.submit(timed, f"RabbitMQ ({kind} pass)", functools.partial(start_node, work, port))
            for kind, port in ports.items()
        }
        pg = pool.submit(timed, "PostgreSQL", lambda: postgres.start(work / "postgres", pg_port))
        uris = {kind: node.result() for kind, node in nodes.items()}
        pg_url = pg.result()
    return {
        kind: {
            "HELPDESK_TEST_AMQP_URI": uris[kind],
            "HELPDESK_TEST_RABBIT_DATA": str(node_dir(work, port)),
            "HELPDESK_TEST_RABBIT_PORT": str(port),
            "HELPDESK_TEST_PG_URL": pg_url,
        }
        for kind, port in ports.items()
    }


def node_ports(amqp_port: int) -> dict[str, int]:
    """Each pass's RabbitMQ node's AMQP port."""
    return {kind: amqp_port + n * PASS_PORT_STEP for n, kind in enumerate(PASSES)}


def node_dir(work: Path, port: int) -> Path:
    return work / f"rabbitmq-{port}"


def start_node(work: Path, port: int) -> str:
    return rabbitmq.start(node_dir(work, port), port)


def stop_servers(work: Path, amqp_port: int, *, report: bool = True) -> None:
    """End whatever runs from `work`, whose data is deleted next (RabbitMQ is killed: a clean stop
    took ~20 s at the end of every run; PostgreSQL skips its shutdown checkpoint); keeps going past
    a failure so nothing is left behind."""
    stops: list[tuple[str, Callable[[], None]]] = [
        (f"RabbitMQ ({kind} pass)", functools.partial(rabbitmq.discard, node_dir(work, port), port))
        for kind, port in node_ports(amqp_port).items()
    ]
    stops.append(("PostgreSQL", lambda: postgres.discard(work / "postgres")))
    for name, stop in stops:
        began = time.monotonic()
        try:
            stop()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            say(f"could not stop {name}: {error}")
        else:
            if report:
                say(f"{name} ended in {time.monotonic() - began:.1f}s")


def pass_folders(heavy_first: bool) -> list[str]:
    """The folders under ``tests`` that hold tests, in the order a pass runs them: the faster
    levels first, :data:`HEAVY` last, or first if ``heavy_first``."""
    levels = ["unit", "contract", "component", "service", "integration"]
    found = sorted(p.name for p in (REPO_ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("test_*.py")))
    light = sorted(found, key=lambda name: levels.index(name) if name in levels else len(levels))
    light = [name for name in light if name != HEAVY]
    ordered = [HEAVY, *light] if heavy_first else [*light, HEAVY]
    return [f"tests/{name}" for name in ordered if name in found]


SUMMARY_LINE = re.compile(rb"(FAILED|ERROR) [^\s]+\.py(::|\s|$)")
"""A line of pytest's "short test summary info": one per failed or erroring test, its path after
the word (``FAILED tests/x.py::test - ...``, ``ERROR tests/x.py - ...``); not a captured log line
(``ERROR    some.logger:...``)."""

SUMMARY_SHOWN = 40
"""At most this many of a pass's summary lines are printed again at the end."""


class Pass:
    """One pytest run in the background, each line it prints copied whole to our output after
    its name. Its failing tests' summary lines are kept (:attr:`failures`) so that the run's last
    lines can name them: CI keeps only the tail of our output, where the other lane's last pass
    would otherwise have buried them."""

    printing = threading.Lock()

    def __init__(self, label: str, env: Mapping[str, str], args: list[str]) -> None:
        self.label, self.began = label, time.monotonic()
        self.failures: list[str] = []
        say(f"{label} pass: pytest {' '.join(args)}")
        self.proc = subprocess.Popen(
            [sys.executable, *PYTEST, *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.copier = threading.Thread(target=self._copy, name=f"{label}-output", daemon=True)
        self.copier.start()

    def _copy(self) -> None:
        assert self.proc.stdout is not None
        prefix = f"{self.label:<10} | ".encode()
        with self.proc.stdout as lines:
            for line in iter(lines.readline, b""):
                if SUMMARY_LINE.match(line):
                    self.failures.append(line.decode(errors="replace").rstrip())
                with self.printing:
                    sys.stdout.buffer.write(prefix + line)
                    sys.stdout.buffer.flush()

    def wait(self) -> int:
        code = self.proc.wait()
        self.copier.join()
        say(f"{self.label} pass: exit {code} in {time.monotonic() - self.began:.1f}s")
        return code

    def end(self) -> None:
        """Stop it if it still runs (we are leaving early)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def pass_env(servers: Mapping[str, str]) -> dict[str, str]:
    """Our environment, the servers', and Python's bytecode cache on: a pass starts hundreds of Python
    processes (each suite's supervisor ten), and a set PYTHONDONTWRITEBYTECODE has each compile our
    sources afresh: a suite alone on an idle machine here was ready in 10-12 s that way, 7-9 s
    with the cache (in a pass, where more runs beside it, about a second sooner)."""
    env = {**os.environ, **servers}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_passes(servers: Mapping[str, Mapping[str, str]], args: list[str]) -> bool:
    """Both passes at once, each in a lane with its own node; the PostgreSQL pass's lane then runs
    :data:`SECOND_LANE` on SQLite (the SQLite pass skips it)."""
    env = {kind: {**pass_env(servers[kind]), "HELPDESK_TEST_DB": kind} for kind in PASSES}
    skipped = [f"--ignore={path}" for path in SECOND_LANE]
    lanes: list[list[tuple[str, Mapping[str, str], list[str]]]] = [
        [("sqlite", env["sqlite"], [*pass_folders(heavy_first=False), *skipped, *args])],
        [
            ("postgresql", env["postgresql"], [*pass_folders(heavy_first=True), "-m", "db", *args]),
            ("sqlite-2", {**env["postgresql"], "HELPDESK_TEST_DB": "sqlite"}, [*SECOND_LANE, *args]),
        ],
    ]
    codes: dict[str, int] = {}
    running: list[Pass] = []
    leaving = threading.Event()

    def run_lane(lane: list[tuple[str, Mapping[str, str], list[str]]]) -> None:
        for label, lane_env, pass_args in lane:
            if leaving.is_set():
                return
            one = Pass(label, lane_env, pass_args)
            running.append(one)
            codes[label] = one.wait()

    threads = [threading.Thread(target=run_lane, args=(lane,), name="lane", daemon=True) for lane in lanes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        leaving.set()
        for one in running:
            one.end()
    for label, _env, _args in lanes[1]:
        if codes.get(label) == NO_TESTS_COLLECTED:
            say(f"{label} pass collected no tests (none is marked `db` or chosen); counted as passed")
            codes[label] = 0
    say_failures(running, codes)
    say(", ".join(f"{label} pass {verdict(code)}" for label, code in codes.items()))
    return all(codes.get(label) == 0 for lane in lanes for label, _env, _args in lane)


def say_failures(passes: list[Pass], codes: Mapping[str, int]) -> None:
    """Each failed pass's failing tests, as pytest summed them up."""
    for one in passes:
        if codes.get(one.label) and one.failures:
            say(f"{one.label} pass: {len(one.failures)} failed")
            for line in one.failures[:SUMMARY_SHOWN]:
                say(f"  {line}")


def run_chaos(servers: Mapping[str, str], args: list[str]) -> bool:
    env = {**pass_env(servers), "HELPDESK_TEST_DB": "postgresql"}
    env.setdefault("HELPDESK_CHAOS_SECONDS", "600")
    say(f"chaos for {env['HELPDESK_CHAOS_SECONDS']}s")
    command = [sys.executable, "-m", "pytest", CHAOS_TEST, "-p", "no:cacheprovider", "-q", "-s", *args]
    code = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode
    say(f"chaos {verdict(code)}")
    return code == 0


def verdict(code: int) -> str:
    return "passed" if code == 0 else f"FAILED (exit {code})"


def main(argv: list[str]) -> int:
    amqp_port = int(os.environ.get("HELPDESK_TEST_AMQP_PORT") or 5682)
    pg_port = int(os.environ.get("HELPDESK_TEST_PG_PORT") or 5442)
    work = servers_dir(amqp_port, pg_port)
    # Turn SIGTERM into SystemExit so the `finally` below stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        if argv[:1] == ["--chaos"]:
            servers = start_servers(work, amqp_port, pg_port, kinds=("postgresql",))
            return 0 if run_chaos(servers["postgresql"], argv[1:]) else 1
        return 0 if run_passes(start_servers(work, amqp_port, pg_port), argv) else 1
    except RuntimeError as error:
        say(f"could not start the test servers: {error}")
        return 1
    finally:
        began = time.monotonic()
        stop_servers(work, amqp_port)
        discard_dir(work)
        say(f"servers stopped in {time.monotonic() - began:.1f}s")


def discard_dir(work: Path) -> None:
    """Delete `work` without waiting for it: moved aside at once (the next run may use its name),
    its files then unlinked by a detached `rm -rf`. A run leaves hundreds of PostgreSQL databases
    there (one per test and service, none dropped), whose unlinking took ~29 s at the end of every
    run with nothing waiting for it."""
    trash = work.with_name(f"{work.name}.discarded-{os.getpid()}")
    try:
        work.rename(trash)
    except FileNotFoundError:
        return
    except OSError:  # the name is taken (this process's earlier folder still being unlinked)
        shutil.rmtree(work, ignore_errors=True)
        return
    subprocess.Popen(
        ["rm", "-rf", "--", str(trash)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
