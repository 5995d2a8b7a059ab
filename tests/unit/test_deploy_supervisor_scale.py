"""The supervisor's settings for a cluster and for several instances per service (no processes
started, except one supervisor that must refuse to start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.supervisor import (
    BrokerAccess,
    Settings,
    StartupError,
    build_env,
    check_scale,
    instance_env,
    parse_scale,
)

ROOT = Path(__file__).resolve().parents[2]


def settings(**environ: str) -> Settings:
    return Settings.from_env({"HELPDESK_DATA_DIR": "/tmp/hd-scale-unit", **environ})


def test_scale_names_counts_per_child() -> None:
    assert parse_scale("tickets=2, notifications=3,") == {"tickets": 2, "notifications": 3}
    assert parse_scale("") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tickets", "is not <name>=<count>"),
        ("tickets=two", "is not <name>=<count>"),
        ("nobody=2", "cannot be scaled"),
        ("smtp_edge=2", "cannot be scaled"),
        ("tickets=0", "between 1 and 8"),
        ("tickets=9", "between 1 and 8"),
    ],
)
def test_bad_scale_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_scale(text)


def test_instances_keep_the_first_name_and_number_the_others() -> None:
    found = settings(HELPDESK_SCALE="tickets=2,gateway=2").instances()
    names = [name for name, _role, _args in found]
    assert names.count("tickets") == 1 and "tickets-2" in names and "gateway-2" in names
    roles = {name: role for name, role, _args in found}
    assert roles["tickets-2"] == "tickets" and roles["gateway-2"] == "gateway"
    assert names.index("tickets-2") == names.index("tickets") + 1
    assert len(found) == len(settings().instances()) + 2


def test_several_instances_on_sqlite_are_refused() -> None:
    with pytest.raises(StartupError, match="tickets cannot run 2 instances on SQLite: set TICKETS_DB_URL"):
        check_scale(settings(HELPDESK_SCALE="tickets=2"), {})
    sqlite = {"TICKETS_DB_URL": "sqlite:////tmp/t.db"}
    with pytest.raises(StartupError):
        check_scale(settings(HELPDESK_SCALE="tickets=2"), sqlite)
    postgres = {"TICKETS_DB_URL": "postgresql+psycopg2://u@127.0.0.1:5432/t"}
    check_scale(settings(HELPDESK_SCALE="tickets=2,gateway=3"), postgres)  # the gateway has no database


def test_supervisor_refuses_in_one_line_before_starting_anything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DB_URL")}
    env.update(HELPDESK_SCALE="tickets=2", HELPDESK_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "deploy.supervisor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "tickets cannot run 2 instances on SQLite" in lines[0]
    assert not (tmp_path / "data").exists(), "nothing was started or created"


SECRET = {"HELPDESK_IDENTITY_SECRET": "Zq8v3LrT0pW9xY2bN6mK4sD7fH1jC5gA"}


def test_cluster_broker_gives_every_node_and_quorum_queues() -> None:
    s = settings(HELPDESK_BROKER="cluster", HELPDESK_AMQP_PORT="5730")
    access = BrokerAccess(shared_uri=None, port=5730, passwords={"tickets": "pw"}, nodes=3)
    uris = access.uri("tickets").split(";")
    assert [u.rsplit(":", 1)[1] for u in uris] == ["5730/", "5731/", "5732/"]
    assert all(u.startswith("amqp://helpdesk-tickets:pw@127.0.0.1:") for u in uris)
    env = build_env(s, access.uri("tickets"), SECRET)
    assert env["HELPDESK_QUEUE_TYPE"] == "quorum"
    assert "HELPDESK_QUEUE_TYPE" not in build_env(settings(), "amqp://x", SECRET)


def test_unknown_broker_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="HELPDESK_BROKER"):
        settings(HELPDESK_BROKER="mesh")


def test_ready_lines_the_supervisor_waits_for_are_the_ones_the_chassis_logs() -> None:
    from services import registry
    from services.chassis.consuming import READY_LINE
    from services.chassis.rpc import LINK_READY_LINE

    assert all(s.ready_line == READY_LINE for s in registry.SERVICES)
    assert registry.GATEWAY.ready_line == LINK_READY_LINE


def test_each_extra_instance_serves_its_metrics_on_its_own_port() -> None:
    assert instance_env("tickets", {}) == {}
    assert instance_env("tickets-2", {}) == {"TICKETS_METRICS_BIND": "127.0.0.1:9202"}
    assert instance_env("tickets-3", {"TICKETS_METRICS_BIND": "0.0.0.0:7000"}) == {
        "TICKETS_METRICS_BIND": "0.0.0.0:7200"
    }
    assert instance_env("tickets-2", {"TICKETS_METRICS_BIND": "0"}) == {}  # metrics off stays off
    assert instance_env("gateway-2", {}) == {}  # the gateway answers /metrics on its HTTP port
