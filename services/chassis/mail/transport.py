"""Handing outgoing mail to the world: an SMTP relay, or a folder of ``.eml`` files.

Every :class:`Transport` either delivers the message to the next hop or raises one of two
errors, so the caller knows what to do with its outbox row:

* :class:`TransientSendError` - try again later: the relay cannot be reached, timed out,
  answered 4xx, or refused our credentials or TLS (our configuration, to be fixed, not the
  message's fault);
* :class:`PermanentSendError` - give up and mark the message failed: the relay answered
  5xx to the sender, to the data, or to every recipient.

When the relay accepts some recipients and refuses others, the message is on its way and
``send`` returns; the refusals are logged (a later bounce tells the thread).

:func:`transport_from_env` picks the transport from the settings in ``API.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class SendError(Exception):
    """A message was not handed over; ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """Not sent this time; sending the same bytes later may work."""


class PermanentSendError(SendError):
    """Never going to be accepted as it is."""


class Transport(Protocol):
    blocking: bool
    """True when ``send`` does blocking file I/O (fsync) that a green thread must not run itself."""

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        """Hand ``raw`` over for ``recipients``; raise Transient/PermanentSendError otherwise."""
        ...


def _by_code(message: str, code: int) -> SendError:
    if 500 <= code < 600:
        return PermanentSendError(message, code)
    return TransientSendError(message, code)


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SmtpRelayTransport:
    """Sends through one SMTP relay, a new connection per message (smtplib; cooperative under eventlet)."""

    blocking = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 30,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpRelayTransport({self.host!r}, {self.port}, starttls={self.starttls})"

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        if not recipients:
            raise PermanentSendError("no recipients")
        try:
            refused = self._hand_over(mail_from, recipients, raw)
        except (TimeoutError, OSError, smtplib.SMTPException, ssl.SSLError) as error:
            raise self._failure(error) from error
        for rcpt, (code, reply) in refused.items():
            log.warning("relay %s:%s refused %s: %s %s", self.host, self.port, rcpt, code, _reply_text(reply))

    def _hand_over(self, mail_from: str, recipients: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
        """One SMTP session; returns the recipients the relay refused while taking the rest."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            client.ehlo_or_helo_if_needed()
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.username is not None:
                client.login(self.username, self.password or "")
            return client.sendmail(mail_from, recipients, raw)

    def _failure(self, error: Exception) -> SendError:
        """What a failed session means for the message (see the module docstring)."""
        relay = f"relay {self.host}:{self.port}"
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return _recipients_refused(error)
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return TransientSendError(f"{relay} refused our credentials: {error.smtp_code}", error.smtp_code)
        if isinstance(error, smtplib.SMTPConnectError):
            return TransientSendError(f"{relay} refused the connection: {error.smtp_code}", error.smtp_code)
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return TransientSendError(f"{relay}: {error}")
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return TransientSendError(f"{relay} closed the connection: {error}")
        if isinstance(error, smtplib.SMTPResponseException):
            return _by_code(
                f"{relay} answered {error.smtp_code} {_reply_text(error.smtp_error)}", error.smtp_code
            )
        return TransientSendError(f"{relay} unreachable: {error}")


def _recipients_refused(error: smtplib.SMTPRecipientsRefused) -> SendError:
    """Permanent when every recipient got a 5xx, else transient (some may be taken later)."""
    codes = {code for code, _ in error.recipients.values()}
    detail = "; ".join(
        f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in error.recipients.items()
    )
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentSendError(f"every recipient refused: {detail}", min(codes))
    return TransientSendError(f"recipients refused: {detail}", min(codes) if codes else None)


class EmlFolderTransport:
    """Writes each message to ``<folder>/<UTC timestamp>-<short hash>.eml``, atomically.

    The file appears complete or not at all (written under a temporary name, fsynced,
    renamed, folder fsynced) and never replaces another. The envelope is recorded in front of
    the message as ``Return-Path`` and ``X-Envelope-To`` headers, as a delivery agent would.
    Writing and fsyncing block the calling OS thread (``blocking``).
    """

    blocking = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"EmlFolderTransport({str(self.folder)!r})"

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        if not recipients:
            raise PermanentSendError("no recipients")
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
        data = envelope.encode("utf-8") + raw
        try:
            self.write(data)
        except OSError as error:
            raise TransientSendError(f"cannot write to {self.folder}: {error}") from error

    def write(self, data: bytes) -> Path:
        """Store ``data`` as a new ``.eml`` file; returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        digest = hashlib.sha256(data).hexdigest()[:12]
        temporary = self.folder / f".{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "xb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            for attempt in range(1000):
                suffix = f"-{attempt}" if attempt else ""
                target = self.folder / f"{stamp}-{digest}{suffix}.eml"
                try:
                    os.link(temporary, target)  # unlike rename, never replaces an existing file
                except FileExistsError:
                    continue
                break
            else:
                raise FileExistsError(f"no free name for {stamp}-{digest} in {self.folder}")
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return target


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _relay_address(value: str) -> tuple[str, int]:
    host, colon, port_text = value.strip().rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"HELPDESK_SMTP_RELAY must be host:port, not {value!r}")
    return host, int(port_text)


def transport_from_env(environ: Mapping[str, str], data_dir: str | os.PathLike[str]) -> Transport:
    """The transport the settings ask for: ``HELPDESK_SMTP_RELAY`` (``host:port``) with optional
    ``HELPDESK_SMTP_RELAY_USER``/``_PASSWORD``/``_STARTTLS``; without a relay, ``.eml`` files
    under ``<data_dir>/mail-out``. Inconsistent settings raise ValueError at start-up.
    """
    relay = environ.get("HELPDESK_SMTP_RELAY", "").strip()
    user = environ.get("HELPDESK_SMTP_RELAY_USER")
    password = environ.get("HELPDESK_SMTP_RELAY_PASSWORD")
    starttls_text = environ.get("HELPDESK_SMTP_RELAY_STARTTLS", "").strip().lower()
    if starttls_text not in _TRUE | _FALSE:
        raise ValueError(f"HELPDESK_SMTP_RELAY_STARTTLS must be true or false, not {starttls_text!r}")
    if not relay:
        given = [
            name for name in ("HELPDESK_SMTP_RELAY_USER", "HELPDESK_SMTP_RELAY_PASSWORD") if environ.get(name)
        ]
        if given or starttls_text in _TRUE:
            names = ", ".join(given or ["HELPDESK_SMTP_RELAY_STARTTLS"])
            raise ValueError(f"{names} set but HELPDESK_SMTP_RELAY is not")
        return EmlFolderTransport(Path(data_dir) / "mail-out")
    host, port = _relay_address(relay)
    if bool(user) != bool(password):
        raise ValueError("HELPDESK_SMTP_RELAY_USER and HELPDESK_SMTP_RELAY_PASSWORD go together")
    return SmtpRelayTransport(
        host, port, username=user or None, password=password or None, starttls=starttls_text in _TRUE
    )
