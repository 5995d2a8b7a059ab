"""Live updates for ``GET /api/v1/stream``: events in from the broker, out to each client it may see.

:class:`LiveHub` (one per gateway process) listens to the tickets service's ticket events and the
notifications service's feed events through the gateway's :class:`BrokerLink` (exclusive broadcast
queues), numbers each one and keeps it in a bounded backlog (:data:`BACKLOG_SECONDS`, at most
:data:`BACKLOG_ENTRIES` and about :data:`BACKLOG_BYTES`). One green thread, the dispatcher (a
chassis :class:`WakeableLoop`), hands entries to connected :class:`Client` objects:

* a notification event goes to the clients of the person it is for;
* a ticket event goes to the clients that may see the ticket *now*, by the one access rule: the
  tickets service answers ``visible_to(ticket_ids, identities)`` once per round for every ticket
  of the round and every distinct identity connected (never a call per event per client);
* a ``ticket_updated`` that changed the owner also goes, as :data:`HIDDEN` (``ticket_hidden``,
  only the ticket's id), to the clients that could see the ticket under its previous owner and
  cannot see it now: the ticket left their sight, so they take it out of what they show. The same
  call answers that (its ``previous_owners``: which of the round's previous owners each identity
  may see tickets of, by the same rule); a client that never could see the ticket hears nothing;
* a client whose token no longer authenticates is closed; one too slow to keep up (its queue
  full) is told to ``reset`` and closed.

Each entry's SSE id is ``<epoch>-<seq>-<key>``: ``epoch`` names this process's run, ``key`` the
broker event it came from (its ``event_id``, and the person for a per-person entry), the same in
every gateway instance. A client that reconnects with ``Last-Event-ID`` of this epoch, still in the
backlog, gets every entry after it that it may see (the same dispatch, from its own position),
then live ones. One that reconnects to *another* instance (its own died, or a balancer moved it) is
found by the key in this instance's backlog (waiting up to :data:`CATCH_UP_SECONDS` for an instance
a little behind to receive it) and resumes from :data:`REORDER_SECONDS` before that entry arrived
here: instances can receive events from different producers in a slightly different order, so
the entries of that window are sent again rather than risk one missed (a repeated entry carries the
same key; the web client refreshes what it names, so a repeat is harmless). Otherwise (an unknown
key, or the client was away longer than the backlog) it is sent ``reset`` first: it must reload
what it shows. So does every client after the broker link reconnects (events may have been
missed). A client costs a green thread and a small queue, never a worker: the route hands the
stream to the web server and returns.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from nameko.exceptions import IncorrectSignature
from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client.metrics_core import Metric

from gateway.auth import TokenCache
from services.chassis import metrics
from services.chassis.errors import Unauthenticated
from services.chassis.loop import WakeableLoop
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink
from services.notifications import contract as notifications_contract
from services.tickets import contract as tickets_contract

log = logging.getLogger(__name__)

BACKLOG_SECONDS = 600.0
"""How long an entry is kept for clients that reconnect (at least the 5 minutes the issue asks)."""
BACKLOG_ENTRIES = 200_000
BACKLOG_BYTES = 64 * 1024 * 1024
"""What the backlog may cost, each entry counted as its payload, its key and :data:`ENTRY_OVERHEAD`:
the time bound alone would let a burst of large events take the gateway's memory with it."""
ENTRY_OVERHEAD = 600
"""An entry's memory beyond its payload and key (the object, its numbers, its place in the key
index): ~870 bytes an entry measured under the mixed load of bench.tickets, payloads ~250."""
HEARTBEAT_SECONDS = 15.0
"""A comment line this often keeps idle connections (and proxies) open, below any I/O timeout."""
CLIENT_QUEUE = 2_000
VISIBILITY_BATCH = 1_000
"""The most tickets or identities one ``visible_to`` call carries (the tickets service's limit)."""
LOOKUP_TIMEOUT = 5.0
RETRY_SECONDS = 1.0
STOP_GRACE_SECONDS = 2.0
REORDER_SECONDS = 2.0
"""How much earlier than the resumed entry a client that moved between instances is replayed from."""
CATCH_UP_SECONDS = 1.0
"""How long a client that moved between instances waits for this one to receive its last entry."""
CLOSE_SECONDS = 0.2

_REDUNDANT = {
    tickets_contract.TICKET_ASSIGNED,
    tickets_contract.TICKET_STATUS_CHANGED,
    tickets_contract.TICKET_CLOSED,
    tickets_contract.TICKET_REOPENED,
}
TICKET_EVENTS = tuple(
    sorted(
        name
        for name, schema in tickets_contract.EVENT_SCHEMAS.items()
        if "ticket_id" in schema._declared_fields and name not in _REDUNDANT
    )
)
"""Every tickets event about one ticket (created, updated, associations, follows, and merged or
deleted as the contract grows), except those ``ticket_updated`` already says (its ``changes``)."""

NOTIFICATION_EVENTS = (notifications_contract.NOTIFICATIONS_ADDED, notifications_contract.NOTIFICATIONS_READ)

CLOSE = object()
RESET = "reset"
HIDDEN = "ticket_hidden"
"""Sent instead of a ``ticket_updated`` that took a ticket out of a client's sight (a new owner):
``{"type": "ticket_hidden", "ticket_id": ...}`` and nothing else about the ticket."""


def owner_change(event_type: str, body: dict[str, Any]) -> tuple[bool, int | None]:
    """Whether a ticket event changed the ticket's owner, and its owner before (None: unassigned)."""
    if event_type != tickets_contract.TICKET_UPDATED or not isinstance(body.get("changes"), dict):
        return False, None
    pair = body["changes"].get("owner_id")
    if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
        return False, None
    old = pair[0]
    if old is not None and (type(old) is not int or old < 1):
        return False, None
    return True, old


@dataclass(frozen=True, slots=True)
class Entry:
    """One event, numbered: for the clients of ``user_id``, or of those who may see ``ticket_id``.

    Slotted: the backlog holds up to :data:`BACKLOG_ENTRIES` of these, and without a ``__dict__``
    each is one object for the garbage collector to walk instead of two, and smaller (104 bytes by
    ``sys.getsizeof`` with its nine fields)."""

    seq: int
    at: float
    event: str
    data: str
    ticket_id: int | None = None
    user_id: int | None = None
    key: str = ""
    owner_changed: bool = False
    previous_owner_id: int | None = None
    """For a ``ticket_updated`` that changed the owner: the owner before (None: unassigned)."""


@dataclass(frozen=True, slots=True)
class Sight:
    """What one identity may see in a round: tickets now, and owners whose tickets it may see
    (asked for the owners tickets of the round had before a change)."""

    tickets: frozenset[int] = frozenset()
    previous_owners: frozenset[int | None] = frozenset()


NOTHING = Sight()


@dataclass(eq=False)
class Client:
    """One open stream: its token (to keep its identity fresh), whose it is, what it has been given."""

    authorization: str
    identity: str
    user_id: int
    position: int
    queue: LightQueue = field(default_factory=lambda: LightQueue(CLIENT_QUEUE))
    closed: bool = False

    def send(self, text: str) -> bool:
        """Queue ``text`` for the connection; False when the client cannot keep up."""
        try:
            self.queue.put_nowait(text)
            return True
        except Full:
            return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.queue.put_nowait(CLOSE)
            except Full:
                self.queue = LightQueue(1)
                self.queue.put_nowait(CLOSE)


def user_id_of(identity: str) -> int:
    """The user id inside a signed identity the permissions service gave us (not verified here:
    the gateway holds no secret, and the services verify it on every call)."""
    payload = identity.partition(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return int(json.loads(raw)["user_id"])


def event_key(body: dict[str, Any], user_id: int | None = None) -> str:
    """An entry's name in every gateway instance: its broker event's id (and the person it is for)."""
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return ""
    return event_id if user_id is None else f"{event_id}.{user_id}"


def entry_bytes(entry: Entry) -> int:
    """What an entry is counted to cost in the backlog."""
    return len(entry.data) + len(entry.key) + ENTRY_OVERHEAD


def frame(entry_id: str, event: str, data: str) -> str:
    """One SSE message."""
    return f"id: {entry_id}\nevent: {event}\ndata: {data}\n\n"


class LiveHub(SharedExtension):
    """The gateway's event backlog and dispatcher (see the module docstring)."""

    link = BrokerLink()
    tokens = TokenCache()

    def __init__(self) -> None:
        super().__init__()
        self.epoch = uuid.uuid4().hex[:12]
        self.backlog: deque[Entry] = deque()
        self.keys: dict[str, int] = {}  # an entry's key -> its seq, for clients from another instance
        self.backlog_bytes = 0
        self.seq = 0
        self.clients: set[Client] = set()
        self.loop = WakeableLoop(
            "live stream dispatch",
            self.dispatch,
            poll_seconds=HEARTBEAT_SECONDS,
            backoff=(RETRY_SECONDS, RETRY_SECONDS),
            log=log,
        )
        self._connected_once = False

    # -- life cycle ----------------------------------------------------------------------------------
    def setup(self) -> None:
        self.link.subscribe_broadcast(
            event_exchange(tickets_contract.SERVICE_NAME).name,
            TICKET_EVENTS,
            self._on_ticket_event,
            on_connect=self._on_connect,
        )
        self.link.subscribe_broadcast(
            event_exchange(notifications_contract.SERVICE_NAME).name, NOTIFICATION_EVENTS, self._on_feed_event
        )

    def start(self) -> None:
        self.loop.start(self.container.spawn_managed_thread)

    def stop(self) -> None:
        """End every stream (each ends its response properly) before nameko kills their threads."""
        for client in list(self.clients):
            client.close()
        with eventlet.Timeout(STOP_GRACE_SECONDS, False):
            while self.clients:
                eventlet.sleep(0.01)
            eventlet.sleep(CLOSE_SECONDS)  # each connection closes its socket after its body ends
        self.clients.clear()
        self.loop.stop()
        super().stop()

    def kill(self) -> None:
        self.stop()

    def wake(self) -> None:
        """Have the dispatcher run a round soon."""
        self.loop.wake()

    def metrics_probe(self) -> Iterator[Metric]:
        """The backlog's length (it holds :data:`BACKLOG_SECONDS` of events, so the gateway's memory
        grows with the event rate for that long and then stays) and the connected streams."""
        labels = {"service": self.container.service_name}
        yield metrics.gauge(
            "helpdesk_live_backlog_entries",
            "Events kept for live streams that resume.",
            labels,
            len(self.backlog),
        )
        yield metrics.gauge(
            "helpdesk_live_backlog_bytes",
            "What those events are counted to cost (bounded by BACKLOG_BYTES).",
            labels,
            self.backlog_bytes,
        )
        yield metrics.gauge("helpdesk_live_clients", "Live streams connected.", labels, len(self.clients))

    # -- events in -----------------------------------------------------------------------------------
    def _on_connect(self) -> None:
        if self._connected_once:
            log.warning(
                "live stream: broker link reconnected; telling %d clients to reload", len(self.clients)
            )
            for client in list(self.clients):
                self._reset(client, "events may have been missed while the gateway was disconnected")
        self._connected_once = True

    def _on_ticket_event(self, event_type: str, body: dict[str, Any]) -> None:
        ticket_id = body.get("ticket_id")
        if isinstance(ticket_id, int):
            changed, previous = owner_change(event_type, body)
            self.append(
                event_type,
                {"type": event_type, **body},
                ticket_id=ticket_id,
                key=event_key(body),
                owner_changed=changed,
                previous_owner_id=previous,
            )

    def _on_feed_event(self, event_type: str, body: dict[str, Any]) -> None:
        """One entry per person: their new (or grown) notification, or what they read."""
        if event_type == notifications_contract.NOTIFICATIONS_READ:
            if isinstance(body.get("user_id"), int):
                data = {"unread": body.get("unread"), "read_ids": body.get("ids")}
                self.append("unread", data, user_id=body["user_id"], key=event_key(body, body["user_id"]))
            return
        for item in body.get("notifications") or ():
            if isinstance(item, dict) and isinstance(item.get("user_id"), int):
                data = {"notification": item.get("notification"), "unread": item.get("unread")}
                key = event_key(body, item["user_id"])
                self.append("notification", data, user_id=item["user_id"], key=key)

    def append(
        self,
        event: str,
        data: dict[str, Any],
        *,
        ticket_id: int | None = None,
        user_id: int | None = None,
        key: str = "",
        owner_changed: bool = False,
        previous_owner_id: int | None = None,
    ) -> Entry:
        """Number an event, keep it in the backlog and wake the dispatcher."""
        self.seq += 1
        entry = Entry(
            self.seq,
            time.monotonic(),
            event,
            json.dumps(data, separators=(",", ":")),
            ticket_id,
            user_id,
            key,
            owner_changed,
            previous_owner_id,
        )
        self.backlog.append(entry)
        self.backlog_bytes += entry_bytes(entry)
        if key:
            self.keys.setdefault(key, entry.seq)
        self._trim()
        self.wake()
        return entry

    def _trim(self) -> None:
        oldest = time.monotonic() - BACKLOG_SECONDS
        while self.backlog and (
            len(self.backlog) > BACKLOG_ENTRIES
            or self.backlog_bytes > BACKLOG_BYTES
            or self.backlog[0].at < oldest
        ):
            gone = self.backlog.popleft()
            self.backlog_bytes -= entry_bytes(gone)
            if gone.key and self.keys.get(gone.key) == gone.seq:
                del self.keys[gone.key]

    # -- clients -------------------------------------------------------------------------------------
    def connect(self, authorization: str, identity: str, last_event_id: str | None) -> Client:
        """Register a stream; it resumes after ``last_event_id`` when the backlog still holds what
        followed it, else it starts now (told to ``reset`` if it asked to resume)."""
        resume = self._resume_position(last_event_id)
        if resume is None and self._moved_here(last_event_id):
            with eventlet.Timeout(CATCH_UP_SECONDS, False):
                while resume is None:
                    eventlet.sleep(0.05)
                    resume = self._resume_position(last_event_id)
        client = Client(authorization, identity, user_id_of(identity), self.seq if resume is None else resume)
        if last_event_id and resume is None:
            client.send(frame(f"{self.epoch}-{self.seq}", RESET, json.dumps({"reason": "cannot resume"})))
        self.clients.add(client)
        self.wake()
        return client

    def drop(self, client: Client) -> None:
        """Stop serving ``client``: its stream ends (the client may reconnect and resume)."""
        self.clients.discard(client)
        client.close()

    @staticmethod
    def _parse(last_event_id: str | None) -> tuple[str, int | None, str]:
        """``<epoch>-<seq>[-<key>]`` as (epoch, seq or None, key)."""
        epoch, _, rest = (last_event_id or "").strip().partition("-")
        seq_text, _, key = rest.partition("-")
        return epoch, int(seq_text) if seq_text.isdigit() else None, key

    def _moved_here(self, last_event_id: str | None) -> bool:
        """Whether the id names an entry another instance gave (one this instance may yet receive)."""
        epoch, _seq, key = self._parse(last_event_id)
        return bool(key) and epoch != self.epoch

    def _resume_position(self, last_event_id: str | None) -> int | None:
        epoch, seq, key = self._parse(last_event_id)
        first = self.backlog[0].seq if self.backlog else self.seq + 1
        if epoch != self.epoch:
            return self._position_of(key, first)
        if seq is None or seq > self.seq or seq < first - 1:
            return None
        return seq

    def _position_of(self, key: str, first: int) -> int | None:
        """Where a client from another instance resumes: :data:`REORDER_SECONDS` before the entry
        named ``key`` arrived here (or the backlog's start); None when this backlog does not hold it."""
        found = self.keys.get(key) if key else None
        if found is None:
            return None
        since = self.backlog[found - first].at - REORDER_SECONDS
        position = found - 1
        while position >= first and self.backlog[position - first].at >= since:
            position -= 1
        return position

    def _reset(self, client: Client, reason: str) -> None:
        client.send(frame(f"{self.epoch}-{self.seq}", RESET, json.dumps({"reason": reason})))
        client.position = self.seq

    def stream(
        self,
        *,
        authorization: str,
        identity: str,
        last_event_id: str | None,
        hello: dict[str, Any],
        on_end: Callable[[], None] = lambda: None,
    ) -> Iterator[bytes]:
        """The body of a client's response: a hello, then its entries, with a heartbeat when idle.

        The client is registered when the web server starts sending and unregistered however the
        response ends (the connection closed, the gateway stopping, the client too slow); then
        ``on_end`` runs."""
        client = self.connect(authorization, identity, last_event_id)
        try:
            hello = {**hello, "epoch": self.epoch}
            yield f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode()
            while not client.closed:
                try:
                    item = client.queue.get(timeout=HEARTBEAT_SECONDS)
                except Empty:
                    yield b": keepalive\n\n"
                    continue
                if item is CLOSE:
                    return
                yield str(item).encode()
        finally:
            self.clients.discard(client)
            client.closed = True
            on_end()

    # -- the dispatcher ------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Give every client what it may see of the entries after its position (one round)."""
        head = self.seq
        waiting = [c for c in list(self.clients) if c.position < head and not c.closed]
        if not waiting:
            return
        first = self.backlog[0].seq if self.backlog else head + 1
        for client in waiting:
            if client.position < first - 1:
                self._reset(client, "the backlog no longer holds what you missed")
        pending = [e for e in self.backlog if e.seq > min(c.position for c in waiting) and e.seq <= head]
        self._refresh_identities(waiting)
        live = [c for c in waiting if not c.closed]
        sights = self._visibility(live, pending)
        for client in live:
            self._deliver(client, pending, sights.get(client.identity, NOTHING), head)

    def _refresh_identities(self, clients: Sequence[Client]) -> None:
        """Each client's identity as the token cache holds it now; a revoked token closes the client."""
        by_token: dict[str, list[Client]] = {}
        for client in clients:
            by_token.setdefault(client.authorization, []).append(client)

        def fresh(authorization: str) -> tuple[str, str | None]:
            try:
                return authorization, self.tokens.identity_for(authorization)
            except Unauthenticated:
                return authorization, None

        for authorization, identity in eventlet.GreenPool(20).imap(fresh, list(by_token)):
            for client in by_token[authorization]:
                if identity is None:
                    self.drop(client)
                else:
                    client.identity = identity

    def _visibility(self, clients: Sequence[Client], entries: Sequence[Entry]) -> dict[str, Sight]:
        """What each distinct identity may see of the entries' tickets now, and of their previous
        owners' tickets (when an entry changed an owner), in as few calls as it takes: one a round
        unless it holds more than :data:`VISIBILITY_BATCH` tickets, owners or identities."""
        ticket_ids = sorted({e.ticket_id for e in entries if e.ticket_id is not None})
        previous = {e.previous_owner_id for e in entries if e.ticket_id is not None and e.owner_changed}
        owners = sorted(previous, key=lambda o: -1 if o is None else o)
        identities = sorted({c.identity for c in clients})
        if not ticket_ids or not identities:
            return {}
        seen: dict[str, set[int]] = {identity: set() for identity in identities}
        seen_owners: dict[str, set[int | None]] = {identity: set() for identity in identities}
        rounds = max(-(-len(ticket_ids) // VISIBILITY_BATCH), -(-len(owners) // VISIBILITY_BATCH))
        for i in range(0, len(identities), VISIBILITY_BATCH):
            chunk = identities[i : i + VISIBILITY_BATCH]
            tickets = self.link.client(
                tickets_contract.SERVICE_NAME, identity=chunk[0], timeout=LOOKUP_TIMEOUT
            )
            for j in range(0, rounds * VISIBILITY_BATCH, VISIBILITY_BATCH):
                some_tickets = ticket_ids[j : j + VISIBILITY_BATCH]
                some_owners = owners[j : j + VISIBILITY_BATCH]
                visible, before = self._ask(tickets, some_tickets, chunk, some_owners if owners else None)
                for identity, now, then in zip(chunk, visible, before, strict=True):
                    seen[identity].update(now or ())
                    seen_owners[identity].update(then or ())
        return {
            identity: Sight(frozenset(seen[identity]), frozenset(seen_owners[identity]))
            for identity in identities
        }

    def _ask(
        self, tickets: Any, ticket_ids: list[int], identities: list[str], owners: list[int | None] | None
    ) -> tuple[list[Any], list[Any]]:
        """One ``visible_to`` call: per identity, the tickets it may see, and the previous owners
        whose tickets it may see (none asked, or a tickets service that does not know the question
        yet: nothing, so nobody is told a ticket left their sight)."""
        nothing: list[Any] = [None] * len(identities)
        if owners is None:
            return tickets.visible_to(ticket_ids, identities), nothing
        try:
            answer = tickets.visible_to(ticket_ids, identities, previous_owners=owners)
        except IncorrectSignature:
            log.warning("live stream: the tickets service does not answer previous_owners yet")
            return tickets.visible_to(ticket_ids, identities), nothing
        return answer["visible"], answer["previous_owners"]

    def _deliver(self, client: Client, entries: Sequence[Entry], sight: Sight, head: int) -> None:
        hidden: set[int] = set()
        for entry in entries:
            if entry.seq <= client.position:
                continue
            if entry.user_id is not None and entry.user_id != client.user_id:
                continue
            event, data = entry.event, entry.data
            if entry.ticket_id is not None and entry.ticket_id not in sight.tickets:
                # it may only hear that a ticket it could see under its previous owner left its sight
                if not (
                    entry.owner_changed
                    and entry.previous_owner_id in sight.previous_owners
                    and entry.ticket_id not in hidden
                ):
                    continue
                hidden.add(entry.ticket_id)
                event = HIDDEN
                data = json.dumps({"type": HIDDEN, "ticket_id": entry.ticket_id}, separators=(",", ":"))
            entry_id = f"{self.epoch}-{entry.seq}-{entry.key}" if entry.key else f"{self.epoch}-{entry.seq}"
            if not client.send(frame(entry_id, event, data)):
                self.drop(client)
                return
        client.position = head


class Live(DependencyProvider):
    """Gives a route the gateway's :class:`LiveHub`."""

    hub = LiveHub()

    def get_dependency(self, worker_ctx: Any) -> LiveHub:
        return self.hub
