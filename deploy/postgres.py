"""Private PostgreSQL clusters for tests and local runs, without systemd.

A cluster is kept in one folder, `data_dir`: the database files in `data_dir/pgdata`, the server
log in `data_dir/postgres.log`, and its Unix socket in `data_dir` itself. It listens on 127.0.0.1
only, lets user `postgres` in without a password (trust auth) and runs with fsync off: it is for
tests and local runs, not for data you want to keep after a power cut.

When run as root, initdb and pg_ctl run as the `postgres` system user (via runuser), `data_dir`
is chowned to it, and folders created here are made traversable; a `data_dir` whose existing
parents the `postgres` user cannot enter is refused with a clear error (a folder under /tmp works).

`start` returns a server URL without a database name, `postgresql+psycopg2://postgres@127.0.0.1:P`;
`create_database` makes a database on it and returns that database's URL. Standard library only;
statements run through the cluster's own `psql`.

CLI: python -m deploy.postgres start|stop|status --data DIR [--port P]
     python -m deploy.postgres createdb --port P NAME [--drop]
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

BIN_GLOB = "/usr/lib/postgresql/*/bin"
PREFERRED_VERSION = "15"
SYSTEM_USER = "postgres"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes including the terminating NUL
SERVER_SETTINGS = """
# Added by deploy/postgres.py: a disposable cluster, so durability is traded for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
"""


def start(data_dir: str | Path, port: int) -> str:
    """Create the cluster if needed, start it if needed, return its server URL."""
    base = _prepare_dir(Path(data_dir).resolve())
    cluster = base / "pgdata"
    socket_path = f"{base}/.s.PGSQL.{port}"
    if len(socket_path) > SOCKET_PATH_MAX:
        raise RuntimeError(f"socket path too long for Unix sockets, use a shorter dir: {socket_path}")
    if not (cluster / "PG_VERSION").exists():
        _init_cluster(cluster)
    running_port = _running_port(cluster)
    if running_port is None:
        options = f"-p {port} -k {shlex.quote(str(base))} -c listen_addresses=127.0.0.1"
        _as_server_user(
            "pg_ctl", "-D", str(cluster), "-l", str(base / "postgres.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
    elif running_port != port:
        raise RuntimeError(f"the cluster in {cluster} already runs on port {running_port}")
    return server_url(port)


def stop(data_dir: str | Path) -> None:
    """Stop the cluster (fast shutdown: open sessions are ended); no-op if it is not running."""
    cluster = Path(data_dir).resolve() / "pgdata"
    if _running_port(cluster) is not None:
        _as_server_user("pg_ctl", "-D", str(cluster), "-m", "fast", "-w", "-t", "60", "stop")


def discard(data_dir: str | Path) -> None:
    """End a cluster whose data is deleted next (a test run's): an immediate shutdown, which skips
    the shutdown checkpoint (writing out every dirty page of a run's databases only to delete
    them); no-op if it is not running."""
    cluster = Path(data_dir).resolve() / "pgdata"
    if _running_port(cluster) is not None:
        _as_server_user("pg_ctl", "-D", str(cluster), "-m", "immediate", "-w", "-t", "60", "stop")


def is_running(data_dir: str | Path) -> bool:
    """Whether the cluster in `data_dir` has a live server."""
    return _running_port(Path(data_dir).resolve() / "pgdata") is not None


def server_url(port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql+psycopg2://postgres@{host}:{port}"


def create_database(server: str | int, name: str, *, drop_existing: bool = False) -> str:
    """Create database `name` (if missing, or afresh with `drop_existing`); return its URL.

    `server` is a port on 127.0.0.1 or a URL as returned by `start` (a database path in it is
    ignored).
    """
    name, (host, port) = _plain(name), _address(server)
    if drop_existing:
        drop_database(server, name)
    if not _psql(host, port, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
        _psql(host, port, f'CREATE DATABASE "{name}"')
    return f"{server_url(port, host)}/{name}"


def copy_database(server: str | int, template: str, name: str) -> str:
    """Create database `name` as a copy of `template` (nobody may be connected to it); return its
    URL. One statement, file by file (`STRATEGY FILE_COPY`, PostgreSQL 15 or later): for a small
    database far quicker than creating it empty and running its migrations (15 ms against
    80 + 440 for the tickets service's on the test server)."""
    host, port = _address(server)
    _psql(host, port, f'CREATE DATABASE "{_plain(name)}" TEMPLATE "{_plain(template)}" STRATEGY FILE_COPY')
    return f"{server_url(port, host)}/{name}"


def drop_database(server: str | int, name: str) -> None:
    """Drop database `name` if it exists, whoever is connected to it."""
    _psql(*_address(server), f'DROP DATABASE IF EXISTS "{_plain(name)}" WITH (FORCE)')


def _plain(name: str) -> str:
    """`name` if it needs no quoting rules of its own (it is put in SQL); else ValueError."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def _address(server: str | int) -> tuple[str, int]:
    """Host and port of `server`: a port on 127.0.0.1, or a URL."""
    if isinstance(server, int):
        return "127.0.0.1", server
    parts = urlsplit(server)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _psql(host: str, port: int, sql: str) -> str:
    result = subprocess.run(
        [
            *(
                str(_bin() / "psql"),
                "-h",
                host,
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ),
            *("-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql on {host}:{port} failed for {sql!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def _init_cluster(cluster: Path) -> None:
    _as_server_user(
        "initdb", "-D", str(cluster), "-U", "postgres", "--auth=trust",
        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    )  # fmt: skip
    with open(cluster / "postgresql.conf", "a") as conf:
        conf.write(SERVER_SETTINGS)


def _running_port(cluster: Path) -> int | None:
    """The port of the live server of `cluster`, read from its postmaster.pid, or None."""
    try:
        lines = (cluster / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server user
    return port


def _prepare_dir(base: Path) -> Path:
    missing = [p for p in (base, *base.parents) if not p.exists()]
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return base
    for created in missing:
        created.chmod(0o755)
    user = pwd.getpwnam(SYSTEM_USER)
    os.chown(base, user.pw_uid, user.pw_gid)
    probe = subprocess.run(["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(base)], check=False)
    if probe.returncode != 0:
        raise RuntimeError(
            f"user {SYSTEM_USER!r} cannot reach {base}: its parent folders must be traversable"
            " (o+x); use a folder under /tmp or chmod o+x the parents"
        )
    return base


def _as_server_user(program: str, *args: str) -> None:
    command = [str(_bin() / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", SYSTEM_USER, "--", *command]
    result = subprocess.run(
        command,
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd="/",  # the server user may not be allowed into our working directory
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed (exit {result.returncode}):\n{result.stdout}")


def _bin() -> Path:
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: (Path(p).parent.name != PREFERRED_VERSION, p))
    if not found:
        raise RuntimeError("PostgreSQL is not installed; run deploy/install.sh --postgres")
    return Path(found[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.postgres", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "createdb"])
    parser.add_argument("name", nargs="?", help="database name (createdb)")
    parser.add_argument("--data", help="folder holding the cluster (start, stop, status)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--drop", action="store_true", help="createdb: drop it first if present")
    args = parser.parse_intermixed_args(argv)
    if args.command != "createdb" and not args.data:
        parser.error("--data is required")
    if args.command == "createdb" and not args.name:
        parser.error("createdb needs a database name")
    began = time.monotonic()
    try:
        if args.command == "start":
            url = start(args.data, args.port)
            print(f"{url}  (ready in {time.monotonic() - began:.1f}s)")
        elif args.command == "stop":
            stop(args.data)
            print(f"stopped in {time.monotonic() - began:.1f}s")
        elif args.command == "createdb":
            print(create_database(args.port, args.name, drop_existing=args.drop))
        else:
            running = is_running(args.data)
            print("running" if running else "stopped")
            return 0 if running else 3
    except (RuntimeError, ValueError, subprocess.SubprocessError) as error:
        print(f"deploy.postgres: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
