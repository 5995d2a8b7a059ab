"""The SMTP edge says 250 only for mail the broker has, and refuses what breaks the limits.

Each test starts ``python -m services.conversations.smtp_edge`` as a subprocess (asyncio does
not belong in this eventlet-patched process) against a fresh vhost or a private broker, talks
SMTP to it with smtplib and reads ``conversations.inbound-mail`` with kombu.
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

import pytest
from kombu import Connection

from services.conversations.contract import INBOUND_MAIL_QUEUE, InboundMailSchema
from tests.conftest import PrivateRabbit, free_port
from tests.mail_fixtures import stop_process, wait_for_port

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "unit" / "mail_samples"
MAX_BYTES = 200_000


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


def queued(amqp_uri: str) -> list[Any]:
    """Take every message from the inbound queue (with its properties)."""
    taken = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        while True:
            message = channel.basic_get(queue=INBOUND_MAIL_QUEUE, no_ack=True)
            if message is None:
                return taken
            taken.append(message)


def queue_length(amqp_uri: str) -> int:
    with Connection(amqp_uri) as connection:
        _, count, _ = connection.channel().queue_declare(queue=INBOUND_MAIL_QUEUE, passive=True)
        return int(count)


def raw_of(message: Any) -> bytes:
    return base64.b64decode(InboundMailSchema().loads(message.body)["raw_b64"])


def crlf(raw: bytes) -> bytes:
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


# -- happy path ------------------------------------------------------------------------------------


def test_accepted_mail_is_queued_byte_for_byte_with_its_envelope(
    vhost_uri: str, start_edge: Callable[..., Edge], rabbit: dict[str, Any]
) -> None:
    edge = start_edge(vhost_uri)
    samples = [crlf((SAMPLES / name).read_bytes()) for name in ("thunderbird_reply.eml", "out_of_office.eml")]
    dotted = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n"
    replies = [edge.send(raw) for raw in [*samples, dotted]]
    assert all(reply.startswith("250 2.0.0 OK queued as ") for reply in replies)

    messages = queued(vhost_uri)
    assert len(messages) == 3  # an auto-reply is queued too: the service records it on its thread
    for message, raw, reply in zip(messages, [*samples, dotted], replies, strict=True):
        envelope = InboundMailSchema().loads(message.body)
        assert base64.b64decode(envelope["raw_b64"]) == raw
        assert str(envelope["edge_id"]) == reply.rsplit(" ", 1)[1]
        assert envelope["mail_from"] == "anna@example.com"
        assert envelope["rcpt_tos"] == ["support@helpdesk.example"]
        assert envelope["peer"].startswith("127.0.0.1:")
        assert envelope["received_at"].utcoffset() is not None
        assert message.properties["delivery_mode"] == 2
        assert message.properties["message_id"] == str(envelope["edge_id"])

    vhost = unquote(urlsplit(vhost_uri).path[1:])
    api = f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api"
    url = f"{api}/queues/{quote(vhost, safe='')}/{INBOUND_MAIL_QUEUE}"
    request = urllib.request.Request(url, headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    with urllib.request.urlopen(request, timeout=10) as answer:
        declared = json.load(answer)
    assert (declared["durable"], declared["auto_delete"], declared["arguments"]) == (True, False, {})
    assert "accepted from=<anna@example.com>" in edge.log()


def test_null_sender_and_several_recipients(vhost_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(vhost_uri)
    raw = crlf((SAMPLES / "dsn_bounce.eml").read_bytes())
    with edge.client() as client:
        client.sendmail("", ["support@helpdesk.example", "sales@helpdesk.example"], raw)
    [message] = queued(vhost_uri)
    envelope = InboundMailSchema().loads(message.body)
    assert envelope["mail_from"] == ""
    assert envelope["rcpt_tos"] == ["support@helpdesk.example", "sales@helpdesk.example"]


def test_a_deleted_queue_is_declared_again_and_the_mail_accepted(
    vhost_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(vhost_uri)
    assert edge.send(b"Subject: one\r\n\r\nfirst\r\n").startswith("250")
    with Connection(vhost_uri) as connection:
        connection.channel().queue_delete(INBOUND_MAIL_QUEUE)
    assert edge.send(b"Subject: two\r\n\r\nsecond\r\n").startswith("250")
    [message] = queued(vhost_uri)
    assert raw_of(message) == b"Subject: two\r\n\r\nsecond\r\n"


# -- refusals --------------------------------------------------------------------------------------


def test_size_is_advertised_and_oversized_mail_gets_552(
    vhost_uri: str, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(vhost_uri)
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
    assert sent.value.smtp_error.startswith(b"5.3.4")
    assert queue_length(vhost_uri) == 0
    assert edge.send(b"Subject: small\r\n\r\nok\r\n").startswith("250")  # the session is still usable
    assert "552 5.3.4" in edge.log()


@pytest.mark.parametrize(
    ("sample", "reason"),
    [("nesting_bomb.eml", b"nested too deeply"), ("too_many_attachments.eml", b"Too many attachments")],
)
def test_structure_limits_give_554_and_queue_nothing(
    vhost_uri: str, start_edge: Callable[..., Edge], sample: str, reason: bytes
) -> None:
    edge = start_edge(vhost_uri)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        edge.send(crlf((SAMPLES / sample).read_bytes()))
    assert refused.value.smtp_code == 554
    assert refused.value.smtp_error.startswith(b"5.6.0")
    assert reason in refused.value.smtp_error
    assert queue_length(vhost_uri) == 0
    assert "Traceback" not in edge.log()


# -- broker outages --------------------------------------------------------------------------------


def test_unreachable_broker_gives_451(start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        edge.send(b"Subject: hello\r\n\r\nbody\r\n")
    assert deferred.value.smtp_code == 451
    assert deferred.value.smtp_error.startswith(b"4.3.0")
    assert "Traceback" not in edge.log()


def test_broker_outage_gives_451_and_a_retry_once_it_is_back_is_accepted(
    private_rabbit: PrivateRabbit, start_edge: Callable[..., Edge]
) -> None:
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


def test_sigterm_finishes_and_exits_0(vhost_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(vhost_uri)
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
    assert edge.stop() == 0
    assert queue_length(private_rabbit.uri) == 2


def test_sigint_exits_0(vhost_uri: str, start_edge: Callable[..., Edge]) -> None:
    edge = start_edge(vhost_uri)
    assert edge.stop(signal.SIGINT) == 0


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
