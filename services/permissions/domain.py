"""Rules of the permissions service, as plain Python."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from services.chassis.identity import Caller

TOKEN_PREFIX = "hd_"


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
    "permissions": ["super_admin", "service_access", "sales_access", "account_access", "delete_tickets", "bulk_delete"],
    "access_level": "everything",
    "include_unassigned": True,
    "seat": True,
    "team_ids": [],
}
