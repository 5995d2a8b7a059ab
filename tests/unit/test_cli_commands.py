"""The ``helpdesk`` command tree: every command answers ``--help``, the entry point is declared,
and exit codes follow HTTP statuses as documented."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from helpdesk_cli import errors
from helpdesk_cli.main import cli, main

ROOT = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


ALL = list(_commands(cli))


def test_the_commands_the_issue_asks_for_exist() -> None:
    wanted = {
        ("login",),
        ("tickets", "list"),
        ("tickets", "show"),
        ("tickets", "create"),
        ("tickets", "update"),
        ("tickets", "merge"),
        ("tickets", "delete"),
        ("users",),
        ("teams",),
        ("tokens",),
        ("import", "hubspot"),
        ("dlq", "list"),
        ("dlq", "show"),
        ("dlq", "replay"),
        ("retention", "preview"),
        ("retention", "run"),
        ("completion",),
    }
    assert wanted <= set(ALL)


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and len(result.output.splitlines()) > 3


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"helpdesk": "helpdesk_cli.main:main"}
    assert callable(main)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 7),
        (401, 3),
        (403, 4),
        (404, 5),
        (409, 6),
        (412, 6),
        (413, 7),
        (422, 7),
        (429, 8),
        (503, 8),
        (418, 1),
    ],
)
def test_exit_codes_follow_http_statuses(status: int, code: int) -> None:
    assert errors.exit_code_for(status) == code
