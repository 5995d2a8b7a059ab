"""nameko entrypoints of the notifications service."""

from __future__ import annotations

from typing import Any

from nameko.dependency_providers import Config

from services.chassis.events import subscribe
from services.chassis.housekeeping import sweep
from services.chassis.outbox import OutboxRelay
from services.chassis.paging import PageQuery
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id
from services.chassis.system import limit_arg, moment_arg, require_system
from services.notifications import contract
from services.notifications.directory import AdminDirectory
from services.notifications.domain import ticket_created_recipients
from services.notifications.models import outbox, processed_events
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
        admin_ids, user_count = self.directory.super_admins(
            self.permissions.as_system(), as_of=event["occurred_at"]
        )
        recipients = ticket_created_recipients(admin_ids, event["actor_id"], user_count)
        self.store.add_feed_items(
            event_id=event["event_id"],
            handler="handle_ticket_created",
            kind="ticket_created",
            ticket_id=event["ticket_id"],
            user_ids=recipients,
        )

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_MERGED)
    def handle_ticket_merged(self, payload: dict[str, Any]) -> None:
        """Feed items of a merged-away ticket now name its survivor (where its id leads anyway)."""
        event = tickets_contract.TicketMergedEvent().load(payload)
        self.store.retarget(
            event_id=event["event_id"],
            handler="handle_ticket_merged",
            from_ticket_ids=[event["merged_ticket_id"]],
            to_ticket_id=event["ticket_id"],
        )

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKETS_PURGED)
    def handle_tickets_purged(self, payload: dict[str, Any]) -> None:
        """A purged ticket leaves no feed item behind (nor do the tickets it had absorbed)."""
        event = tickets_contract.TicketsPurgedEvent().load(payload)
        self.store.forget_tickets(
            event_id=event["event_id"],
            handler="handle_tickets_purged",
            ticket_ids=[*event["ticket_ids"], *event["absorbed_ticket_ids"]],
        )

    @rpc
    def housekeep(self, cutoff: str, limit: int = 1000) -> dict[str, int]:
        """Delete old published outbox rows and processed-event ids (system callers only)."""
        require_system(require_caller(self.caller))
        tables = {"outbox": outbox.table, "processed_events": processed_events}
        return sweep(
            self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit, most=5000)
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
