"""The identity secret is never defaulted: config, then environment, then the data folder's file.

Whoever knows the secret can forge any identity, so a process without a usable one must refuse to
start with one line that says what to set, and no shipped config may carry a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy import supervisor
from services import registry
from services.chassis.secrets import (
    IdentitySecretError,
    identity_secret,
    require_identity_secret,
    secret_file,
)
from services.chassis.settings import read_config

ROOT = Path(__file__).resolve().parents[2]
GOOD = "Vq3x9-T7kPz_w2LmN8rB4sYc6HdJ1fGa"  # 32 characters
OTHER = "p0O9i8U7y6T5r4E3w2Q1-a_sSdDfFgGh"


def environ(data_dir: Path, **extra: str) -> dict[str, str]:
    return {"HELPDESK_DATA_DIR": str(data_dir), **extra}


def test_missing_everywhere_refuses_and_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(IdentitySecretError) as caught:
        identity_secret({}, environ(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "set HELPDESK_IDENTITY_SECRET" in message
    assert str(tmp_path / "identity.secret") in message


@pytest.mark.parametrize(
    "placeholder", ["change-me", "CHANGE_ME", "secret", "change-me-change-me-change-me-change-me"]
)
def test_a_placeholder_is_refused_wherever_it_comes_from(tmp_path: Path, placeholder: str) -> None:
    for config, env in (
        ({}, environ(tmp_path, HELPDESK_IDENTITY_SECRET=placeholder)),
        ({"IDENTITY_SECRET": placeholder}, environ(tmp_path)),
    ):
        with pytest.raises(IdentitySecretError, match="is a placeholder"):
            identity_secret(config, env)
    (tmp_path / "identity.secret").write_text(placeholder)
    with pytest.raises(IdentitySecretError, match="is a placeholder"):
        identity_secret({}, environ(tmp_path))


@pytest.mark.parametrize(("weak", "reason"), [(GOOD[:31], "is too short"), ("a" * 40, "is not random")])
def test_short_or_repetitive_values_are_refused(tmp_path: Path, weak: str, reason: str) -> None:
    with pytest.raises(IdentitySecretError, match=reason) as caught:
        identity_secret({}, environ(tmp_path, HELPDESK_IDENTITY_SECRET=weak))
    assert weak not in str(caught.value), "the message must not echo the value"


def test_the_file_is_used_when_the_environment_has_none(tmp_path: Path) -> None:
    (tmp_path / "identity.secret").write_text(GOOD + "\n")
    assert identity_secret({}, environ(tmp_path)) == GOOD
    assert secret_file(environ(tmp_path)) == tmp_path / "identity.secret"


def test_the_data_folder_defaults_to_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert secret_file({}) == tmp_path / "var" / "identity.secret"


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "identity.secret").write_text(OTHER)
    assert identity_secret({}, environ(tmp_path, HELPDESK_IDENTITY_SECRET=GOOD)) == GOOD


def test_the_nameko_config_wins_over_the_environment(tmp_path: Path) -> None:
    env = environ(tmp_path, HELPDESK_IDENTITY_SECRET=OTHER)
    assert identity_secret({"IDENTITY_SECRET": GOOD}, env) == GOOD
    assert identity_secret({"IDENTITY_SECRET": None}, env) == OTHER, "an empty config value is no value"


def test_refusing_to_start_is_one_line_and_exit_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPDESK_IDENTITY_SECRET", raising=False)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as caught:
        require_identity_secret({}, "tickets")
    assert str(caught.value.code).startswith("tickets: refusing to start: no identity secret: set ")
    assert "\n" not in str(caught.value.code)
    require_identity_secret({"IDENTITY_SECRET": GOOD}, "tickets")


@pytest.mark.parametrize(
    "entry", [c for c in registry.CHILDREN if isinstance(c, registry.NamekoService)], ids=lambda e: e.name
)
def test_no_shipped_config_carries_a_secret(
    entry: registry.NamekoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPDESK_IDENTITY_SECRET", raising=False)
    config: dict[str, Any] = read_config(ROOT / entry.config)
    assert config.get("IDENTITY_SECRET") in (None, "")


def test_the_supervisor_creates_a_usable_secret_once_and_checks_a_given_one(tmp_path: Path) -> None:
    first = supervisor.identity_secret(tmp_path, {})
    assert (tmp_path / "identity.secret").stat().st_mode & 0o777 == 0o600
    assert supervisor.identity_secret(tmp_path, {}) == first
    assert identity_secret({}, environ(tmp_path)) == first, "services find the supervisor's file"
    with pytest.raises(supervisor.StartupError, match="HELPDESK_IDENTITY_SECRET is a placeholder"):
        supervisor.identity_secret(tmp_path, {"HELPDESK_IDENTITY_SECRET": "change-me"})
