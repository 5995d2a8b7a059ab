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

from eventlet import tpool
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider

from services.chassis.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.chassis.housekeeping import sweep
from services.chassis.idempotency import IdempotencyKey
from services.chassis.identity import DEFAULT_TTL_SECONDS, Caller, sign
from services.chassis.metrics import Telemetry
from services.chassis.outbox import OutboxRelay
from services.chassis.paging import Sort
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.chassis.schema import load, require_id
from services.chassis.secrets import identity_secret
from services.chassis.system import limit_arg, moment_arg, require_system
from services.permissions import contract
from services.permissions.contract import SUPER_ADMIN
from services.permissions.credentials import (
    CURRENT_PASSWORD_REFUSED,
    HashCost,
    Passwords,
    check_invite,
    check_password_rules,
    new_invite_token,
    new_session_id,
    secret_hash,
)
from services.permissions.domain import (
    caller_for,
    check_team_change,
    check_token_change,
    check_user_change,
    granted_permissions,
    hash_token,
    is_people_admin,
    may_see_team,
    may_see_user,
    new_token,
    token_quiet,
)
from services.permissions.models import idempotency, outbox, processed_events
from services.permissions.store import Store

SIGN_IN_REFUSED = "The email address or the password is not right."
"""The one answer to a failed sign-in, whatever failed (unknown address, no password yet, wrong one)."""


class PasswordHashing(DependencyProvider):
    """Gives workers the container's :class:`Passwords`, at the cost ``PASSWORD_HASH`` names.

    Hashing runs in a real thread (``eventlet.tpool``): it takes tens of milliseconds on
    purpose, and on the hub it would stall every other worker meanwhile."""

    def setup(self) -> None:
        self.passwords = Passwords(HashCost.from_config(self.container.config.get("PASSWORD_HASH")))
        self.passwords.decoy()  # made now, so that no sign-in pays for it (its timing would tell)

    def get_dependency(self, worker_ctx: Any) -> Passwords:
        return self.passwords


class PermissionsService:
    """Users, teams, tokens and the signed identities built from them."""

    name = contract.SERVICE_NAME
    telemetry = Telemetry()

    config = Config()
    store = Store()
    relay = OutboxRelay("store", outbox)
    caller = CurrentCaller()
    passwords = PasswordHashing()

    def _actor(self) -> Caller:
        """The caller, with permissions and teams as stored now (system callers as signed)."""
        caller = require_caller(self.caller)
        if caller.system:
            return caller
        try:
            record, mates = self.store.users.record(user_id=caller.user_id)
        except NotFound:
            raise Unauthenticated("The calling user does not exist.") from None
        return caller_for(record, mates)

    def _visible_user(self, actor: Caller, user_id: Any) -> int:
        uid = require_id(user_id, "user_id")
        if not may_see_user(actor, uid):
            raise NotFound(f"user {uid} does not exist")
        return uid

    def _visible_team(self, actor: Caller, team_id: Any) -> int:
        tid = require_id(team_id, "team_id")
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
        holder = self.store.tokens.holder(token_hash=hash_token(token))
        if holder is None:
            raise Unauthenticated("The API token is not valid.")
        record, mates = self.store.users.record(user_id=holder.user_id)
        caller = caller_for(record, mates, kind=holder.kind, quiet=holder.quiet)
        return {
            "user_id": holder.user_id,
            "identity": sign(caller, identity_secret(self.config), DEFAULT_TTL_SECONDS),
            "ttl": DEFAULT_TTL_SECONDS,
        }

    # sign-in: passwords, sessions, invites ---------------------------------
    @rpc(public=True)
    def sign_in(self, data: dict[str, Any]) -> dict[str, Any]:
        """Start a session for the user whose ``email`` and ``password`` (``contract.SignInSchema``)
        these are.

        Answers ``user`` (``contract.UserSchema``), ``session`` (the secret, for the cookie: shown
        nowhere else), ``expires_at`` and ``max_age`` (seconds the session can last at most).
        Anything else is Unauthenticated with one message, and an unknown address costs the same
        hashing work as a wrong password.
        """
        body = load(contract.SignInSchema, data)
        found = self.store.credentials.password_of(email=body["email"])
        matched = tpool.execute(self.passwords.verify, found.password_hash, body["password"])
        if not matched or found.user_id is None or found.password_hash is None:
            raise Unauthenticated(SIGN_IN_REFUSED)
        if self.passwords.needs_rehash(found.password_hash):
            new_hash = tpool.execute(self.passwords.hash, body["password"])
            self.store.credentials.rehash(
                user_id=found.user_id, old_hash=found.password_hash, new_hash=new_hash
            )
        session_id = new_session_id()
        record = self.store.credentials.open(user_id=found.user_id, session_hash=secret_hash(session_id))
        return {
            "user": self.store.users.get(user_id=found.user_id),
            "session": session_id,
            "expires_at": record["expires_at"],
            "max_age": int(self.store.credentials.policy.absolute.total_seconds()),
        }

    @rpc(public=True)
    def authenticate_session(self, session: str) -> dict[str, Any]:
        """Exchange a live session's secret for a signed identity (valid ``ttl`` seconds), or 401."""
        if not isinstance(session, str) or not session:
            raise Unauthenticated("No session given.")
        user_id = self.store.credentials.holder(session_hash=secret_hash(session))
        if user_id is None:
            raise Unauthenticated("The session has ended; sign in again.")
        try:
            record, mates = self.store.users.record(user_id=user_id)
        except NotFound:
            raise Unauthenticated("The session has ended; sign in again.") from None
        return {
            "user_id": user_id,
            "identity": sign(caller_for(record, mates), identity_secret(self.config), DEFAULT_TTL_SECONDS),
            "ttl": DEFAULT_TTL_SECONDS,
        }

    @rpc
    def end_session(self, session: str) -> bool:
        """Sign out: end the caller's session whose secret is ``session`` (``session_revoked``);
        False when it had already ended or is not the caller's."""
        actor = require_caller(self.caller)
        if not isinstance(session, str) or not session:
            return False
        return self.store.credentials.end(session_hash=secret_hash(session), user_id=actor.user_id)

    @rpc
    def list_sessions(self, user_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of the user's sessions (never their secrets), newest first."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        q = load(contract.SessionQuerySchema, query or {})
        return self.store.credentials.page(user_id=uid, limit=q["limit"], cursor=q["cursor"])

    @rpc
    def revoke_session(self, session_id: int) -> dict[str, Any]:
        """Revoke a session at once (``session_revoked``), under the same rules as a token."""
        actor = self._actor()
        sid = require_id(session_id, "session_id")
        owner = self.store.credentials.owner(session_id=sid)
        if not may_see_user(actor, owner):
            raise NotFound(f"session {sid} does not exist")
        return self.store.credentials.revoke(
            session_id=sid, check=lambda owner_is_sa: check_token_change(actor, owner, owner_is_sa)
        )

    @rpc
    def invite(self, user_id: int) -> dict[str, Any]:
        """A one-time set-password invite for the user (people admins; a super admin's, super admins).

        The answer is the only place ``token`` appears; earlier unused invites of the user stop
        working."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        token = new_invite_token()
        record = self.store.credentials.invite(
            user_id=uid,
            token_hash=secret_hash(token),
            created_by=None if actor.system else actor.user_id,
            check=lambda owner_is_sa: check_invite(actor, owner_is_sa),
        )
        return {**record, "token": token}

    @rpc(public=True)
    def accept_invite(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set a password with an invite (``contract.InviteAcceptSchema``): once, before it expires.
        Ends the user's sessions; answers ``user_id`` and ``email``.

        A password that breaks the rules is a ValidationFailed on ``password`` (the invite is
        not used up); a token that does not work, one on ``token``."""
        body = load(contract.InviteAcceptSchema, data)
        check_password_rules(body["password"])
        password_hash = tpool.execute(self.passwords.hash, body["password"])
        return self.store.credentials.accept_invite(
            token_hash=secret_hash(body["token"]), password_hash=password_hash
        )

    @rpc
    def change_password(self, data: dict[str, Any], new_session: bool = False) -> dict[str, Any]:
        """The calling user changes their own password (``contract.PasswordChangeSchema``).

        The current password is checked against the stored argon2id hash first: a wrong one is a
        ValidationFailed on ``current_password``, a new one that breaks the rules or equals the
        current one, on ``new_password``; either way nothing changes. Then every session of the
        user ends (``session_revoked``), as when an invite sets a password: whoever learnt the old
        password is signed out. With ``new_session`` (the change came from a browser session) the
        answer carries a fresh ``session`` for that browser, with ``expires_at`` and ``max_age``
        as a sign-in answers them. API tokens are not passwords and keep working.
        """
        caller = require_caller(self.caller)
        if caller.system:
            raise Forbidden("A system identity has no password to change.")
        body = load(contract.PasswordChangeSchema, data)
        check_password_rules(body["new_password"], field="new_password")
        stored = self.store.credentials.password_hash_of(user_id=caller.user_id)
        matched = tpool.execute(self.passwords.verify, stored, body["current_password"])
        if not matched or stored is None:
            raise ValidationFailed(errors={"current_password": [CURRENT_PASSWORD_REFUSED]})
        if body["new_password"] == body["current_password"]:
            raise ValidationFailed(errors={"new_password": ["must differ from the current password"]})
        new_hash = tpool.execute(self.passwords.hash, body["new_password"])
        changed = self.store.credentials.change_password(
            user_id=caller.user_id, old_hash=stored, new_hash=new_hash
        )
        if not new_session:
            return changed
        session_id = new_session_id()
        record = self.store.credentials.open(user_id=caller.user_id, session_hash=secret_hash(session_id))
        return {
            **changed,
            "session": session_id,
            "expires_at": record["expires_at"],
            "max_age": int(self.store.credentials.policy.absolute.total_seconds()),
        }

    # users ---------------------------------------------------------------
    @rpc
    def create_user(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a user (``contract.UserSchema``); people admins only."""
        actor = self._actor()
        if not is_people_admin(actor):
            raise Forbidden("Managing users needs account access.")
        payload = load(contract.UserSchema, data)
        check_user_change(actor, None, False, set(payload), payload["permissions"])
        key = IdempotencyKey.of(actor.user_id, idempotency_key, "create_user", data)
        return self.store.users.create(data=payload, key=key)

    @rpc
    def get_user(self, user_id: int) -> dict[str, Any]:
        """A user the caller may see (themself, or anyone for people admins)."""
        actor = self._actor()
        return self.store.users.get(user_id=self._visible_user(actor, user_id))

    @rpc
    def me(self) -> dict[str, Any]:
        """The calling user."""
        return self.store.users.get(user_id=self._actor().user_id)

    @rpc
    def update_user(self, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Change some fields of a user (``contract.UserPatchSchema``) under the domain rules."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        patch = load(contract.UserPatchSchema, data)

        def check(current: dict[str, Any], changes: dict[str, Any]) -> None:
            before = current["permissions"]
            granted = granted_permissions(before, changes.get("permissions", before))
            check_user_change(actor, uid, SUPER_ADMIN in before, set(changes), granted)

        return self.store.users.update(user_id=uid, patch=patch, check=check)

    @rpc
    def list_users(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of users (people admins only); ``query`` as in ``contract.UserQuerySchema``."""
        actor = self._actor()
        if not is_people_admin(actor):
            raise Forbidden("Listing users needs account access.")
        q = load(contract.UserQuerySchema, query or {})
        return self.store.users.page(
            limit=q["limit"],
            cursor=q["cursor"],
            sort=Sort.parse(q["sort"], contract.USER_SORTS, contract.DEFAULT_SORT),
            q=q["q"],
            team_id=q["team_id"],
        )

    @rpc
    def super_admin_ids(self) -> list[int]:
        """Ids of every super admin (notifications use it for ``ticket_created``)."""
        require_caller(self.caller)
        return self.store.users.super_admin_ids()

    @rpc
    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        """For system callers only: each existing user's name, address and identity fields
        (``contract.AccessRecordSchema``), so a service can apply its own access rule on a
        user's behalf (tickets' ``audience``) or write to them (notifications). Unknown ids are
        left out."""
        caller = require_caller(self.caller)
        if not caller.system:
            raise Forbidden("Access records are for the services themselves.")
        if not isinstance(user_ids, list) or len(user_ids) > contract.MAX_ACCESS_RECORDS:
            raise ValidationFailed(
                errors={"user_ids": [f"must be a list of at most {contract.MAX_ACCESS_RECORDS} ids"]}
            )
        ids = [require_id(uid, "user_ids") for uid in user_ids]
        return [
            {
                "user_id": record.id,
                "name": record.name,
                "email": email,
                "caller": caller_for(record, mates).to_wire(),
            }
            for record, mates, email in self.store.users.records(user_ids=ids)
        ]

    @rpc
    def seat_count(self) -> dict[str, int]:
        """How many service seats are in use (people admins; they assign seats with ``seat`` on users)."""
        actor = self._actor()
        if not is_people_admin(actor):
            raise Forbidden("Seat counts need account access.")
        return self.store.users.seat_count()

    @rpc
    def user_count(self) -> int:
        require_caller(self.caller)
        return self.store.users.count()

    @rpc
    def admin_directory(self) -> dict[str, Any]:
        """The super admins' ids and the number of users (``contract.AdminDirectorySchema``), read
        together: one call where notifications made two (``super_admin_ids``, ``user_count``,
        both kept for callers of an earlier release)."""
        require_caller(self.caller)
        admins, count = self.store.users.admin_directory()
        return {"super_admin_ids": admins, "user_count": count}

    # tokens --------------------------------------------------------------
    @rpc
    def issue_token(
        self, user_id: int, data: dict[str, Any] | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """A new API token for the user; the answer is the only place ``token`` ever appears.

        Only the token's hash is kept, so ``idempotency_key`` cannot replay that answer: the key
        used again with the same request issues nothing and is a Conflict naming the token issued
        under it (``token_id``; a client that lost the value revokes it and asks again with a new
        key), so a retried request never leaves a second live credential behind. With another
        request it is the usual Conflict."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        body = load(contract.TokenCreateSchema, {} if data is None else data)
        key = IdempotencyKey.of(actor.user_id, idempotency_key, f"issue_token:{uid}", data or {})
        token = new_token()
        record = self.store.tokens.add(
            user_id=uid,
            token_hash=hash_token(token),
            label=body["label"],
            kind=body["kind"],
            quiet=token_quiet(body["kind"], body["quiet"]),
            check=lambda owner_is_sa: check_token_change(actor, uid, owner_is_sa),
            key=key,
        )
        return {**record, "token": token}

    @rpc
    def list_tokens(self, user_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of the user's tokens (never their values), newest first."""
        actor = self._actor()
        uid = self._visible_user(actor, user_id)
        q = load(contract.TokenQuerySchema, query or {})
        return self.store.tokens.page(user_id=uid, limit=q["limit"], cursor=q["cursor"])

    @rpc
    def revoke_token(self, token_id: int) -> dict[str, Any]:
        """Revoke a token at once (``token_revoked``); revoking a revoked token is a no-op."""
        actor = self._actor()
        tid = require_id(token_id, "token_id")
        owner = self.store.tokens.owner(token_id=tid)
        if not may_see_user(actor, owner):
            raise NotFound(f"token {tid} does not exist")
        return self.store.tokens.revoke(
            token_id=tid, check=lambda owner_is_sa: check_token_change(actor, owner, owner_is_sa)
        )

    # teams ---------------------------------------------------------------
    @rpc
    def create_team(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Create a team (``contract.TeamSchema``), without members; people admins only."""
        actor = self._actor()
        check_team_change(actor, touches_super_admin=False)
        payload = load(contract.TeamSchema, data)
        key = IdempotencyKey.of(actor.user_id, idempotency_key, "create_team", data)
        return self.store.teams.create(name=payload["name"], key=key)

    @rpc
    def get_team(self, team_id: int) -> dict[str, Any]:
        """A team the caller may see (one they belong to, or any for people admins)."""
        actor = self._actor()
        return self.store.teams.get(team_id=self._visible_team(actor, team_id))

    @rpc
    def list_teams(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of the teams the caller may see; ``query`` as in ``contract.TeamQuerySchema``."""
        actor = self._actor()
        q = load(contract.TeamQuerySchema, query or {})
        return self.store.teams.page(
            limit=q["limit"],
            cursor=q["cursor"],
            sort=Sort.parse(q["sort"], contract.TEAM_SORTS, contract.DEFAULT_SORT),
            only=None if is_people_admin(actor) else actor.team_ids,
        )

    @rpc
    def update_team(self, team_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Rename a team; people admins only."""
        actor = self._actor()
        tid = self._visible_team(actor, team_id)
        check_team_change(actor, touches_super_admin=False)
        payload = load(contract.TeamSchema, data)
        return self.store.teams.rename(team_id=tid, name=payload["name"])

    @rpc
    def set_team_members(self, team_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Replace a team's members with ``user_ids`` (``contract.TeamMembersSchema``)."""
        actor = self._actor()
        tid = self._visible_team(actor, team_id)
        check_team_change(actor, touches_super_admin=False)
        payload = load(contract.TeamMembersSchema, data)
        return self.store.teams.set_members(
            team_id=tid,
            user_ids=payload["user_ids"],
            check=lambda touches_sa: check_team_change(actor, touches_sa),
        )

    @rpc
    def housekeep(self, cutoff: str, limit: int = 1000) -> dict[str, int]:
        """Delete old published outbox rows, processed-event ids, idempotency keys (the retention
        service's housekeeping; system callers only)."""
        require_system(require_caller(self.caller))
        tables = {
            "outbox": outbox.table,
            "processed_events": processed_events,
            "idempotency_keys": idempotency,
        }
        return sweep(
            self.store.db, tables, cutoff=moment_arg(cutoff, "cutoff"), limit=limit_arg(limit, most=5000)
        )
