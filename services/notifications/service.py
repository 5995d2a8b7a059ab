"""nameko entrypoints of the notifications service."""

from __future__ import annotations

from typing import Any

from nameko.dependency_providers import Config

from services.chassis.errors import ValidationFailed
from services.chassis.events import subscribe
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.notifications import contract
from services.notifications.directory import AdminDirectory
from services.notifications.domain import ticket_created_recipients
from services.notifications.models import outbox
from services.notifications.store import Store
from services.tickets import contract as tickets_contract


class NotificationsService:
    """In-app feed (and, later, email) driven by other services' events."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    directory = AdminDirectory()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED)
    def handle_ticket_created(self, payload: dict[str, Any]) -> None:
        event = tickets_contract.TicketCreatedEvent().load(payload)
        admin_ids, user_count = self.directory.super_admins()
        recipients = ticket_created_recipients(admin_ids, event["actor_id"], user_count)
        self.store.add_feed_items(
            event["event_id"], "handle_ticket_created", "ticket_created", event["ticket_id"], recipients
        )

    @rpc
    def list_feed(self, limit: int = 25, cursor: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValidationFailed(errors={"limit": ["must be between 1 and 100"]})
        return self.store.list_feed(caller.user_id, limit, cursor)

    @rpc
    def mark_read(self, item_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.mark_read(caller.user_id, int(item_id))
