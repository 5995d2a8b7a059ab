"""nameko entrypoints of a ticket's lifecycle: merge, split, spam, not spam, delete, bulk delete,
restore, the recycle bin, jobs, and the calls the retention service makes to purge.

Each action starts a job whose first step commits decisively here and runs the rest at once
(:class:`~services.tickets.sagas.Sagas`); whatever is left when the request answers (a
service was down, a bulk job is large) the resume sweep finishes. Answers show the state
after the decisive step, with ``in_progress`` set until the job has finished everywhere.
Permissions: merge needs ticket access; split a seat; spam and delete the delete
permission; bulk delete the bulk delete permission; restore account access. Visibility is
checked first (an invisible ticket is a 404 whatever the permission).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.chassis.errors import Conflict, Forbidden, NotFound
from services.chassis.housekeeping import sweep
from services.chassis.idempotency import REPLAYED, IdempotencyKey
from services.chassis.identity import Caller
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id
from services.chassis.system import id_list, limit_arg, moment_arg, require_system
from services.chassis.timer import timer
from services.conversations import contract as conversations_contract
from services.permissions.contract import ACCOUNT_ACCESS, BULK_DELETE, DELETE_TICKETS
from services.tickets import contract
from services.tickets.domain import Scope, require_admin, require_seat, scope_for, seat_view
from services.tickets.domain.lifecycle import scope_to_wire
from services.tickets.models import idempotency, outbox, processed_events
from services.tickets.sagas import INLINE_BUDGET, Sagas
from services.tickets.store import Errors, Job, Store

CONVERSATIONS_TIMEOUT = 10.0
RESUME_SECONDS = 1.0
SMALL_BULK_BUDGET = 4.0
"""Seconds a bulk request of up to 100 tickets may run before answering (it normally takes far less)."""


def bulk_budget(count: int) -> float:
    """Up to 100 items a bulk request runs to the end (every result in its answer); a larger job
    answers at once (202) and the resume sweep, a second later, runs it."""
    return SMALL_BULK_BUDGET if count <= contract.MAX_BULK else 0.0


class LifecycleEntrypoints:
    """Mixed into :class:`~services.tickets.service.TicketsService`."""

    store: Store
    caller: CurrentCaller
    permissions: ServiceRpc
    _owner_errors: Callable[..., Errors]
    _team_errors: Callable[..., Errors]
    conversations = ServiceRpc(conversations_contract.SERVICE_NAME, timeout=CONVERSATIONS_TIMEOUT)

    def _sagas(self) -> Sagas:
        return Sagas(self.store, self.conversations.as_system())

    def _start(
        self, key: IdempotencyKey | None, start: Callable[[], int], *, budget: float | None = None
    ) -> tuple[Job, bool]:
        """Start a job (or find the one ``key`` started) and run it; returns it and whether it is a replay.

        A retry can arrive while the first request is still starting the job (its answer was lost
        with a gateway that died; the retry went to another instance): it waits for the first's
        locks, then finds its own request refused (the tickets are merged already, say). When the
        key's job exists by then, the retry is that job's replay, not a Conflict."""
        sagas = self._sagas()
        first = self.store.jobs.replay(key)
        if first is not None:
            return sagas.run(first.id, held=False), True
        try:
            job_id = start()
        except Conflict:
            raced = self.store.jobs.replay(key)
            if raced is None:
                raise
            return sagas.run(raced.id, held=False), True
        return sagas.run(job_id, budget=INLINE_BUDGET if budget is None else budget), False

    def _replayed(self, answer: dict[str, Any], replayed: bool) -> dict[str, Any]:
        """The answer as the caller may see it (:func:`seat_view`), marked when it is a replay."""
        answer = dict(seat_view(require_caller(self.caller), answer))
        if replayed:
            answer[REPLAYED] = True
        return answer

    def _visible(self, caller: Caller, ticket_id: int) -> Scope:
        """The caller's scope, after making sure they may see the (live) ticket: 404/301 first."""
        scope = scope_for(caller)
        self.store.tickets.get(scope=scope, user_id=caller.user_id, ticket_id=ticket_id, mark_read=False)
        return scope

    # -- merge and split ---------------------------------------------------------------------------------
    @rpc
    def merge_tickets(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Merge ``secondary_id`` into ``primary_id``; answers the survivor."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        body = load(contract.MergeSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "merge_tickets", data)
        job, replayed = self._start(
            key,
            lambda: self.store.merges.start(
                scope=scope,
                actor_id=caller.user_id,
                primary_id=body["primary_id"],
                secondary_id=body["secondary_id"],
                key=key,
            ),
        )
        primary_id = job.data["primary_id"]
        ticket = self.store.tickets.get(
            scope=scope, user_id=caller.user_id, ticket_id=primary_id, mark_read=False
        )
        return self._replayed(ticket, replayed)

    @rpc
    def split_ticket(
        self, ticket_id: int, data: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Move ``message_ids`` of one email thread to a new thread on a new ticket; answers that ticket."""
        caller = require_caller(self.caller)
        require_seat(caller, "Ticket splits")
        tid = require_id(ticket_id, "ticket_id")
        scope = self._visible(caller, tid)
        body = load(contract.SplitSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, f"split_ticket:{tid}", data)
        if self.store.jobs.replay(key) is None:
            self.conversations.as_system().check_split(tid, body["message_ids"])
        invalid = {
            **self._owner_errors(body["ticket"].get("owner_id")),
            **self._team_errors(body["ticket"].get("team_id")),
        }
        job, replayed = self._start(
            key,
            lambda: self.store.splits.start(
                scope=scope,
                actor_id=caller.user_id,
                ticket_id=tid,
                message_ids=body["message_ids"],
                data=body["ticket"],
                key=key,
                invalid=invalid,
            ),
        )
        if job.state == "failed":
            raise Conflict(job.error or "the split could not be made", job_id=job.id)
        new_id = (job.result or {}).get("ticket_id") or job.data["new_ticket_id"]
        ticket = self.store.tickets.get(
            scope=scope, user_id=caller.user_id, ticket_id=new_id, mark_read=False
        )
        return self._replayed(ticket, replayed)

    # -- spam --------------------------------------------------------------------------------------------
    @rpc
    def mark_spam(
        self, ticket_id: int, data: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Mark threads of the ticket as spam (all of them: the ticket goes to the bin as well)."""
        caller = require_caller(self.caller)
        tid = require_id(ticket_id, "ticket_id")
        scope = self._visible(caller, tid)
        if not caller.has(DELETE_TICKETS):
            raise Forbidden("Marking spam needs the delete permission.")
        body = load(contract.SpamSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, f"mark_spam:{tid}", data)
        live: list[int] = []
        if self.store.jobs.replay(key) is None:
            live = list(self.conversations.as_system().ticket_thread_ids(tid))
        job, replayed = self._start(
            key,
            lambda: self.store.spam.start(
                scope=scope,
                actor_id=caller.user_id,
                ticket_id=tid,
                thread_ids=body["thread_ids"],
                live_threads=live,
                key=key,
            ),
        )
        answer = job.result or {
            **{k: job.data[k] for k in ("ticket_id", "thread_ids", "ticket_deleted")},
            "job_id": job.id,
        }
        return self._replayed(dict(answer), replayed)

    @rpc
    def not_spam(self, thread_id: int, idempotency_key: str | None = None) -> dict[str, Any]:
        """Give a spam thread back to its ticket: restored from the bin, or made anew, if needed."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        thid = require_id(thread_id, "thread_id")
        key = IdempotencyKey.of(caller.user_id, idempotency_key, f"not_spam:{thid}", {})
        thread: dict[str, Any] = {}
        if self.store.jobs.replay(key) is None:
            thread = self.conversations.as_system().spam_thread(thid)
            if not scope.allows(thread.get("owner_id")):
                raise NotFound(f"thread {thid} does not exist")
            if not caller.has(DELETE_TICKETS):
                raise Forbidden("Marking a thread as not spam needs the delete permission.")
        job, replayed = self._start(
            key,
            lambda: self.store.spam.unspam_start(
                scope=scope, actor_id=caller.user_id, thread=thread, key=key
            ),
        )
        if job.state == "failed":
            raise Conflict(job.error or "the thread could not be restored", job_id=job.id)
        answer = job.result or {
            "thread_id": thid,
            "ticket_id": job.data["ticket_id"],
            "ticket_restored": job.data["mode"] == "restore",
            "ticket_created": job.data["mode"] == "create",
            "job_id": job.id,
        }
        return self._replayed(dict(answer), replayed)

    # -- delete, restore, the bin ------------------------------------------------------------------------
    @rpc
    def delete_ticket(self, ticket_id: int) -> dict[str, Any]:
        """To the recycle bin with its conversations; answers the ticket as the bin shows it."""
        caller = require_caller(self.caller)
        tid = require_id(ticket_id, "ticket_id")
        scope = self._visible(caller, tid)
        if not caller.has(DELETE_TICKETS):
            raise Forbidden("Deleting tickets needs the delete permission.")
        self._start(
            None, lambda: self.store.bin.delete_one(scope=scope, actor_id=caller.user_id, ticket_id=tid)
        )
        return dict(seat_view(caller, self.store.bin.item(user_id=caller.user_id, ticket_id=tid)))

    @rpc
    def bulk_delete(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Delete many tickets as a job; ``confirm_count`` must equal the number of ids."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        if not caller.has(BULK_DELETE):
            raise Forbidden("Bulk delete needs the bulk delete permission.")
        body = load(contract.BulkDeleteSchema, data)
        key = IdempotencyKey.of(caller.user_id, idempotency_key, "bulk_delete", data)
        job, replayed = self._start(
            key,
            lambda: self.store.bin.bulk_start(
                scope=scope, actor_id=caller.user_id, ticket_ids=body["ids"], key=key
            ),
            budget=bulk_budget(len(body["ids"])),
        )
        return self._replayed(self._bulk_answer(job, deletes=True), replayed)

    @rpc
    def restore_ticket(self, ticket_id: int) -> dict[str, Any]:
        """Out of the recycle bin with its conversations (account access); answers the ticket."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        tid = require_id(ticket_id, "ticket_id")
        self.store.bin.visible(scope=scope, ticket_id=tid)  # visibility (the bin included) first
        if not caller.has(ACCOUNT_ACCESS):
            raise Forbidden("Restoring tickets needs account access.")
        self._start(
            None, lambda: self.store.bin.restore_start(scope=scope, actor_id=caller.user_id, ticket_id=tid)
        )
        restored = self.store.tickets.get(scope=scope, user_id=caller.user_id, ticket_id=tid, mark_read=False)
        return dict(seat_view(caller, restored))

    @rpc
    def recycle_bin(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Deleted tickets the caller may see, newest first (delete, bulk delete or account access)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        if not any(caller.has(p) for p in (DELETE_TICKETS, BULK_DELETE, ACCOUNT_ACCESS)):
            raise Forbidden("The recycle bin needs the delete, bulk delete or account access permission.")
        q = load(contract.BinQuerySchema, query or {})
        page = self.store.bin.page(scope=scope, user_id=caller.user_id, limit=q["limit"], cursor=q["cursor"])
        return dict(seat_view(caller, page))

    # -- pipelines and stages ----------------------------------------------------------------------------
    @rpc
    def delete_pipeline(
        self, pipeline_id: int, query: dict[str, Any] | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Delete a pipeline once its tickets moved to the stage ``move_to`` names (account access)."""
        return self._retire(require_id(pipeline_id, "pipeline_id"), None, query, idempotency_key)

    @rpc
    def delete_stage(
        self,
        pipeline_id: int,
        stage_id: int,
        query: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Delete a stage once its tickets moved to the stage ``move_to`` names (account access)."""
        pid, sid = require_id(pipeline_id, "pipeline_id"), require_id(stage_id, "stage_id")
        return self._retire(pid, sid, query, idempotency_key)

    def _retire(
        self,
        pipeline_id: int,
        stage_id: int | None,
        query: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        q = load(contract.MoveToQuerySchema, query or {})
        operation = f"retire:{pipeline_id}:{stage_id}"
        key = IdempotencyKey.of(caller.user_id, idempotency_key, operation, {"move_to": q["move_to"]})
        job, replayed = self._start(
            key,
            lambda: self.store.retire.start(
                actor_id=caller.user_id,
                pipeline_id=pipeline_id,
                stage_id=stage_id,
                move_to=q["move_to"],
                key=key,
            ),
        )
        return self._replayed(dict(self.store.jobs.answer(job_id=job.id)), replayed)

    # -- jobs --------------------------------------------------------------------------------------------
    @rpc
    def get_job(self, job_id: int) -> dict[str, Any]:
        """A job's progress and first 100 per-ticket results, for whoever started it (and super admins)."""
        caller = require_caller(self.caller)
        jid = require_id(job_id, "job_id")
        admin = caller.is_super_admin
        job = dict(self.store.jobs.get(job_id=jid, user_id=caller.user_id, admin=admin))
        first = self.store.jobs.items(
            job_id=jid, user_id=caller.user_id, admin=admin, outcome=None, limit=100, cursor=None
        )
        return dict(
            seat_view(caller, {**job, "items": first["items"], "items_next_cursor": first["next_cursor"]})
        )

    @rpc
    def job_items(self, job_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        q = load(contract.JobItemQuerySchema, query or {})
        items = self.store.jobs.items(
            job_id=require_id(job_id, "job_id"),
            user_id=caller.user_id,
            admin=caller.is_super_admin,
            outcome=q.get("outcome"),
            limit=q["limit"],
            cursor=q["cursor"],
        )
        return dict(seat_view(caller, items))

    def _bulk_answer(self, job: Job, *, deletes: bool) -> dict[str, Any]:
        answer = dict(self.store.jobs.answer(job_id=job.id))
        if job.total <= contract.MAX_BULK and not job.running:
            if deletes:
                answer["results"] = [
                    _delete_result(item) for item in self.store.jobs.all_items(job_id=job.id)
                ]
            else:
                answer["results"] = self.store.bulk.results(job_id=job.id)
        return answer

    @timer(interval=RESUME_SECONDS)
    def resume_jobs(self) -> None:
        """Finish jobs nobody is running: their runner crashed, or their request answered 202."""
        self._sagas().resume()

    # -- the retention service's calls -------------------------------------------------------------------
    @rpc
    def bin_due(self, cutoff: str, limit: int = 500) -> list[dict[str, Any]]:
        """Tickets in the bin since ``cutoff`` or earlier (system callers only)."""
        require_system(require_caller(self.caller))
        return list(self.store.bin.due(cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit)))

    @rpc
    def begin_purge(self, ticket_ids: list[int], cutoff: str) -> dict[str, list[int]]:
        """Which of these may be purged now (``purging``: they can no longer be restored) and which are
        gone already (``missing``); system callers only."""
        require_system(require_caller(self.caller))
        return dict(
            self.store.bin.begin_purge(
                ticket_ids=id_list(ticket_ids, "ticket_ids"), cutoff=moment_arg(cutoff, "cutoff")
            )
        )

    @rpc
    def purge_tickets(self, ticket_ids: list[int]) -> list[int]:
        """Delete for good the tickets whose purge began (system callers only); returns those deleted."""
        require_system(require_caller(self.caller))
        return list(self.store.bin.purge(ticket_ids=id_list(ticket_ids, "ticket_ids")))

    @rpc
    def housekeep(self, cutoff: str, limit: int = 1000) -> dict[str, int]:
        """Delete old published outbox rows, processed-event ids, idempotency keys (system callers only)."""
        require_system(require_caller(self.caller))
        tables = {
            "outbox": outbox.table,
            "processed_events": processed_events,
            "idempotency_keys": idempotency,
        }
        return sweep(
            self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit, most=5000)
        )

    @rpc
    def access_scope(self) -> dict[str, Any]:
        """The caller's ticket scope under the one access rule, for services that filter their own
        lists by it (the spam view): everything, or these owners (and maybe unassigned)."""
        return scope_to_wire(scope_for(require_caller(self.caller)))


def _delete_result(item: dict[str, Any]) -> dict[str, Any]:
    """A bulk delete item in the shape of bulk results: 200 done, 404 not found, 409 otherwise."""
    if item["outcome"] == "done":
        return {"id": item["ticket_id"], "status": 200}
    status = 404 if item["reason"] == "not found" else 409
    return {"id": item["ticket_id"], "status": status, "error": {"detail": item["reason"] or item["outcome"]}}
