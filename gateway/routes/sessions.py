"""Sign-in routes: browser sessions, their revocation, and set-password invites.

``POST /api/v1/sessions`` trades an email and password for a session cookie (see
:mod:`gateway.sessions` for the cookies and the CSRF rule); ``DELETE /api/v1/sessions/current``
signs out. Failed sign-ins are throttled per client address and per email address named
(:mod:`gateway.limits`, 429 with ``Retry-After``) before any password is checked. Sessions are
listed and revoked like API tokens. A people admin gets a one-time set-password link with
``POST /api/v1/users/{id}/invite``; whoever holds it sets the password with
``POST /api/v1/invites/accept``. A signed-in user changes their own password with
``PUT /api/v1/me/password`` (the current one checked first; wrong guesses are throttled like
failed sign-ins); every session of theirs ends, and a browser that made the change gets fresh
cookies.
"""

from __future__ import annotations

import hashlib
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.auth import Credentials
from gateway.http import empty_response, json_object, json_response, query_args, route
from gateway.sessions import SignInEdge
from services.chassis.errors import Unauthenticated, ValidationFailed
from services.chassis.rpc import ServiceRpc
from services.permissions import contract as permissions_contract

NO_STORE = {"Cache-Control": "no-store"}


def email_key(data: dict[str, Any]) -> str | None:
    """The throttling key of the address a sign-in names (its SHA-256), if it names one."""
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogateescape")).hexdigest()


class SessionRoutes:
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME)
    edge = SignInEdge()
    credentials = Credentials()

    @route(
        "POST",
        "/api/v1/sessions",
        public=True,
        summary="Sign in with email and password: sets the HttpOnly session cookie and the readable "
        "helpdesk_csrf cookie (echo it in X-CSRF-Token on every write). Wrong credentials: 401, the "
        "same for an unknown address; failed sign-ins are throttled per client and per address (429).",
        body=permissions_contract.SignInSchema,
        returns=permissions_contract.UserSchema,
        status=201,
        links=False,  # the answer is the user: its id is no session's
        errors=(401, 403, 429, 503, 504),
        tag="people",
    )
    def sign_in(self, request: Request) -> Response:
        self.edge.sessions.check_origin(request)
        data = json_object(request)
        address = request.remote_addr or "-"
        key = email_key(data)
        self.edge.limits.check_sign_in(address, key)
        try:
            answer = self.permissions.sign_in(data)
        except Unauthenticated:
            self.edge.limits.failed_sign_in(address, key)
            raise
        response = json_response(answer["user"], 201, NO_STORE)
        self.edge.sessions.set_cookies(response, request, answer["session"], int(answer["max_age"]))
        return response

    @route(
        "DELETE",
        "/api/v1/sessions/current",
        summary="Sign out: ends the session the cookie carries (at once, everywhere) and clears both "
        "cookies. With a bearer token there is no session: 204, nothing changes.",
        status=204,
        tag="people",
    )
    def sign_out(self, request: Request) -> Response:
        session = self.edge.sessions.session_of(request)
        if session is not None and not request.headers.get("Authorization"):
            self.permissions.end_session(session)
            self.credentials.flush()
        response = empty_response(204, dict(NO_STORE))
        self.edge.sessions.clear_cookies(response, request)
        return response

    @route(
        "GET",
        "/api/v1/users/<int:user_id>/sessions",
        summary="A user's browser sessions (never their secrets), newest first, ended ones included.",
        returns=permissions_contract.SessionPageSchema,
        query=permissions_contract.SessionQuerySchema,
        tag="people",
    )
    def list_sessions(self, request: Request, user_id: int) -> Response:
        return json_response(self.permissions.list_sessions(user_id, query_args(request)))

    @route(
        "DELETE",
        "/api/v1/sessions/<int:session_id>",
        summary="Revoke a session, like a token: it stops working at once. Revoking it again also "
        "answers 204.",
        status=204,
        tag="people",
    )
    def revoke_session(self, request: Request, session_id: int) -> Response:
        self.permissions.revoke_session(session_id)
        self.credentials.flush()
        return empty_response(204)

    @route(
        "POST",
        "/api/v1/users/<int:user_id>/invite",
        summary="A one-time set-password link for the user (account access; a super admin's needs a "
        "super admin): token and url appear only in this answer; it works once, for 3 days, and "
        "replaces the user's earlier invites. Takes no body.",
        returns=permissions_contract.InviteSchema,
        status=201,
        errors=(403,),
        tag="people",
    )
    def invite_user(self, request: Request, user_id: int) -> Response:
        invite = self.edge.invite_link(request, self.permissions.invite(user_id))
        return json_response(invite, 201, NO_STORE)

    @route(
        "POST",
        "/api/v1/invites/accept",
        public=True,
        summary="Set a password with an invite's token (from the set-password link): once, before it "
        "expires. Ends the user's sessions; answers the address to sign in with. A token that does "
        "not work is a 422 on token; failures are throttled per client (429).",
        body=permissions_contract.InviteAcceptSchema,
        returns=permissions_contract.InviteAcceptedSchema,
        errors=(403, 429, 503, 504),
        tag="people",
    )
    def accept_invite(self, request: Request) -> Response:
        self.edge.sessions.check_origin(request)
        data = json_object(request)
        address = request.remote_addr or "-"
        self.edge.limits.check_sign_in(address, None)
        try:
            answer = self.permissions.accept_invite(data)
        except ValidationFailed as exc:
            if "token" in (exc.extra.get("errors") or {}):
                self.edge.limits.failed_sign_in(address, None)
            raise
        return json_response(answer, 200, NO_STORE)

    @route(
        "PUT",
        "/api/v1/me/password",
        summary="Change your own password: current_password must be the one you sign in with now "
        "(else 422 on current_password; wrong guesses are throttled like failed sign-ins, 429), "
        "new_password 10 to 1024 characters and not the current one (else 422 on new_password). "
        "Ends every session of yours; when a session cookie made the change, the answer sets fresh "
        "cookies for this browser. API tokens keep working.",
        body=permissions_contract.PasswordChangeSchema,
        returns=permissions_contract.PasswordChangedSchema,
        links=False,
        errors=(403, 429, 503, 504),
        tag="people",
    )
    def change_password(self, request: Request) -> Response:
        data = json_object(request)
        address = request.remote_addr or "-"
        session = self.edge.sessions.session_of(request)
        by_cookie = session is not None and not request.headers.get("Authorization")
        credential = request.headers.get("Authorization") or session or ""
        key = hashlib.sha256(f"password-change:{credential}".encode("utf-8", "surrogateescape")).hexdigest()
        self.edge.limits.check_sign_in(address, key)
        try:
            answer = self.permissions.change_password(data, new_session=by_cookie)
        except ValidationFailed as exc:
            if "current_password" in (exc.extra.get("errors") or {}):
                self.edge.limits.failed_sign_in(address, key)
            raise
        self.credentials.flush()  # the user's other sessions ended with the old password
        fresh = answer.pop("session", None)
        max_age = answer.pop("max_age", None)
        answer.pop("expires_at", None)
        response = json_response(answer, 200, NO_STORE)
        if fresh is not None:
            self.edge.sessions.set_cookies(response, request, fresh, int(max_age))
        return response
