"""The ``helpdesk`` command line against the whole help desk, as an operator or a script uses it.

Each command runs as its own process (``python -m helpdesk_cli``, what the ``helpdesk`` entry
point calls) with its own config folder, and is judged by its exit code and its ``--json``
output: sign in, tickets, people, tokens, a HubSpot export imported, imported again (nothing
changes), dry-run, a bad row reported, an import killed and resumed, dead-letter queues.
Merge, delete and retention skip, naming what is missing, until the lifecycle work lands.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpdesk_cli import hubspot_sample
from tests.e2e.conftest import ROOT, Suite

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite(make_vhost: Callable[[], str]) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-e2e-cli-")
    running = Suite(Path(folder), make_vhost())
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


class Cli:
    """Runs ``helpdesk`` with a config folder of its own."""

    def __init__(self, home: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        self.env.update(XDG_CONFIG_HOME=str(home), COLUMNS="200", **env)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "helpdesk_cli", *args]

    def run(self, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args),
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (args, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def json(self, *args: str, code: int = 0, **env: str) -> Any:
        return json.loads(self.run("--json", "-q", *args, code=code, **env).stdout)


@pytest.fixture(scope="module")
def cli(suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    runner = Cli(tmp_path_factory.mktemp("cli-home"))
    runner.run("login", "--url", suite.base_url, "--token", suite.admin_token)
    return runner


def test_login_keeps_a_private_profile_and_exit_codes_say_what_went_wrong(
    suite: Suite, cli: Cli, tmp_path: Path
) -> None:
    profile = Path(cli.env["XDG_CONFIG_HOME"]) / "helpdesk" / "profiles.json"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    assert cli.json("profiles") == [{"name": "default", "url": suite.base_url, "default": True}]
    nobody = Cli(tmp_path)
    nobody.run("tickets", "list", code=3)
    nobody.run("login", "--url", suite.base_url, "--token", "wrong", code=3)
    nobody.run("tickets", "list", code=8, HELPDESK_URL="http://127.0.0.1:9", HELPDESK_TOKEN="x")
    cli.run("tickets", "show", "987654", code=5)
    cli.run("tickets", "create", "--priority", "high", code=2)


def test_tickets(cli: Cli) -> None:
    ticket = cli.json("tickets", "create", "--name", "Printer on fire", "--priority", "high")
    tid = str(ticket["id"])
    assert cli.json("tickets", "show", tid)["name"] == "Printer on fire"
    changed = cli.json("tickets", "update", tid, "--priority", "low", "--if-version", "1")
    assert changed["priority"] == "low" and changed["version"] == 2
    cli.run("tickets", "update", tid, "--priority", "urgent", "--if-version", "1", code=6)
    cli.run("tickets", "update", tid, "--category", "x" * 300, code=7)
    listed = cli.json("tickets", "list", "--priority", "low", "--limit", "100")
    assert tid in {str(t["id"]) for t in listed["items"]}
    assert "Printer on fire" in cli.run("tickets", "list").stdout
    second = cli.json("tickets", "create", "--name", "Second", "--idempotency-key", "k-1")
    assert cli.json("tickets", "create", "--name", "Second", "--idempotency-key", "k-1")["id"] == second["id"]
    results = cli.json(
        "tickets", "bulk-update", tid, str(second["id"]), "987654", "--priority", "medium", code=9
    )
    assert sorted(r["status"] for r in results) == [200, 200, 404]


def test_people_and_tokens(suite: Suite, cli: Cli) -> None:
    user = cli.json(
        "users", "create", "--name", "Agent", "--email", "agent@example.com", "--permission", "service_access"
    )
    team = cli.json("teams", "create", "Support")
    assert cli.json("teams", "members", str(team["id"]), str(user["id"]))["member_ids"] == [user["id"]]
    assert "agent@example.com" in cli.run("users", "list").stdout
    issued = cli.json("tokens", "issue", str(user["id"]), "--label", "script")
    listed = cli.json("tokens", "list", str(user["id"]))
    assert [t["label"] for t in listed] == ["script"]
    as_agent = {"HELPDESK_URL": suite.base_url, "HELPDESK_TOKEN": issued["token"]}
    cli.json("tickets", "list", **as_agent)
    cli.run("users", "create", "--name", "x", "--email", "x@example.com", code=4, **as_agent)
    cli.json("tokens", "revoke", str(issued["id"]))
    cli.run("tickets", "list", code=3, **as_agent)


def _export(path: Path, rows: int, *, seed: int = 11, broken: bool = False) -> Path:
    hubspot_sample.write(path, rows, seed)
    if broken:
        with path.open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(
                ["77", "Broken row", "", "Support Pipeline", "New", "Severe"] + [""] * 9
            )
    return path


def _imported(suite: Suite, source: str) -> int:
    flt = {"field": "external_source", "operator": "EQ", "value": source}
    body = {"limit": 1, "filter_groups": [{"filters": [flt]}]}
    found = suite.request("POST", "/api/v1/tickets/search", json=body)
    assert found.status_code == 200, found.text
    return int(found.json()["total"])


def test_import_hubspot_twice_dry_run_and_errors(suite: Suite, cli: Cli, tmp_path: Path) -> None:
    for name, email in hubspot_sample.owners()[:3]:
        cli.json("users", "create", "--name", name, "--email", email, "--permission", "service_access")
    export = _export(tmp_path / "export.csv", 300, broken=True)
    first = cli.json("import", "hubspot", str(export), code=9)
    assert (first["created"], first["failed"], first["rows"]) == (300, 1, 301)
    assert first["new_pipelines"] == ["Billing"] and first["unknown_owners"]
    with open(first["error_report"], encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert [r["field"] for r in report if r["level"] == "error"] == ["Priority"]
    assert {r["level"] for r in report} == {"error", "warning"}

    again = cli.json("import", "hubspot", str(export), code=9)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 300)
    assert _imported(suite, "hubspot") == 300

    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace(lines[1].split(",")[1], "Renamed in HubSpot", 1)
    changed = tmp_path / "changed.csv"
    changed.write_text("".join(lines[:-1]), encoding="utf-8")
    dry = cli.json("import", "hubspot", "--dry-run", str(changed))
    assert (dry["updated"], dry["unchanged"], dry["dry_run"]) == (1, 299, True)
    titles = cli.json("tickets", "list", "--q", "Renamed in HubSpot")["items"]
    assert titles == []
    assert "1 updated, 299 unchanged, 0 failed" in cli.run("-q", "import", "hubspot", str(changed)).stdout
    assert cli.json("tickets", "list", "--q", "Renamed in HubSpot")["total"] == 1


def test_a_killed_import_resumes_where_it_stopped(suite: Suite, cli: Cli, tmp_path: Path) -> None:
    export = _export(tmp_path / "resume.csv", 200, seed=12)
    state = tmp_path / "resume.csv.import-state.json"
    args = ["import", "hubspot", "--source", "resume", "--batch-size", "20", "--pause", "0.3", str(export)]
    process = subprocess.Popen(cli.command("-q", *args), cwd=ROOT, env=cli.env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (state.exists() and json.loads(state.read_text())["rows_done"] >= 40):
        assert time.monotonic() < deadline and process.poll() is None, "the import ended before it was killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["rows_done"]
    assert 40 <= done < 200
    resumed = cli.json(*args[:-3], "--batch-size", "100", str(export))
    assert resumed["resumed_at_row"] == done and resumed["created"] + resumed["unchanged"] == 200
    assert not state.exists() and _imported(suite, "resume") == 200


def test_dead_letter_queues(suite: Suite, cli: Cli) -> None:
    assert suite.amqp_uri is not None  # this suite runs on the test broker's vhost
    queues = cli.json("dlq", "list", AMQP_URI=suite.amqp_uri)
    names = [q["queue"] for q in queues]
    assert names and all(n.endswith(".dead") for n in names)
    assert cli.json("dlq", "replay", names[0], AMQP_URI=suite.amqp_uri)["replayed"] == 0
    cli.run("dlq", "show", "no-such-queue", code=5, AMQP_URI=suite.amqp_uri)


def test_completion_and_help(cli: Cli) -> None:
    assert "_HELPDESK_COMPLETE" in cli.run("completion", "bash").stdout
    assert "Exit codes" in cli.run("--help").stdout
    assert "resumes where it stopped" in cli.run("import", "hubspot", "--help").stdout


def test_merge_and_delete(cli: Cli) -> None:
    one = cli.json("tickets", "create", "--name", "keep")
    two = cli.json("tickets", "create", "--name", "absorb")
    merged = cli.json("tickets", "merge", str(one["id"]), str(two["id"]))
    assert merged["id"] == one["id"] and two["id"] in merged["merged_ticket_ids"]
    assert cli.json("tickets", "delete", str(one["id"]), "--yes") == {"id": one["id"], "deleted": True}
    cli.run("tickets", "show", str(one["id"]), code=5)


def test_retention(cli: Cli) -> None:
    assert isinstance(cli.json("retention", "preview"), dict | list)
    cli.json("retention", "run", "--yes")
