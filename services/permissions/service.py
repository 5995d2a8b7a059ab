"""nameko entrypoints of the permissions service: decode, apply the rules, answer."""

from __future__ import annotations

from typing import Any

from services.chassis import config as cfg
from services.chassis.errors import Unauthenticated
from services.chassis.identity import DEFAULT_TTL_SECONDS, sign
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.permissions import contract
from services.permissions.domain import caller_for, hash_token
from services.permissions.models import outbox
from services.permissions.store import Store

from nameko.dependency_providers import Config


class PermissionsService:
    """Users, teams, tokens and the signed identities built from them."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()

    @rpc(public=True)
    def ping(self) -> str:
        return "pong"

    @rpc(public=True)
    def authenticate(self, token: str) -> dict[str, Any]:
        """Exchange an API token for a signed identity (valid ``ttl`` seconds), or 401."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("No API token given.")
        user_id = self.store.user_for_token(hash_token(token))
        if user_id is None:
            raise Unauthenticated("The API token is not valid.")
        record, mates = self.store.user_record(user_id)
        secret = cfg.required(self.config, cfg.IDENTITY_SECRET)
        return {
            "user_id": user_id,
            "identity": sign(caller_for(record, mates), secret, DEFAULT_TTL_SECONDS),
            "ttl": DEFAULT_TTL_SECONDS,
        }

    @rpc
    def super_admin_ids(self) -> list[int]:
        """Ids of every super admin (notifications use it for ``ticket_created``)."""
        require_caller(self.caller)
        return self.store.super_admin_ids()

    @rpc
    def user_count(self) -> int:
        require_caller(self.caller)
        return self.store.count_users()
