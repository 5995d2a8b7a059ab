"""The supervisor's set-up steps: the broker's and the databases' sides side by side, each side in
order, the first failure ending both sides' later steps (steps are small Python one-liners that
stamp files; no broker or service is started)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy import supervisor
from deploy.supervisor import Settings, StartupError, Supervisor

Steps = list[tuple[str, list[str]]]
SetUp = Callable[[Steps, list[list[str]]], None]


def stamp(folder: Path, name: str, *, sleep: float = 0.0, exit_code: int = 0) -> list[str]:
    """A step that writes when it began to ``<name>.began``, sleeps, then when it ended."""
    code = (
        "import sys, time, pathlib; d = pathlib.Path(sys.argv[1]); "
        f"(d / '{name}.began').write_text(repr(time.time())); time.sleep({sleep}); "
        f"(d / '{name}.ended').write_text(repr(time.time())); sys.exit({exit_code})"
    )
    return ["-c", code, str(folder)]


def stamped(folder: Path, name: str, what: str) -> float:
    return float((folder / f"{name}.{what}").read_text())


@pytest.fixture
def set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SetUp:
    """``set_up(steps, sides)`` runs a supervisor's set-up with those steps on a shared broker."""
    monkeypatch.setattr(supervisor, "wait_for_broker", lambda *_args, **_kw: None)
    data = tmp_path / "data"
    settings = Settings.from_env({"HELPDESK_DATA_DIR": str(data), "AMQP_URI": "amqp://x@127.0.0.1:1/"})

    def run(steps: Steps, sides: list[list[str]]) -> None:
        monkeypatch.setattr(supervisor, "SETUP_STEPS", steps)
        monkeypatch.setattr(supervisor, "SETUP_SIDES", sides)
        sup = Supervisor(settings, {})
        sup.logs_dir.mkdir(parents=True, exist_ok=True)
        sup._set_up({"AMQP_URI": "amqp://x@127.0.0.1:1/"})

    return run


def test_the_two_sides_run_at_once_and_each_in_its_order(tmp_path: Path, set_up: SetUp) -> None:
    steps = [
        ("broker", stamp(tmp_path, "broker", sleep=1.5)),
        ("first", stamp(tmp_path, "first", sleep=0.3)),
        ("second", stamp(tmp_path, "second")),
    ]
    began = time.time()
    set_up(steps, [["broker"], ["first", "second"]])
    took = time.time() - began
    assert stamped(tmp_path, "first", "began") < stamped(tmp_path, "broker", "ended")
    assert stamped(tmp_path, "second", "began") >= stamped(tmp_path, "first", "ended")
    assert stamped(tmp_path, "second", "ended") < stamped(tmp_path, "broker", "ended")
    assert took < 1.5 + 0.3 + 1.0, f"the sides ran one after the other ({took:.1f} s)"


def test_a_failed_step_ends_both_sides_later_steps_and_says_which(tmp_path: Path, set_up: SetUp) -> None:
    steps = [
        ("broken", stamp(tmp_path, "broken", exit_code=3)),
        ("after-broken", stamp(tmp_path, "after-broken")),
        ("slow", stamp(tmp_path, "slow", sleep=1.0)),
        ("after-slow", stamp(tmp_path, "after-slow")),
    ]
    with pytest.raises(StartupError, match=r"step broken \(.*\) failed: exit 3"):
        set_up(steps, [["broken", "after-broken"], ["slow", "after-slow"]])
    assert (tmp_path / "slow.ended").exists(), "a step already running is let finish"
    assert not (tmp_path / "after-broken.began").exists()
    assert not (tmp_path / "after-slow.began").exists()


def test_every_set_up_step_is_on_exactly_one_side() -> None:
    on_sides = [name for side in supervisor.SETUP_SIDES for name in side]
    assert sorted(on_sides) == sorted(name for name, _ in supervisor.SETUP_STEPS)
