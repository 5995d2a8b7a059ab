"""Public contract of the permissions service: its name, events, wire schemas.

Other services and the gateway import this module (never the service's internals).
The permissions service owns users, teams and membership, API tokens, permission
sets, service seats and each user's ticket access level, and it is the only issuer
of signed caller identities for people (see ``services.chassis.identity``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.chassis.identity import ACCESS_LEVELS, PERMISSIONS

SERVICE_NAME = "permissions"

# Events (payloads carry the ids named; consumers re-read what they need).
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"  # permissions, access level, seat, teams or name changed
TEAM_CREATED = "team_created"
TEAM_UPDATED = "team_updated"  # membership changed
TOKEN_REVOKED = "token_revoked"

IDENTITY_EVENTS = (USER_CREATED, USER_UPDATED, TEAM_CREATED, TEAM_UPDATED, TOKEN_REVOKED)
"""Events after which a cached identity may be stale."""


class UserSchema(Schema):
    """A user as the permissions service returns it."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    permissions = fields.List(fields.String(validate=validate.OneOf(PERMISSIONS)), load_default=list)
    access_level = fields.String(validate=validate.OneOf(ACCESS_LEVELS), load_default="owned")
    include_unassigned = fields.Boolean(load_default=False)
    team_ids = fields.List(fields.Integer(), load_default=list)
    seat = fields.Boolean(load_default=False)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class UserPatchSchema(UserSchema):
    """Partial update of a user: every field optional."""

    class Meta:
        partial = True


class TeamSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    member_ids = fields.List(fields.Integer(), dump_only=True)


class TokenSchema(Schema):
    """An issued token; ``token`` is shown once and never stored in clear."""

    id = fields.Integer(dump_only=True)
    token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
