"""The SMTP edge says 250 only for mail the broker has, and refuses what breaks the limits.

Each test starts ``python -m services.conversations.smtp_edge`` as a subprocess (asyncio does
not belong in this eventlet-patched process) against a fresh vhost or a private broker, talks
SMTP to it with smtplib and reads the ``mail_received`` events with kombu from the queue the
conversations service's ``@subscribe`` handler has (declared as ``deploy.topology`` declares it).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import eventlet
import pytest
from kombu import Connection
from nameko.amqp.publish import Publisher
from nameko.testing.services import entrypoint_waiter

from deploy.ports import free_port
from services.chassis.events import declare_subscription, queue_name, subscribe
from services.chassis.outbox import event_exchange
from services.chassis.schema import load
from services.chassis.wire import EVENT_ID_HEADER, PRODUCER_HEADER
from services.conversations.contract import MAIL_RECEIVED, SERVICE_NAME, InboundMailSchema
from tests.conftest import IDENTITY_SECRET, PrivateRabbit
from tests.mail_fixtures import stop_process, wait_for_port

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "unit" / "mail_samples"
MAX_BYTES = 200_000
HANDLER = "handle_mail_received"  # the conversations service's subscriber method
SUBSCRIPTION = (SERVICE_NAME, MAIL_RECEIVED, SERVICE_NAME, HANDLER)
QUEUE = queue_name(*SUBSCRIPTION)


class Edge:
    """A running edge process; its log is in ``log_path``."""

    def __init__(self, amqp_uri: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        environment = {
            **os.environ,
            "AMQP_URI": amqp_uri,
            "HELPDESK_SMTP_PORT": str(self.port),
            "HELPDESK_MAIL_MAX_BYTES": str(MAX_BYTES),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.conversations.smtp_edge"],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", self.port, 20, self.process)

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(
        self, raw: bytes, mail_from: str = "anna@example.com", to: str = "support@helpdesk.example"
    ) -> str:
        """Send ``raw``; returns the 250 reply, or raises smtplib's error for any other answer."""
        with self.client() as client:
            client.ehlo()
            client.mail(mail_from)
            client.rcpt(to)
            code, reply = client.data(raw)  # raises for a refused DATA command, returns the final answer
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            return f"{code} {reply.decode()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = stop_process(self.process, timeout=20)
        self._log.close()
        return code


@pytest.fixture
def start_edge(tmp_path: Path) -> Iterator[Callable[..., Edge]]:
    edges: list[Edge] = []

    def factory(amqp_uri: str, **env: str) -> Edge:
        edge = Edge(amqp_uri, tmp_path / f"edge-{len(edges)}.log", **env)
        edges.append(edge)
        return edge

    yield factory
    for edge in edges:
        edge.stop()


def declare_queue(amqp_uri: str) -> None:
    """The subscriber's queues, as ``python -m deploy.topology`` declares them before the suite runs."""
    with Connection(amqp_uri) as connection:
        declare_subscription(connection, *SUBSCRIPTION)


@pytest.fixture
def subscribed_uri(vhost_uri: str) -> str:
    """A fresh vhost where the conversations service's subscription queue is declared."""
    declare_queue(vhost_uri)
    return vhost_uri


def queued(amqp_uri: str) -> list[Any]:
    """Take every message from the subscriber's queue (with its properties)."""
    taken: list[Any] = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        while True:
            message = channel.basic_get(queue=QUEUE, no_ack=True)
            if message is None:
                return taken
            taken.append(message)


def queue_length(amqp_uri: str) -> int:
    with Connection(amqp_uri) as connection:
        _, count, _ = connection.channel().queue_declare(queue=QUEUE, passive=True)
        return int(count)


def reply_text(error: smtplib.SMTPResponseException) -> bytes:
    """The text of a refusal (smtplib gives bytes; typeshed allows str)."""
    text = error.smtp_error
    return text if isinstance(text, bytes) else text.encode()


def raw_of(message: Any) -> bytes:
    return base64.b64decode(InboundMailSchema().loads(message.body)["raw_b64"])


def crlf(raw: bytes) -> bytes:
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


# -- happy path ------------------------------------------------------------------------------------


def test_accepted_mail_is_published_byte_for_byte_with_its_envelope(
    subscribed_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(subscribed_uri)
    samples = [crlf((SAMPLES / name).read_bytes()) for name in ("thunderbird_reply.eml", "out_of_office.eml")]
    dotted = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n"
    replies = [edge.send(raw) for raw in [*samples, dotted]]
    assert all(reply.startswith("250 2.0.0 OK queued as ") for reply in replies)

    messages = queued(subscribed_uri)
    assert len(messages) == 3  # an auto-reply is published too: the service records it on its thread
    for message, raw, reply in zip(messages, [*samples, dotted], replies, strict=True):
        envelope = InboundMailSchema().loads(message.body)
        edge_id = str(envelope["edge_id"])
        assert base64.b64decode(envelope["raw_b64"]) == raw
        assert edge_id == reply.rsplit(" ", 1)[1]
        assert envelope["mail_from"] == "anna@example.com"
        assert envelope["rcpt_tos"] == ["support@helpdesk.example"]
        assert envelope["peer"].startswith("127.0.0.1:")
        assert envelope["received_at"].utcoffset() is not None
        # a normal event payload: event_id is the edge id, occurred_at the moment received
        assert envelope["event_id"] == edge_id
        assert envelope["occurred_at"] == envelope["received_at"].isoformat()
        assert message.delivery_info["exchange"] == f"{SERVICE_NAME}.events"
        assert message.delivery_info["routing_key"] == MAIL_RECEIVED
        assert message.properties["delivery_mode"] == 2
        assert message.properties["content_type"] == "application/json"
        assert message.properties["content_encoding"] == "utf-8"
        assert message.properties["message_id"] == edge_id
        assert message.headers == {EVENT_ID_HEADER: edge_id, PRODUCER_HEADER: SERVICE_NAME}
    assert "accepted from=<anna@example.com>" in edge.log()


def test_the_message_is_shaped_as_the_outbox_relay_shapes_events(
    subscribed_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(subscribed_uri)
    assert edge.send(b"Subject: one\r\n\r\nbody\r\n").startswith("250")
    # what services.chassis.outbox.OutboxRelay does with a row (setup() and relay_once())
    exchange = event_exchange(SERVICE_NAME)
    relay = Publisher(subscribed_uri, use_confirms=True, declare=[exchange])
    body = {"event_id": "relayed", "occurred_at": "2024-01-01T00:00:00+00:00"}
    headers = {EVENT_ID_HEADER: "relayed", PRODUCER_HEADER: SERVICE_NAME}
    relay.publish(body, exchange=exchange, routing_key=MAIL_RECEIVED, extra_headers=headers)

    from_edge, from_relay = queued(subscribed_uri)
    assert from_relay.headers == headers
    assert set(from_edge.headers) == set(from_relay.headers)
    for key in ("exchange", "routing_key"):
        assert from_edge.delivery_info[key] == from_relay.delivery_info[key]
    shared = {key: value for key, value in from_relay.properties.items() if key != "application_headers"}
    assert {key: from_edge.properties.get(key) for key in shared} == shared


received: list[dict[str, Any]] = []


class Conversations:
    """A stand-in for the conversations service's consumer: the same subscription, nothing else."""

    name = SERVICE_NAME

    @subscribe(SERVICE_NAME, MAIL_RECEIVED)
    def handle_mail_received(self, payload: dict[str, Any]) -> None:
        received.append(load(InboundMailSchema(), payload))


def test_a_subscribe_handler_receives_the_mail(
    container_factory: Any, vhost_uri: str, start_edge: Callable[..., Edge]
) -> None:
    received.clear()
    container = container_factory(Conversations, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET})
    container.start()  # declares its queue, as deploy.topology would
    edge = start_edge(vhost_uri)
    raw = crlf((SAMPLES / "thunderbird_reply.eml").read_bytes())
    with entrypoint_waiter(container, HANDLER, timeout=15):
        reply = edge.send(raw)
    [envelope] = received
    assert envelope["event_id"] == reply.rsplit(" ", 1)[1]
    assert base64.b64decode(envelope["raw_b64"]) == raw
    eventlet.sleep(0.5)
    assert len(received) == 1
    assert queue_length(vhost_uri) == 0  # acked: nothing retried or parked


def test_null_sender_and_several_recipients(subscribed_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(subscribed_uri)
    raw = crlf((SAMPLES / "dsn_bounce.eml").read_bytes())
    with edge.client() as client:
        client.sendmail("", ["support@helpdesk.example", "sales@helpdesk.example"], raw)
    [message] = queued(subscribed_uri)
    envelope = InboundMailSchema().loads(message.body)
    assert envelope["mail_from"] == ""
    assert envelope["rcpt_tos"] == ["support@helpdesk.example", "sales@helpdesk.example"]


# -- nothing bound ---------------------------------------------------------------------------------


def test_with_no_queue_bound_mail_gets_451_until_the_topology_is_declared(
    vhost_uri: str, start_edge: Callable[..., Edge], rabbit: dict[str, Any]
) -> None:
    edge = start_edge(vhost_uri)  # a fresh vhost: deploy.topology has not run
    raw = b"Subject: early\r\n\r\nbody\r\n"
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        edge.send(raw)
    assert deferred.value.smtp_code == 451
    assert reply_text(deferred.value).startswith(b"4.3.0")
    assert f"no queue is bound to {SERVICE_NAME}.events for {MAIL_RECEIVED}" in edge.log()

    vhost = unquote(urlsplit(vhost_uri).path[1:])
    api = f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api"
    url = f"{api}/exchanges/{quote(vhost, safe='')}/{SERVICE_NAME}.events"
    request = urllib.request.Request(url, headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    with urllib.request.urlopen(request, timeout=10) as answer:
        declared = json.load(answer)  # the edge declared the exchange, as event_exchange() does
    assert (declared["type"], declared["durable"], declared["auto_delete"]) == ("topic", True, False)

    declare_queue(vhost_uri)
    assert edge.send(raw).startswith("250")  # the sending server's retry
    [message] = queued(vhost_uri)
    assert raw_of(message) == raw
    assert "Traceback" not in edge.log()


def test_a_deleted_queue_gives_451_and_mail_is_accepted_once_it_is_declared_again(
    subscribed_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(subscribed_uri)
    assert edge.send(b"Subject: one\r\n\r\nfirst\r\n").startswith("250")
    with Connection(subscribed_uri) as connection:
        connection.channel().queue_delete(QUEUE)
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        edge.send(b"Subject: two\r\n\r\nsecond\r\n")
    assert deferred.value.smtp_code == 451
    declare_queue(subscribed_uri)
    assert edge.send(b"Subject: two\r\n\r\nsecond\r\n").startswith("250")
    [message] = queued(subscribed_uri)
    assert raw_of(message) == b"Subject: two\r\n\r\nsecond\r\n"


# -- refusals --------------------------------------------------------------------------------------


def test_size_is_advertised_and_oversized_mail_gets_552(
    subscribed_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(subscribed_uri)
    big = b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n"
    big = big * (MAX_BYTES // len(big) + 10)
    with edge.client() as client:
        client.ehlo()
        assert client.has_extn("size")
        assert client.esmtp_features["size"] == str(MAX_BYTES)
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # smtplib declares SIZE= in MAIL FROM
            client.sendmail("anna@example.com", ["support@helpdesk.example"], big)
        assert declared.value.smtp_code == 552
    with pytest.raises(smtplib.SMTPDataError) as sent:  # a client that does not declare the size
        edge.send(big)
    assert sent.value.smtp_code == 552
    assert reply_text(sent.value).startswith(b"5.3.4")
    assert queue_length(subscribed_uri) == 0
    assert edge.send(b"Subject: small\r\n\r\nok\r\n").startswith("250")  # the session is still usable
    assert "552 5.3.4" in edge.log()


@pytest.mark.parametrize(
    ("sample", "reason"),
    [("nesting_bomb.eml", b"nested too deeply"), ("too_many_attachments.eml", b"Too many attachments")],
)
def test_structure_limits_give_554_and_publish_nothing(
    subscribed_uri: str, start_edge: Callable[..., Edge], sample: str, reason: bytes
) -> None:
    edge = start_edge(subscribed_uri)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        edge.send(crlf((SAMPLES / sample).read_bytes()))
    assert refused.value.smtp_code == 554
    assert reply_text(refused.value).startswith(b"5.6.0")
    assert reason in reply_text(refused.value)
    assert queue_length(subscribed_uri) == 0
    assert "Traceback" not in edge.log()


# -- broker outages --------------------------------------------------------------------------------


def test_unreachable_broker_gives_451(start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        edge.send(b"Subject: hello\r\n\r\nbody\r\n")
    assert deferred.value.smtp_code == 451
    assert reply_text(deferred.value).startswith(b"4.3.0")
    assert "Traceback" not in edge.log()


def test_broker_outage_gives_451_and_a_retry_once_it_is_back_is_accepted(
    private_rabbit: PrivateRabbit, start_edge: Callable[..., Edge]
) -> None:
    declare_queue(private_rabbit.uri)
    edge = start_edge(private_rabbit.uri)
    raw = b"Subject: during the outage\r\nMessage-ID: <outage@example.com>\r\n\r\nbody\r\n"
    assert edge.send(b"Subject: before\r\n\r\nbody\r\n").startswith("250")
    private_rabbit.stop()
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        edge.send(raw)
    assert deferred.value.smtp_code == 451
    private_rabbit.start()
    deadline = time.monotonic() + 30
    while True:  # as the sending server would: retry until accepted
        try:
            reply = edge.send(raw)
            break
        except smtplib.SMTPDataError as error:
            assert error.smtp_code == 451
            assert time.monotonic() < deadline, "the edge did not recover"
            time.sleep(0.5)
    assert reply.startswith("250")
    bodies = [raw_of(message) for message in queued(private_rabbit.uri)]
    assert bodies == [b"Subject: before\r\n\r\nbody\r\n", raw]  # persistent: the first survived the restart


# -- process ---------------------------------------------------------------------------------------


def test_sigterm_finishes_and_exits_0(subscribed_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(subscribed_uri)
    client = edge.client()
    client.ehlo()  # an idle session open at shutdown
    assert edge.send(b"Subject: x\r\n\r\ny\r\n").startswith("250")
    assert edge.stop(signal.SIGTERM) == 0
    assert "stopped" in edge.log()
    with pytest.raises(OSError):
        edge.client()
    client.close()


def rabbitmqctl(node: PrivateRabbit, *args: str) -> None:
    from deploy.rabbitmq import SBIN_GLOB, Node

    sbin = Path(sorted(glob.glob(SBIN_GLOB))[-1])
    broker = Node(Path(node.data_dir).resolve(), node.port)
    subprocess.run(
        [str(sbin / "rabbitmqctl"), "-n", broker.name, *args],
        env=broker.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_sigterm_lets_a_mail_in_flight_get_its_answer(
    private_rabbit: PrivateRabbit, start_edge: Callable[..., Edge]
) -> None:
    declare_queue(private_rabbit.uri)
    edge = start_edge(private_rabbit.uri)
    assert edge.send(b"Subject: warm-up\r\n\r\nbody\r\n").startswith("250")
    rabbitmqctl(private_rabbit, "set_vm_memory_high_watermark", "0")  # the broker stops taking publishes
    answers: list[str] = []

    def send() -> None:
        try:
            answers.append(edge.send(b"Subject: in flight\r\n\r\nbody\r\n"))
        except smtplib.SMTPException as error:
            answers.append(repr(error))

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.5)
    assert answers == []  # waiting for the broker's confirm
    edge.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert edge.process.poll() is None  # draining, not gone
    rabbitmqctl(private_rabbit, "set_vm_memory_high_watermark", "0.4")
    sender.join(30)
    assert len(answers) == 1 and answers[0].startswith("250"), answers
    assert edge.process.wait(20) == 0  # it was told to stop once; it leaves by itself when drained
    assert edge.stop() == 0
    assert queue_length(private_rabbit.uri) == 2


def test_sigint_exits_0(vhost_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(vhost_uri)
    assert edge.stop(signal.SIGINT) == 0


SIGNAL_AS_THE_PORT_OPENS = """
import asyncio, os, signal, sys
from services.conversations import smtp_edge

listen = asyncio.BaseEventLoop.create_server

async def listen_then_interrupt(self, *args, **kwargs):
    server = await listen(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)  # the moment a caller can see the port open
    return server

asyncio.BaseEventLoop.create_server = listen_then_interrupt
sys.exit(smtp_edge.main())
"""


def test_a_signal_the_moment_the_port_opens_still_stops_the_edge_in_order(vhost_uri: str) -> None:
    """A supervisor that signals as soon as it sees the port gets exit status 0, not -2."""
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_AS_THE_PORT_OPENS],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": vhost_uri, "HELPDESK_SMTP_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stderr


def test_bad_settings_stop_the_edge_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.conversations.smtp_edge"],
        cwd=ROOT,
        env={**os.environ, "HELPDESK_SMTP_PORT": "not-a-port", "HELPDESK_MAIL_MAX_BYTES": "-5"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "HELPDESK_SMTP_PORT" in result.stderr
