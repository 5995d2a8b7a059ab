"""The registry says what the code is: names, modules, classes, configs and migrations all exist.

Its entries are plain strings (it imports nothing of ours), so these checks are what keep them true:
a service's registry name is the name its contract publishes and the name its class registers
with nameko, which is what RPC routes by; and a service folder nobody registered fails here
rather than silently never starting.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from services import registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("entry", registry.SERVICES, ids=lambda e: e.name)
def test_service_name_is_its_contracts_service_name(entry: registry.NamekoService) -> None:
    package = entry.module.rsplit(".", 1)[0]
    contract = importlib.import_module(f"{package}.contract")
    assert entry.name == contract.SERVICE_NAME


@pytest.mark.parametrize(
    "entry", [c for c in registry.CHILDREN if isinstance(c, registry.NamekoService)], ids=lambda e: e.name
)
def test_nameko_child_class_config_and_migrations_exist(entry: registry.NamekoService) -> None:
    cls = getattr(importlib.import_module(entry.module), entry.class_name)
    assert cls.name == entry.name
    assert (ROOT / entry.config).is_file()
    if entry.migrations is not None:
        assert (ROOT / entry.migrations / "env.py").is_file()


@pytest.mark.parametrize(
    "entry", [c for c in registry.CHILDREN if isinstance(c, registry.PythonModule)], ids=lambda e: e.name
)
def test_plain_module_child_can_be_run(entry: registry.PythonModule) -> None:
    spec = importlib.util.find_spec(entry.module)
    assert spec is not None and spec.origin is not None
    assert 'if __name__ == "__main__":' in Path(spec.origin).read_text()


def test_the_smtp_edge_runs_with_the_suite() -> None:
    assert registry.SMTP_EDGE in registry.CHILDREN
    assert registry.SMTP_EDGE.python_args() == ["-m", "services.conversations.smtp_edge"]


def test_every_service_folder_is_registered() -> None:
    folders = {path.parent.name for path in (ROOT / "services").glob("*/service.py")}
    assert folders == {entry.name for entry in registry.SERVICES}


def test_child_names_are_unique_and_include_every_service_and_the_gateway() -> None:
    names = [child.name for child in registry.CHILDREN]
    assert len(names) == len(set(names))
    assert set(names) >= {entry.name for entry in registry.SERVICES} | {"gateway"}


def test_lookup_by_name() -> None:
    assert registry.service("tickets").class_name == "TicketsService"
    with pytest.raises(LookupError, match="known: permissions, tickets"):
        registry.service("gateway")


def test_a_child_runs_as_nameko_service_or_as_plain_module() -> None:
    tickets = registry.service("tickets")
    assert tickets.python_args() == [
        "-m",
        "nameko",
        "run",
        "--config",
        "services/tickets/config.yaml",
        "services.tickets.service:TicketsService",
    ]
    assert tickets.db_url_variable == "TICKETS_DB_URL"
    assert registry.GATEWAY.db_url_variable is None
    edge = registry.PythonModule("smtp", "services.conversations.smtp", ("--port", "2525"))
    assert edge.python_args() == ["-m", "services.conversations.smtp", "--port", "2525"]


def test_the_chassis_imports_no_module_by_name() -> None:
    """import-linter sees only import statements; importing services by name is how the chassis
    once reached them (topology), so that is ruled out here."""
    by_name = re.compile(r"^\s*(import importlib|from importlib)|import_module\(|__import__\(", re.MULTILINE)
    for path in (ROOT / "services" / "chassis").glob("*.py"):
        assert not by_name.search(path.read_text()), path.name
