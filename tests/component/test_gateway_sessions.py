"""Signing in through the gateway, with the real permissions service behind it on a real broker.

Proves that ``POST /api/v1/sessions`` sets an HttpOnly, SameSite=Strict session cookie and a
readable CSRF cookie (Secure when configured), answers a wrong password and an unknown address
alike (401), throttles failed sign-ins per address named (429 + Retry-After, even for the right
password meanwhile); that every POST, PUT, PATCH and DELETE authenticated by the cookie needs the
CSRF token and a same-origin Origin (403 otherwise) while bearer tokens are unaffected; that a
revoked session is refused at once (the identity cache flushes on ``session_revoked``); that
sign-out ends the session and clears the cookies; that an invite link (alone, or with the new
user's creation) sets a password once; and that the live stream opens with the cookie and refuses
an ended session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
import requests

from deploy.ports import free_port
from gateway.service import GatewayService
from gateway.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from services.chassis.db import SessionFactory, make_engine
from services.permissions.credentials import HashCost, Passwords
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.service import PermissionsService
from services.permissions.store import PermissionStore

pytestmark = [pytest.mark.db, pytest.mark.broker]

PROBLEM_JSON = "application/problem+json"
CHEAP = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}
ADMIN_TOKEN = "hd_gateway-sessions-admin"
ADMIN_EMAIL = "admin@localhost"
PASSWORD = "correct horse battery"


class Desk:
    """The gateway's base URL and a way to call it with a bearer token, a session, or neither."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        session: str | None = None,
        csrf: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        cookies = []
        if session is not None:
            cookies.append(f"{SESSION_COOKIE}={session}")
            cookies.append(f"{CSRF_COOKIE}={csrf_token(session)}")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        return requests.request(method, self.base + path, headers=headers, timeout=15, **kwargs)

    def sign_in(self, email: str, password: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", "/api/v1/sessions", json={"email": email, "password": password}, **kwargs)


def set_cookies(response: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header of the answer, by cookie name (the whole header line)."""
    found = {}
    for line in response.raw.headers.getlist("Set-Cookie"):
        found[line.split("=", 1)[0]] = line
    return found


def session_of(response: requests.Response) -> str:
    line = set_cookies(response)[SESSION_COOKIE]
    return line.split("=", 1)[1].split(";", 1)[0]


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.fixture
def suite(service_config: Callable[..., dict[str, Any]], container_factory: Any) -> Callable[..., Desk]:
    """``suite(**gateway_config)`` -> a gateway and the real permissions service, with the
    bootstrap admin (token ADMIN_TOKEN, password PASSWORD)."""

    def start(**gateway_extra: Any) -> Desk:
        permissions = service_config("permissions", PASSWORD_HASH=CHEAP)
        engine = make_engine(permissions["DB_URL"])
        PermissionStore(SessionFactory(engine)).users.create(
            data=BOOTSTRAP_ADMIN,
            token_hash=hash_token(ADMIN_TOKEN),
            password_hash=Passwords(HashCost(**CHEAP)).hash(PASSWORD),
        )
        engine.dispose()
        container_factory(PermissionsService, permissions).start()
        port = free_port()
        gateway = service_config("gateway", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", **gateway_extra)
        container_factory(GatewayService, gateway).start()
        return Desk(f"http://127.0.0.1:{port}")

    return start


@pytest.fixture
def desk(suite: Callable[..., Desk]) -> Iterator[Desk]:
    yield suite()


def signed_in(desk: Desk, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> str:
    response = desk.sign_in(email, password)
    assert response.status_code == 201, response.text
    return session_of(response)


def test_signing_in_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie(desk: Desk) -> None:
    response = desk.sign_in("ADMIN@localhost", PASSWORD)
    assert response.status_code == 201, response.text
    assert response.json()["email"] == ADMIN_EMAIL and "password" not in response.text
    assert response.headers["Cache-Control"] == "no-store"
    cookies = set_cookies(response)
    session = cookies[SESSION_COOKIE]
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/" in session
    assert "Secure" not in session, "plain http and no setting: a Secure cookie would never come back"
    assert "Max-Age=604800" in session
    csrf = cookies[CSRF_COOKIE]
    assert "HttpOnly" not in csrf and "SameSite=Strict" in csrf and "Path=/" in csrf
    value = session_of(response)
    assert csrf.split("=", 1)[1].split(";")[0] == csrf_token(value) != value

    me = desk.call("GET", "/api/v1/me", session=value)
    assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL


def test_cookies_are_secure_when_the_setting_says_so(suite: Callable[..., Desk]) -> None:
    desk = suite(SESSIONS={"secure_cookies": True})
    cookies = set_cookies(desk.sign_in(ADMIN_EMAIL, PASSWORD))
    assert "Secure" in cookies[SESSION_COOKIE] and "Secure" in cookies[CSRF_COOKIE]


def test_a_wrong_password_and_an_unknown_address_get_the_same_401(desk: Desk) -> None:
    wrong = assert_problem(desk.sign_in(ADMIN_EMAIL, "not the password"), 401)
    unknown_response = desk.sign_in("nobody@example.com", PASSWORD)
    unknown = assert_problem(unknown_response, 401)
    assert wrong == unknown
    assert not set_cookies(unknown_response)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/teams", {"name": "Billing"}),
        ("PUT", "/api/v1/teams/1/members", {"user_ids": [1]}),
        ("PATCH", "/api/v1/users/1", {"name": "Chief"}),
        ("DELETE", "/api/v1/sessions/current", None),
    ],
)
def test_a_cookie_write_needs_the_csrf_token_and_a_same_origin(
    desk: Desk, method: str, path: str, body: dict[str, Any] | None
) -> None:
    session = signed_in(desk)
    if method == "PUT":
        team = desk.call("POST", "/api/v1/teams", token=ADMIN_TOKEN, json={"name": "Support"})
        path = f"/api/v1/teams/{team.json()['id']}/members"
    refusals: dict[str, dict[str, Any]] = {
        "no header": {},
        "another value": {"csrf": "0" * 64},
        "another session's value": {"csrf": csrf_token("hs_someone-else")},
        "another site": {"csrf": csrf_token(session), "headers": {"Origin": "https://evil.example"}},
    }
    for why, extra in refusals.items():
        refused = desk.call(method, path, session=session, json=body, **extra)
        problem = assert_problem(refused, 403)
        assert problem["type"].endswith("/csrf-check-failed"), why
    assert desk.call("GET", "/api/v1/me", session=session).status_code == 200, "nothing refused ended it"

    origin = {"Origin": desk.base}
    allowed = desk.call(method, path, session=session, csrf=csrf_token(session), json=body, headers=origin)
    assert allowed.status_code < 300, allowed.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/teams", {"name": "Billing"}),
        ("PATCH", "/api/v1/users/1", {"name": "Chief"}),
        ("DELETE", "/api/v1/sessions/current", None),
    ],
)
def test_bearer_tokens_need_no_csrf_token(
    desk: Desk, method: str, path: str, body: dict[str, Any] | None
) -> None:
    answer = desk.call(
        method, path, token=ADMIN_TOKEN, json=body, headers={"Origin": "https://script.example"}
    )
    assert answer.status_code < 300, answer.text


def test_a_bearer_token_wins_over_a_cookie(desk: Desk) -> None:
    session = signed_in(desk)
    answer = desk.call("POST", "/api/v1/teams", token=ADMIN_TOKEN, session=session, json={"name": "Ops"})
    assert answer.status_code == 201, answer.text


def test_failed_sign_ins_are_throttled_per_address_named(suite: Callable[..., Desk]) -> None:
    desk = suite(RATE_LIMITS={"failed_signin_per_email": {"rate": 0.01, "burst": 3}})
    for _ in range(3):
        assert_problem(desk.sign_in(ADMIN_EMAIL, "wrong password"), 401)
    throttled = desk.sign_in(ADMIN_EMAIL, "wrong password")
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    held = desk.sign_in(ADMIN_EMAIL.upper(), PASSWORD)
    assert_problem(held, 429)  # the right password waits too: the guesser learns nothing
    assert_problem(desk.sign_in("someone-else@example.com", "wrong password"), 401)
    assert desk.call("GET", "/api/v1/me", token=ADMIN_TOKEN).status_code == 200, "tokens are unaffected"


def test_failed_sign_ins_are_throttled_per_client(suite: Callable[..., Desk]) -> None:
    desk = suite(RATE_LIMITS={"failed_signin_per_address": {"rate": 0.01, "burst": 2}})
    for n in range(2):
        assert_problem(desk.sign_in(f"guess-{n}@example.com", "wrong password"), 401)
    assert_problem(desk.sign_in("guess-3@example.com", "wrong password"), 429)


def test_a_revoked_session_is_refused_at_once(desk: Desk) -> None:
    session = signed_in(desk)
    assert desk.call("GET", "/api/v1/me", session=session).status_code == 200
    assert desk.call("GET", "/api/v1/me", session=session).status_code == 200  # now cached
    listed = desk.call("GET", "/api/v1/users/1/sessions", token=ADMIN_TOKEN).json()
    live = [s for s in listed["items"] if s["revoked_at"] is None]
    assert len(live) == 1 and session not in str(listed)
    assert desk.call("DELETE", f"/api/v1/sessions/{live[0]['id']}", token=ADMIN_TOKEN).status_code == 204
    assert desk.call("GET", "/api/v1/me", session=session).status_code == 401, (
        "the instance that revoked it refuses it on the very next request"
    )


def test_signing_out_ends_the_session_and_clears_the_cookies(desk: Desk) -> None:
    session = signed_in(desk)
    other = signed_in(desk)
    assert desk.call("GET", "/api/v1/me", session=session).status_code == 200  # cached from now on
    out = desk.call("DELETE", "/api/v1/sessions/current", session=session, csrf=csrf_token(session))
    assert out.status_code == 204
    cleared = set_cookies(out)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        assert cleared[name].startswith(f"{name}=;") and "Max-Age=0" in cleared[name]
    assert_problem(desk.call("GET", "/api/v1/me", session=session), 401)  # at once, no waiting
    assert desk.call("GET", "/api/v1/me", session=other).status_code == 200, "only that session ended"


def test_an_invite_link_sets_a_password_once(desk: Desk) -> None:
    agent = desk.call(
        "POST", "/api/v1/users", token=ADMIN_TOKEN, json={"name": "Ana", "email": "ana@example.com"}
    ).json()
    assert_problem(desk.sign_in("ana@example.com", PASSWORD), 401)
    invite = desk.call("POST", f"/api/v1/users/{agent['id']}/invite", token=ADMIN_TOKEN)
    assert invite.status_code == 201, invite.text
    body = invite.json()
    assert body["url"] == f"{desk.base}/set-password#token={body['token']}"
    accept = {"token": body["token"], "password": "Ana's own password"}
    done = desk.call("POST", "/api/v1/invites/accept", json=accept)
    assert done.status_code == 200 and done.json() == {"user_id": agent["id"], "email": "ana@example.com"}
    again = assert_problem(desk.call("POST", "/api/v1/invites/accept", json=accept), 422)
    assert "token" in again["errors"]
    assert desk.sign_in("ana@example.com", "Ana's own password").status_code == 201


def test_another_site_cannot_sign_a_browser_in(desk: Desk) -> None:
    refused = desk.sign_in(ADMIN_EMAIL, PASSWORD, headers={"Origin": "https://evil.example"})
    assert_problem(refused, 403)
    assert not set_cookies(refused)
    assert desk.sign_in(ADMIN_EMAIL, PASSWORD, headers={"Origin": desk.base}).status_code == 201


def test_creating_a_user_can_answer_their_invite_too(desk: Desk) -> None:
    plain = desk.call(
        "POST", "/api/v1/users", token=ADMIN_TOKEN, json={"name": "Bo", "email": "bo@example.com"}
    )
    assert plain.status_code == 201 and "invite" not in plain.json()
    created = desk.call(
        "POST",
        "/api/v1/users?invite=true",
        token=ADMIN_TOKEN,
        json={"name": "Cy", "email": "cy@example.com"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    user = created.json()
    invite = user["invite"]
    assert invite["user_id"] == user["id"] and invite["url"].endswith(f"#token={invite['token']}")
    accept = {"token": invite["token"], "password": "Cy's own password"}
    assert desk.call("POST", "/api/v1/invites/accept", json=accept).status_code == 200
    assert desk.sign_in("cy@example.com", "Cy's own password").status_code == 201
    assert_problem(desk.call("POST", "/api/v1/users?invite=maybe", token=ADMIN_TOKEN, json={}), 422)


def test_the_live_stream_opens_with_the_session_cookie(desk: Desk) -> None:
    session = signed_in(desk)
    with desk.call("GET", "/api/v1/stream", session=session, stream=True) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(line for line in lines if line.startswith("event: ")) == "event: hello"
    desk.call("DELETE", "/api/v1/sessions/current", session=session, csrf=csrf_token(session))
    deadline = time.monotonic() + 5
    while desk.call("GET", "/api/v1/me", session=session).status_code == 200 and time.monotonic() < deadline:
        eventlet.sleep(0.02)
    assert_problem(desk.call("GET", "/api/v1/stream", session=session), 401)


def wait_refused(desk: Desk, session: str) -> None:
    """Until the gateway refuses ``session`` (its identity cache drops it on ``session_revoked``)."""
    deadline = time.monotonic() + 5
    while desk.call("GET", "/api/v1/me", session=session).status_code == 200 and time.monotonic() < deadline:
        eventlet.sleep(0.02)
    assert_problem(desk.call("GET", "/api/v1/me", session=session), 401)


def test_a_signed_in_user_changes_their_own_password(desk: Desk) -> None:
    session = signed_in(desk)
    other = signed_in(desk)
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    refused = desk.call("PUT", "/api/v1/me/password", session=session, json=change)
    assert_problem(refused, 403)  # a cookie write without the CSRF token

    changed = desk.call("PUT", "/api/v1/me/password", session=session, csrf=csrf_token(session), json=change)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["user_id"] == 1 and body["sessions_ended"] == 2 and body["password_set_at"]
    assert "session" not in body and changed.headers["Cache-Control"] == "no-store"
    fresh = session_of(changed)
    assert fresh != session and "HttpOnly" in set_cookies(changed)[SESSION_COOKIE]

    wait_refused(desk, session)
    wait_refused(desk, other)
    assert desk.call("GET", "/api/v1/me", session=fresh).status_code == 200, "this browser stays signed in"
    assert_problem(desk.sign_in(ADMIN_EMAIL, PASSWORD), 401)
    assert desk.sign_in(ADMIN_EMAIL, "a brand new passphrase").status_code == 201
    assert desk.call("GET", "/api/v1/me", token=ADMIN_TOKEN).status_code == 200, "tokens keep working"


def test_a_password_change_needs_the_current_password_and_a_good_new_one(desk: Desk) -> None:
    def change(body: Any) -> requests.Response:
        return desk.call("PUT", "/api/v1/me/password", token=ADMIN_TOKEN, json=body)

    wrong = assert_problem(
        change({"current_password": "not it", "new_password": "a brand new passphrase"}), 422
    )
    assert wrong["errors"] == {"current_password": ["This is not your current password."]}
    short = assert_problem(change({"current_password": PASSWORD, "new_password": "short"}), 422)
    assert "new_password" in short["errors"]
    same = assert_problem(change({"current_password": PASSWORD, "new_password": PASSWORD}), 422)
    assert "new_password" in same["errors"]
    for bad in ({}, {"current_password": PASSWORD}, {"current_password": 5, "new_password": "x" * 12}, [1]):
        assert_problem(change(bad), 422)
    assert desk.sign_in(ADMIN_EMAIL, PASSWORD).status_code == 201, "nothing changed"

    by_token = change({"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert by_token.status_code == 200 and not set_cookies(by_token), "a bearer token gets no cookie"


def test_wrong_current_passwords_are_throttled(suite: Callable[..., Desk]) -> None:
    desk = suite(RATE_LIMITS={"failed_signin_per_email": {"rate": 0.01, "burst": 2}})
    guess = {"current_password": "a guess", "new_password": "a brand new passphrase"}
    for _ in range(2):
        assert_problem(desk.call("PUT", "/api/v1/me/password", token=ADMIN_TOKEN, json=guess), 422)
    throttled = desk.call("PUT", "/api/v1/me/password", token=ADMIN_TOKEN, json=guess)
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1


def test_the_openapi_document_shows_the_password_change(desk: Desk) -> None:
    doc = desk.call("GET", "/api/v1/openapi.json").json()
    operation = doc["paths"]["/api/v1/me/password"]["put"]
    assert {"200", "422", "429"} <= set(operation["responses"])
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema
