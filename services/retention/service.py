"""nameko entrypoints of the retention service."""

from __future__ import annotations

from nameko.dependency_providers import Config

from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, rpc
from services.retention import contract
from services.retention.models import outbox
from services.retention.store import Store


class RetentionService:
    """Starts, migrates and answers pings; its features arrive with later issues."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"
