"""The caller's identity, signed so that it cannot be forged on the broker.

Anyone with broker credentials can set any AMQP header, so an identity header is
only believed when it carries a valid HMAC-SHA256 signature made with the shared
``IDENTITY_SECRET`` and has not expired. The permissions service is the only
issuer for people (it signs what it knows about a user when their API token is
presented); services may mint a *system* identity for their own scheduled work.

The assertion carries everything the access rules need (permissions, ticket
access level, teams and team-mates, seat), so no service has to ask the
permissions service again while serving a request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from services.chassis.errors import Unauthenticated
from services.chassis.lru import LeastRecentlyUsed

CONTEXT_KEY = "identity"
"""Key of the signed identity in nameko's worker context (travels as header ``nameko.identity``)."""

DEFAULT_TTL_SECONDS = 120.0
"""How long a signed identity is believed. Short, so that an identity held outside the gateway
(whose cache is flushed on every permission change) cannot outlive a change for long."""

PERSON = "person"
INTEGRATION = "integration"
CALLER_KINDS = (PERSON, INTEGRATION)
"""Who holds the token a person's identity was issued for: the person, or an integration (a script,
another system) acting with a service token in that user's name."""

SUPER_ADMIN = "super_admin"
"""The one permission the chassis knows: it implies every other (the rest belong to the
permissions service's contract)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling, and what the access rules need to know about them.

    ``kind`` says whether a person or an integration holds the token; ``quiet`` that the
    caller's changes notify nobody (the default for integrations). Services copy both into the
    events a change records (``actor_kind``, ``quiet``) so that consumers can tell.
    """

    user_id: int
    name: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    access_level: str = "none"
    include_unassigned: bool = False
    team_ids: tuple[int, ...] = ()
    teammate_ids: tuple[int, ...] = ()
    seat: bool = False
    system: bool = False
    expires_at: float = 0.0
    kind: str = PERSON
    quiet: bool = False

    @property
    def is_super_admin(self) -> bool:
        return self.system or SUPER_ADMIN in self.permissions

    def has(self, permission: str) -> bool:
        """True if the caller holds ``permission``; super admins hold every permission."""
        return self.is_super_admin or permission in self.permissions

    @property
    def has_seat(self) -> bool:
        return self.is_super_admin or self.seat

    def to_wire(self) -> dict[str, object]:
        data = asdict(self)
        data["permissions"] = sorted(self.permissions)
        data["team_ids"] = list(self.team_ids)
        data["teammate_ids"] = list(self.teammate_ids)
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Caller:
        return cls(
            user_id=int(data["user_id"]),
            name=str(data.get("name", "")),
            permissions=frozenset(data.get("permissions", ())),
            access_level=str(data.get("access_level", "none")),
            include_unassigned=bool(data.get("include_unassigned", False)),
            team_ids=tuple(data.get("team_ids", ())),
            teammate_ids=tuple(data.get("teammate_ids", ())),
            seat=bool(data.get("seat", False)),
            system=bool(data.get("system", False)),
            expires_at=float(data.get("expires_at", 0.0)),
            kind=str(data.get("kind", PERSON)),
            quiet=bool(data.get("quiet", False)),
        )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def sign(caller: Caller, secret: str, ttl: float = DEFAULT_TTL_SECONDS) -> str:
    """Return the signed assertion for ``caller``, valid for ``ttl`` seconds."""
    if not secret:
        raise ValueError("IDENTITY_SECRET is empty")
    data = caller.to_wire()
    data["expires_at"] = round(time.time() + ttl, 3)
    payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, payload)}"


def system_identity(service: str, secret: str, ttl: float = 60.0) -> str:
    """A signed identity for a service acting on its own behalf (schedules, sagas)."""
    return sign(Caller(user_id=0, name=f"system:{service}", system=True), secret, ttl)


class SystemIdentity:
    """A service's :func:`system_identity`, signed again only once half its lifetime has passed:
    signing costs a JSON dump and an HMAC, and a new assertion per call would also miss the
    callee's cache of verified ones (:class:`Verifier`). Every assertion it returns is valid for
    at least ``ttl / 2`` seconds more."""

    def __init__(self, service: str, secret: str, ttl: float = 60.0) -> None:
        self.service = service
        self.secret = secret
        self.ttl = ttl
        self._assertion = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._assertion = system_identity(self.service, self.secret, self.ttl)
            self._renew_at = now + self.ttl / 2
        return self._assertion


class Verifier:
    """Verifies signed assertions, remembering recent good ones (HMAC is cheap, JSON less so)."""

    def __init__(self, secret: str, cache_size: int = 4096) -> None:
        if not secret:
            raise ValueError("IDENTITY_SECRET is empty")
        self._secret = secret
        self._cache: LeastRecentlyUsed[str, Caller] = LeastRecentlyUsed(cache_size)

    def verify(self, assertion: object) -> Caller:
        """Return the Caller, or raise Unauthenticated if missing, forged or expired."""
        if not isinstance(assertion, str) or not assertion:
            raise Unauthenticated("No caller identity on this call.")
        caller = self._cache.get(assertion)
        if caller is None:
            caller = self._decode(assertion)
            self._cache.put(assertion, caller)
        if caller.expires_at < time.time():
            self._cache.pop(assertion)
            raise Unauthenticated("The caller identity has expired.")
        return caller

    def _decode(self, assertion: str) -> Caller:
        payload, _, mac = assertion.partition(".")
        if not (mac and payload.isascii() and mac.isascii()):
            raise Unauthenticated("The caller identity is malformed.")
        if not hmac.compare_digest(mac, _mac(self._secret, payload)):
            raise Unauthenticated("The caller identity signature is not valid.")
        try:
            data = json.loads(_unb64(payload))
            if not isinstance(data, dict):
                raise TypeError("not an object")
            return Caller.from_wire(data)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise Unauthenticated("The caller identity is malformed.") from exc
