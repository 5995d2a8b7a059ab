"""Browser sessions at the HTTP edge: cookies, CSRF and origin checks.

A browser signs in with ``POST /api/v1/sessions`` and gets two cookies, both
``SameSite=Strict`` and ``Path=/`` (and ``Secure`` when the request came over https or
``SESSIONS.secure_cookies`` says so):

* :data:`SESSION_COOKIE` - the session's secret, ``HttpOnly``: no script reads it. The gateway
  exchanges it with the permissions service for a signed identity exactly as it does a bearer
  token (same cache, flushed by the same identity events, so a revoked session stops at once).
* :data:`CSRF_COOKIE` - readable by the workspace's script, which echoes it in
  :data:`CSRF_HEADER` on every POST, PUT, PATCH and DELETE. Its value is derived from the session
  secret (:func:`csrf_token`), so it cannot be planted by another site or carried to another
  session. A write authenticated by the session cookie is refused (403, problem type
  ``.../csrf-check-failed``) unless the header matches both the cookie and the session, and
  unless its ``Origin``, when sent, is this gateway's own (or ``SESSIONS.public_url``'s).

A request with ``Authorization: Bearer`` is authenticated by its token and none of this
applies: browsers never add that header on their own, so it cannot be forged cross-site.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from nameko.extensions import DependencyProvider, SharedExtension
from werkzeug.wrappers import Request, Response

from gateway.limits import RateLimits
from services.chassis.errors import HelpdeskError
from services.permissions.contract import set_password_url

SESSION_COOKIE = "helpdesk_session"
CSRF_COOKIE = "helpdesk_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SCHEME = "Session"
"""How a session travels inside the gateway where a credential is one string (the live stream's
clients): ``"Session <secret>"``. Never accepted from a client as an Authorization header."""
MAX_SESSION_LENGTH = 200
CONFIG_KEY = "SESSIONS"


class CsrfRefused(HelpdeskError):
    """A state-changing request authenticated by the session cookie without proof it came from
    the workspace itself."""

    status = 403
    title = "CSRF check failed"


def csrf_token(session: str) -> str:
    """The CSRF token of a session: a one-way function of its secret (readable without revealing it)."""
    return hashlib.sha256(b"helpdesk-csrf\0" + session.encode("utf-8", "surrogateescape")).hexdigest()


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased; empty when it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class SessionSettings:
    """``secure_cookies``: always mark cookies Secure (behind a TLS-terminating proxy).
    ``public_url``: the origin browsers see when it differs from the Host the gateway is asked
    for (a proxy in front); requests from it pass the origin check too."""

    secure_cookies: bool = False
    public_url: str = ""

    @classmethod
    def from_config(cls, raw: Any) -> SessionSettings:
        values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        secure = values.get("secure_cookies", False)
        if isinstance(secure, str):
            secure = secure.strip().lower() in ("1", "true", "yes", "on")
        return cls(secure_cookies=bool(secure), public_url=str(values.get("public_url") or "").strip())


class SessionEdge(SharedExtension):
    """The gateway's session settings and checks, shared by every route."""

    def __init__(self) -> None:
        super().__init__()
        self.settings = SessionSettings()

    def setup(self) -> None:
        self.settings = SessionSettings.from_config(self.container.config.get(CONFIG_KEY))

    def session_of(self, request: Request) -> str | None:
        """The session secret the request's cookie carries, if it looks like one."""
        value = request.cookies.get(SESSION_COOKIE)
        if not value or len(value) > MAX_SESSION_LENGTH or not (value.isascii() and value.isprintable()):
            return None
        return value

    def own_origins(self, request: Request) -> set[str]:
        found = {origin_of(request.host_url)}
        if self.settings.public_url:
            found.add(origin_of(self.settings.public_url))
        return found - {""}

    def check_origin(self, request: Request) -> None:
        """403 when the request names an ``Origin`` other than this gateway's own."""
        origin = request.headers.get("Origin")
        if origin is None:
            return
        if origin.strip().lower() not in self.own_origins(request):
            raise CsrfRefused("The request comes from another site (Origin).")

    def check_csrf(self, request: Request, session: str) -> None:
        """For a write authenticated by ``session``: the origin check and the CSRF token, or 403."""
        self.check_origin(request)
        sent = request.headers.get(CSRF_HEADER) or ""
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        expected = csrf_token(session)
        if not sent:
            raise CsrfRefused(f"A write signed in by the session cookie needs the {CSRF_HEADER} header.")
        if not (hmac.compare_digest(sent, cookie) and hmac.compare_digest(sent, expected)):
            raise CsrfRefused(f"The {CSRF_HEADER} header does not match this session.")

    def secure(self, request: Request) -> bool:
        return self.settings.secure_cookies or request.scheme == "https"

    def set_cookies(self, response: Response, request: Request, session: str, max_age: int) -> None:
        """Put a new session's two cookies on ``response`` (see the module docstring)."""
        secure = self.secure(request)
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Strict",
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(session),
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=False,
            samesite="Strict",
        )

    def clear_cookies(self, response: Response, request: Request) -> None:
        """Tell the browser to forget both cookies."""
        secure = self.secure(request)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")
        response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="Strict")


@dataclass(frozen=True)
class Edge:
    """What a sign-in route needs of the gateway's shared state: its session checks and its
    rate limits (the same instances every route uses)."""

    sessions: SessionEdge
    limits: RateLimits

    def invite_link(self, request: Request, invite: dict[str, Any]) -> dict[str, Any]:
        """``invite`` (from the permissions service) with ``url``, its set-password link on
        ``SESSIONS.public_url``, else on the origin the request came to."""
        base = self.sessions.settings.public_url or request.host_url
        return {**invite, "url": set_password_url(base, str(invite["token"]))}


class SignInEdge(DependencyProvider):
    """Gives a route the gateway's :class:`SessionEdge` and :class:`~gateway.limits.RateLimits`."""

    sessions = SessionEdge()
    limits = RateLimits()

    def get_dependency(self, worker_ctx: Any) -> Edge:
        return Edge(self.sessions, self.limits)
