"""Header values read raw and decoded by us, so no malformed header can raise or be misread.

The standard library's structured headers (``email.policy.default``) raise on some malformed
values, cut ids with a space in them short and leave raw 8-bit names as surrogate escapes.
These helpers read :meth:`~email.message.Message.raw_items` instead and decode with
:mod:`.charsets`.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from email.utils import getaddresses

from services.conversations.mail.charsets import decode_header_text, undo_surrogates
from services.conversations.mail.model import Address

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every raw value of header ``name`` (any case), in order."""
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def raw_header(msg: Message, name: str) -> str | None:
    """The first raw value of header ``name``, None if absent."""
    values = raw_headers(msg, name)
    return values[0] if values else None


def header_text(msg: Message, name: str, fallback_charset: str | None = None) -> str:
    """The first value of ``name`` as readable text, ``""`` if absent."""
    return decode_header_text(raw_header(msg, name), fallback_charset)


def normalise_address(address: str) -> str:
    """An address as we compare and store it: trimmed, lower-case, Unicode NFC."""
    return unicodedata.normalize("NFC", address.strip().strip("<>").strip()).lower()


def parse_addresses(values: list[str], fallback_charset: str | None = None) -> list[Address]:
    """``(name, address)`` pairs of address headers; groups and empty entries are left out."""
    unfolded = [_FOLD.sub("", undo_surrogates(value, fallback_charset)) for value in values]
    found: list[Address] = []
    for name, address in getaddresses(unfolded):
        address = normalise_address(address)
        if not address or address.endswith(":") or any(char.isspace() for char in address):
            continue
        found.append((decode_header_text(name, fallback_charset), address))
    return found
