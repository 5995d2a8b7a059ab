"""`make test`: the test suite against a private RabbitMQ node and PostgreSQL cluster.

    python -m deploy.test_runner [pytest args...]

Starts both servers afresh in `$TMPDIR/helpdesk-test-<amqp port>-<pg port>` (leftovers of an
earlier, interrupted run there are stopped and wiped first), then runs pytest twice from the
repository root, with any extra arguments appended each time:

1. `pytest tests -p no:cacheprovider -q` with HELPDESK_TEST_DB=sqlite: the whole suite;
2. the same plus `-m db` with HELPDESK_TEST_DB=postgresql: only the tests marked `db`.

Tests marked `cluster` start their own 3-node RabbitMQ cluster for the session (~30 s; see
tests/conftest.py); the rolling-restart and chaos tests need several instances per service and so
run in the PostgreSQL pass only (the chaos test for 2 minutes there).

Both passes see HELPDESK_TEST_AMQP_URI, HELPDESK_TEST_RABBIT_DATA and HELPDESK_TEST_RABBIT_PORT
(tests may stop and restart the node with deploy.rabbitmq), and HELPDESK_TEST_PG_URL, the server
URL without a database name (`postgresql+psycopg2://postgres@127.0.0.1:<port>`, which connects to
the `postgres` database; tests make their own with deploy.postgres.create_database).
Ports: HELPDESK_TEST_AMQP_PORT (5682) and HELPDESK_TEST_PG_PORT (5442). Python writes its bytecode
cache in the passes even where PYTHONDONTWRITEBYTECODE is set (`pass_env`).

`python -m deploy.test_runner --chaos [pytest args...]` (`make test-chaos`) runs only the chaos
proof, `tests/e2e/test_chaos.py`, on PostgreSQL for HELPDESK_CHAOS_SECONDS (600 unless set); its
3-node RabbitMQ cluster is started by the test's own fixture.

Exit status is 0 only if both passes pass. Pytest's "no tests collected" (5) counts as a pass in
the PostgreSQL pass only: it means no test is marked `db`, which is said in the output. The
servers are stopped on every exit, including SIGINT and SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from deploy import postgres, rabbitmq

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTEST = ["-m", "pytest", "tests", "-p", "no:cacheprovider", "-q", "--durations=25"]
"""``--durations``: each pass ends with its 25 slowest tests, where CI time goes."""
NO_TESTS_COLLECTED = 5
CHAOS_TEST = "tests/e2e/test_chaos.py"


def say(text: str) -> None:
    print(f"test_runner: {text}", flush=True)


def servers_dir(amqp_port: int, pg_port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"helpdesk-test-{amqp_port}-{pg_port}"


def start_servers(work: Path, amqp_port: int, pg_port: int) -> dict[str, str]:
    """Fresh servers in `work`; returns the environment variables that name them."""
    stop_servers(work, amqp_port, report=False)  # an interrupted run's
    discard_dir(work)
    work.mkdir(parents=True)
    work.chmod(0o755)  # the postgres user must be able to enter it

    began = time.monotonic()
    amqp_uri = rabbitmq.start(work / "rabbitmq", amqp_port)
    say(f"RabbitMQ ready at {amqp_uri} in {time.monotonic() - began:.1f}s")
    began = time.monotonic()
    pg_url = postgres.start(work / "postgres", pg_port)
    say(f"PostgreSQL ready at {pg_url} in {time.monotonic() - began:.1f}s")
    return {
        "HELPDESK_TEST_AMQP_URI": amqp_uri,
        "HELPDESK_TEST_RABBIT_DATA": str(work / "rabbitmq"),
        "HELPDESK_TEST_RABBIT_PORT": str(amqp_port),
        "HELPDESK_TEST_PG_URL": pg_url,
    }


def stop_servers(work: Path, amqp_port: int, *, report: bool = True) -> None:
    """End whatever runs from `work`, whose data is deleted next (RabbitMQ is killed: a clean stop
    took ~20 s at the end of every run; PostgreSQL skips its shutdown checkpoint); keeps going past
    a failure so nothing is left behind."""
    stops: list[tuple[str, Callable[[], None]]] = [
        ("RabbitMQ", lambda: rabbitmq.discard(work / "rabbitmq", amqp_port)),
        ("PostgreSQL", lambda: postgres.discard(work / "postgres")),
    ]
    for name, stop in stops:
        began = time.monotonic()
        try:
            stop()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            say(f"could not stop {name}: {error}")
        else:
            if report:
                say(f"{name} ended in {time.monotonic() - began:.1f}s")


def run_pytest(label: str, env: Mapping[str, str], args: list[str]) -> int:
    say(f"{label} pass: pytest {' '.join(args)}")
    began = time.monotonic()
    command = [sys.executable, *PYTEST, *args]
    code = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode
    say(f"{label} pass: exit {code} in {time.monotonic() - began:.1f}s")
    return code


def pass_env(servers: Mapping[str, str]) -> dict[str, str]:
    """Our environment, the servers', and Python's bytecode cache on: a pass starts hundreds of Python
    processes (each suite's supervisor ten), and a set PYTHONDONTWRITEBYTECODE has each compile our
    sources afresh: a suite alone on an idle machine here was ready in 10-12 s that way, 7-9 s
    with the cache (in a pass, where more runs beside it, about a second sooner)."""
    env = {**os.environ, **servers}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_passes(servers: Mapping[str, str], args: list[str]) -> bool:
    env = pass_env(servers)
    sqlite = run_pytest("sqlite", {**env, "HELPDESK_TEST_DB": "sqlite"}, args)
    pg = run_pytest("postgresql", {**env, "HELPDESK_TEST_DB": "postgresql"}, ["-m", "db", *args])
    if pg == NO_TESTS_COLLECTED:
        say("postgresql pass collected no tests (none is marked `db`); counted as passed")
        pg = 0
    say(f"sqlite pass {verdict(sqlite)}, postgresql pass {verdict(pg)}")
    return sqlite == 0 and pg == 0


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
        servers = start_servers(work, amqp_port, pg_port)
        if argv[:1] == ["--chaos"]:
            return 0 if run_chaos(servers, argv[1:]) else 1
        return 0 if run_passes(servers, argv) else 1
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
