"""nameko entrypoints of the notifications service.

Every handler turns its events into plans (:class:`~services.notifications.domain.Plan`: who is told
what, :mod:`services.notifications.domain.recipients`) and hands them to :meth:`notify_many`, the
one path from events to notifications: the tickets service applies the one access rule to the
people each plan names (``audiences``, as this service's system identity) while, for a plan that
tells the super admins, the permissions service says who they are (the two questions go out
together: :func:`~services.chassis.parallel.together`), :func:`decide` picks one notification per
person, the permissions service says whom to write to, and the store
delivers everything in one transaction with the events' processed marks. Every lookup happens
before that transaction opens; a lookup that fails fails the handler, and the chassis retries.

Handlers take their events in batches (:func:`~services.chassis.batches.subscribe_batch`): an
idle queue hands each event over at once, a flood (new tickets, a bulk change, a mail storm)
pays the lookups and the commit once per batch, so notifications keep pace with their producers
instead of falling behind them. A batch that fails is retried one event at a time.

Adding an event takes a plan function in ``domain/recipients.py`` and a handler of three lines
here, like the ones below.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from nameko.dependency_providers import Config

from services.chassis.batches import subscribe_batch
from services.chassis.errors import Forbidden
from services.chassis.events import subscribe
from services.chassis.housekeeping import sweep
from services.chassis.metrics import Telemetry
from services.chassis.outbox import OutboxRelay
from services.chassis.parallel import together
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id, shared
from services.chassis.system import limit_arg, moment_arg, require_system
from services.chassis.timer import timer
from services.conversations import contract as conversations_contract
from services.notifications import contract
from services.notifications.digests import send_digests
from services.notifications.directory import Directory, moment
from services.notifications.domain import Admins, Audience, Notice, Plan, decide, recipients
from services.notifications.models import outbox, processed_events
from services.notifications.sender import NotificationMailSender
from services.notifications.store import Store
from services.notifications.visibility import VisibleFeed
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract

LOOKUP_TIMEOUT = 5.0
DIGEST_POLL_SECONDS = 30.0
ATTEMPTS = 10
"""Tries of an event before it is parked in its dead-letter queue: the back-off doubles from 0.2 s,
so a handler rides out about a minute and a half of the tickets or permissions service being away."""
BATCH = 50
"""At most this many events of a flood (new tickets) are handled together; within the tickets
service's ``MAX_AUDIENCES``."""
BATCHES_AT_ONCE = 1
"""Each subscription handles one batch at a time, so what arrives meanwhile makes the next batch
larger and each lookup and transaction serves more events: with two at once the batches under the
10-client create load were half as big and the suite spent 5 % more CPU per create (bench/RESULTS.md,
"transient RPC messages, one batch at a time"). The batches write the same tables (the unread
counters most), so a second one mostly waited for the first."""
GATHER_SECONDS = 0.1
"""A batch starts up to this long after the one before (see ``services.chassis.batches``). Taken
as soon as the last one ended, batches under the 10-client create load were as small as the
machine's spare CPU let them be, each with its two lookups, its transaction and its announcement:
when the tickets service got cheaper (group commit), notifications and permissions spent the
difference on more, smaller batches (bench/RESULTS.md, stop 25). 0.05 s made batches of ~11 under
that load; 0.1 s makes ~22, and notifications' CPU per create fell by a third, permissions' by
two thirds (bench/RESULTS.md, stop 52)."""
GATHER_FULL_RATE = 200.0
"""Events a second at which the whole :data:`GATHER_SECONDS` applies; a slower flow waits a
proportional share of it, so one create at a time is not held back (0.1 s without this put that
flow's event p99 at 116 ms)."""


def batches(source_service: str, event_type: str) -> Any:
    """This service's batch subscription to ``event_type``: ``ATTEMPTS`` tries of an event, at most
    ``BATCH`` events together, ``BATCHES_AT_ONCE`` batches at a time, ``GATHER_SECONDS`` apart at
    ``GATHER_FULL_RATE`` events a second or more."""
    return subscribe_batch(
        source_service,
        event_type,
        max_attempts=ATTEMPTS,
        max_batch=BATCH,
        concurrency=BATCHES_AT_ONCE,
        gather_seconds=GATHER_SECONDS,
        gather_full_rate=GATHER_FULL_RATE,
    )


class NotificationsService:
    """Preferences, the in-app feed and notification email, driven by other services' events."""

    name = contract.SERVICE_NAME
    telemetry = Telemetry()

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    sender = NotificationMailSender("store")
    caller = CurrentCaller()
    directory = Directory()
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=LOOKUP_TIMEOUT)
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME, timeout=LOOKUP_TIMEOUT)

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    # -- events ------------------------------------------------------------------------------------
    @batches(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED)
    def handle_ticket_created(self, payloads: list[dict[str, Any]]) -> None:
        """New tickets, a batch at a time (every create makes one, so they come in floods)."""
        events = shared(tickets_contract.TicketCreatedEvent, many=True).load(payloads)
        self.notify_many([recipients.ticket_created(event) for event in events], "handle_ticket_created")

    @batches(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_UPDATED)
    def handle_ticket_updated(self, payloads: list[dict[str, Any]]) -> None:
        """Changes, a batch at a time (a bulk change makes one event per ticket)."""
        events = shared(tickets_contract.TicketUpdatedEvent, many=True).load(payloads)
        self.notify_many([recipients.ticket_updated(event) for event in events], "handle_ticket_updated")

    @batches(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_ASSOCIATION_ADDED)
    def handle_ticket_association_added(self, payloads: list[dict[str, Any]]) -> None:
        events = shared(tickets_contract.TicketAssociationEvent, many=True).load(payloads)
        self.notify_many([recipients.record_activity(e) for e in events], "handle_ticket_association_added")

    @batches(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_ASSOCIATION_REMOVED)
    def handle_ticket_association_removed(self, payloads: list[dict[str, Any]]) -> None:
        events = shared(tickets_contract.TicketAssociationEvent, many=True).load(payloads)
        self.notify_many([recipients.record_activity(e) for e in events], "handle_ticket_association_removed")

    @batches(conversations_contract.SERVICE_NAME, conversations_contract.MESSAGE_ADDED)
    def handle_message_added(self, payloads: list[dict[str, Any]]) -> None:
        """New messages, a batch at a time (a mail flood makes many)."""
        events = shared(conversations_contract.MessageAddedEvent, many=True).load(payloads)
        self.notify_many([recipients.message_added(event) for event in events], "handle_message_added")

    def notify(self, plan: Plan | None, handler: str) -> None:
        """Deliver ``plan``'s notifications once (see the module docstring); None tells nobody."""
        self.notify_many([plan], handler)

    def notify_many(self, plans: Sequence[Plan | None], handler: str) -> None:
        """Deliver each plan's notifications once, with one question to each service and one
        transaction for all of them. A ticket that is gone tells nobody.

        A redelivered event is recognised by the delivery's transaction (its processed mark), not
        by a read before the lookups: redeliveries are rare, and the read would cost every event."""
        wanted = list({plan.event_id: plan for plan in plans if plan is not None and plan.roles}.values())
        if not wanted:
            return
        questions = [
            {
                "ticket_id": plan.ticket_id,
                "user_ids": sorted(plan.named),
                "watchers": plan.needs_watchers,
                "as_of": plan.occurred_at,
            }
            for plan in wanted
        ]
        ask_audiences = functools.partial(self.tickets.as_system().audiences, questions)
        telling_admins = [plan for plan in wanted if plan.needs_super_admins]
        if telling_admins:
            admins, answers = together(functools.partial(self._super_admins, telling_admins), ask_audiences)
        else:
            admins, answers = None, ask_audiences()
        events: list[tuple[str, list[Notice]]] = []
        for plan, answer in zip(wanted, answers, strict=True):
            if answer is None:
                continue  # the ticket is gone: nobody may see it
            audience = Audience(
                name=str(answer["name"]),
                owner_id=answer["owner_id"],
                followers=frozenset(answer["followers"]),
                visible=frozenset(answer["visible"]),
            )
            notices = decide(plan, audience, admins)
            if notices:
                events.append((plan.event_id, notices))
        if not events:
            return
        people = self.directory.people(
            self.permissions.as_system(),
            sorted({n.user_id for _event_id, notices in events for n in notices}),
        )
        self.store.delivery.deliver_many(handler=handler, events=events, people=people)

    def _super_admins(self, plans: Sequence[Plan]) -> Admins:
        """The super admins as of a moment no earlier than the latest of ``plans`` (now if one has
        no readable time): one question for the whole batch, none when the cache is fresh enough."""
        moments = [moment(plan.occurred_at) for plan in plans]
        latest = None if None in moments else max(m for m in moments if m is not None)
        ids, user_count = self.directory.super_admins(self.permissions.as_system(), as_of=latest)
        return Admins(frozenset(ids), user_count)

    @timer(interval=DIGEST_POLL_SECONDS)
    def send_digests(self) -> None:
        """Write each hourly digest that is due (see :mod:`services.notifications.digests`)."""
        send_digests(
            self.store,
            tickets=self.tickets.as_system(),
            people=self._people,
            base_url=self.store.settings.base_url,
        )

    def _people(self, user_ids: list[int]) -> dict[int, Any]:
        return self.directory.people(self.permissions.as_system(), user_ids)

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_MERGED, max_attempts=ATTEMPTS)
    def handle_ticket_merged(self, payload: dict[str, Any]) -> None:
        """Feed items of a merged-away ticket now name its survivor (where its id leads anyway), and
        the survivor's owner and followers hear of the merge once."""
        event = shared(tickets_contract.TicketMergedEvent).load(payload)
        self.store.feed.retarget(
            event_id=event["event_id"],
            handler="handle_ticket_merged:retarget",
            from_ticket_ids=[event["merged_ticket_id"]],
            to_ticket_id=event["ticket_id"],
        )
        self.notify(recipients.ticket_merged(event), "handle_ticket_merged")

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKETS_PURGED, max_attempts=ATTEMPTS)
    def handle_tickets_purged(self, payload: dict[str, Any]) -> None:
        """A purged ticket leaves no feed item behind (nor do the tickets it had absorbed)."""
        event = shared(tickets_contract.TicketsPurgedEvent).load(payload)
        self.store.feed.forget_tickets(
            event_id=event["event_id"],
            handler="handle_tickets_purged",
            ticket_ids=[*event["ticket_ids"], *event["absorbed_ticket_ids"]],
        )

    @batches(tickets_contract.SERVICE_NAME, tickets_contract.SLA_BREACHED)
    def handle_sla_breached(self, payloads: list[dict[str, Any]]) -> None:
        """SLA goals missed (a sweep finds many at once): the owner and followers who may still see
        each ticket hear of it."""
        events = shared(tickets_contract.SlaBreachedEvent, many=True).load(payloads)
        self.notify_many([recipients.sla_breached(event) for event in events], "handle_sla_breached")

    @rpc
    def housekeep(self, cutoff: str, limit: int = 1000) -> dict[str, int]:
        """Delete old published outbox rows and processed-event ids (system callers only)."""
        require_system(require_caller(self.caller))
        tables = {"outbox": outbox.table, "processed_events": processed_events}
        return sweep(
            self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit, most=5000)
        )

    # -- the feed ----------------------------------------------------------------------------------
    # Every read shows the feed as the caller may see it now: the tickets service is asked, as the
    # caller, which of the notifications' tickets they may still see (services.notifications.visibility).
    def _reader(self) -> VisibleFeed:
        caller = require_caller(self.caller)
        return VisibleFeed(self.store.feed, self.tickets, caller.user_id)

    @rpc
    def list_feed(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The caller's notifications about tickets they may see now, newest first, with their
        unread count; ``query`` as in ``contract.FeedQuerySchema``."""
        reader = self._reader()
        q = load(contract.FeedQuerySchema, query or {})
        return reader.page(limit=q["limit"], cursor=q["cursor"], unread_only=q["unread"])

    @rpc
    def mark_read(self, item_id: int) -> dict[str, Any]:
        """Mark one of the caller's notifications read; NotFound for one about a ticket they may
        no longer see, as for one that does not exist."""
        reader = self._reader()
        return reader.mark_read(require_id(item_id, "item_id"))

    @rpc
    def mark_all_read(self) -> dict[str, Any]:
        return self._reader().mark_all_read()

    @rpc
    def unread_count(self) -> dict[str, Any]:
        """How many of the caller's unread notifications are about tickets they may see now (see
        ``visibility`` for where the count stops)."""
        return {"unread": self._reader().unread(), "marked": 0}

    # -- preferences -------------------------------------------------------------------------------
    @rpc
    def get_preferences(self) -> dict[str, Any]:
        """The caller's preferences: every type and channel, and the digest mode."""
        caller = require_caller(self.caller)
        return self.store.preferences.get(user_id=caller.user_id).to_wire()

    @rpc
    def set_preferences(self, data: dict[str, Any]) -> dict[str, Any]:
        """Change some of the caller's preferences (``contract.PreferencesSchema``); answers all of them."""
        caller = require_caller(self.caller)
        changes = load(contract.PreferencesSchema, data)
        return self.store.preferences.update(user_id=caller.user_id, changes=changes).to_wire()

    # -- the cap -----------------------------------------------------------------------------------
    @rpc
    def mail_drops(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Emails the daily cap dropped, per person, type and day (account access)."""
        caller = require_caller(self.caller)
        if not caller.has(permissions_contract.ACCOUNT_ACCESS):
            raise Forbidden("Email drops are for admins with account access.")
        q = load(contract.MailDropQuerySchema, query or {})
        day = q.get("day")
        return self.store.mail.drops(
            limit=q["limit"],
            cursor=q["cursor"],
            day=day.isoformat() if day is not None else None,
            user_id=q.get("user_id"),
        )
