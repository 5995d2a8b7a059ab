"""nameko entrypoints of the conversations' side of a ticket's lifecycle, and the spam view.

The tickets service's jobs call these (as themselves: :func:`require_system`) to make threads
follow a merge, split, spam mark, delete or restore of their ticket; the retention service
calls them to purge. Each is idempotent (see :mod:`services.conversations.store.lifecycle`).
The spam view is for people with the delete permission, under the one access rule as the
tickets service states it for the caller.
"""

from __future__ import annotations

from typing import Any

from services.chassis.errors import Forbidden
from services.chassis.housekeeping import sweep
from services.chassis.rpc import CurrentCaller, ServiceRpc, require_caller, rpc
from services.chassis.schema import load, require_id
from services.chassis.system import id_list, limit_arg, moment_arg, require_system
from services.conversations import contract
from services.conversations.blobs import Blobs
from services.conversations.domain import access
from services.conversations.models import idempotency, outbox, processed_events
from services.conversations.store import Purged, Store
from services.permissions.contract import DELETE_TICKETS

KEY_LENGTH = 100


class LifecycleEntrypoints:
    """Mixed into :class:`~services.conversations.service.ConversationsService`."""

    store: Store
    caller: CurrentCaller
    tickets: ServiceRpc
    blobs: Blobs

    def _system(self) -> None:
        require_system(require_caller(self.caller))

    # -- the tickets service's jobs ----------------------------------------------------------------------
    @rpc
    def reassign_threads(self, from_ticket_id: int, to_ticket_id: int) -> list[int]:
        """A merge: every thread of ``from_ticket_id`` now belongs to ``to_ticket_id``."""
        self._system()
        return list(
            self.store.lifecycle.reassign(
                from_ticket_id=require_id(from_ticket_id, "from_ticket_id"),
                to_ticket_id=require_id(to_ticket_id, "to_ticket_id"),
            )
        )

    @rpc
    def check_split(self, ticket_id: int, message_ids: list[int]) -> int:
        """The thread the messages would be split from; 422 unless some (not all) of one email thread's."""
        self._system()
        return int(
            self.store.lifecycle.check_split(
                ticket_id=require_id(ticket_id, "ticket_id"), message_ids=id_list(message_ids, "message_ids")
            )
        )

    @rpc
    def split_messages(
        self, key: str, ticket_id: int, message_ids: list[int], new_ticket_id: int
    ) -> dict[str, Any]:
        """Move the messages to a new thread on ``new_ticket_id`` (once per ``key``); answers that thread."""
        self._system()
        if not isinstance(key, str) or not 1 <= len(key) <= KEY_LENGTH:
            raise Forbidden("a split needs the key of the job that makes it")
        return dict(
            self.store.lifecycle.split(
                key=key,
                ticket_id=require_id(ticket_id, "ticket_id"),
                message_ids=id_list(message_ids, "message_ids"),
                new_ticket_id=require_id(new_ticket_id, "new_ticket_id"),
            )
        )

    @rpc
    def ticket_thread_ids(self, ticket_id: int) -> list[int]:
        """The ticket's threads that are neither spam nor deleted."""
        self._system()
        return list(self.store.lifecycle.ticket_thread_ids(ticket_id=require_id(ticket_id, "ticket_id")))

    @rpc
    def mark_spam(
        self, ticket_id: int, thread_ids: list[int], owner_id: int | None, actor_id: int
    ) -> list[int]:
        """The threads go to the spam view, remembering who owned their ticket (the view's access)."""
        self._system()
        return list(
            self.store.lifecycle.mark_spam(
                ticket_id=require_id(ticket_id, "ticket_id"),
                thread_ids=id_list(thread_ids, "thread_ids"),
                owner_id=None if owner_id is None else require_id(owner_id, "owner_id"),
                actor_id=require_id(actor_id, "actor_id"),
            )
        )

    @rpc
    def spam_thread(self, thread_id: int) -> dict[str, Any]:
        """A spam thread as "not spam" needs it (its ticket, that ticket's owner, a new ticket's fields)."""
        self._system()
        return dict(self.store.lifecycle.spam_thread(thread_id=require_id(thread_id, "thread_id")))

    @rpc
    def unmark_spam(self, thread_id: int, ticket_id: int, actor_id: int) -> dict[str, Any]:
        """The thread leaves the spam view for ``ticket_id``."""
        self._system()
        return dict(
            self.store.lifecycle.unmark_spam(
                thread_id=require_id(thread_id, "thread_id"),
                ticket_id=require_id(ticket_id, "ticket_id"),
                actor_id=require_id(actor_id, "actor_id"),
            )
        )

    @rpc
    def delete_ticket_threads(self, ticket_ids: list[int]) -> int:
        """The tickets went to the recycle bin: their (non-spam) threads are deleted with them."""
        self._system()
        return int(self.store.lifecycle.delete_ticket_threads(ticket_ids=id_list(ticket_ids, "ticket_ids")))

    @rpc
    def restore_ticket_threads(self, ticket_ids: list[int]) -> int:
        """The tickets left the recycle bin: their threads come back."""
        self._system()
        return int(self.store.lifecycle.restore_ticket_threads(ticket_ids=id_list(ticket_ids, "ticket_ids")))

    # -- the spam view -----------------------------------------------------------------------------------
    @rpc
    def list_spam(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Threads marked spam, most recent first: those whose ticket the caller could see when marked
        (the delete permission is needed, as for marking)."""
        caller = require_caller(self.caller)
        access.require_ticket_work(caller)
        if not caller.has(DELETE_TICKETS):
            raise Forbidden("The spam view needs the delete permission.")
        q = load(contract.SpamQuerySchema, query or {})
        scope = self.tickets.access_scope()
        return dict(self.store.lifecycle.spam_page(scope=scope, limit=q["limit"], cursor=q["cursor"]))

    # -- the retention service's calls -------------------------------------------------------------------
    @rpc
    def spam_due(self, cutoff: str, limit: int = 500) -> list[dict[str, Any]]:
        """Spam threads marked at ``cutoff`` or earlier, oldest first."""
        self._system()
        return list(
            self.store.lifecycle.spam_due(cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit))
        )

    @rpc
    def purge_spam_threads(self, thread_ids: list[int], cutoff: str) -> dict[str, list[int]]:
        """Delete for good those still spam since ``cutoff`` or earlier. Answers those ``purged`` now
        and those ``missing`` (gone already: purged by an earlier call whose answer was lost)."""
        self._system()
        purged = self.store.lifecycle.purge_spam(
            thread_ids=id_list(thread_ids, "thread_ids"), cutoff=moment_arg(cutoff, "cutoff")
        )
        return {"purged": self._forget(purged), "missing": purged.missing}

    @rpc
    def purge_ticket_threads(self, ticket_ids: list[int]) -> list[int]:
        """The tickets are purged: their threads go for good (spam ones keep their own period)."""
        self._system()
        return self._forget(
            self.store.lifecycle.purge_ticket_threads(ticket_ids=id_list(ticket_ids, "ticket_ids"))
        )

    def _forget(self, purged: Purged) -> list[int]:
        """After the commit: attachment contents no message uses any more leave the blob store.
        (A crash before this leaves an orphan blob, which is harmless.)"""
        for key in self.store.lifecycle.unreferenced(keys=purged.blob_keys):
            self.blobs.delete(key)
        return purged.thread_ids

    @rpc
    def housekeep(self, cutoff: str, limit: int = 1000) -> dict[str, int]:
        """Delete old published outbox rows, processed-event ids and idempotency keys."""
        self._system()
        tables = {
            "outbox": outbox.table,
            "processed_events": processed_events,
            "idempotency_keys": idempotency,
        }
        return sweep(
            self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit, most=5000)
        )
