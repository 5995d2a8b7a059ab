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

import hashlib
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.chassis.domain import Event
from services.chassis.errors import Conflict, Forbidden
from services.chassis.identity import Caller
from services.permissions import contract
from services.permissions.contract import ACCOUNT_ACCESS, SUPER_ADMIN

TOKEN_PREFIX = "hd_"

PROTECTED_FIELDS = frozenset({"permissions", "access_level", "include_unassigned", "seat", "team_ids"})
"""Fields that shape a user's access: only people admins change them, on anyone."""


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


def caller_for(
    user: UserRecord, teammate_ids: Iterable[int], *, kind: str = contract.PERSON, quiet: bool = False
) -> Caller:
    """The identity to sign for ``user``; team-mates include the user themself. ``kind`` and
    ``quiet`` come from the token presented (an integration's service token, say)."""
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
        kind=kind,
        quiet=quiet,
    )


def token_quiet(kind: str, quiet: bool | None) -> bool:
    """Whether changes made with a new token notify nobody: as asked, else only for integrations."""
    return kind == contract.INTEGRATION if quiet is None else quiet


def encode_permissions(names: Iterable[str]) -> str:
    return " ".join(sorted(set(names)))


def decode_permissions(text: str | None) -> frozenset[str]:
    return frozenset((text or "").split())


BOOTSTRAP_ADMIN = {
    "name": "admin",
    "email": "admin@localhost",
    "permissions": [
        contract.SUPER_ADMIN,
        contract.SERVICE_ACCESS,
        contract.SALES_ACCESS,
        contract.ACCOUNT_ACCESS,
        contract.DELETE_TICKETS,
        contract.BULK_DELETE,
    ],
    "access_level": "everything",
    "include_unassigned": True,
    "seat": True,
    "team_ids": [],
}


# -- who may see and change what -------------------------------------------------


def is_people_admin(actor: Caller) -> bool:
    """Super admins and holders of ``account_access`` manage users, teams and tokens."""
    return actor.has(ACCOUNT_ACCESS)


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


def check_super_admins_remain(super_admin_ids: Collection[int]) -> None:
    """At least one super admin must remain, or nobody could ever grant the permission again."""
    if not super_admin_ids:
        raise Conflict("At least one super admin must remain.")


# -- membership ------------------------------------------------------------------


Pair = tuple[int, int]
"""(team id, user id): one membership."""


@dataclass(frozen=True)
class MembershipChange:
    """The events a membership change announces, and every user whose identity it may change."""

    events: tuple[Event, ...]
    affected_user_ids: frozenset[int]


def membership_change(
    before: Mapping[int, Collection[int]],
    after: Mapping[int, Collection[int]],
    adds: Collection[Pair],
    removes: Collection[Pair],
    *,
    announce_users: bool,
    announce_teams: bool,
) -> MembershipChange:
    """What adding and removing (team, user) pairs announces.

    ``before``/``after`` are the touched teams' members around the change. Everyone
    in a touched team, before or after, may see their signed identity change (team
    ids, team-mates), so each ``team_updated`` and ``user_updated`` names them in
    ``affected_user_ids``. A change made through a user announces the teams (the user
    gets its own ``user_updated``); one made through a team announces both sides.
    """
    changed = set(adds) | set(removes)
    touched_teams = sorted({t for t, _ in changed})
    affected_by_team = {t: set(before.get(t, ())) | set(after.get(t, ())) for t in touched_teams}
    events: list[Event] = []
    if announce_teams:
        for team_id in touched_teams:
            payload = {
                "team_id": team_id,
                "changed": ["member_ids"],
                "added_user_ids": sorted(u for t, u in adds if t == team_id),
                "removed_user_ids": sorted(u for t, u in removes if t == team_id),
                "affected_user_ids": sorted(affected_by_team[team_id]),
            }
            events.append(Event(contract.TEAM_UPDATED, payload))
    if announce_users:
        for user_id in sorted({u for _, u in changed}):
            mine = {t for t, u in changed if u == user_id}
            affected = set().union(*(affected_by_team[t] for t in mine))
            payload = {"user_id": user_id, "changed": ["team_ids"], "affected_user_ids": sorted(affected)}
            events.append(Event(contract.USER_UPDATED, payload))
    everyone = frozenset().union(*affected_by_team.values()) if affected_by_team else frozenset()
    return MembershipChange(tuple(events), everyone)


# -- what changes announce -------------------------------------------------------


def user_created(user_id: int, affected_user_ids: Iterable[int]) -> Event:
    """A user exists; their team-mates' identities changed too."""
    return Event(
        contract.USER_CREATED,
        {"user_id": user_id, "affected_user_ids": sorted(set(affected_user_ids) | {user_id})},
    )


def user_updated(user_id: int, changed: Iterable[str], affected_user_ids: Iterable[int]) -> Event:
    """Fields of a user changed; ``affected_user_ids`` are those whose identity may differ."""
    return Event(
        contract.USER_UPDATED,
        {"user_id": user_id, "changed": sorted(changed), "affected_user_ids": sorted(set(affected_user_ids))},
    )


def team_created(team_id: int, name: str) -> Event:
    return Event(contract.TEAM_CREATED, {"team_id": team_id, "name": name})


def team_renamed(team_id: int) -> Event:
    return Event(contract.TEAM_UPDATED, {"team_id": team_id, "changed": ["name"]})


def token_revoked(token_id: int, user_id: int) -> Event:
    return Event(contract.TOKEN_REVOKED, {"token_id": token_id, "user_id": user_id})
