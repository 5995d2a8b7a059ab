"""nameko entrypoints of the conversations service."""

from __future__ import annotations

from nameko.dependency_providers import Config

from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, rpc
from services.conversations import contract
from services.conversations.models import outbox
from services.conversations.store import Store


class ConversationsService:
    """Starts, migrates and answers pings; its features arrive with later issues."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"
