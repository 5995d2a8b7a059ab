"""Reading settings from a service's nameko config (YAML with ``${ENV:default}`` values)."""

from __future__ import annotations

from typing import Any

AMQP_URI = "AMQP_URI"
DB_URL = "DB_URL"
IDENTITY_SECRET = "IDENTITY_SECRET"


def required(config: dict[str, Any], key: str) -> Any:
    """Return ``config[key]``; a missing setting stops the service at start-up, not later."""
    value = config.get(key)
    if value in (None, ""):
        raise RuntimeError(f"setting {key} is missing from the service configuration")
    return value
