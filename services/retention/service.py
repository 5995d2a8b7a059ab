"""nameko entrypoints of the retention service: purge runs on a schedule and on request,
dry runs, the audit, and housekeeping for every service.

The schedule is a timer that ticks every few seconds: it resumes a run whose runner died
(its lease ran out), else starts one when the configured interval has passed since the last.
A requested run (account access) works for a few seconds and answers; what is left the
schedule finishes, and ``get_run`` follows it. The protocol is in :mod:`.purge`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nameko.dependency_providers import Config

from services.chassis.errors import Conflict, Forbidden
from services.chassis.housekeeping import sweep
from services.chassis.identity import Caller
from services.chassis.metrics import Telemetry
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id
from services.chassis.system import moment_arg
from services.chassis.timer import timer
from services.conversations import contract as conversations_contract
from services.notifications import contract as notifications_contract
from services.permissions import contract as permissions_contract
from services.permissions.contract import ACCOUNT_ACCESS
from services.retention import contract
from services.retention.domain import Policy, run_is_due
from services.retention.models import outbox, processed_events
from services.retention.purge import Purger
from services.retention.store import Store
from services.tickets import contract as tickets_contract

OWNER_TIMEOUT = 30.0
TICK_SECONDS = 2.0
REQUEST_BUDGET = 3.0
"""Seconds a requested run works before answering (the schedule finishes the rest)."""
SCHEDULE_BUDGET = 20.0


def require_account_access(caller: Caller) -> None:
    if not caller.has(ACCOUNT_ACCESS):
        raise Forbidden("Retention needs account access.")


class RetentionService:
    """Purges the spam view and the recycle bin when their periods pass; sweeps old bookkeeping."""

    name = contract.SERVICE_NAME
    telemetry = Telemetry()

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME, timeout=OWNER_TIMEOUT)
    conversations = ServiceRpc(conversations_contract.SERVICE_NAME, timeout=OWNER_TIMEOUT)
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=OWNER_TIMEOUT)
    notifications = ServiceRpc(notifications_contract.SERVICE_NAME, timeout=OWNER_TIMEOUT)

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    def _policy(self) -> Policy:
        return Policy.from_config(self.config)

    def _purger(self) -> Purger:
        housekeepers = {
            name: client.as_system().housekeep
            for name, client in (
                (permissions_contract.SERVICE_NAME, self.permissions),
                (tickets_contract.SERVICE_NAME, self.tickets),
                (conversations_contract.SERVICE_NAME, self.conversations),
                (notifications_contract.SERVICE_NAME, self.notifications),
            )
        }
        housekeepers[contract.SERVICE_NAME] = self._housekeep_here
        return Purger(
            self.store,
            self._policy(),
            tickets=self.tickets.as_system(),
            conversations=self.conversations.as_system(),
            housekeepers=housekeepers,
        )

    def _housekeep_here(self, cutoff: str, limit: int) -> dict[str, int]:
        tables = {"outbox": outbox.table, "processed_events": processed_events}
        return sweep(self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit)

    # -- runs --------------------------------------------------------------------------------------------
    @rpc
    def run(self, data: dict[str, Any]) -> dict[str, Any]:
        """A purge now (or a dry run: what would go, and when). Account access."""
        caller = require_caller(self.caller)
        require_account_access(caller)
        body = load(contract.RunRequestSchema, data)
        if body["dry_run"]:
            return self._dry_run(body["horizon_days"], body["limit"])
        run_id = self.store.start_run(trigger="request", actor_id=caller.user_id)
        self._purger().run(run_id, budget=REQUEST_BUDGET)
        return self.store.run_dict(run_id=run_id)

    def _dry_run(self, horizon_days: float, limit: int) -> dict[str, Any]:
        policy = self._policy()
        now = self.store.clock.now()
        items: list[dict[str, Any]] = []
        owners = (
            ("spam_thread", self.conversations.as_system().spam_due),
            ("bin_ticket", self.tickets.as_system().bin_due),
        )
        for kind, due in owners:
            cutoff = policy.cutoff(kind, now, horizon_days)
            for item in due(cutoff.isoformat(), limit):
                marked = _moment(item["marked_at"])
                items.append(
                    {
                        "kind": kind,
                        "id": item["id"],
                        "policy": contract.KIND_POLICY[kind],
                        "policy_days": policy.days(kind),
                        "marked_at": item["marked_at"],
                        "due_at": policy.due_at(kind, marked).isoformat(),
                        "purged_at": None,
                        "run_id": None,
                    }
                )
        items.sort(key=lambda i: i["due_at"])
        counts: dict[str, int] = {}
        for item in items:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        return {
            "id": None,
            "dry_run": True,
            "trigger": "request",
            "state": "done",
            "phase": "finished",
            "started_at": now.isoformat(),
            "finished_at": now.isoformat(),
            "purged": counts,
            "housekeeping": {},
            "error": None,
            "items": items,
        }

    @rpc
    def get_run(self, run_id: int) -> dict[str, Any]:
        require_account_access(require_caller(self.caller))
        return self.store.run_dict(run_id=require_id(run_id, "run_id"))

    @rpc
    def audit(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Purged items, most recent first (kept after the purge: what, when, under which policy)."""
        require_account_access(require_caller(self.caller))
        q = load(contract.AuditQuerySchema, query or {})
        return self.store.audit_page(kind=q.get("kind"), limit=q["limit"], cursor=q["cursor"])

    @rpc
    def policies(self) -> list[dict[str, Any]]:
        require_account_access(require_caller(self.caller))
        return self._policy().as_list()

    @timer(interval=TICK_SECONDS)
    def tick(self) -> None:
        """Resume a run whose runner died, else start the scheduled one when it is due."""
        run_id = self.store.claim_stale()
        if run_id is None:
            now = self.store.clock.now()
            if not run_is_due(self.store.last_started(), now, self._policy().every_seconds):
                return
            try:
                run_id = self.store.start_run(trigger="schedule", actor_id=None)
            except Conflict:
                return
        self._purger().run(run_id, budget=SCHEDULE_BUDGET)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
