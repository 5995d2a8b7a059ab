"""nameko entrypoints of the tickets service: decode, apply the rules, answer.

Every method that touches tickets starts with :func:`scope_for` (403 for callers
without service or sales access) and hands the scope to the store, which applies
it as SQL. Pipeline configuration needs account access. The RPCs this service
makes (``permissions.get_user`` to vet a new owner, ``get_team`` a team,
``access_records`` to apply the rule on someone else's behalf) happen before any
transaction opens. Merge, split, spam, delete and restore, which span services, are in
:mod:`services.tickets.lifecycle`.

Every change's events carry :func:`event_stamp` of its caller (a person or an
integration, whether it notifies) and, for a bulk update, one ``batch_id``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from typing import Any

from nameko.dependency_providers import Config

from services.chassis.errors import (
    DeadlineExceeded,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from services.chassis.events import subscribe
from services.chassis.idempotency import IdempotencyKey
from services.chassis.identity import Caller
from services.chassis.metrics import Telemetry
from services.chassis.outbox import OutboxRelay
from services.chassis.paging import PageQuery
from services.chassis.parallel import ahead
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id, shared
from services.chassis.timer import timer
from services.conversations import contract as conversations_contract
from services.permissions import contract as permissions_contract
from services.tickets import contract
from services.tickets.domain import (
    TicketFilter,
    check_new_pipeline,
    event_stamp,
    may_see,
    owner_problem,
    parse_search,
    parse_sort,
    require_admin,
    require_importer,
    require_seat,
    require_sla_admin,
    scope_for,
    scope_of,
    seat_view,
)
from services.tickets.domain.views import needs_seat, sharing_problems, with_view
from services.tickets.lifecycle import LifecycleEntrypoints, bulk_budget
from services.tickets.models import outbox
from services.tickets.people import AccessDirectory, Identities
from services.tickets.store import Errors, ImportItem, Store, failed
from services.tickets.store.base import MessageMatches
from services.tickets.store.sla import BREACH_BATCH

PERMISSIONS_TIMEOUT = 3.0
SEARCH_TIMEOUT = 2.0
"""How long a search waits for the conversations service's matches before going on without them."""

log = logging.getLogger(__name__)
MAX_AUDIENCE = 1000
"""At most this many users per ``audience`` call, and tickets or identities per ``visible_to`` call."""
SLA_TICK_SECONDS = 0.5
"""How often the breach timer looks for due alarms (a breach is announced within about this)."""
RECOMPUTE_BUDGET_SECONDS = 1.0
"""After a policy change, how long the request itself recomputes clocks before the timer takes over."""
MAX_BREACH_BATCHES = 50


def _ids(value: Any, name: str, limit: int) -> list[int]:
    """A list argument of ids (at most ``limit``), else a 422 naming ``name``."""
    if not isinstance(value, list) or len(value) > limit:
        raise ValidationFailed(errors={name: [f"must be a list of at most {limit} ids"]})
    return [require_id(i, name) for i in value]


def _kind(kind: Any) -> str:
    if kind not in contract.ASSOCIATION_KINDS:
        raise ValidationFailed(errors={"kind": [f"must be one of {', '.join(contract.ASSOCIATION_KINDS)}"]})
    return str(kind)


class TicketsService(LifecycleEntrypoints):
    """Tickets, pipelines and everything recorded about a ticket."""

    name = contract.SERVICE_NAME
    telemetry = Telemetry()

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=PERMISSIONS_TIMEOUT)
    people = AccessDirectory()
    identities = Identities()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    # pipelines ------------------------------------------------------------------------------------
    @rpc
    def list_pipelines(self) -> list[dict[str, Any]]:
        scope_for(require_caller(self.caller))
        return self.store.pipelines.all()

    @rpc
    def get_pipeline(self, pipeline_id: int) -> dict[str, Any]:
        scope_for(require_caller(self.caller))
        return self.store.pipelines.pipeline(pipeline_id=require_id(pipeline_id, "pipeline_id"))

    @rpc
    def create_pipeline(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = load(contract.PipelineCreateSchema, data)
        check_new_pipeline(payload)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "create_pipeline", data)
        return self.store.pipelines.create(actor_id=caller.user_id, data=payload, key=key)

    @rpc
    def rename_pipeline(self, pipeline_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = load(contract.PipelinePatchSchema, data)
        return self.store.pipelines.rename(
            actor_id=caller.user_id,
            pipeline_id=require_id(pipeline_id, "pipeline_id"),
            label=payload["label"],
        )

    @rpc
    def add_stage(
        self, pipeline_id: int, data: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        pid = require_id(pipeline_id, "pipeline_id")
        payload = load(contract.StageCreateSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, f"add_stage:{pid}", data)
        return self.store.pipelines.add_stage(actor_id=caller.user_id, pipeline_id=pid, data=payload, key=key)

    @rpc
    def rename_stage(self, pipeline_id: int, stage_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = load(contract.StagePatchSchema, data)
        return self.store.pipelines.rename_stage(
            actor_id=caller.user_id,
            pipeline_id=require_id(pipeline_id, "pipeline_id"),
            stage_id=require_id(stage_id, "stage_id"),
            label=payload["label"],
        )

    @rpc
    def reorder_stages(self, pipeline_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = load(contract.StageOrderSchema, data)
        return self.store.pipelines.reorder_stages(
            actor_id=caller.user_id,
            pipeline_id=require_id(pipeline_id, "pipeline_id"),
            stage_ids=payload["stage_ids"],
        )

    # tickets --------------------------------------------------------------------------------------
    @rpc
    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope_for(caller)
        payload = load(contract.TicketCreateSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "create_ticket", data)
        first = self.store.tickets.replay(key)
        if first is not None:
            return first
        invalid = {**self._owner_errors(payload.get("owner_id")), **self._team_errors(payload.get("team_id"))}
        created = self.store.tickets.create(
            actor_id=caller.user_id, data=payload, key=key, invalid=invalid, stamp=event_stamp(caller)
        )
        return seat_view(caller, created)

    @rpc
    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        caller = require_caller(self.caller)
        found = self.store.tickets.get(
            scope=scope_for(caller),
            user_id=caller.user_id,
            ticket_id=require_id(ticket_id, "ticket_id"),
            mark_read=mark_read is True,
        )
        return seat_view(caller, found)

    @rpc
    def update_ticket(
        self, ticket_id: int, data: dict[str, Any], expected_versions: list[int] | None = None
    ) -> dict[str, Any]:
        """Change fields of a ticket; with ``expected_versions`` (from If-Match) a stale version is 412."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        tid = require_id(ticket_id, "ticket_id")
        changes = load(contract.TicketPatchSchema, data)
        invalid: Errors = {}
        if changes.get("owner_id") is not None or changes.get("team_id") is not None:
            current = self.store.tickets.get(
                scope=scope, user_id=caller.user_id, ticket_id=tid, mark_read=False
            )
            invalid = {
                **self._owner_errors(changes.get("owner_id"), current["owner_id"]),
                **self._team_errors(changes.get("team_id"), current["team_id"]),
            }
        updated = self.store.tickets.update(
            scope=scope,
            actor_id=caller.user_id,
            ticket_id=tid,
            changes=changes,
            expected_versions=expected_versions,
            invalid=invalid,
            stamp=event_stamp(caller),
        )
        return seat_view(caller, updated)

    @rpc
    def bulk_update(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Apply the same changes to each ticket, as a job; up to 100 ids are answered with every
        result (an invisible ticket is a 404 item), more with the job still running.

        Every event of the bulk change carries one ``batch_id``, so that consumers can treat it as
        one change (notifications tell each person once, not once per ticket)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        payload = load(contract.BulkUpdateSchema, data)
        changes = payload["changes"]
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "bulk_update", data)
        invalid = self._owner_errors(changes.get("owner_id"))
        job, replayed = self._start(
            key,
            lambda: self.store.bulk.start(
                scope=scope,
                actor_id=caller.user_id,
                ticket_ids=payload["ids"],
                changes=changes,
                invalid=invalid,
                key=key,
                stamp=event_stamp(caller, batch_id=uuid.uuid4().hex),
            ),
            budget=bulk_budget(len(payload["ids"])),
        )
        return self._replayed(self._bulk_answer(job, deletes=False), replayed)

    @rpc
    def list_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The table layout: ``query`` as in contract.TicketQuerySchema (strings are accepted)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = load(contract.TicketQuerySchema, self._with_view(caller, query or {}))
        flt = TicketFilter.from_query(q)
        with self._message_search(flt.q_terms) as messages:
            found = self.store.lists.table(
                scope=scope,
                user_id=caller.user_id,
                flt=flt,
                sort=parse_sort(q["sort"]),
                limit=q["limit"],
                cursor=q["cursor"],
                messages=messages,
            )
        return seat_view(caller, found)

    @rpc
    def search_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Tickets matching ``query`` (contract.TicketSearchSchema: filter groups, text, sort, page);
        the SLA sort needs a seat, as on the lists."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        feature = needs_seat(query) if isinstance(query, dict) else None
        if feature is not None:
            require_seat(caller, feature)
        q = load(contract.TicketSearchSchema, query or {})
        spec = parse_search(q)
        with self._message_search(spec.terms) as messages:
            found = self.store.search.search(
                scope=scope,
                user_id=caller.user_id,
                spec=spec,
                sort=parse_sort(q["sort"]),
                limit=q["limit"],
                cursor=q["cursor"],
                messages=messages,
            )
        return seat_view(caller, found)

    @rpc
    def import_tickets(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create or bring in line a batch of tickets from another help desk (account access).

        ``data`` is contract.ImportBatchSchema; each item is checked on its own, so one bad
        row fails alone. Owners are vetted with the permissions service before the store's
        transaction opens, once per distinct owner.
        """
        caller = require_caller(self.caller)
        scope_for(caller)
        require_importer(caller)
        batch = load(contract.ImportBatchSchema, data)
        items: list[ImportItem] = []
        results: list[dict[str, Any]] = []
        for index, raw in enumerate(batch["items"]):
            try:
                items.append(ImportItem(index, load(contract.ImportItemSchema, raw), {}))
            except ValidationFailed as exc:
                results.append(failed(index, raw.get("external_id") if isinstance(raw, dict) else None, exc))
        owners = {i.data["owner_id"] for i in items if i.data.get("owner_id") is not None}
        problems = {owner: self._owner_errors(owner) for owner in sorted(owners)}
        items = [ImportItem(i.index, i.data, problems.get(i.data.get("owner_id"), {})) for i in items]
        if items:
            results += self.store.imports.run(
                actor_id=caller.user_id, source=batch["source"], items=items, dry_run=batch["dry_run"]
            )
        return {"dry_run": batch["dry_run"], "results": sorted(results, key=lambda r: r["index"])}

    @rpc
    def board(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The board layout of ``query['pipeline_id']`` (default: the first pipeline)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = load(contract.BoardQuerySchema, self._with_view(caller, query or {}))
        flt = TicketFilter.from_query(q)
        with self._message_search(flt.q_terms) as messages:
            found = self.store.lists.board(
                scope=scope,
                user_id=caller.user_id,
                flt=flt,
                sort=parse_sort(q["sort"]),
                limit=q["limit"],
                pipeline_id=q.get("pipeline_id"),
                messages=messages,
            )
        return seat_view(caller, found)

    @rpc
    def timeline(self, ticket_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = load(PageQuery(), query or {})
        return self.store.activity.timeline(
            scope=scope, ticket_id=require_id(ticket_id, "ticket_id"), limit=q["limit"], cursor=q["cursor"]
        )

    # associations ---------------------------------------------------------------------------------
    @rpc
    def add_association(self, ticket_id: int, kind: str, ref_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        changed = self.store.tickets.add_association(
            scope=scope_for(caller),
            actor_id=caller.user_id,
            ticket_id=require_id(ticket_id, "ticket_id"),
            kind=_kind(kind),
            ref_id=require_id(ref_id, "ref_id"),
            stamp=event_stamp(caller),
        )
        return seat_view(caller, changed)

    @rpc
    def remove_association(self, ticket_id: int, kind: str, ref_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        changed = self.store.tickets.remove_association(
            scope=scope_for(caller),
            actor_id=caller.user_id,
            ticket_id=require_id(ticket_id, "ticket_id"),
            kind=_kind(kind),
            ref_id=require_id(ref_id, "ref_id"),
            stamp=event_stamp(caller),
        )
        return seat_view(caller, changed)

    # follow and read state ------------------------------------------------------------------------
    @rpc
    def follow(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.activity.follow(
            scope=scope_for(caller),
            user_id=caller.user_id,
            ticket_id=require_id(ticket_id, "ticket_id"),
            stamp=event_stamp(caller),
        )

    @rpc
    def unfollow(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.activity.unfollow(
            scope=scope_for(caller),
            user_id=caller.user_id,
            ticket_id=require_id(ticket_id, "ticket_id"),
            stamp=event_stamp(caller),
        )

    @rpc
    def followers(self, ticket_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = load(PageQuery(), query or {})
        return self.store.activity.followers(
            scope=scope, ticket_id=require_id(ticket_id, "ticket_id"), limit=q["limit"], cursor=q["cursor"]
        )

    @rpc
    def mark_read(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.activity.mark_read(
            scope=scope_for(caller), user_id=caller.user_id, ticket_id=require_id(ticket_id, "ticket_id")
        )

    @rpc
    def mark_unread(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.activity.mark_unread(
            scope=scope_for(caller), user_id=caller.user_id, ticket_id=require_id(ticket_id, "ticket_id")
        )

    @rpc
    def visible_tickets(self, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        """Which of ``ticket_ids`` the caller may see (the one access rule, for other services);
        with ``closed`` True (False) only those that are (not) closed."""
        caller = require_caller(self.caller)
        if not isinstance(ticket_ids, list) or len(ticket_ids) > contract.MAX_BULK:
            raise ValidationFailed(
                errors={"ticket_ids": [f"must be a list of at most {contract.MAX_BULK} ids"]}
            )
        if closed is not None and not isinstance(closed, bool):
            raise ValidationFailed(errors={"closed": ["must be true, false or null"]})
        ids = [require_id(i, "ticket_ids") for i in ticket_ids]
        return self.store.activity.visible(scope=scope_for(caller), ticket_ids=ids, closed=closed)

    @rpc
    def audience(
        self,
        ticket_id: int,
        user_ids: list[int] | None = None,
        watchers: bool = False,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """For system callers (notifications): who of ``user_ids`` (and, with ``watchers``, of the
        ticket's owner and followers) may see the live ticket now, by the one access rule applied
        to each of them. Answers ``id``, ``name``, ``owner_id``, ``followers`` (all of them, with
        ``watchers``; only those following at ``as_of``, an ISO moment, when given) and
        ``visible`` (the user ids that may see it); NotFound when it is gone."""
        if as_of is not None:
            load(contract.AsOfSchema, {"as_of": as_of})  # its own wire contract, which audiences' repeats
        question = {"ticket_id": ticket_id, "user_ids": user_ids or [], "watchers": watchers, "as_of": as_of}
        (answer,) = self.audiences([question])
        if answer is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return answer

    @rpc
    def audiences(self, questions: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """:meth:`audience` for many tickets in one call (notifications handles events in
        batches): each question as ``contract.AudienceQuestionSchema``, each answer as
        ``audience``'s, None for a ticket that is gone. The people are looked up once for all."""
        caller = require_caller(self.caller)
        if not caller.system:
            raise Forbidden("Audiences are for the services themselves.")
        if not isinstance(questions, list) or len(questions) > contract.MAX_AUDIENCES:
            raise ValidationFailed(
                errors={"questions": [f"must be a list of at most {contract.MAX_AUDIENCES}"]}
            )
        asked = [load(contract.AudienceQuestionSchema, q) for q in questions]
        found = self.store.activity.audiences_facts([(q["ticket_id"], q["as_of"]) for q in asked])
        wanted: list[set[int]] = []
        for q, facts in zip(asked, found, strict=True):
            people = set(q["user_ids"])
            if facts is not None and q["watchers"]:
                people.update(facts[1])
                if facts[0]["owner_id"] is not None:
                    people.add(facts[0]["owner_id"])
            wanted.append(people)
        everyone = set().union(*wanted)
        callers = self.people.callers(self.permissions.as_system(), everyone) if everyone else {}
        answers: list[dict[str, Any] | None] = []
        for q, facts, people in zip(asked, found, wanted, strict=True):
            if facts is None:
                answers.append(None)
                continue
            ticket, follower_ids = facts
            visible = [uid for uid in sorted(people) if may_see(callers.get(uid), ticket["owner_id"])]
            answers.append({**ticket, "followers": follower_ids if q["watchers"] else [], "visible": visible})
        return answers

    @rpc
    def visible_to(
        self,
        ticket_ids: list[int],
        identities: list[str],
        previous_owners: list[int | None] | None = None,
    ) -> list[list[int] | None] | dict[str, Any]:
        """Which of ``ticket_ids`` each signed identity in ``identities`` may see (None for one that
        does not verify), in one call for many clients (the gateway's live stream). Tickets in the
        recycle bin count by their owner, so a client hears of a deletion it could see.

        With ``previous_owners`` (owners, None for unassigned, that tickets of the same round had
        before a change took them away) the answer is ``{"visible": <the list above>,
        "previous_owners": <per identity, which of those owners' tickets it may see, None for one
        that does not verify>}``, by the same rule, so the gateway can tell a client that could see
        a ticket under its previous owner, and cannot now, that it left its sight."""
        require_caller(self.caller)
        ids = _ids(ticket_ids, "ticket_ids", MAX_AUDIENCE)
        if not isinstance(identities, list) or len(identities) > MAX_AUDIENCE:
            raise ValidationFailed(errors={"identities": [f"must be a list of at most {MAX_AUDIENCE}"]})
        owners: list[int | None] | None = None
        if previous_owners is not None:
            if not isinstance(previous_owners, list) or len(previous_owners) > MAX_AUDIENCE:
                problem = f"must be a list of at most {MAX_AUDIENCE} ids or nulls"
                raise ValidationFailed(errors={"previous_owners": [problem]})
            owners = sorted(
                {None if o is None else require_id(o, "previous_owners") for o in previous_owners},
                key=lambda o: -1 if o is None else o,
            )
        callers = [self.identities.verify(assertion) for assertion in identities]
        scopes = [scope_of(c) for c in callers]
        answers = iter(self.store.activity.in_scopes(ticket_ids=ids, scopes=[s for s in scopes if s]))
        visible = [
            None if c is None else (next(answers) if s else []) for c, s in zip(callers, scopes, strict=True)
        ]
        if owners is None:
            return visible
        before = [
            None if c is None else [o for o in owners if s is not None and s.allows(o)]
            for c, s in zip(callers, scopes, strict=True)
        ]
        return {"visible": visible, "previous_owners": before}

    @subscribe(conversations_contract.SERVICE_NAME, conversations_contract.MESSAGE_ADDED)
    def handle_message_added(self, payload: dict[str, Any]) -> None:
        """A message on a ticket's thread: unread for a customer's, reply times and owner for a reply."""
        event = shared(conversations_contract.MessageAddedEvent).load(payload)
        if event["ticket_id"] is None:
            return
        self.store.activity.message_added(
            event_id=event["event_id"],
            ticket_id=event["ticket_id"],
            thread_id=event["thread_id"],
            message_id=event["message_id"],
            kind=event["kind"],
            author_id=event["author_id"],
            auto=event["auto"],
            at=event["at"],
        )

    @subscribe(conversations_contract.SERVICE_NAME, conversations_contract.THREAD_MOVED)
    def handle_thread_moved(self, payload: dict[str, Any]) -> None:
        """A thread moved between the inbox and the help desk: the timelines of the ticket it left
        and of the one it joined say so."""
        event = shared(conversations_contract.ThreadMovedEvent).load(payload)
        self.store.activity.thread_moved(
            event_id=event["event_id"],
            thread_id=event["thread_id"],
            from_location=event["from_location"],
            to_location=event["to_location"],
            left=event["previous_ticket_id"] if event["to_location"] == "inbox" else None,
            joined=event["ticket_id"],
            actor_id=event["actor_id"],
        )

    @rpc
    def customer_message_received(self, ticket_id: int) -> dict[str, Any]:
        """A customer wrote on the ticket: it becomes unread for everyone (conversations will call this)."""
        caller = require_caller(self.caller)
        tid = require_id(ticket_id, "ticket_id")
        self.store.activity.customer_message_received(scope=scope_for(caller), ticket_id=tid)
        return {"ticket_id": tid}

    # SLA policies (a seat to see them, account access too to change them) ---------------------------
    @rpc
    def list_sla_policies(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope_for(caller)
        require_seat(caller, "SLAs")
        q = load(PageQuery(), query or {})
        return self.store.slas.policies(limit=q["limit"], cursor=q["cursor"])

    @rpc
    def get_sla_policy(self, policy_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope_for(caller)
        require_seat(caller, "SLAs")
        return self.store.slas.policy(policy_id=require_id(policy_id, "policy_id"))

    @rpc
    def create_sla_policy(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """A new policy; open tickets' clocks are recomputed (for up to a second now, then by the timer)."""
        caller = require_caller(self.caller)
        require_sla_admin(caller)
        payload = load(contract.SlaPolicyCreateSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "create_sla_policy", data)
        created = self.store.slas.create_policy(actor_id=caller.user_id, data=payload, key=key)
        self._recompute_now()
        return created

    @rpc
    def update_sla_policy(self, policy_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_sla_admin(caller)
        changes = load(contract.SlaPolicyPatchSchema, data)
        updated = self.store.slas.update_policy(policy_id=require_id(policy_id, "policy_id"), changes=changes)
        self._recompute_now()
        return updated

    @rpc
    def delete_sla_policy(self, policy_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_sla_admin(caller)
        pid = require_id(policy_id, "policy_id")
        self.store.slas.delete_policy(policy_id=pid)
        self._recompute_now()
        return {"id": pid, "deleted": True}

    @timer(interval=SLA_TICK_SECONDS)
    def sla_tick(self) -> None:
        """The breach timer: announce breaches whose moment has come, then recompute a batch of
        clocks a policy change left pending. Several instances share the work (row locks)."""
        for _ in range(MAX_BREACH_BATCHES):
            if self.store.slas.breach_due() < BREACH_BATCH:
                break
        self.store.slas.recompute_step()

    def _recompute_now(self) -> None:
        deadline = time.monotonic() + RECOMPUTE_BUDGET_SECONDS
        while time.monotonic() < deadline and self.store.slas.recompute_step():
            pass

    # saved views (a seat) ---------------------------------------------------------------------------
    @rpc
    def list_views(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The saved views the caller may use, and the default views beside them."""
        caller = self._seated(caller=require_caller(self.caller))
        q = load(PageQuery(), query or {})
        return self.store.views.page(caller=caller, limit=q["limit"], cursor=q["cursor"])

    @rpc
    def get_view(self, view_id: int) -> dict[str, Any]:
        caller = self._seated(caller=require_caller(self.caller))
        return self.store.views.get(caller=caller, view_id=require_id(view_id, "view_id"))

    @rpc
    def create_view(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = self._seated(caller=require_caller(self.caller))
        payload = load(contract.ViewCreateSchema, data)
        payload["filters"] = shared(contract.ViewFiltersSchema).dump(payload["filters"])
        if problems := sharing_problems(caller, payload["shared_with"], payload["team_id"]):
            raise ValidationFailed(errors=problems)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "create_view", data)
        return self.store.views.create(caller=caller, data=payload, key=key)

    @rpc
    def update_view(self, view_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = self._seated(caller=require_caller(self.caller))
        vid = require_id(view_id, "view_id")
        changes = load(contract.ViewPatchSchema, data)
        if "filters" in changes:
            changes["filters"] = shared(contract.ViewFiltersSchema).dump(changes["filters"])
        if "shared_with" in changes or "team_id" in changes:
            current = self.store.views.get(caller=caller, view_id=vid)
            sharing = {**current, **changes}
            if problems := sharing_problems(caller, sharing["shared_with"], sharing["team_id"]):
                raise ValidationFailed(errors=problems)
        return self.store.views.update(caller=caller, view_id=vid, changes=changes)

    @rpc
    def delete_view(self, view_id: int) -> dict[str, Any]:
        caller = self._seated(caller=require_caller(self.caller))
        vid = require_id(view_id, "view_id")
        self.store.views.delete(caller=caller, view_id=vid)
        return {"id": vid, "deleted": True}

    def _seated(self, *, caller: Caller) -> Caller:
        scope_for(caller)
        require_seat(caller, "Saved views")
        return caller

    def _message_matches(self, terms: tuple[str, ...]) -> tuple[int, ...]:
        """The tickets whose conversation holds every one of ``terms`` (the conversations service's
        ``matching_tickets``, at most ``conversations_contract.MESSAGE_MATCH_CAP``).

        Asked as the service itself: the ids only widen what the caller's own query selects,
        which still goes through the one access rule. When the conversations service cannot
        answer within ``SEARCH_TIMEOUT`` the search goes on over the tickets' own fields (logged):
        a search box that fails whenever another service is slow helps no one.
        """
        if not terms:
            return ()
        client = self.conversations.as_system().with_timeout(SEARCH_TIMEOUT)
        try:
            return tuple(client.matching_tickets(list(terms)))
        except (ServiceUnavailable, DeadlineExceeded) as exc:
            log.warning("searching without conversations: %s", exc)
            return ()

    def _message_search(
        self, terms: tuple[str, ...]
    ) -> contextlib.AbstractContextManager[MessageMatches | None]:
        """For a list or a search of text (``terms``: a list's ``q_terms``, a search's ``terms``,
        which are empty exactly when there is no text to match, or none of it is a word):
        :meth:`_message_matches` asked now (:func:`ahead`: in the request's context, never
        outliving it), its answer for the store to wait for when it needs it (after its own
        search of the tickets' text, which runs meanwhile)."""
        if not terms:
            return contextlib.nullcontext()
        return ahead(functools.partial(self._message_matches, terms))

    def _with_view(self, caller: Caller, query: dict[str, Any]) -> dict[str, Any]:
        """The list query with its saved view applied; SLA filters, sorts and views need a seat."""
        if not isinstance(query, dict):
            return query
        feature = needs_seat(query)
        if feature is not None:
            require_seat(caller, feature)
        if query.get("view_id") is None:
            return query
        view_id = load(contract.TicketQuerySchema(only=("view_id",)), {"view_id": query["view_id"]})[
            "view_id"
        ]
        return with_view(self.store.views.get(caller=caller, view_id=view_id), query)

    # helpers --------------------------------------------------------------------------------------
    def _owner_errors(self, owner_id: int | None, current_owner_id: int | None = None) -> Errors:
        """Ask the permissions service whether ``owner_id`` may own tickets (skipped when unchanged).

        The lookup runs as this service (a system identity): whether a user exists and
        may own tickets is not something the caller's own permissions should hide.
        """
        if owner_id is None or owner_id == current_owner_id:
            return {}
        try:
            user = self.permissions.as_system().get_user(owner_id)
        except NotFound:
            user = None
        problem = owner_problem(user, owner_id)
        return {"owner_id": [problem]} if problem else {}

    def _team_errors(self, team_id: int | None, current_team_id: int | None = None) -> Errors:
        """A ticket's team must be one of the permissions service's teams (skipped when unchanged)."""
        if team_id is None or team_id == current_team_id:
            return {}
        try:
            self.permissions.as_system().get_team(team_id)
        except NotFound:
            return {"team_id": [f"team {team_id} does not exist"]}
        return {}
