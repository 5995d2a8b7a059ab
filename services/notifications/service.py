"""nameko entrypoints of the notifications service."""

from __future__ import annotations

from typing import Any

from nameko.dependency_providers import Config

from services.chassis.events import subscribe
from services.chassis.outbox import OutboxRelay
from services.chassis.paging import PageQuery
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id
from services.notifications import contract
from services.notifications.directory import AdminDirectory
from services.notifications.domain import sla_breach_recipients, ticket_created_recipients
from services.notifications.models import outbox
from services.notifications.store import Store
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract

LOOKUP_TIMEOUT = 5.0


class NotificationsService:
    """In-app feed (and, later, email) driven by other services' events."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    directory = AdminDirectory()
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=LOOKUP_TIMEOUT)

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED)
    def handle_ticket_created(self, payload: dict[str, Any]) -> None:
        event = tickets_contract.TicketCreatedEvent().load(payload)
        admin_ids, user_count = self.directory.super_admins(self.permissions.as_system())
        recipients = ticket_created_recipients(admin_ids, event["actor_id"], user_count)
        self.store.add_feed_items(
            event_id=event["event_id"],
            handler="handle_ticket_created",
            kind="ticket_created",
            ticket_id=event["ticket_id"],
            user_ids=recipients,
        )

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.SLA_BREACHED)
    def handle_sla_breached(self, payload: dict[str, Any]) -> None:
        """An SLA goal was missed: an ``sla_breached`` item for the ticket's owner and followers."""
        event = tickets_contract.SlaBreachedEvent().load(payload)
        self.store.add_feed_items(
            event_id=event["event_id"],
            handler="handle_sla_breached",
            kind="sla_breached",
            ticket_id=event["ticket_id"],
            user_ids=sla_breach_recipients(event["owner_id"], event["follower_ids"]),
        )

    @rpc
    def list_feed(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The caller's feed, newest first; ``query`` holds ``limit`` and ``cursor``."""
        caller = require_caller(self.caller)
        q = load(PageQuery(), query or {})
        return self.store.feed(user_id=caller.user_id, limit=q["limit"], cursor=q["cursor"])

    @rpc
    def mark_read(self, item_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.mark_read(user_id=caller.user_id, item_id=require_id(item_id, "item_id"))
