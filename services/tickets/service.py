"""nameko entrypoints of the tickets service: decode, apply the rules, answer.

Every method that touches tickets starts with :func:`scope_for` (403 for callers
without service or sales access) and hands the scope to the store, which applies
it as SQL. Pipeline configuration needs account access. The only RPC this
service makes, ``permissions.get_user`` to vet a new owner, happens before the
store's transaction opens.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError
from nameko.dependency_providers import Config

from services.chassis.errors import HelpdeskError, NotFound, ValidationFailed
from services.chassis.idempotency import request_hash
from services.chassis.identity import system_identity
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.secrets import identity_secret
from services.permissions import contract as permissions_contract
from services.tickets import contract
from services.tickets.domain import (
    Sort,
    TicketFilter,
    check_new_pipeline,
    owner_problem,
    require_admin,
    scope_for,
)
from services.tickets.models import outbox
from services.tickets.store import Errors, Store

PERMISSIONS_TIMEOUT = 3.0


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValidationFailed(errors=exc.normalized_messages()) from exc


def _kind(kind: str) -> str:
    if kind not in contract.ASSOCIATION_KINDS:
        raise ValidationFailed(errors={"kind": [f"must be one of {', '.join(contract.ASSOCIATION_KINDS)}"]})
    return kind


class TicketsService:
    """Tickets, pipelines and everything recorded about a ticket."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME, timeout=PERMISSIONS_TIMEOUT)

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    # pipelines ------------------------------------------------------------------------------------
    @rpc
    def list_pipelines(self) -> list[dict[str, Any]]:
        scope_for(require_caller(self.caller))
        return self.store.pipelines()

    @rpc
    def get_pipeline(self, pipeline_id: int) -> dict[str, Any]:
        scope_for(require_caller(self.caller))
        return self.store.pipeline(int(pipeline_id))

    @rpc
    def create_pipeline(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = _load(contract.PipelineCreateSchema(), data)
        check_new_pipeline(payload)
        return self.store.create_pipeline(
            caller.user_id, payload, idempotency_key, request_hash("create_pipeline", data)
        )

    @rpc
    def rename_pipeline(self, pipeline_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = _load(contract.PipelinePatchSchema(), data)
        return self.store.rename_pipeline(caller.user_id, int(pipeline_id), payload["label"])

    @rpc
    def add_stage(
        self, pipeline_id: int, data: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = _load(contract.StageCreateSchema(), data)
        fingerprint = request_hash(f"add_stage:{pipeline_id}", data)
        return self.store.add_stage(caller.user_id, int(pipeline_id), payload, idempotency_key, fingerprint)

    @rpc
    def rename_stage(self, pipeline_id: int, stage_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = _load(contract.StagePatchSchema(), data)
        return self.store.rename_stage(caller.user_id, int(pipeline_id), int(stage_id), payload["label"])

    @rpc
    def reorder_stages(self, pipeline_id: int, data: dict[str, Any]) -> dict[str, Any]:
        caller = require_caller(self.caller)
        require_admin(caller)
        payload = _load(contract.StageOrderSchema(), data)
        return self.store.reorder_stages(caller.user_id, int(pipeline_id), payload["stage_ids"])

    # tickets --------------------------------------------------------------------------------------
    @rpc
    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope_for(caller)
        payload = _load(contract.TicketCreateSchema(), data)
        fingerprint = request_hash("create_ticket", data)
        first = self.store.replay(caller.user_id, idempotency_key, fingerprint)
        if first is not None:
            return first
        invalid = self._owner_errors(payload.get("owner_id"))
        return self.store.create_ticket(caller.user_id, payload, idempotency_key, fingerprint, invalid)

    @rpc
    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.get_ticket(scope_for(caller), caller.user_id, int(ticket_id), mark_read=mark_read)

    @rpc
    def update_ticket(
        self, ticket_id: int, data: dict[str, Any], expected_versions: list[int] | None = None
    ) -> dict[str, Any]:
        """Change fields of a ticket; with ``expected_versions`` (from If-Match) a stale version is 412."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        changes = _load(contract.TicketPatchSchema(), data)
        invalid: Errors = {}
        if changes.get("owner_id") is not None:
            current = self.store.get_ticket(scope, caller.user_id, int(ticket_id), mark_read=False)
            invalid = self._owner_errors(changes["owner_id"], current["owner_id"])
        return self.store.update_ticket(
            scope, caller.user_id, int(ticket_id), changes, expected_versions, invalid
        )

    @rpc
    def bulk_update(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply the same changes to each ticket; one result per id (an invisible one is a 404 item)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        payload = _load(contract.BulkUpdateSchema(), data)
        changes = payload["changes"]
        invalid = self._owner_errors(changes.get("owner_id"))
        results = []
        for ticket_id in payload["ids"]:
            try:
                ticket = self.store.update_ticket(scope, caller.user_id, ticket_id, changes, None, invalid)
                results.append({"id": ticket_id, "status": 200, "ticket": ticket})
            except HelpdeskError as exc:
                results.append({"id": ticket_id, "status": exc.status, "error": exc.to_dict()})
        return {"results": results}

    @rpc
    def list_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The table layout: ``query`` as in contract.TicketQuerySchema (strings are accepted)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = _load(contract.TicketQuerySchema(), query or {})
        flt, sort = TicketFilter.from_query(q), Sort.parse(q["sort"])
        return self.store.list_tickets(scope, caller.user_id, flt, sort, q["limit"], q["cursor"])

    @rpc
    def board(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The board layout of ``query['pipeline_id']`` (default: the first pipeline)."""
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = _load(contract.BoardQuerySchema(), query or {})
        flt, sort = TicketFilter.from_query(q), Sort.parse(q["sort"])
        return self.store.board(scope, caller.user_id, flt, sort, q["limit"], q.get("pipeline_id"))

    @rpc
    def timeline(self, ticket_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = _load(contract.PageQuerySchema(), query or {})
        return self.store.timeline(scope, int(ticket_id), q["limit"], q["cursor"])

    # associations ---------------------------------------------------------------------------------
    @rpc
    def add_association(self, ticket_id: int, kind: str, ref_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        return self.store.add_association(scope, caller.user_id, int(ticket_id), _kind(kind), int(ref_id))

    @rpc
    def remove_association(self, ticket_id: int, kind: str, ref_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        return self.store.remove_association(scope, caller.user_id, int(ticket_id), _kind(kind), int(ref_id))

    # follow and read state ------------------------------------------------------------------------
    @rpc
    def follow(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.follow(scope_for(caller), caller.user_id, int(ticket_id))

    @rpc
    def unfollow(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.unfollow(scope_for(caller), caller.user_id, int(ticket_id))

    @rpc
    def followers(self, ticket_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        caller = require_caller(self.caller)
        scope = scope_for(caller)
        q = _load(contract.PageQuerySchema(), query or {})
        return self.store.followers(scope, int(ticket_id), q["limit"], q["cursor"])

    @rpc
    def mark_read(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.mark_read(scope_for(caller), caller.user_id, int(ticket_id))

    @rpc
    def mark_unread(self, ticket_id: int) -> dict[str, Any]:
        caller = require_caller(self.caller)
        return self.store.mark_unread(scope_for(caller), caller.user_id, int(ticket_id))

    @rpc
    def customer_message_received(self, ticket_id: int) -> dict[str, Any]:
        """A customer wrote on the ticket: it becomes unread for everyone (conversations will call this)."""
        caller = require_caller(self.caller)
        self.store.customer_message_received(scope_for(caller), int(ticket_id))
        return {"ticket_id": int(ticket_id)}

    # helpers --------------------------------------------------------------------------------------
    def _owner_errors(self, owner_id: int | None, current_owner_id: int | None = None) -> Errors:
        """Ask the permissions service whether ``owner_id`` may own tickets (skipped when unchanged).

        The lookup runs as this service (a system identity): whether a user exists and
        may own tickets is not something the caller's own permissions should hide.
        """
        if owner_id is None or owner_id == current_owner_id:
            return {}
        client = self.permissions.with_identity(
            system_identity(contract.SERVICE_NAME, identity_secret(self.config))
        )
        try:
            user = client.get_user(owner_id)
        except NotFound:
            user = None
        problem = owner_problem(user, owner_id)
        return {"owner_id": [problem]} if problem else {}
