"""Broker credentials and the data folder: generated once, kept, handed out per process, owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from deploy import credentials, supervisor


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwords_are_generated_once_owner_only_and_extended_when_roles_are_added(tmp_path: Path) -> None:
    path = tmp_path / credentials.FILE_NAME
    first = credentials.ensure(path, ["admin", "tickets"])
    assert mode(path) == 0o600
    assert set(first) == {"admin", "tickets"} and len(set(first.values())) == 2
    assert all(len(p) >= 24 for p in first.values())
    again = credentials.ensure(path, ["admin", "tickets", "smtp"])
    assert {k: again[k] for k in first} == first, "existing passwords are kept"
    assert "smtp" in again and credentials.load(path) == again


def test_a_credentials_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / credentials.FILE_NAME
    path.write_text(json.dumps(["not", "a", "mapping"]))
    with pytest.raises(ValueError, match="role -> password"):
        credentials.ensure(path, ["admin"])


def test_uris_escape_users_passwords_and_vhosts() -> None:
    assert credentials.amqp_uri(5672, "helpdesk-tickets", "a/b:c@d") == (
        "amqp://helpdesk-tickets:a%2Fb%3Ac%40d@127.0.0.1:5672/"
    )
    assert credentials.amqp_uri(5672, "u", "p", vhost="help desk").endswith("/help%20desk")


def test_deploy_tools_find_the_deploy_user_of_make_runs_own_node(tmp_path: Path) -> None:
    passwords = credentials.ensure(tmp_path / credentials.FILE_NAME, ["deploy"])
    environ = {"HELPDESK_DATA_DIR": str(tmp_path), "HELPDESK_AMQP_PORT": "5700"}
    assert (
        credentials.default_amqp_uri(environ)
        == f"amqp://helpdesk-deploy:{passwords['deploy']}@127.0.0.1:5700/"
    )
    assert credentials.default_amqp_uri({**environ, "AMQP_URI": "amqp://x@y/"}) == "amqp://x@y/"
    assert credentials.default_amqp_uri({"HELPDESK_DATA_DIR": str(tmp_path / "none")}) == (
        "amqp://guest:guest@127.0.0.1:5672/"
    )


def test_each_process_gets_its_own_uri_on_our_node_and_the_shared_one_elsewhere() -> None:
    own = supervisor.BrokerAccess(shared_uri=None, port=5700, passwords={"tickets": "t", "deploy": "d"})
    assert own.uri("tickets") == "amqp://helpdesk-tickets:t@127.0.0.1:5700/"
    assert own.uri("deploy") == "amqp://helpdesk-deploy:d@127.0.0.1:5700/"
    assert "t" not in own.describe().replace("127.0.0.1", "").replace("own node", "").replace(
        "a user per", ""
    )
    shared = supervisor.BrokerAccess(shared_uri="amqp://guest:secret@broker:5673/helpdesk")
    assert shared.uri("tickets") == shared.uri("gateway") == "amqp://guest:secret@broker:5673/helpdesk"
    assert "secret" not in shared.describe() and shared.describe() == "broker:5673/helpdesk"


def test_the_data_folder_is_made_its_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    names = ["tickets.db", "tickets.db-wal", "identity.secret", credentials.FILE_NAME, "notes.txt"]
    for name in names:
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    supervisor.secure_data_dir(data)
    assert mode(data) == 0o700
    assert {name: mode(data / name) for name in names[:-1]} == dict.fromkeys(names[:-1], 0o600)
    assert mode(data / "notes.txt") == 0o644, "only what holds data or secrets is changed"
