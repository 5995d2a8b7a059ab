"""nameko entrypoints of the conversations service: threads and messages on every channel.

Email arrives through the SMTP edge as ``mail_received`` events; chat and form messages
through ``intake``; agents answer with ``add_message``. A new thread in the help desk gets
its ticket from the tickets service right after commit, and from a sweep every few
seconds when that failed, always with the same idempotency key, so each thread gets
exactly one ticket whatever crashes on the way. Access to a thread in the help desk is
access to its ticket, which the tickets service decides (one RPC per request). What threads do
when their ticket is merged, split, marked spam, deleted, restored or purged is in
:mod:`services.conversations.lifecycle`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from nameko.dependency_providers import Config

from services.chassis.errors import Conflict, HelpdeskError, NotFound, PreconditionFailed, ValidationFailed
from services.chassis.events import subscribe
from services.chassis.idempotency import REPLAYED, IdempotencyKey
from services.chassis.identity import Caller
from services.chassis.metrics import Telemetry
from services.chassis.outbox import OutboxRelay
from services.chassis.paging import PageQuery
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id, shared
from services.chassis.system import require_system
from services.chassis.timer import timer
from services.conversations import contract
from services.conversations.blobs import Blobs
from services.conversations.domain import access, routing
from services.conversations.domain.incoming import (
    File,
    from_intake,
    from_mail,
    plain_ticket_fields,
    ticket_fields,
)
from services.conversations.domain.printing import CONTENT_SECURITY_POLICY, printable, printed, render
from services.conversations.domain.suggest import name_candidates, pick, summary_candidates
from services.conversations.lifecycle import LifecycleEntrypoints
from services.conversations.mail.limits import MailRejected, limits_from_env
from services.conversations.mail.parse import parse_mail
from services.conversations.models import outbox
from services.conversations.sender import MailSender
from services.conversations.store import Author, Draft, Pending, Received, Store
from services.conversations.store.search import query_terms
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract

log = logging.getLogger(__name__)

TICKETS_TIMEOUT = 5.0
PERMISSIONS_TIMEOUT = 3.0
OWNER_ATTEMPTS = 3
"""How often a move reads and assigns a named ticket that changed in between before giving up."""
SWEEP_SECONDS = 2.0
SWEEP_BATCH = 50
SYSTEM_ACTOR = 0
RECOMMENDATION_CANDIDATES = 30
"""How many similar resolved tickets a recommendation search takes before the access rule filters them."""


class ConversationsService(LifecycleEntrypoints):
    """Threads, messages, inbound email and chat/form intake, replies by email."""

    name = contract.SERVICE_NAME
    telemetry = Telemetry()

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    sender = MailSender("store")
    blobs = Blobs()
    caller = CurrentCaller()
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME, timeout=TICKETS_TIMEOUT)
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=PERMISSIONS_TIMEOUT)

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    # -- arriving ------------------------------------------------------------------------------------
    @subscribe(contract.SERVICE_NAME, contract.MAIL_RECEIVED)
    def handle_mail_received(self, payload: dict[str, Any]) -> None:
        """A mail the SMTP edge accepted: stored once on its thread (a retried delivery changes nothing).

        A mail the service cannot read at all goes to the dead-letter queue with the reason
        (the edge already answered 250, so it must not be lost silently).
        """
        envelope = load(contract.InboundMailSchema, payload)
        raw = base64.b64decode(envelope["raw_b64"])
        try:
            mail = parse_mail(raw, limits_from_env(self.config), envelope_from=envelope["mail_from"])
        except MailRejected as exc:
            raise ValidationFailed(errors={"mail": [str(exc)]}) from exc
        files = [
            File(a.filename, a.content_type, len(a.data), self.blobs.put(a.data), a.content_id, a.inline)
            for a in mail.attachments
        ]
        verdict = routing.sender_verdict(mail.from_address, self.store.rules.all())
        received = self.store.threads.receive(incoming=from_mail(mail, files), verdict=verdict)
        log.info(
            "mail %s from %s on thread %s%s",
            mail.message_id,
            mail.from_address,
            received.thread_id,
            " (seen before)" if received.duplicate else "",
        )
        self._ticket_now(received)

    @rpc
    def intake(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """A message on the chat or form channel: a new thread and ticket, or the next message of one.

        A replay of ``idempotency_key`` answers as the first time, marked :data:`REPLAYED` for the
        gateway's ``Idempotent-Replayed``."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        body = load(contract.IntakeSchema, data)
        sender = body["sender"]
        thread_id = body["thread_id"]
        if thread_id is not None:
            thread = self._visible_thread(caller, thread_id)
            if thread["channel"] != body["channel"] or thread["customer"]["email"] != sender["email"].lower():
                raise ValidationFailed(
                    errors={"thread_id": ["is not a thread of this sender on this channel"]}
                )
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "intake", data)
        incoming = from_intake(
            channel=body["channel"],
            email=sender["email"],
            name=sender["name"],
            subject=body["subject"],
            body=body["body"],
            thread_id=thread_id,
        )
        verdict = routing.sender_verdict(incoming.sender_email, self.store.rules.all())
        received = self.store.threads.receive(incoming=incoming, verdict=verdict, key=key)
        ticket_id = self._ticket_now(received)
        answer = {"thread_id": received.thread_id, "message_id": received.message_id, "ticket_id": ticket_id}
        return {**answer, REPLAYED: True} if received.replayed else answer

    # -- tickets for new threads ---------------------------------------------------------------------
    def _ticket_now(self, received: Received) -> int | None:
        """The thread's ticket, made now if it needs one (a failure leaves it to the sweep)."""
        if not received.needs_ticket:
            return received.ticket_id
        pending = self.store.threads.pending_one(thread_id=received.thread_id)
        if pending is None:
            return self.store.threads.get(thread_id=received.thread_id)["ticket_id"]
        try:
            return self._make_ticket(pending)
        except Exception as exc:  # tickets unavailable: the sweep retries with the same key
            log.warning("thread %s waits for its ticket (%s)", received.thread_id, exc)
            return None

    def _make_ticket(self, pending: Pending) -> int:
        """Create the thread's ticket and attach it; the thread's owner (a move gave it one) owns
        the ticket. Should the tickets service refuse the fields taken from the message (a rule
        of its own that ``ticket_fields`` does not know yet, or an owner who lost access since),
        the ticket is made with a plain name, no description and no owner, so that no thread
        waits for ever: its messages stay in the thread, where the ticket shows them."""
        key = f"thread:{pending.thread_id}:{pending.seq}"
        tickets = self.tickets.as_system()
        try:
            fields: dict[str, Any] = dict(ticket_fields(pending.channel, pending.subject, pending.first_text))
            if pending.owner_id is not None:
                fields["owner_id"] = pending.owner_id
            ticket = tickets.create_ticket(fields, idempotency_key=key)
        except Exception as exc:
            if not _refused(exc):
                raise
            log.error(
                "thread %s: its ticket's fields were refused (%s); made with plain ones",
                pending.thread_id,
                exc,
            )
            ticket = tickets.create_ticket(
                plain_ticket_fields(pending.channel), idempotency_key=f"{key}:plain"
            )
        ticket_id = int(ticket["id"])
        self.store.threads.attach(thread_id=pending.thread_id, ticket_id=ticket_id, seq=pending.seq)
        return ticket_id

    @timer(interval=SWEEP_SECONDS)
    def sweep_pending_tickets(self) -> None:
        """Threads still without their ticket (tickets was down, or this service died in between).

        One thread's failure never holds up the others: only a failure of the tickets service
        itself (not a refusal of what was asked) ends the sweep, since the rest would fail alike."""
        for pending in self.store.threads.pending(limit=SWEEP_BATCH):
            try:
                self._make_ticket(pending)
            except Exception as exc:
                log.warning("thread %s still waits for its ticket (%s)", pending.thread_id, exc)
                if not _refused(exc):
                    return

    # -- reading -------------------------------------------------------------------------------------
    def _visible_thread(self, caller: Caller, thread_id: Any) -> dict[str, Any]:
        """The thread if the caller may see it: its ticket's access rule, or the inbox rule."""
        access.require_ticket_work(caller)
        thread = self.store.threads.get(thread_id=require_id(thread_id, "thread_id"))
        ticket_id = thread["ticket_id"]
        if ticket_id is None:
            if not access.may_see_inbox_thread(caller, thread["owner_id"]):
                raise NotFound(f"thread {thread_id} does not exist")
        elif ticket_id not in self.tickets.visible_tickets([ticket_id]):
            raise NotFound(f"thread {thread_id} does not exist")
        return thread

    @rpc
    def get_thread(self, thread_id: int) -> dict[str, Any]:
        return self._visible_thread(require_caller(self.caller), thread_id)

    @rpc
    def ticket_threads(self, ticket_id: int) -> dict[str, Any]:
        """The ticket's threads, each with its first page of messages (404 when the ticket is not visible)."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        tid = require_id(ticket_id, "ticket_id")
        if tid not in self.tickets.visible_tickets([tid]):
            raise NotFound(f"ticket {tid} does not exist")
        self.store.lifecycle.not_absorbed(ticket_id=tid)  # Moved (301) once its threads are the survivor's
        found = self.store.threads.with_messages(ticket_id=tid, per_thread=contract.MESSAGES_PER_PAGE)
        return {"items": found, "next_cursor": None, "total": len(found)}

    @rpc
    def thread_messages(self, thread_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        thread = self._visible_thread(require_caller(self.caller), thread_id)
        q = load(PageQuery(), query or {})
        return self.store.messages.page(thread_id=thread["id"], limit=q["limit"], cursor=q["cursor"])

    @rpc
    def list_inbox(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Threads in the conversations inbox: all of them with account access, else the caller's."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        q = load(contract.ThreadQuerySchema, query or {})
        owner = None if access.sees_whole_inbox(caller) else caller.user_id
        return self.store.threads.inbox(
            owner_id=owner, channel=q.get("channel"), limit=q["limit"], cursor=q["cursor"]
        )

    @rpc
    def print_thread(self, thread_id: int) -> dict[str, Any]:
        """The printable page: customer and agent messages only, sanitised, headed by the ticket."""
        thread = self._visible_thread(require_caller(self.caller), thread_id)
        ticket_name = ""
        if thread["ticket_id"] is not None:
            ticket_name = self.tickets.get_ticket(thread["ticket_id"], mark_read=False)["name"]
        shown = [
            printed(m, thread["customer"])
            for m in self.store.messages.printable(thread_id=thread["id"])
            if printable(m)
        ]
        page = render(thread["ticket_id"], ticket_name, thread["subject"], shown)
        return {"html": page, "content_security_policy": CONTENT_SECURITY_POLICY}

    @rpc
    def get_attachment(self, attachment_id: int) -> dict[str, Any]:
        """An attachment with its bytes (base64), for callers who may see its thread. One the
        caller may not see answers exactly as one that does not exist, so the answer tells
        nothing of its existence or of its thread."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        aid = require_id(attachment_id, "attachment_id")
        record, key, thread_id = self.store.messages.attachment(attachment_id=aid)
        try:
            self._visible_thread(caller, thread_id)
        except NotFound:
            raise NotFound(f"attachment {aid} does not exist") from None
        return {**record, "content_b64": base64.b64encode(self.blobs.get(key)).decode("ascii")}

    # -- agents --------------------------------------------------------------------------------------
    @rpc
    def add_message(
        self, thread_id: int, data: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """An agent's reply (emailed to the customer after commit) or internal note."""
        caller = require_caller(self.caller)
        thread = self._visible_thread(caller, thread_id)
        body = load(contract.MessageCreateSchema, data)
        uploads = [_upload(item) for item in body["attachments"]]
        files = [File(name, ctype, len(blob), self.blobs.put(blob)) for name, ctype, blob in uploads]
        draft = Draft(
            kind=body["kind"],
            body=body["body"],
            to=body.get("to"),
            cc=body.get("cc"),
            mentions=body["mentions"] if body["kind"] == "note" else (),
            files=files,
            blobs=[blob for _n, _c, blob in uploads],
        )
        key = IdempotencyKey.of(caller.user_id, idempotency_key, f"add_message:{thread['id']}", data)
        return self.store.messages.add(
            thread_id=thread["id"], author=self._author(caller), draft=draft, key=key
        )

    def _author(self, caller: Caller) -> Author:
        return Author(
            caller.user_id,
            caller.name or f"Agent {caller.user_id}",
            str(self.config.get("MAIL_FROM") or "support@localhost"),
        )

    @rpc
    def move_thread(self, thread_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Between the inbox and the help desk (SPEC "Move threads"); account access needed.

        Everything is checked before anything changes: the owner named must be a user who may
        work tickets (else 422), and the thread must not be where it is sent (else 409).
        """
        caller = require_caller(self.caller)
        access.require_mover(caller)
        thread = self._visible_thread(caller, thread_id)
        body = load(contract.MoveSchema, data)
        if thread["location"] == body["to"]:
            raise Conflict(f"thread {thread['id']} is already in the {_place(body['to'])}")
        if body["owner_id"] is not None and (problem := self._owner_problem(body["owner_id"])):
            raise ValidationFailed(errors={"owner_id": [problem]})
        if body["to"] == "inbox":
            moved = self._to_inbox(caller, thread, body)
        else:
            moved = self._to_helpdesk(caller, thread, body)
        if body["comment"]:
            self.store.messages.add(
                thread_id=thread["id"],
                author=self._author(caller),
                draft=Draft(kind="note", body=body["comment"]),
            )
        return self.store.threads.get(thread_id=moved["id"])

    def _owner_problem(self, owner_id: int) -> str | None:
        """Why ``owner_id`` may not own a thread and its ticket, or None. The permissions service
        is asked as this service: whether a user exists is not the mover's permissions to hide."""
        try:
            user = self.permissions.as_system().get_user(owner_id)
        except NotFound:
            user = None
        return permissions_contract.owner_problem(user, owner_id)

    def _to_inbox(self, caller: Caller, thread: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if body["ticket_id"] is not None:
            raise ValidationFailed(errors={"ticket_id": ["only moves to the help desk name a ticket"]})
        changes = {k: body[k] for k in ("pipeline_id", "status") if body[k] is not None}
        if changes and thread["ticket_id"] is not None:
            self.tickets.update_ticket(thread["ticket_id"], changes)
        return self.store.threads.move_to_inbox(
            thread_id=thread["id"], actor_id=caller.user_id, owner_id=body["owner_id"]
        )

    def _to_helpdesk(self, caller: Caller, thread: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """The thread joins the named ticket or a new one, whose owner is the thread's owner: the
        one the move names, else the one it had in the inbox while they may still own tickets.
        A named ticket that has an owner keeps that owner (see :meth:`_own_unowned`)."""
        if body["pipeline_id"] is not None or body["status"] is not None:
            raise ValidationFailed(
                errors={"status": ["only moves to the inbox change the ticket's pipeline or status"]}
            )
        ticket_id = body["ticket_id"]
        if ticket_id is not None and ticket_id not in self.tickets.visible_tickets([ticket_id]):
            raise ValidationFailed(errors={"ticket_id": [f"ticket {ticket_id} does not exist"]})
        owner_id = body["owner_id"]
        kept = thread["owner_id"]
        if owner_id is None and kept is not None and self._owner_problem(kept) is None:
            owner_id = kept
        if ticket_id is not None and owner_id is not None:
            self._own_unowned(ticket_id, owner_id)
        moved, _seq = self.store.threads.move_to_helpdesk(
            thread_id=thread["id"], actor_id=caller.user_id, owner_id=owner_id, ticket_id=ticket_id
        )
        if ticket_id is None:
            pending = self.store.threads.pending_one(thread_id=thread["id"])
            if pending is not None:
                try:
                    self._make_ticket(pending)
                except Exception as exc:
                    log.warning("moved thread %s waits for its ticket (%s)", thread["id"], exc)
        return moved

    def _own_unowned(self, ticket_id: int, owner_id: int) -> None:
        """Give the ticket a move names its owner, if it has none. A ticket that has an owner keeps
        them: a move attaches a thread, while taking a ticket from its owner is an edit of the
        ticket, with its own rules. The change is made as the mover (the ticket's timeline and
        the owner's notification name them), against the version read, so an owner given
        meanwhile by someone else is never overwritten. Done before the thread moves, so a
        failure here leaves the thread where it was and the move can simply be asked again."""
        for attempt in range(OWNER_ATTEMPTS):
            ticket = self.tickets.get_ticket(ticket_id, mark_read=False)
            if ticket["owner_id"] is not None:
                return
            try:
                self.tickets.update_ticket(
                    ticket_id, {"owner_id": owner_id}, expected_versions=[ticket["version"]]
                )
                return
            except PreconditionFailed:
                if attempt + 1 == OWNER_ATTEMPTS:
                    raise Conflict(f"ticket {ticket_id} keeps changing; move the thread again") from None

    # -- seat features: suggestions, reply recommendations, and the text index behind them ------------
    @rpc
    def suggest(self, ticket_id: int, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A ticket name or summary drawn from the ticket's conversation (seat; changes nothing).

        ``data``: ``contract.SuggestionRequestSchema`` (the suggestions already shown). A ticket
        without a conversation answers Conflict.
        """
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        access.require_seat(caller, "Suggestions")
        if kind not in contract.SUGGESTION_KINDS:
            raise ValidationFailed(
                errors={"kind": [f"must be one of {', '.join(contract.SUGGESTION_KINDS)}"]}
            )
        body = load(contract.SuggestionRequestSchema, data or {})
        ticket = self.tickets.get_ticket(require_id(ticket_id, "ticket_id"), mark_read=False)
        conversation = self.store.search.conversation(ticket_id=ticket["id"])
        if kind == "name":
            subject = conversation.subjects[0] if conversation.subjects else ""
            candidates = name_candidates(conversation.messages, subject=subject, current=ticket["name"])
        else:
            candidates = summary_candidates(conversation.messages)
        suggestion = pick(candidates, body["shown"])
        if suggestion is None:
            raise Conflict(f"ticket {ticket['id']} has no conversation to suggest a {kind} from")
        return {"kind": kind, "suggestion": suggestion}

    @rpc
    def reply_recommendations(self, ticket_id: int) -> dict[str, Any]:
        """Up to three replies from the closed tickets most like this one that the caller may see (seat)."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        access.require_seat(caller, "Reply recommendations")
        tid = require_id(ticket_id, "ticket_id")
        if tid not in self.tickets.visible_tickets([tid]):
            raise NotFound(f"ticket {tid} does not exist")
        stems, lang = query_terms(self.store.search.conversation(ticket_id=tid))
        hits = self.store.search.similar(stems=stems, lang=lang, exclude=tid, limit=RECOMMENDATION_CANDIDATES)
        if not hits:
            return {"items": []}
        allowed = set(self.tickets.visible_tickets([h.ticket_id for h in hits], closed=True))
        replies = self.store.search.last_replies(
            ticket_ids=[h.ticket_id for h in hits if h.ticket_id in allowed]
        )
        items = [
            {
                "body": replies[h.ticket_id][1],
                "score": h.score,
                "source_ticket_id": h.ticket_id,
                "message_id": replies[h.ticket_id][0],
            }
            for h in hits
            if h.ticket_id in replies
        ]
        return {"items": items[: contract.MAX_RECOMMENDATIONS]}

    @rpc
    def matching_tickets(self, terms: list[str]) -> list[int]:
        """The tickets whose conversation holds every one of ``terms`` (the newest first, at most
        ``contract.MESSAGE_MATCH_CAP``): the tickets service's free-text search asks this, as
        itself, and applies the one access rule to what it gets."""
        require_system(require_caller(self.caller))
        found = load(contract.MatchingTicketsSchema, {"terms": terms})
        words = [t.lower() for t in found["terms"]]
        return self.store.search.matching_tickets(terms=words, limit=contract.MESSAGE_MATCH_CAP)

    @subscribe(contract.SERVICE_NAME, contract.MESSAGE_ADDED)
    def handle_message_added(self, payload: dict[str, Any]) -> None:
        """Keep the ticket's search document in step with its conversation."""
        event = shared(contract.MessageAddedEvent).load(payload)
        if event["ticket_id"] is not None and event["auto"] is None:
            self.store.search.reindex(ticket_id=event["ticket_id"])

    @subscribe(contract.SERVICE_NAME, contract.THREAD_ATTACHED)
    def handle_thread_attached(self, payload: dict[str, Any]) -> None:
        event = shared(contract.ThreadAttachedEvent).load(payload)
        self.store.search.reindex(ticket_id=event["ticket_id"])

    @subscribe(contract.SERVICE_NAME, contract.THREAD_MOVED)
    def handle_thread_moved(self, payload: dict[str, Any]) -> None:
        event = shared(contract.ThreadMovedEvent).load(payload)
        for ticket_id in {event["ticket_id"], event["previous_ticket_id"]} - {None}:
            self.store.search.reindex(ticket_id=ticket_id)

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CLOSED)
    def handle_ticket_closed(self, payload: dict[str, Any]) -> None:
        """Closed tickets are what recommendations draw on (the tickets service still decides per call)."""
        event = shared(tickets_contract.TicketClosedEvent).load(payload)
        self.store.search.set_resolved(ticket_id=event["ticket_id"], resolved=True)

    @subscribe(tickets_contract.SERVICE_NAME, tickets_contract.TICKET_REOPENED)
    def handle_ticket_reopened(self, payload: dict[str, Any]) -> None:
        event = shared(tickets_contract.TicketReopenedEvent).load(payload)
        self.store.search.set_resolved(ticket_id=event["ticket_id"], resolved=False)

    # -- sender rules --------------------------------------------------------------------------------
    @rpc
    def list_sender_rules(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        access.require_rule_admin(require_caller(self.caller))
        q = load(PageQuery(), query or {})
        return self.store.rules.page(limit=q["limit"], cursor=q["cursor"])

    @rpc
    def add_sender_rule(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """An allow or deny rule (account access); a replay of ``idempotency_key`` answers the first
        rule, although its pattern now has a rule."""
        caller = require_caller(self.caller)
        access.require_rule_admin(caller)
        body = load(contract.SenderRuleCreateSchema, data)
        if problem := routing.pattern_problem(body["pattern"]):
            raise ValidationFailed(errors={"pattern": [problem]})
        pattern = routing.normalise_pattern(body["pattern"])
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "add_sender_rule", data)
        return self.store.rules.add(pattern=pattern, action=body["action"], actor_id=caller.user_id, key=key)

    @rpc
    def delete_sender_rule(self, rule_id: int) -> dict[str, Any]:
        access.require_rule_admin(require_caller(self.caller))
        self.store.rules.remove(rule_id=require_id(rule_id, "rule_id"))
        return {"id": rule_id, "deleted": True}


def _refused(error: Exception) -> bool:
    """Whether the tickets service refused what it was asked (a client error), rather than failed."""
    return isinstance(error, HelpdeskError) and 400 <= error.status < 500


def _place(location: str) -> str:
    return "help desk" if location == "helpdesk" else location


def _upload(item: dict[str, Any]) -> tuple[str, str, bytes]:
    try:
        data = base64.b64decode(item["content_b64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(errors={"attachments": ["content_b64 is not base64"]}) from None
    if len(data) > contract.MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            errors={"attachments": [f"a file may have at most {contract.MAX_UPLOAD_BYTES} bytes"]}
        )
    return item["filename"], item["content_type"], data
