"""Reading settings from a service's nameko config (YAML with ``${ENV:default}`` values)."""

from __future__ import annotations

from typing import Any

AMQP_URI = "AMQP_URI"
DB_URL = "DB_URL"
IDENTITY_SECRET = "IDENTITY_SECRET"


def setting(config: dict[str, Any], key: str, default: Any = None) -> Any:
    """Return ``config[key]``, or ``default`` when it is missing or empty."""
    value = config.get(key)
    return default if value in (None, "") else value


def required(config: dict[str, Any], key: str) -> Any:
    """Return ``config[key]``; a missing setting stops the service at start-up, not later."""
    value = config.get(key)
    if value in (None, ""):
        raise RuntimeError(f"setting {key} is missing from the service configuration")
    return value
