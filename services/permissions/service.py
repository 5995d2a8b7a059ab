"""nameko entrypoints of the permissions service: decode, apply the rules, answer.

Every non-public method authorises against the caller as currently stored, not
only as signed: an identity lives for minutes, and revoking someone's account
access must stop them managing people at once. A signed caller whose user no
longer exists is refused (401). System identities act as super admins.

Something the caller may not see (another user, a team they are not in, a token
of someone else) answers NotFound; something they see but may not change answers
Forbidden; a body that does not fit the contract answers ValidationFailed.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError
from nameko.dependency_providers import Config

from services.chassis.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.chassis.idempotency import request_hash
from services.chassis.identity import DEFAULT_TTL_SECONDS, Caller, sign
from services.chassis.outbox import OutboxRelay
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.chassis.secrets import identity_secret
from services.permissions import contract
from services.permissions.domain import (
    SUPER_ADMIN,
    caller_for,
    check_limit,
    check_team_change,
    check_token_change,
    check_user_change,
    granted_permissions,
    hash_token,
    is_people_admin,
    may_see_team,
    may_see_user,
    new_token,
    parse_sort,
)
from services.permissions.models import outbox
from services.permissions.store import Idempotency, Store


def _load(schema: Schema, data: Any, **kwargs: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"_body": ["a JSON object is required"]})
    try:
        return schema.load(data, **kwargs)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValidationFailed(errors=exc.normalized_messages()) from exc  # type: ignore[arg-type]


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(errors={name: ["must be an integer"]})
    return value


def _optional_text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(errors={name: ["must be a string"]})
    return value or None


class PermissionsService:
    """Users, teams, tokens and the signed identities built from them."""

    name = contract.SERVICE_NAME

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()

    def _actor(self) -> Caller:
        """The caller, with permissions and teams as stored now (system callers as signed)."""
        caller = require_caller(self.caller)
        if caller.system:
            return caller
        try:
            record, mates = self.store.user_record(caller.user_id)
        except NotFound:
            raise Unauthenticated("The calling user does not exist.") from None
        return caller_for(record, mates)

    def _key(self, actor: Caller, key: Any, operation: str, data: Any) -> Idempotency | None:
        text = _optional_text(key, "idempotency_key")
        return (actor.user_id, text, request_hash(operation, data)) if text else None

    def _visible_user(self, actor: Caller, user_id: Any) -> int:
        uid = _id(user_id, "user_id")
        if not may_see_user(actor, uid):
            raise NotFound(f"user {uid} does not exist")
        return uid

    def _visible_team(self, actor: Caller, team_id: Any) -> int:
        tid = _id(team_id, "team_id")
        if not may_see_team(actor, tid):
            raise NotFound(f"team {tid} does not exist")
        return tid

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
        secret = identity_secret(self.config)
        return {
            "user_id": user_id,
            "identity": sign(caller_for(record, mates), secret, DEFAULT_TTL_SECONDS),
            "ttl": DEFAULT_TTL_SECONDS,
        }

    # users ---------------------------------------------------------------
    @rpc
    def create_user(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a user (``contract.UserSchema``); people admins only."""
        actor = self._actor()
        if not is_people_admin(actor):
            raise Forbidden("Managing users needs account access.")
        payload = _load(contract.UserSchema(), data)
        check_user_change(actor, None, False, set(payload), payload["permissions"])
        return self.store.create_user(payload, key=self._key(actor, idempotency_key, "create_user", data))

    @rpc
    def get_user(self, user_id: int) -> dict[str, Any]:
        """A user the caller may see (themself, or anyone for people admins)."""
        actor = self._actor()
        return self.store.get_user(self._visible_user(actor, user_id))

    @rpc
    def me(self) -> dict[str, Any]:
        """The calling user."""
        return self.store.get_user(self._actor().user_id)

    @rpc
    def update_user(self, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Change some fields of a user (``contract.UserPatchSchema``) under the domain rules."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        patch = _load(contract.UserPatchSchema(), data)

        def check(current: dict[str, Any], changes: dict[str, Any]) -> None:
            before = current["permissions"]
            granted = granted_permissions(before, changes.get("permissions", before))
            check_user_change(actor, uid, SUPER_ADMIN in before, set(changes), granted)

        return self.store.update_user(uid, patch, check)

    @rpc
    def list_users(
        self,
        limit: int = 25,
        cursor: str | None = None,
        sort: str | None = None,
        q: str | None = None,
        team_id: int | None = None,
    ) -> dict[str, Any]:
        """A page of users (people admins only), ``sort`` one of ``contract.USER_SORTS`` (+/-)."""
        actor = self._actor()
        if not is_people_admin(actor):
            raise Forbidden("Listing users needs account access.")
        return self.store.list_users(
            limit=check_limit(limit),
            cursor=_optional_text(cursor, "cursor"),
            sort=parse_sort(_optional_text(sort, "sort"), contract.USER_SORTS, contract.DEFAULT_SORT),
            q=_optional_text(q, "q"),
            team_id=None if team_id is None else _id(team_id, "team_id"),
        )

    @rpc
    def super_admin_ids(self) -> list[int]:
        """Ids of every super admin (notifications use it for ``ticket_created``)."""
        require_caller(self.caller)
        return self.store.super_admin_ids()

    @rpc
    def user_count(self) -> int:
        require_caller(self.caller)
        return self.store.count_users()

    # tokens --------------------------------------------------------------
    @rpc
    def issue_token(self, user_id: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new API token for the user; the answer is the only place ``token`` ever appears."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        body = _load(contract.TokenCreateSchema(), {} if data is None else data)
        token = new_token()
        record = self.store.add_token(
            uid,
            hash_token(token),
            body["label"],
            lambda owner_is_sa: check_token_change(actor, uid, owner_is_sa),
        )
        return {**record, "token": token}

    @rpc
    def list_tokens(self, user_id: int, limit: int = 25, cursor: str | None = None) -> dict[str, Any]:
        """A page of the user's tokens (never their values), newest first."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        return self.store.list_tokens(uid, limit=check_limit(limit), cursor=_optional_text(cursor, "cursor"))

    @rpc
    def revoke_token(self, token_id: int) -> dict[str, Any]:
        """Revoke a token at once (``token_revoked``); revoking a revoked token is a no-op."""
        actor = self._actor()
        tid = _id(token_id, "token_id")
        owner = self.store.token_owner(tid)
        if not may_see_user(actor, owner):
            raise NotFound(f"token {tid} does not exist")
        return self.store.revoke_token(tid, lambda owner_is_sa: check_token_change(actor, owner, owner_is_sa))

    # teams ---------------------------------------------------------------
    @rpc
    def create_team(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a team (``contract.TeamSchema``), without members; people admins only."""
        actor = self._actor()
        check_team_change(actor, touches_super_admin=False)
        payload = _load(contract.TeamSchema(), data)
        return self.store.create_team(
            payload["name"], key=self._key(actor, idempotency_key, "create_team", data)
        )

    @rpc
    def get_team(self, team_id: int) -> dict[str, Any]:
        """A team the caller may see (one they belong to, or any for people admins)."""
        actor = self._actor()
        return self.store.get_team(self._visible_team(actor, team_id))

    @rpc
    def list_teams(
        self, limit: int = 25, cursor: str | None = None, sort: str | None = None
    ) -> dict[str, Any]:
        """A page of the teams the caller may see, ``sort`` one of ``contract.TEAM_SORTS`` (+/-)."""
        actor = self._actor()
        return self.store.list_teams(
            limit=check_limit(limit),
            cursor=_optional_text(cursor, "cursor"),
            sort=parse_sort(_optional_text(sort, "sort"), contract.TEAM_SORTS, contract.DEFAULT_SORT),
            only=None if is_people_admin(actor) else actor.team_ids,
        )

    @rpc
    def update_team(self, team_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Rename a team; people admins only."""
        actor = self._actor()
        tid = self._visible_team(actor, team_id)
        check_team_change(actor, touches_super_admin=False)
        payload = _load(contract.TeamSchema(), data)
        return self.store.rename_team(tid, payload["name"])

    @rpc
    def set_team_members(self, team_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Replace a team's members with ``user_ids`` (``contract.TeamMembersSchema``)."""
        actor = self._actor()
        tid = self._visible_team(actor, team_id)
        check_team_change(actor, touches_super_admin=False)
        payload = _load(contract.TeamMembersSchema(), data)
        return self.store.set_team_members(
            tid, payload["user_ids"], lambda touches_sa: check_team_change(actor, touches_sa)
        )
