"""``make test``'s lanes (``deploy.test_runner.run_passes``) with the pytest runs replaced by
stand-ins that record what they were asked: which tests each run gets, on which database and
node, and which exits count as passed."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from deploy import test_runner

ROOT = Path(__file__).resolve().parents[2]
SERVERS = {
    kind: {"HELPDESK_TEST_AMQP_URI": f"amqp://{kind}-node/", "HELPDESK_TEST_PG_URL": "postgresql://pg"}
    for kind in test_runner.PASSES
}


class Recorded:
    """Stands in for :class:`deploy.test_runner.Pass`: records its run and exits with
    ``exits[label]`` (0 unless given)."""

    runs: list[tuple[str, dict[str, str], list[str]]] = []
    exits: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def __init__(self, label: str, env: Mapping[str, str], args: list[str]) -> None:
        self.label = label
        self.failures = self.failed.get(label, [])
        with self.lock:
            self.runs.append((label, dict(env), list(args)))

    def wait(self) -> int:
        return self.exits.get(self.label, 0)

    def end(self) -> None:
        pass


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> type[Recorded]:
    monkeypatch.setattr(test_runner, "Pass", Recorded)
    Recorded.runs, Recorded.exits, Recorded.failed = [], {}, {}
    return Recorded


def test_every_test_folder_runs_with_the_heavy_one_last_on_sqlite_and_first_on_postgresql() -> None:
    folders = {f"tests/{p.name}" for p in (ROOT / "tests").iterdir() if any(p.glob("test_*.py"))}
    light_first = test_runner.pass_folders(heavy_first=False)
    heavy_first = test_runner.pass_folders(heavy_first=True)
    assert set(light_first) == set(heavy_first) == folders
    assert light_first[-1] == heavy_first[0] == f"tests/{test_runner.HEAVY}"


def test_lanes_run_every_test_on_sqlite_once_and_the_db_ones_on_postgresql(recorded: type[Recorded]) -> None:
    assert test_runner.run_passes(SERVERS, ["-k", "tickets"])
    runs = {label: (env, args) for label, env, args in recorded.runs}
    assert set(runs) == {"sqlite", "postgresql", "sqlite-2"}
    sqlite_env, sqlite_args = runs["sqlite"]
    assert (
        sqlite_env["HELPDESK_TEST_DB"] == "sqlite"
        and sqlite_env["HELPDESK_TEST_AMQP_URI"] == "amqp://sqlite-node/"
    )
    ignored = [arg for arg in sqlite_args if arg.startswith("--ignore=")]
    assert ignored == [f"--ignore={path}" for path in test_runner.SECOND_LANE]
    pg_env, pg_args = runs["postgresql"]
    assert pg_env["HELPDESK_TEST_DB"] == "postgresql" and pg_args[-4:-2] == ["-m", "db"]
    second_env, second_args = runs["sqlite-2"]
    assert second_env["HELPDESK_TEST_DB"] == "sqlite"
    assert second_env["HELPDESK_TEST_AMQP_URI"] == "amqp://postgresql-node/", "the PostgreSQL lane's node"
    assert second_args == [*test_runner.SECOND_LANE, "-k", "tickets"]
    assert all(args[-2:] == ["-k", "tickets"] for _env, args in runs.values())
    order = [label for label, _env, _args in recorded.runs]
    assert order.index("postgresql") < order.index("sqlite-2"), "one lane: the PostgreSQL pass first"
    for path in test_runner.SECOND_LANE:
        assert (ROOT / path).is_file(), f"{path} is gone: the second lane would run nothing of it"


@pytest.mark.parametrize(
    ("exits", "passed"),
    [
        ({}, True),
        ({"postgresql": test_runner.NO_TESTS_COLLECTED, "sqlite-2": test_runner.NO_TESTS_COLLECTED}, True),
        ({"sqlite": test_runner.NO_TESTS_COLLECTED}, False),
        ({"sqlite": 1}, False),
        ({"postgresql": 1}, False),
        ({"sqlite-2": 2}, False),
    ],
)
def test_only_every_run_passing_passes(recorded: type[Recorded], exits: dict[str, int], passed: bool) -> None:
    recorded.exits = exits
    assert test_runner.run_passes(SERVERS, []) is passed
    assert len(recorded.runs) == 3, "a failed pass does not keep its lane's next run from running"


def test_a_failed_pass_names_its_failing_tests_in_the_last_lines(
    recorded: type[Recorded], capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.exits = {"sqlite": 1, "postgresql": 0}
    recorded.failed = {
        "sqlite": ["FAILED tests/unit/test_a.py::test_one - assert 1 == 2"],
        "postgresql": ["FAILED tests/unit/test_b.py::test_flaky_but_rerun"],
    }
    assert not test_runner.run_passes(SERVERS, [])
    tail = capsys.readouterr().out.splitlines()[-3:]
    assert tail[0].endswith("sqlite pass: 1 failed")
    assert tail[1].endswith("  FAILED tests/unit/test_a.py::test_one - assert 1 == 2")
    assert "sqlite pass FAILED (exit 1)" in tail[2]
    assert "test_b" not in "\n".join(tail), "a pass that passed is not listed"


def test_a_pass_keeps_pytests_summary_line_of_each_failing_test(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_fails():\n    assert 1 == 2\n"
        "def test_passes():\n    pass\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('setup')\n"
        "def test_errors(broken):\n    pass\n"
        "def test_logs_then_fails():\n"
        "    import logging\n    logging.getLogger('x').error('FAILED tests/not_a_test.py::nothing')\n"
        "    raise AssertionError\n"
    )
    one = test_runner.Pass("sample", {**test_runner.os.environ}, [str(tmp_path)])
    assert one.wait() == 1
    tests = sorted(line.split(" - ")[0].split("::")[-1] for line in one.failures)
    assert tests == ["test_errors", "test_fails", "test_logs_then_fails"], one.failures
    assert [line.split(" ")[0] for line in sorted(one.failures)] == ["ERROR", "FAILED", "FAILED"]
