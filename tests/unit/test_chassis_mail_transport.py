"""Outgoing delivery: .eml files written whole, SMTP relay answers sorted into retry or give up."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.ports import free_port
from services.chassis.mail.compose import compose
from services.chassis.mail.transport import (
    EmlFolderTransport,
    PermanentSendError,
    SmtpRelayTransport,
    TransientSendError,
    transport_from_env,
)
from services.conversations.mail.parse import parse_mail
from tests.mail_fixtures import SmtpSink


def message(subject: str = "Paczka nie dotarła") -> bytes:
    return compose(
        from_name="Obsługa klienta",
        from_address="support@helpdesk.example",
        to=[("Zofia Żółkiewska", "zofia@klient.pl")],
        subject=subject,
        text="Dzień dobry,\nsprawdzamy przesyłkę.\n",
        message_id="<t1@helpdesk.example>",
        ticket_id=42,
    )


# -- EmlFolderTransport ------------------------------------------------------------------------------


def test_eml_folder_writes_one_complete_file_per_message(tmp_path: Path) -> None:
    transport = EmlFolderTransport(tmp_path / "mail-out")
    raw = message()
    transport.send("support@helpdesk.example", ["zofia@klient.pl", "jan@klient.pl"], raw)
    transport.send("support@helpdesk.example", ["zofia@klient.pl"], raw)  # same bytes: a second file

    files = sorted((tmp_path / "mail-out").iterdir())
    assert len(files) == 2
    for path in files:
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{12}(-\d+)?\.eml", path.name)
    data = files[0].read_bytes()
    envelope = b"Return-Path: <support@helpdesk.example>\r\nX-Envelope-To: zofia@klient.pl, jan@klient.pl\r\n"
    assert data.startswith(envelope)
    assert data.endswith(raw)
    parsed = parse_mail(data)
    assert parsed.subject == "Paczka nie dotarła [#42]"
    assert parsed.text == "Dzień dobry,\nsprawdzamy przesyłkę."


def test_eml_folder_leaves_no_temporary_files_and_never_overwrites(tmp_path: Path) -> None:
    transport = EmlFolderTransport(tmp_path)
    raw = message()
    threads = [threading.Thread(target=transport.send, args=("a@b.pl", ["c@d.pl"], raw)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = os.listdir(tmp_path)
    assert len(names) == 8
    assert all(name.endswith(".eml") for name in names)


def test_eml_folder_that_cannot_be_written_is_a_transient_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransientSendError):
        EmlFolderTransport(blocker / "mail-out").send("a@b.pl", ["c@d.pl"], b"x")


# -- SmtpRelayTransport against the sink --------------------------------------------------------------


def relay(sink: SmtpSink) -> SmtpRelayTransport:
    return SmtpRelayTransport(sink.host, sink.port, timeout=10)


def test_relay_delivers_exact_bytes_to_every_recipient(smtp_sink: SmtpSink) -> None:
    raw = message()
    relay(smtp_sink).send("support@helpdesk.example", ["zofia@klient.pl", "jan@klient.pl"], raw)
    assert smtp_sink.wait_for(1) == [raw]
    assert smtp_sink.envelopes() == [
        {"mail_from": "support@helpdesk.example", "rcpt_tos": ["zofia@klient.pl", "jan@klient.pl"]}
    ]


def test_relay_sends_null_sender(smtp_sink: SmtpSink) -> None:
    relay(smtp_sink).send("", ["zofia@klient.pl"], message())
    smtp_sink.wait_for(1)
    assert smtp_sink.envelopes()[0]["mail_from"] == ""


@pytest.mark.parametrize(
    ("refuse", "error", "code"),
    [
        ("rcpt-4xx", TransientSendError, 450),
        ("rcpt-5xx", PermanentSendError, 550),
        ("data-4xx", TransientSendError, 451),
        ("data-5xx", PermanentSendError, 554),
    ],
)
def test_relay_refusals_are_sorted_by_code(
    make_smtp_sink: Callable[..., SmtpSink], refuse: str, error: type[Exception], code: int
) -> None:
    sink = make_smtp_sink("--refuse", refuse)
    with pytest.raises(error) as raised:
        relay(sink).send("support@helpdesk.example", ["zofia@klient.pl"], message())
    assert getattr(raised.value, "code", None) == code
    assert sink.messages() == []


def test_relay_with_some_recipients_refused_delivers_to_the_others(smtp_sink: SmtpSink) -> None:
    raw = message()
    relay(smtp_sink).send("support@helpdesk.example", ["reject-5xx@klient.pl", "zofia@klient.pl"], raw)
    assert smtp_sink.wait_for(1) == [raw]
    assert smtp_sink.envelopes()[0]["rcpt_tos"] == ["zofia@klient.pl"]


def test_relay_with_all_recipients_refused_temporarily_or_mixed_is_transient(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TransientSendError):
        relay(smtp_sink).send("s@h.example", ["reject-4xx@klient.pl", "reject-5xx@klient.pl"], message())


def test_relay_refusing_connections_is_transient() -> None:
    closed = SmtpRelayTransport("127.0.0.1", free_port(), timeout=5)
    with pytest.raises(TransientSendError):
        closed.send("s@h.example", ["zofia@klient.pl"], message())


def test_relay_that_hangs_up_is_transient() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def hang_up() -> None:
            connection, _ = listener.accept()
            connection.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        with pytest.raises(TransientSendError):
            SmtpRelayTransport("127.0.0.1", port, timeout=5).send("s@h.example", ["z@k.pl"], message())
        thread.join()


def test_relay_without_starttls_support_is_a_transient_configuration_error(smtp_sink: SmtpSink) -> None:
    transport = SmtpRelayTransport(smtp_sink.host, smtp_sink.port, starttls=True, timeout=5)
    with pytest.raises(TransientSendError):
        transport.send("s@h.example", ["z@k.pl"], message())
    assert smtp_sink.messages() == []


# -- settings -----------------------------------------------------------------------------------------


def test_without_a_relay_mail_goes_to_the_data_folder(tmp_path: Path) -> None:
    transport = transport_from_env({}, tmp_path)
    assert isinstance(transport, EmlFolderTransport)
    assert transport.folder == tmp_path / "mail-out"


def test_relay_settings() -> None:
    transport = transport_from_env(
        {
            "HELPDESK_SMTP_RELAY": "smtp.example.com:587",
            "HELPDESK_SMTP_RELAY_USER": "helpdesk",
            "HELPDESK_SMTP_RELAY_PASSWORD": "secret",
            "HELPDESK_SMTP_RELAY_STARTTLS": "true",
        },
        "/tmp",
    )
    assert isinstance(transport, SmtpRelayTransport)
    assert (transport.host, transport.port, transport.username, transport.password, transport.starttls) == (
        "smtp.example.com",
        587,
        "helpdesk",
        "secret",
        True,
    )
    assert "secret" not in repr(transport)
    ipv6 = transport_from_env({"HELPDESK_SMTP_RELAY": "[::1]:25"}, "/tmp")
    assert isinstance(ipv6, SmtpRelayTransport)
    assert (ipv6.host, ipv6.port, ipv6.starttls) == ("::1", 25, False)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HELPDESK_SMTP_RELAY": "smtp.example.com"}, "HELPDESK_SMTP_RELAY"),
        ({"HELPDESK_SMTP_RELAY": "smtp.example.com:x"}, "HELPDESK_SMTP_RELAY"),
        ({"HELPDESK_SMTP_RELAY": "smtp.example.com:70000"}, "HELPDESK_SMTP_RELAY"),
        ({"HELPDESK_SMTP_RELAY": ":25"}, "HELPDESK_SMTP_RELAY"),
        ({"HELPDESK_SMTP_RELAY": "h:25", "HELPDESK_SMTP_RELAY_STARTTLS": "maybe"}, "STARTTLS"),
        ({"HELPDESK_SMTP_RELAY": "h:25", "HELPDESK_SMTP_RELAY_USER": "u"}, "PASSWORD"),
        ({"HELPDESK_SMTP_RELAY_USER": "u", "HELPDESK_SMTP_RELAY_PASSWORD": "p"}, "HELPDESK_SMTP_RELAY_USER"),
        ({"HELPDESK_SMTP_RELAY_STARTTLS": "1"}, "HELPDESK_SMTP_RELAY_STARTTLS"),
    ],
)
def test_bad_relay_settings_are_refused_at_start(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        transport_from_env(environ, "/tmp")
