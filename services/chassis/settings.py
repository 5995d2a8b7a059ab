"""Loading a service's ``config.yaml`` outside ``nameko run`` (migrations, tools, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from nameko.cli.main import setup_yaml_parser

ROOT = Path(__file__).resolve().parents[2]


def config_path(service: str) -> Path:
    if service == "gateway":
        return ROOT / "gateway" / "config.yaml"
    return ROOT / "services" / service / "config.yaml"


def load_config(service: str) -> dict[str, Any]:
    """The service's config with ``${ENV:default}`` values resolved, as ``nameko run`` would."""
    return read_config(config_path(service))


def read_config(path: Path) -> dict[str, Any]:
    """The config file at ``path`` with ``${ENV:default}`` values resolved, as ``nameko run`` would."""
    setup_yaml_parser()
    with open(path) as stream:
        return yaml.safe_load(stream)
