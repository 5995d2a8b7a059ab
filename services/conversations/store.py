"""The only module of the conversations service that talks to its database."""

from __future__ import annotations

from services.chassis.db import Database


class Store(Database):
    """Dependency giving workers the service's session factory."""
