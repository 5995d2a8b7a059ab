"""Rules of signing in with a password, as plain Python (no nameko, no SQLAlchemy).

* **Passwords** are stored only as argon2id hashes (:class:`Passwords`). Checking a password
  for an address nobody has, or for a user who has not set one, costs the same work as
  checking a wrong one (a hash of a random password is verified instead) and gives the same
  answer, so neither the answer nor its timing tells whether an address is known.
* **Invites** are how a user gets a password: a people admin asks for one and gets a
  one-time secret (the set-password link carries it) that stops working when it is used, when
  :data:`INVITE_LIFETIME` has passed, or when a newer invite of the same user is issued.
  Only its SHA-256 is stored.
* **Sessions** are what a browser signs in with: a random secret in a cookie, stored as its
  SHA-256 like an API token, with a last-seen time and an expiry that slides with use
  (:class:`SessionPolicy`) but never past an absolute limit. A session ends when its user
  signs out, when it is revoked (like a token), when it expires, and when its user's password
  is set anew. Every ending announces ``session_revoked`` so identity caches drop it at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.chassis.domain import Event
from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.permissions import contract
from services.permissions.domain import is_people_admin

SESSION_PREFIX = "hs_"
INVITE_PREFIX = "hi_"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
INVITE_LIFETIME = dt.timedelta(days=3)
SESSION_TOUCH_INTERVAL = dt.timedelta(seconds=60)


def new_session_id() -> str:
    """A fresh session secret (256 bits of randomness)."""
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def new_invite_token() -> str:
    """A fresh invite secret (256 bits of randomness)."""
    return INVITE_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """How a session id or an invite token is stored: random secrets need one SHA-256, no more."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def check_password_rules(password: Any, field: str = "password") -> str:
    """``password`` if it is acceptable as a new password, else ValidationFailed on ``field``.

    Length is the rule (10 to 1024 characters, counted as Unicode characters); no composition
    rules, which make passwords harder to remember and no harder to guess.
    """
    if not isinstance(password, str):
        raise ValidationFailed(errors={field: ["must be a string"]})
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(errors={field: [f"must be at least {MIN_PASSWORD_LENGTH} characters"]})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(errors={field: [f"must be at most {MAX_PASSWORD_LENGTH} characters"]})
    return password


@dataclass(frozen=True)
class HashCost:
    """argon2id's cost: passes over memory, memory in KiB, lanes. The defaults are argon2-cffi's
    (RFC 9106's second recommendation: 3 passes over 64 MiB, 4 lanes)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    @classmethod
    def from_config(cls, raw: Any) -> HashCost:
        """The cost named by a ``PASSWORD_HASH`` config section (missing keys take the defaults)."""
        values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        default = cls()
        cost = cls(
            time_cost=int(values.get("time_cost", default.time_cost)),
            memory_kib=int(values.get("memory_kib", default.memory_kib)),
            parallelism=int(values.get("parallelism", default.parallelism)),
        )
        if cost.time_cost < 1 or cost.parallelism < 1 or cost.memory_kib < 8 * cost.parallelism:
            raise ValueError(f"PASSWORD_HASH is not a valid argon2 cost: {cost}")
        return cost


class Passwords:
    """Hashes and checks passwords with argon2id at one cost.

    :meth:`verify` promises the same work whether or not there is a stored hash, and never
    raises for a wrong password or a damaged hash: it answers False.
    """

    def __init__(self, cost: HashCost | None = None) -> None:
        cost = cost or HashCost()
        self.hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        self._decoy: str | None = None

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (salted; the string names its own parameters)."""
        return self.hasher.hash(password)

    def decoy(self) -> str:
        """A hash of a random password, checked when there is no real hash to check."""
        if self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_urlsafe(24))
        return self._decoy

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no ``stored`` hash, a decoy is checked
        (and False answered) so the time taken does not tell the two cases apart."""
        try:
            matched = self.hasher.verify(stored or self.decoy(), password)
        except (VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made at another cost than this one (rehash after a sign-in)."""
        try:
            return bool(self.hasher.check_needs_rehash(stored))
        except (InvalidHashError, ValueError):
            return True


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` after it was last used, never past ``absolute`` after
    it began."""

    idle: dt.timedelta = dt.timedelta(hours=12)
    absolute: dt.timedelta = dt.timedelta(days=7)

    @classmethod
    def from_config(cls, raw: Any) -> SessionPolicy:
        """The policy of a ``SESSIONS`` config section (``idle_minutes``, ``max_hours``)."""
        values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        default = cls()
        idle = dt.timedelta(minutes=float(values.get("idle_minutes", default.idle.total_seconds() / 60)))
        absolute = dt.timedelta(hours=float(values.get("max_hours", default.absolute.total_seconds() / 3600)))
        if idle <= dt.timedelta(0) or absolute <= dt.timedelta(0):
            raise ValueError("SESSIONS idle_minutes and max_hours must be positive")
        return cls(idle=idle, absolute=absolute)

    def expires_at(self, created_at: dt.datetime, seen_at: dt.datetime) -> dt.datetime:
        """When a session begun at ``created_at`` and last used at ``seen_at`` ends."""
        return min(seen_at + self.idle, created_at + self.absolute)


@dataclass(frozen=True)
class SessionState:
    """A stored session as the rules see it."""

    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None

    def live(self, now: dt.datetime) -> bool:
        """Whether the session still authenticates at ``now``."""
        return self.revoked_at is None and now < self.expires_at

    def needs_touch(self, now: dt.datetime) -> bool:
        """Whether to record a use at ``now`` (at most once per :data:`SESSION_TOUCH_INTERVAL`)."""
        return now - self.last_seen_at >= SESSION_TOUCH_INTERVAL


@dataclass(frozen=True)
class InviteState:
    """A stored invite as the rules see it."""

    expires_at: dt.datetime
    used_at: dt.datetime | None

    def usable(self, now: dt.datetime) -> bool:
        """An invite works once, before it expires."""
        return self.used_at is None and now < self.expires_at


CURRENT_PASSWORD_REFUSED = "This is not your current password."
"""The answer (on ``current_password``) when a password change names the wrong current one."""

INVITE_REFUSED = (
    "This link is not valid: it was used, it expired or a newer one was sent. Ask an admin for another."
)


def invite_expiry(now: dt.datetime) -> dt.datetime:
    """When an invite issued at ``now`` stops working."""
    return now + INVITE_LIFETIME


def check_invite(actor: Caller, owner_is_super_admin: bool) -> None:
    """Refuse (Forbidden) an invite unless the caller manages people; a super admin's invite (a way
    to set their password) only a super admin may issue."""
    if not is_people_admin(actor):
        raise Forbidden("Inviting users needs account access.")
    if owner_is_super_admin and not actor.is_super_admin:
        raise Forbidden("Only a super admin can invite a super admin.")


def sessions_revoked(user_id: int, session_ids: Iterable[int]) -> Event:
    """Sessions of ``user_id`` stopped authenticating."""
    return Event(contract.SESSION_REVOKED, {"user_id": user_id, "session_ids": sorted(set(session_ids))})
