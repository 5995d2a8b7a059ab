"""The gateway against hostile and clumsy clients: a real container serving real HTTP, with fake
services behind it on a real RabbitMQ.

Proves that bad input is a 4xx problem+json and never a 500:

* path ids beyond 64 bits, with a leading zero, zero, or non-ASCII digits (``١٢``) answer 404;
* query numbers likewise (and with a leading zero) answer 422 whose ``detail`` says the query is
  at fault, also when the service behind finds the fault (a cursor of another list); bodies nested
  thousands deep, with lone surrogates (as a ``\\ud800`` escape or as raw bytes), invalid UTF-8,
  ``NaN``, a 5,000-digit number or malformed JSON answer 400 without the interpreter's words in
  ``detail``; a body that is not ``application/json`` 415 (an empty body on an action stays
  fine), on a DELETE too, before its query is read;
* duplicate ``Content-Length``, a bare CR, a folded line, ``Transfer-Encoding`` beside a
  ``Content-Length`` answer 400; a request line of 8 KiB 414; an 8 KiB header line, 40 KiB of
  headers or 101 headers 431 - all problem+json with an ``X-Request-Id``;
* idle and half-sent connections are closed after the configured timeouts, so a thousand of
  them cannot pile up while ordinary requests keep being answered;

and that every request is one access line with its request id (no traceback for a 4xx), that
tokens in query strings never reach the log, and that failed authentications and writes are
throttled with 429 and ``Retry-After``.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
import requests
from nameko.containers import ServiceContainer

from deploy.ports import free_port
from gateway.service import GatewayService
from gateway.wsgi import GatewayProtocol
from services.chassis.errors import NotFound, Unauthenticated, ValidationFailed
from services.chassis.identity import Caller, sign
from services.chassis.rpc import rpc
from services.permissions import contract as permissions_contract
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

PROBLEM_JSON = "application/problem+json"
GOOD = "good-token"
HTTP_SETTINGS = {"idle_timeout": 1.0, "header_timeout": 1.0, "body_timeout": 2.0, "io_timeout": 2.0}


class FakePermissions:
    name = permissions_contract.SERVICE_NAME

    @rpc(public=True)
    def authenticate(self, token: str) -> dict[str, Any]:
        if token != GOOD:
            raise Unauthenticated("The API token is not valid.")
        caller = Caller(user_id=11, name="grace", access_level="everything")
        return {"identity": sign(caller, IDENTITY_SECRET, 300.0), "user_id": 11, "ttl": 300.0}


class FakeTickets:
    """Echoes what arrived: the ticket id of a read, the body of a create."""

    name = "tickets"

    @rpc
    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        if ticket_id == 404:
            raise NotFound("ticket 404 does not exist")
        if ticket_id == 500:
            raise KeyError("a bug")
        return {"id": ticket_id, "version": 1}

    @rpc
    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        return {**data, "id": 1, "version": 1}

    @rpc
    def follow(self, ticket_id: int) -> dict[str, Any]:
        return {"ticket_id": ticket_id, "following": True}

    @rpc
    def list_tickets(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        if (query or {}).get("cursor") == "from-another-list":
            raise ValidationFailed(errors={"cursor": ["was issued by another list"]})
        return {"items": [], "next_cursor": None, "total": 0}

    @rpc
    def delete_view(self, view_id: int) -> None:
        return None


class Gateway:
    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.http = requests.Session()

    def request(self, method: str, path: str, token: str | None = GOOD, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.http.request(method, self.base + path, headers=headers, timeout=15, **kwargs)

    def raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Send ``data`` on a fresh connection and read until the server closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)


@pytest.fixture
def start_gateway(container_factory: Any, vhost_uri: str) -> Iterator[Callable[..., Gateway]]:
    """``start_gateway(**config)`` starts the gateway (short HTTP timeouts) and the fake services."""
    sessions: list[Gateway] = []

    def start(**extra: Any) -> Gateway:
        port = free_port()
        base = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 10}
        config = {**base, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "HTTP": HTTP_SETTINGS, **extra}
        container: ServiceContainer = container_factory(GatewayService, config)
        container.start()
        for fake in (FakePermissions, FakeTickets):
            container_factory(fake, base).start()
        gw = Gateway(port)
        sessions.append(gw)
        return gw

    yield start
    for gw in sessions:
        gw.http.close()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    assert response.headers["X-Request-Id"]
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def raw_status(answer: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


def assert_raw_problem(answer: bytes, status: int) -> dict[str, Any]:
    code, headers, body = raw_status(answer)
    assert code == status, answer[:500]
    assert headers["content-type"] == PROBLEM_JSON
    assert headers["x-request-id"]
    assert body["status"] == status and body["detail"]
    return dict(body)


# -- path ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ticket_id",
    ["99999999999999999999", "9223372036854775808", "١٢", "0", "007", "-1", "1e3", "%EF%BC%91"],
    ids=["huge", "2^63", "arabic-indic", "zero", "leading-zero", "negative", "exponent", "fullwidth"],
)
def test_path_ids_outside_1_to_2_63_answer_404(gateway: Gateway, ticket_id: str) -> None:
    assert_problem(gateway.request("GET", f"/api/v1/tickets/{ticket_id}"), 404)


def test_the_largest_id_reaches_the_service(gateway: Gateway) -> None:
    response = gateway.request("GET", "/api/v1/tickets/9223372036854775807")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 2**63 - 1


# -- queries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=١٢",
        "limit=99999999999999999999999",
        "limit=%2B5",
        "status=١",
        "cursor=" + "x" * 2000,
        "limit=01",
        "limit=007",
        "owner_id=01",
        "status=007",
        "pipeline_id=03",
        "limit=0",
        "sort=bogus",
        "cursor=from-another-list",
    ],
    ids=[
        "arabic-limit",
        "huge-limit",
        "plus-limit",
        "arabic-id",
        "long-cursor",
        "leading-zero-limit",
        "leading-zeros-limit",
        "leading-zero-owner",
        "leading-zeros-status",
        "leading-zero-pipeline",
        "zero-limit",
        "bogus-sort",
        "foreign-cursor",  # refused by the service, not by the gateway's own check
    ],
)
def test_bad_query_numbers_and_cursors_answer_422(gateway: Gateway, query: str) -> None:
    problem = assert_problem(gateway.request("GET", f"/api/v1/tickets?{query}"), 422)
    assert list(problem["errors"]) == [query.split("=")[0]]
    assert problem["detail"] == "The query is not valid."


# -- bodies ------------------------------------------------------------------------------------------


def post_ticket(gateway: Gateway, data: bytes, content_type: str | None = "application/json") -> Any:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return gateway.request("POST", "/api/v1/tickets", data=data, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
        b'{"name": "\\ud800"}',
        b'{"name": "a\\udfffb"}',
        b'{"name": "\xed\xa0\x80"}',
        b'{"name": "\xff"}',
        b'{"name": ' + b"7" * 5000 + b"}",
        b'{"name": NaN}',
        b'{"name": 1e999}',
        b"\xef\xbb\xbf{}",
    ],
    ids=[
        "nested-100k",
        "nested-41",
        "escaped-surrogate",
        "escaped-low-surrogate",
        "encoded-surrogate",
        "invalid-utf8",
        "5000-digits",
        "nan",
        "infinite",
        "bom",
    ],
)
def test_bodies_json_cannot_hold_answer_400_without_internals(gateway: Gateway, body: bytes) -> None:
    problem = assert_problem(post_ticket(gateway, body), 400)
    for internal in ("sys.set_int_max_str_digits", "4300", "Exceeds the limit", "Traceback", "recursion"):
        assert internal not in problem["detail"]


def test_malformed_json_answers_400_in_our_own_words(gateway: Gateway) -> None:
    problem = assert_problem(post_ticket(gateway, b'{"name": "x", }'), 400)
    assert problem["detail"] == 'The body is not valid JSON: unexpected "}" at line 1, column 15.'
    assert "Expecting" not in problem["detail"] and "double quotes" not in problem["detail"]


def test_a_surrogate_pair_is_ordinary_text(gateway: Gateway) -> None:
    response = post_ticket(gateway, b'{"name": "\\ud83d\\ude00"}')
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "\U0001f600"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_json_answers_415(gateway: Gateway, content_type: str | None) -> None:
    assert_problem(post_ticket(gateway, b'{"name": "x"}', content_type), 415)


def test_json_with_a_utf8_charset_is_accepted(gateway: Gateway) -> None:
    response = post_ticket(gateway, b'{"name": "x"}', "application/json; charset=UTF-8")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_an_empty_body_on_an_action_needs_no_content_type(gateway: Gateway, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = gateway.request("PUT", "/api/v1/tickets/5/follow", headers=headers)
    assert response.status_code == 200, response.text


DELETES = [
    "/api/v1/views/3",
    "/api/v1/tokens/3",
    "/api/v1/sla-policies/3",
    "/api/v1/sessions/3",
    "/api/v1/sessions/current",
    "/api/v1/sender-rules/3",
    "/api/v1/pipelines/3",
    "/api/v1/pipelines/3/stages/4",
    "/api/v1/tickets/3",
]


@pytest.mark.parametrize("path", DELETES)
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not json at all", "text/plain", 415),
        (b"{", "application/json", 400),
        (b"[1]", "application/json", 422),
        (b"null", "application/json", 422),
    ],
    ids=["text", "malformed", "array", "null"],
)
def test_a_delete_refuses_a_body_before_anything_else(
    gateway: Gateway, path: str, body: bytes, content_type: str, status: int
) -> None:
    response = gateway.request("DELETE", path, data=body, headers={"Content-Type": content_type})
    problem = assert_problem(response, status)
    if status == 422:
        assert problem["errors"] == {"_body": ["this action takes no body"]}


@pytest.mark.parametrize(("body", "content_type"), [(b"", "text/plain"), (b"{}", "application/json")])
def test_a_delete_takes_an_empty_body_or_an_empty_object(
    gateway: Gateway, body: bytes, content_type: str
) -> None:
    response = gateway.request("DELETE", "/api/v1/views/3", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 204, response.text


# -- framing and header limits -------------------------------------------------------------------------

AUTH = f"Authorization: Bearer {GOOD}\r\n".encode()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        b"Content-Length: 13\r\nContent-Length: 13\r\n\r\n" + b'{"name": "x"}',
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        b"Content-Length: 13\r\nContent-Length: 14\r\n\r\n" + b'{"name": "x"}',
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        b"Content-Length: +13\r\n\r\n" + b'{"name": "x"}',
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        b"Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n" + b'{"name": "x"}',
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\n"
        + AUTH
        + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"GET /api/v1/tickets/1 HTTP/1.1\r\nHost: x\r\nX-A: one\rX-B: two\r\n" + AUTH + b"\r\n",
        b"GET /api/v1/tickets/1 HTTP/1.1\r\nHost: x\r\n" + AUTH + b"X-A: one\r\n folded\r\n\r\n",
        b"GET /api/v1/tickets/1 HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length : 0\r\n\r\n",
        b"GET /api/v1/tickets/1 HTTP/1.1\r\nHost: x\r\n" + AUTH + b"no colon here\r\n\r\n",
        b"GET /api/v1/tickets/1 HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET\r\n\r\n",
    ],
    ids=[
        "duplicate-content-length",
        "conflicting-content-length",
        "signed-content-length",
        "content-length-and-chunked",
        "other-transfer-encoding",
        "bare-cr",
        "obs-fold",
        "space-before-colon",
        "no-colon",
        "http-9.9",
        "no-target",
    ],
)
def test_ambiguous_framing_and_malformed_headers_answer_400_problem(
    gateway: Gateway, request_bytes: bytes
) -> None:
    status, _, _ = raw_status(gateway.raw(request_bytes))
    assert status in (400, 505)
    assert_raw_problem(gateway.raw(request_bytes), status)


def test_a_request_line_of_8_kib_answers_414_problem(gateway: Gateway) -> None:
    answer = gateway.raw(b"GET /api/v1/tickets?q=" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_raw_problem(answer, 414)


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"a" * 9000 + b"\r\n",
        b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(40)),
        b"".join(b"X-N%d: 1\r\n" % i for i in range(101)),
    ],
    ids=["long-line", "40-kib", "101-headers"],
)
def test_headers_too_large_answer_431_problem(gateway: Gateway, headers: bytes) -> None:
    answer = gateway.raw(b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert_raw_problem(answer, 431)


def test_the_connection_stays_usable_after_ordinary_errors(gateway: Gateway) -> None:
    for _ in range(3):
        assert_problem(gateway.request("GET", "/api/v1/tickets/404"), 404)
    assert gateway.request("GET", "/api/v1/tickets/5").status_code == 200


# -- timeouts ----------------------------------------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_half_sent_headers_get_408_and_the_connection_closes(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        sock.settimeout(5)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert time.monotonic() - began < 4
    assert_raw_problem(answer, 408)


def test_headers_dripped_slowly_still_hit_the_header_deadline(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        began = time.monotonic()
        closed = False
        for byte in b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            eventlet.sleep(0.3)
            if time.monotonic() - began > 4:
                break
        assert closed or _closed_within(sock, 1.0)
        assert time.monotonic() - began < 4.5


def test_a_thousand_idle_connections_are_closed_and_requests_still_answer(gateway: Gateway) -> None:
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(1000)]
    try:
        half = idle[:100]
        for sock in half:
            sock.sendall(b"GET /api/v1/tickets HTTP/1.1\r\n")
        began = time.monotonic()
        for _ in range(5):
            assert gateway.request("GET", "/api/v1/tickets/5").status_code == 200
        assert time.monotonic() - began < 3, "ordinary requests wait behind idle connections"
        eventlet.sleep(1.5)
        still_open = [sock for sock in idle if not _closed_within(sock, 0.01)]
        assert len(still_open) <= 10, f"{len(still_open)} idle connections were not closed"
        assert gateway.request("GET", "/api/v1/tickets/5").status_code == 200
    finally:
        for sock in idle:
            sock.close()


# -- logs ----------------------------------------------------------------------------------------------


def test_a_client_error_is_one_access_line_with_the_request_id(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = gateway.request("GET", "/api/v1/tickets/404", headers={"X-Request-Id": "trace-me.1"})
    assert_problem(response, 404)
    assert response.headers["X-Request-Id"] == "trace-me.1"
    eventlet.sleep(0.1)
    access = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(access) == 1 and access[0].levelno == logging.INFO
    assert "trace-me.1" in access[0].getMessage() and "404" in access[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING], [
        r.getMessage() for r in caplog.records
    ]


def test_a_real_fault_is_an_error_with_traceback_under_the_request_id(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = gateway.request("GET", "/api/v1/tickets/500", headers={"X-Request-Id": "fault-1"})
    problem = assert_problem(response, 500)
    assert "fault-1" in problem["detail"] and "KeyError" not in problem["detail"]
    eventlet.sleep(0.1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("gateway")]
    assert len(errors) == 1 and errors[0].exc_info and "fault-1" in errors[0].getMessage()


@pytest.mark.parametrize("incoming", ["a b", "x" * 200, "line\nbreak", ""])
def test_an_insane_request_id_is_replaced(gateway: Gateway, incoming: str) -> None:
    response = gateway.request(
        "GET", "/api/v1/tickets/5", headers={"X-Request-Id": incoming.replace("\n", "%0A")}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] != incoming and len(response.headers["X-Request-Id"]) == 32


def test_query_tokens_never_reach_the_log(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    secret = "hd_" + "S3cr3t" * 6
    gateway.request("GET", f"/api/v1/tickets?token={secret}&access_token=plain-secret&q=a")
    gateway.request("GET", f"/api/v1/tickets/{secret}")
    eventlet.sleep(0.1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "S3cr3t" not in text and "plain-secret" not in text
    assert "token=[redacted]" in text and "access_token=[redacted]" in text


def test_bad_tokens_log_no_traceback_and_warn_at_most_once_a_minute(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for i in range(5):
        assert_problem(gateway.request("GET", "/api/v1/tickets", token=f"bad-{i}"), 401)
    eventlet.sleep(0.1)
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "failed authentication" in r.getMessage()
    ]
    assert len(warnings) == 1


# -- rate limits -------------------------------------------------------------------------------------


def test_failed_authentications_are_throttled_per_address(start_gateway: Callable[..., Gateway]) -> None:
    gw = start_gateway(RATE_LIMITS={"failed_auth_per_address": {"rate": 0.5, "burst": 3}})
    for i in range(3):
        assert_problem(gw.request("GET", "/api/v1/tickets", token=f"wrong-{i}"), 401)
    throttled = assert_problem(gw.request("GET", "/api/v1/tickets", token="wrong-4"), 429)
    assert throttled["retry_after"] == 2
    assert gw.request("GET", "/api/v1/tickets", token="wrong-5").headers["Retry-After"] == "2"
    assert gw.request("GET", "/api/v1/tickets", token=None).status_code == 401, "no token is not a guess"


def test_a_token_is_throttled_after_its_own_failures(start_gateway: Callable[..., Gateway]) -> None:
    gw = start_gateway(RATE_LIMITS={"failed_auth_per_token": {"rate": 0.1, "burst": 2}})
    for _ in range(2):
        assert_problem(gw.request("GET", "/api/v1/tickets", token="revoked"), 401)
    assert assert_problem(gw.request("GET", "/api/v1/tickets", token="revoked"), 429)["retry_after"] == 10
    assert_problem(gw.request("GET", "/api/v1/tickets", token="another"), 401)
    assert gw.request("GET", "/api/v1/tickets").status_code == 200, "a good token is not throttled"


def test_writes_are_throttled_per_token_and_reads_are_not(start_gateway: Callable[..., Gateway]) -> None:
    gw = start_gateway(RATE_LIMITS={"writes_per_token": {"rate": 1, "burst": 2}})
    for _ in range(2):
        assert post_ticket(gw, b'{"name": "x"}').status_code == 201
    response = post_ticket(gw, b'{"name": "x"}')
    assert_problem(response, 429)
    assert response.headers["Retry-After"] == "1"
    assert gw.request("GET", "/api/v1/tickets").status_code == 200
    eventlet.sleep(1.1)
    assert post_ticket(gw, b'{"name": "x"}').status_code == 201


def test_the_default_limits_let_eight_clients_create_200_tickets(gateway: Gateway) -> None:
    def create(_: int) -> int:
        headers = {"Authorization": f"Bearer {GOOD}", "Content-Type": "application/json"}
        return requests.post(
            gateway.base + "/api/v1/tickets", data=b'{"name": "load"}', headers=headers, timeout=15
        ).status_code

    statuses = list(eventlet.GreenPool(8).imap(create, range(200)))
    assert statuses == [201] * 200


def test_a_finished_connection_is_freed_at_once_not_by_the_garbage_collector(gateway: Gateway) -> None:
    """eventlet's per-request environ holds a closure over the connection's protocol; unbroken,
    that cycle kept each connection's socket, buffers and headers until a collection."""
    request = (
        b"GET /api/v1/tickets/7 HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer good-token\r\nConnection: close\r\n\r\n"
    )
    assert raw_status(gateway.raw(request))[0] == 200  # warm: the first request sets things up
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            assert raw_status(gateway.raw(request))[0] == 200
        eventlet.sleep(0.2)
        lingering = sum(1 for o in gc.get_objects() if isinstance(o, GatewayProtocol))
    finally:
        gc.enable()
    assert lingering <= 1, f"{lingering} finished connections wait for the garbage collector"


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer from ``sock`` (headers, then a ``Content-Length`` body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed mid-answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes ``sock`` within half the fixture's idle timeout (which closes any)."""
    sock.settimeout(HTTP_SETTINGS["idle_timeout"] / 2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


GET_ONE = b"GET /api/v1/tickets/7 %s\r\nHost: x\r\nAuthorization: Bearer good-token\r\n%s\r\n"


@pytest.mark.parametrize(
    ("version", "extra", "kept_open"),
    [
        (b"HTTP/1.1", b"", True),
        (b"HTTP/1.1", b"Connection: close\r\n", False),
        (b"HTTP/1.0", b"", False),
        (b"HTTP/1.0", b"Connection: keep-alive\r\n", True),
    ],
    ids=["1.1", "1.1-close", "1.0", "1.0-keep-alive"],
)
def test_a_connection_is_kept_open_as_its_version_and_connection_header_say(
    gateway: Gateway, version: bytes, extra: bytes, kept_open: bool
) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(GET_ONE % (version, extra))
        status, _, body = read_answer(sock)
        assert (status, json.loads(body)["id"]) == (200, 7)
        assert closed_by_server(sock) is not kept_open
        if kept_open:
            sock.settimeout(5)
            sock.sendall(GET_ONE % (version, extra))
            assert read_answer(sock)[0] == 200


def test_headers_are_read_as_the_standard_parser_reads_them(gateway: Gateway) -> None:
    """Leading blanks of a value do not count, a name is case-blind, ``//`` starts a path once."""
    request = b"GET //api/v1/tickets/9 HTTP/1.1\r\nHost: x\r\naUTHORIZATION: \t Bearer good-token\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(request)
        status, headers, body = read_answer(sock)
    assert (status, json.loads(body)["id"]) == (200, 9)
    assert headers["x-request-id"]


def test_expect_100_continue_is_answered_before_the_body_is_sent(gateway: Gateway) -> None:
    body = b'{"name": "asked first"}'
    head = (
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        status, _, answer = read_answer(sock)
    assert status == 201 and json.loads(answer)["name"] == "asked first"


@pytest.mark.parametrize(
    ("line", "status"),
    [(b"GET /api/v1/tickets/1 HTTP/2.0", 505), (b"GET /api/v1/tickets/1 HTTP/1", 400), (b"POST /x", 400)],
    ids=["2.0", "no-minor", "0.9-post"],
)
def test_request_lines_the_standard_library_refuses_are_refused_as_problems(
    gateway: Gateway, line: bytes, status: int
) -> None:
    assert_raw_problem(gateway.raw(line + b"\r\nHost: x\r\n\r\n"), status)
