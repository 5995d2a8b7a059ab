"""Public contract of the permissions service: its name, events, wire schemas.

Other services and the gateway import this module (never the service's internals).
The permissions service owns users, teams and membership, API tokens, passwords
(argon2id hashes), set-password invites and browser sessions, permission sets,
service seats and each user's ticket access level, and it is the only issuer of
signed caller identities for people (see ``services.chassis.identity``).

Input schemas refuse unknown fields and read-only fields (``id``, ``created_at``...)
alike: marshmallow treats a ``dump_only`` field sent in a body as unknown, and
``unknown`` is ``RAISE``. Event schemas ignore unknown fields so that producers can
add optional ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, validate

from services.chassis.identity import CALLER_KINDS, SUPER_ADMIN, Caller
from services.chassis.identity import INTEGRATION as INTEGRATION  # token kinds are this vocabulary too
from services.chassis.identity import PERSON as PERSON
from services.chassis.paging import PageQuery, page_schema, sort_options
from services.chassis.schema import (
    CleanEmail,
    CleanText,
    EventPayload,
    Id,
    Input,
    QueryId,
    StrictBoolean,
    Timestamp,
)

SERVICE_NAME = "permissions"

# The permission vocabulary (super_admin implies every other permission).
SERVICE_ACCESS = "service_access"
SALES_ACCESS = "sales_access"
DELETE_TICKETS = "delete_tickets"
BULK_DELETE = "bulk_delete"
ACCOUNT_ACCESS = "account_access"
PERMISSIONS = (SERVICE_ACCESS, SALES_ACCESS, DELETE_TICKETS, BULK_DELETE, ACCOUNT_ACCESS, SUPER_ADMIN)
ACCESS_LEVELS = ("everything", "team", "owned", "none")
"""Ticket access levels: all tickets, the user's teams' tickets, their own, or none."""

TOKEN_KINDS = CALLER_KINDS
"""``person``: the user's own token. ``integration``: a service token a script or another system acts
with in the user's name; its changes notify nobody unless it is issued with ``quiet: false``."""

TICKET_ACCESS = frozenset({SERVICE_ACCESS, SALES_ACCESS, SUPER_ADMIN})
"""Permissions of which a user needs one to view, edit and reply to tickets (or to own one)."""


def works_tickets(caller: Caller) -> bool:
    """Viewing, editing and replying to tickets needs service or sales access (super admins have both)."""
    return caller.is_super_admin or bool(TICKET_ACCESS & caller.permissions)


def owner_problem(user: Mapping[str, Any] | None, owner_id: int) -> str | None:
    """Why ``user`` (this service's record of ``owner_id``, None if unknown) cannot own tickets,
    or None: the rule every service that assigns a ticket or a thread applies."""
    if user is None:
        return f"user {owner_id} does not exist"
    if not TICKET_ACCESS & set(user.get("permissions") or ()):
        return f"user {owner_id} has neither service nor sales access"
    return None


# Events (payloads carry the ids named; consumers re-read what they need).
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"  # any field changed; ``changed`` names them
TEAM_CREATED = "team_created"
TEAM_UPDATED = "team_updated"  # name or membership changed
TOKEN_REVOKED = "token_revoked"
SESSION_REVOKED = "session_revoked"  # sign-out, revocation, a new password

IDENTITY_EVENTS = (USER_CREATED, USER_UPDATED, TEAM_CREATED, TEAM_UPDATED, TOKEN_REVOKED, SESSION_REVOKED)
"""Events after which a cached identity may be stale."""

USER_SORTS = ("updated_at", "created_at", "name", "email", "id")
TEAM_SORTS = ("updated_at", "created_at", "name", "id")
DEFAULT_SORT = "-updated_at"


class UserPatchSchema(Input):
    """Partial update of a user: any subset of the writable fields, none defaulted."""

    id = fields.Integer(dump_only=True)
    name = CleanText(validate=validate.Length(min=1, max=200))
    email = CleanEmail(validate=validate.Length(max=320))
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)))
    access_level = fields.String(validate=validate.OneOf(ACCESS_LEVELS))
    include_unassigned = StrictBoolean()
    team_ids = fields.List(Id())
    seat = StrictBoolean()
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class UserSchema(UserPatchSchema):
    """A user: the body of a create (``name`` and ``email`` required) and every user answer."""

    name = CleanText(required=True, validate=validate.Length(min=1, max=200))
    email = CleanEmail(required=True, validate=validate.Length(max=320))
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)), load_default=list)
    access_level = fields.String(validate=validate.OneOf(ACCESS_LEVELS), load_default="owned")
    include_unassigned = StrictBoolean(load_default=False)
    team_ids = fields.List(Id(), load_default=list)
    seat = StrictBoolean(load_default=False)


class TeamSchema(Input):
    """A team: the body of a create or rename (``name``) and every team answer."""

    id = fields.Integer(dump_only=True)
    name = CleanText(required=True, validate=validate.Length(min=1, max=200))
    member_ids = fields.List(fields.Integer(), dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class TeamMembersSchema(Input):
    """The whole membership of a team; it replaces the previous one."""

    user_ids = fields.List(Id(), required=True)


class TokenCreateSchema(Input):
    """Body of a token request; it may be empty.

    ``kind`` is ``person`` (default) or ``integration`` (a service token); ``quiet`` says that
    changes made with the token notify nobody, and defaults to true for integrations only.
    """

    label = CleanText(validate=validate.Length(max=200), load_default=None, allow_none=True)
    kind = fields.String(validate=validate.OneOf(TOKEN_KINDS), load_default=PERSON)
    quiet = StrictBoolean(load_default=None, allow_none=True)


class TokenSchema(Input):
    """An API token's record; ``token`` appears only in the answer that issues it."""

    id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    label = fields.String(dump_only=True, allow_none=True)
    kind = fields.String(dump_only=True)
    quiet = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    last_used_at = Timestamp(dump_only=True, allow_none=True)
    revoked_at = Timestamp(dump_only=True, allow_none=True)


class SignInSchema(Input):
    """Body of a sign-in: the user's address (any case) and password. Neither is checked for form
    here: whatever does not match a user and their password is the same 401."""

    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class SessionSchema(Input):
    """A browser session's record (never its secret, which only the cookie holds)."""

    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    last_seen_at = Timestamp(dump_only=True)
    expires_at = Timestamp(dump_only=True)
    revoked_at = Timestamp(dump_only=True, allow_none=True)


class InviteSchema(Input):
    """A set-password invite: ``token`` (and the gateway's ``url`` carrying it) appear only in the
    answer that issues it; it works once, until ``expires_at``, and a newer invite replaces it."""

    user_id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True)
    url = fields.String(dump_only=True)
    expires_at = Timestamp(dump_only=True)


def set_password_url(base_url: str, token: str) -> str:
    """The web workspace's set-password link for an invite token. The token travels in the
    fragment, which browsers send to no server (no access log, no Referer holds it)."""
    return f"{base_url.rstrip('/')}/set-password#token={token}"


class UserCreateQuerySchema(Input):
    """Query of a user's creation at the gateway: ``invite=true`` answers a set-password invite too."""

    invite = fields.Boolean(load_default=False)


class InviteAcceptSchema(Input):
    """Body of setting a password with an invite: its ``token`` and the new ``password``
    (10 to 1024 characters)."""

    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=validate.Length(min=10, max=1024))


class InviteAcceptedSchema(Input):
    """Whose password was set: the address to sign in with."""

    user_id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)


class PasswordChangeSchema(Input):
    """Body of a signed-in user changing their own password: the ``current_password`` they sign
    in with now and the ``new_password`` (10 to 1024 characters, not the current one)."""

    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=10, max=1024))


class PasswordChangedSchema(Input):
    """Whose password changed, when, and how many of their sessions that ended (all of them: a
    browser that made the change gets a fresh one)."""

    user_id = fields.Integer(dump_only=True)
    password_set_at = Timestamp(dump_only=True)
    sessions_ended = fields.Integer(dump_only=True)


class SessionQuerySchema(PageQuery):
    """Query of a user's sessions: a page, newest first."""


class SeatCountSchema(Input):
    """Service seats in use (users with ``seat``) out of all users."""

    in_use = fields.Integer(dump_only=True)
    users = fields.Integer(dump_only=True)


UserPageSchema = page_schema(UserSchema)
TeamPageSchema = page_schema(TeamSchema)
TokenPageSchema = page_schema(TokenSchema)
SessionPageSchema = page_schema(SessionSchema)


class UserQuerySchema(PageQuery):
    """Query of the users list: page, sort, a part of the name or email, a team."""

    sort = fields.String(validate=validate.OneOf(sort_options(USER_SORTS)), load_default=DEFAULT_SORT)
    q = fields.String(validate=validate.Length(max=200), load_default=None)
    team_id = QueryId(load_default=None)


class TeamQuerySchema(PageQuery):
    """Query of the teams list: page and sort."""

    sort = fields.String(validate=validate.OneOf(sort_options(TEAM_SORTS)), load_default=DEFAULT_SORT)


class TokenQuerySchema(PageQuery):
    """Query of a user's tokens: a page, newest first."""


MAX_ACCESS_RECORDS = 1000


class AccessRecordSchema(Schema):
    """What another service needs to act on a user's behalf (``access_records``, system callers):
    their name and address, and ``caller``, the identity fields their signed identity would carry
    (``services.chassis.identity.Caller.to_wire``), so the owner of an access rule can apply it."""

    user_id = fields.Integer()
    name = fields.String()
    email = fields.String()
    caller = fields.Dict()


class AdminDirectorySchema(Schema):
    """``admin_directory``'s answer, read in one transaction: who the super admins are and how many
    users there are (notifications decides the recipients of a new ticket with both)."""

    super_admin_ids = fields.List(fields.Integer(), required=True)
    user_count = fields.Integer(required=True)


# -- event payloads -------------------------------------------------------------


class UserCreatedEvent(EventPayload):
    """A user exists; ``affected_user_ids`` are the users whose identity changed (their team-mates)."""

    user_id = fields.Integer(required=True)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class UserUpdatedEvent(EventPayload):
    """A user changed; ``changed`` names the fields, ``affected_user_ids`` whose identity may differ."""

    user_id = fields.Integer(required=True)
    changed = fields.List(fields.String(), required=True)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class TeamCreatedEvent(EventPayload):
    """A team exists; it starts without members."""

    team_id = fields.Integer(required=True)
    name = fields.String(required=True)


class TeamUpdatedEvent(EventPayload):
    """A team was renamed or its membership changed."""

    team_id = fields.Integer(required=True)
    changed = fields.List(fields.String(), required=True)
    added_user_ids = fields.List(fields.Integer(), load_default=list)
    removed_user_ids = fields.List(fields.Integer(), load_default=list)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class TokenRevokedEvent(EventPayload):
    """A token no longer authenticates."""

    token_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)


class SessionRevokedEvent(EventPayload):
    """Sessions of a user no longer authenticate (signed out, revoked, or the password changed)."""

    user_id = fields.Integer(required=True)
    session_ids = fields.List(fields.Integer(), load_default=list)


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    USER_CREATED: UserCreatedEvent,
    USER_UPDATED: UserUpdatedEvent,
    TEAM_CREATED: TeamCreatedEvent,
    TEAM_UPDATED: TeamUpdatedEvent,
    TOKEN_REVOKED: TokenRevokedEvent,
    SESSION_REVOKED: SessionRevokedEvent,
}
"""The payload schema of every event this service publishes."""
