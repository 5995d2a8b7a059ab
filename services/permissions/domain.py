"""Rules of the permissions service, as plain Python (no nameko, no SQLAlchemy).

Who may do what to people, teams and tokens:

* **People admins** are super admins and holders of ``account_access``. They see and
  manage every user, team and token.
* Everyone else sees only themself (and the teams they belong to); anything else
  does not exist for them (404). On their own record they may change ``name`` and
  ``email`` only; touching a protected field is refused (403). They may issue and
  revoke their own tokens.
* Only a super admin may grant ``super_admin``, or change, issue tokens for or
  revoke tokens of a user who is a super admin (otherwise an admin with account
  access could act as one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller

TOKEN_PREFIX = "hd_"

PROTECTED_FIELDS = frozenset({"permissions", "access_level", "include_unassigned", "seat", "team_ids"})
"""Fields that shape a user's access: only people admins change them, on anyone."""

SUPER_ADMIN = "super_admin"


def new_token() -> str:
    """A fresh API token (256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """How a token is stored. Tokens are random, so one SHA-256 is enough (no guessing to slow)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class UserRecord:
    """What the access rules need about a user, as stored."""

    id: int
    name: str
    permissions: frozenset[str]
    access_level: str
    include_unassigned: bool
    seat: bool
    team_ids: tuple[int, ...]


def caller_for(user: UserRecord, teammate_ids: Iterable[int]) -> Caller:
    """The identity to sign for ``user``; team-mates include the user themself."""
    mates = set(teammate_ids) | {user.id}
    return Caller(
        user_id=user.id,
        name=user.name,
        permissions=user.permissions,
        access_level=user.access_level,
        include_unassigned=user.include_unassigned,
        team_ids=tuple(sorted(user.team_ids)),
        teammate_ids=tuple(sorted(mates)),
        seat=user.seat,
    )


def encode_permissions(names: Iterable[str]) -> str:
    return " ".join(sorted(set(names)))


def decode_permissions(text: str | None) -> frozenset[str]:
    return frozenset((text or "").split())


BOOTSTRAP_ADMIN = {
    "name": "admin",
    "email": "admin@localhost",
    "permissions": [
        "super_admin",
        "service_access",
        "sales_access",
        "account_access",
        "delete_tickets",
        "bulk_delete",
    ],
    "access_level": "everything",
    "include_unassigned": True,
    "seat": True,
    "team_ids": [],
}


# -- who may see and change what -------------------------------------------------


def is_people_admin(actor: Caller) -> bool:
    """Super admins and holders of ``account_access`` manage users, teams and tokens."""
    return actor.has("account_access")


def may_see_user(actor: Caller, user_id: int) -> bool:
    """People admins see everyone; anyone else sees only themself."""
    return is_people_admin(actor) or actor.user_id == user_id


def may_see_team(actor: Caller, team_id: int) -> bool:
    """People admins see every team; anyone else sees the teams they belong to."""
    return is_people_admin(actor) or team_id in actor.team_ids


def check_user_change(
    actor: Caller,
    target_id: int | None,
    target_is_super_admin: bool,
    changed: Collection[str],
    granted: Collection[str],
) -> None:
    """Refuse (Forbidden) a change of ``changed`` fields granting ``granted`` permissions.

    ``target_id`` is None for a new user. The caller must already be allowed to see
    the target (:func:`may_see_user`).
    """
    if not changed:
        return
    if not is_people_admin(actor):
        if target_id is None or target_id != actor.user_id:
            raise Forbidden("Managing users needs account access.")
        protected = sorted(PROTECTED_FIELDS.intersection(changed))
        if protected:
            raise Forbidden(f"You cannot change your own {', '.join(protected)}.")
        return
    if actor.is_super_admin:
        return
    if target_is_super_admin:
        raise Forbidden("Only a super admin can change a super admin.")
    if SUPER_ADMIN in granted:
        raise Forbidden("Only a super admin can grant super_admin.")


def check_token_change(actor: Caller, owner_id: int, owner_is_super_admin: bool) -> None:
    """Refuse (Forbidden) issuing or revoking a token of ``owner_id`` unless allowed.

    Anyone manages their own tokens; people admins manage others', but a super
    admin's tokens only another super admin.
    """
    if actor.user_id == owner_id:
        return
    if not is_people_admin(actor):
        raise Forbidden("Managing other users' tokens needs account access.")
    if owner_is_super_admin and not actor.is_super_admin:
        raise Forbidden("Only a super admin can manage a super admin's tokens.")


def check_team_change(actor: Caller, touches_super_admin: bool) -> None:
    """Refuse (Forbidden) creating or changing a team unless the caller is a people admin.

    Adding a super admin to a team or removing one from it is a change to that super
    admin, so it needs a super admin.
    """
    if not is_people_admin(actor):
        raise Forbidden("Managing teams needs account access.")
    if touches_super_admin and not actor.is_super_admin:
        raise Forbidden("Only a super admin can change a super admin's teams.")


def diff_user(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``patch`` whose value differs from ``current`` (normalised), with new values.

    Lists that are sets (permissions, team ids) compare as sets; e-mail compares
    case-insensitively. Sending a field with its current value is not a change.
    """
    changed: dict[str, Any] = {}
    for name, value in patch.items():
        if name in ("permissions", "team_ids"):
            new: Any = sorted(set(value))
            if new != sorted(set(current.get(name, ()))):
                changed[name] = new
        elif name == "email":
            if value.lower() != str(current.get("email", "")).lower():
                changed[name] = value.lower()
        elif value != current.get(name):
            changed[name] = value
    return changed


def granted_permissions(current: Collection[str], new: Collection[str]) -> frozenset[str]:
    """Permissions in ``new`` that ``current`` lacks."""
    return frozenset(new) - frozenset(current)


# -- lists -----------------------------------------------------------------------


def parse_sort(sort: str | None, allowed: Collection[str], default: str) -> tuple[str, bool]:
    """``"-updated_at"`` -> ``("updated_at", True)``; an unknown key is a 422."""
    text = sort or default
    key, descending = (text[1:], True) if text.startswith("-") else (text, False)
    if key not in allowed:
        options = ", ".join(f"{k}, -{k}" for k in allowed)
        raise ValidationFailed(errors={"sort": [f"must be one of {options}"]})
    return key, descending


def check_limit(limit: object) -> int:
    """A page size: an integer from 1 to 100 (never clamped)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValidationFailed(errors={"limit": ["must be an integer between 1 and 100"]})
    return limit


def encode_cursor(sort: str, value: Any, last_id: int) -> str:
    """An opaque cursor naming the last row of a page under ``sort``."""
    raw = json.dumps([sort, value.isoformat() if hasattr(value, "isoformat") else value, last_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """``(value, id)`` of a cursor made for the same ``sort``; anything else is a 422."""
    try:
        made_for, value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if made_for != sort or isinstance(last_id, bool) or not isinstance(last_id, int):
            raise ValueError("cursor of another list")
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValidationFailed(errors={"cursor": ["not a valid cursor for this list"]}) from exc
    return value, last_id
