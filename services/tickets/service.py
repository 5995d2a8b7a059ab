"""nameko entrypoints of the tickets service: decode, apply the rules, answer."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from nameko.dependency_providers import Config

from services.chassis.errors import ValidationFailed
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.tickets import contract
from services.tickets.domain import request_hash, scope_for
from services.tickets.models import outbox
from services.tickets.store import Store


def _load(schema: Any, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValidationFailed(errors=exc.normalized_messages()) from exc


class TicketsService:
    """Tickets, pipelines and everything recorded about a ticket."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    @rpc
    def list_pipelines(self) -> list[dict[str, Any]]:
        scope_for(require_caller(self.caller))
        return self.store.pipelines()

    @rpc
    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope_for(caller)
        payload = _load(contract.TicketCreateSchema(), data)
        return self.store.create_ticket(caller.user_id, payload, idempotency_key, request_hash("create_ticket", data))

    @rpc
    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.get_ticket(scope_for(caller), caller.user_id, int(ticket_id), mark_read=mark_read)
