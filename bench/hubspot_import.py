"""Benchmark: a HubSpot ticket export imported with ``helpdesk import hubspot``, twice.

    .venv/bin/python -m bench.hubspot_import [--rows 100000] [--db sqlite|postgresql] [--xlsx] [--keep]

From scratch: a realistic export (``helpdesk_cli.hubspot_sample``: two pipelines, 28 owners of
whom 4 are unknown here, HubSpot's labels and date format, associations), a private RabbitMQ node
and the whole suite through ``deploy.supervisor`` (on SQLite files, or on a private PostgreSQL
cluster with ``--db postgresql``), the 24 known owners created through the gateway. Then the
command line imports the file (``python -m helpdesk_cli --json import hubspot``, as an operator
would) and imports it again; the second run must change nothing (else exit 1). It prints one
Markdown table: seconds and rows per second of each run and what each run did. Progress goes to
stderr; everything it started is stopped at the end (``--keep`` keeps the work folder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.run import _cpu_model, clean_env, say
from bench.tickets import ADMIN_TOKEN, make_stack
from helpdesk_cli import hubspot_sample

ROOT = Path(__file__).resolve().parent.parent
KNOWN_OWNERS = 24


def create_owners(gateway: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for name, email in hubspot_sample.owners()[:KNOWN_OWNERS]:
        body = {"name": name, "email": email, "permissions": ["service_access"]}
        response = requests.post(f"{gateway}/api/v1/users", json=body, headers=headers, timeout=30)
        response.raise_for_status()


def run_import(gateway: str, export: Path, home: Path) -> tuple[float, dict[str, Any]]:
    """One ``helpdesk import hubspot`` run: wall seconds and its JSON summary."""
    env = {
        **clean_env(),
        "HELPDESK_URL": gateway,
        "HELPDESK_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(home),
    }
    command = [sys.executable, "-m", "helpdesk_cli", "--json", "-q", "import", "hubspot", str(export)]
    began = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=3600
    )
    seconds = time.monotonic() - began
    if done.returncode not in (0, 9):
        raise RuntimeError(f"the import failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def table(rows: int, db: str, runs: list[tuple[str, float, dict[str, Any]]]) -> str:
    lines = [
        f"HubSpot import of {rows:,} rows ({db}; {_cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        "",
        "| run | seconds | rows/s | created | updated | unchanged | failed | unknown owners |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, seconds, s in runs:
        lines.append(
            f"| {name} | {seconds:.1f} | {s['rows'] / seconds:,.0f} | {s['created']:,} | {s['updated']:,} "
            f"| {s['unchanged']:,} | {s['failed']:,} | {sum(s['unknown_owners'].values()):,} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--xlsx", action="store_true", help="an XLSX export instead of CSV")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hd-bench-import-"))
    work.chmod(0o755)  # the postgres user must be able to enter it
    export = work / ("export.xlsx" if args.xlsx else "export.csv")
    say(f"writing a {args.rows:,}-row export to {export}")
    hubspot_sample.write(export, args.rows)
    stack = make_stack(args.db, work)
    try:
        stack.start()
        create_owners(stack.gateway)
        runs = []
        for name in ("first import", "second import"):
            say(f"{name}...")
            seconds, summary = run_import(stack.gateway, export, work / "home")
            say(f"{name}: {seconds:.1f} s, {summary}")
            runs.append((name, seconds, summary))
        print(table(args.rows, args.db, runs))
        second = runs[1][2]
        if second["created"] or second["updated"]:
            say("the second run changed something: it should change nothing")
            return 1
        return 0
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
