"""Public contract of the permissions service: its name, events, wire schemas.

Other services and the gateway import this module (never the service's internals).
The permissions service owns users, teams and membership, API tokens, permission
sets, service seats and each user's ticket access level, and it is the only issuer
of signed caller identities for people (see ``services.chassis.identity``).

Input schemas refuse unknown fields and read-only fields (``id``, ``created_at``...)
alike: marshmallow treats a ``dump_only`` field sent in a body as unknown, and
``unknown`` is ``RAISE``. Event schemas ignore unknown fields so that producers can
add optional ones.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from services.chassis.identity import ACCESS_LEVELS, PERMISSIONS

SERVICE_NAME = "permissions"

# Events (payloads carry the ids named; consumers re-read what they need).
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"  # any field changed; ``changed`` names them
TEAM_CREATED = "team_created"
TEAM_UPDATED = "team_updated"  # name or membership changed
TOKEN_REVOKED = "token_revoked"

IDENTITY_EVENTS = (USER_CREATED, USER_UPDATED, TEAM_CREATED, TEAM_UPDATED, TOKEN_REVOKED)
"""Events after which a cached identity may be stale."""

USER_SORTS = ("updated_at", "created_at", "name", "email", "id")
TEAM_SORTS = ("updated_at", "created_at", "name", "id")
DEFAULT_SORT = "-updated_at"


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``; no ``"yes"``, ``1`` or ``"true"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Id(fields.Integer):
    """A positive integer id; booleans and numeric strings are refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=validate.Range(min=1), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-any-return]


class _Input(Schema):
    class Meta:
        unknown = RAISE


class UserPatchSchema(_Input):
    """Partial update of a user: any subset of the writable fields, none defaulted."""

    id = fields.Integer(dump_only=True)
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email(validate=validate.Length(max=320))
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)))
    access_level = fields.String(validate=validate.OneOf(ACCESS_LEVELS))
    include_unassigned = StrictBoolean()
    team_ids = fields.List(Id())
    seat = StrictBoolean()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class UserSchema(UserPatchSchema):
    """A user: the body of a create (``name`` and ``email`` required) and every user answer."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=320))
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)), load_default=list)
    access_level = fields.String(validate=validate.OneOf(ACCESS_LEVELS), load_default="owned")
    include_unassigned = StrictBoolean(load_default=False)
    team_ids = fields.List(Id(), load_default=list)
    seat = StrictBoolean(load_default=False)


class TeamSchema(_Input):
    """A team: the body of a create or rename (``name``) and every team answer."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    member_ids = fields.List(fields.Integer(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TeamMembersSchema(_Input):
    """The whole membership of a team; it replaces the previous one."""

    user_ids = fields.List(Id(), required=True)


class TokenCreateSchema(_Input):
    """Body of a token request; it may be empty."""

    label = fields.String(validate=validate.Length(max=200), load_default=None, allow_none=True)


class TokenSchema(_Input):
    """An API token's record; ``token`` appears only in the answer that issues it."""

    id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    label = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class _Page(Schema):
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class UserPageSchema(_Page):
    """One page of users."""

    items = fields.List(fields.Nested(UserSchema))


class TeamPageSchema(_Page):
    """One page of teams."""

    items = fields.List(fields.Nested(TeamSchema))


class TokenPageSchema(_Page):
    """One page of a user's tokens, newest first (revoked ones included)."""

    items = fields.List(fields.Nested(TokenSchema))


# -- event payloads -------------------------------------------------------------


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True)
    occurred_at = fields.String(required=True)


class UserCreatedEvent(_Event):
    """A user exists; ``affected_user_ids`` are the users whose identity changed (their team-mates)."""

    user_id = fields.Integer(required=True)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class UserUpdatedEvent(_Event):
    """A user changed; ``changed`` names the fields, ``affected_user_ids`` whose identity may differ."""

    user_id = fields.Integer(required=True)
    changed = fields.List(fields.String(), required=True)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class TeamCreatedEvent(_Event):
    """A team exists; it starts without members."""

    team_id = fields.Integer(required=True)
    name = fields.String(required=True)


class TeamUpdatedEvent(_Event):
    """A team was renamed or its membership changed."""

    team_id = fields.Integer(required=True)
    changed = fields.List(fields.String(), required=True)
    added_user_ids = fields.List(fields.Integer(), load_default=list)
    removed_user_ids = fields.List(fields.Integer(), load_default=list)
    affected_user_ids = fields.List(fields.Integer(), load_default=list)


class TokenRevokedEvent(_Event):
    """A token no longer authenticates."""

    token_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
