"""Text out of the bytes real mailboxes send: any charset label, any encoded-word, never an exception.

:func:`decode_bytes` turns a body or header into ``str`` whatever the declared charset says:
labels are looked up the way mail clients and browsers do (``iso-8859-1`` and ``us-ascii``
mean windows-1252, ``gb2312`` means GB18030, ``ks_c_5601-1987`` means CP949...), bytes that
are not valid in the declared charset are tried as UTF-8 (the usual lie), and what is left
is decoded with replacement characters. An unknown or bogus label falls back to UTF-8, then
Latin-1, which cannot fail. :func:`decode_header_text` does the same for a raw header value
with RFC 2047 encoded-words and raw 8-bit bytes in it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
import unicodedata

_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-ce": "mac-latin2",
    "x-mac-roman": "mac-roman",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
    "unknown": "",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")
_SPACES = re.compile(r" {2,}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when it is missing or unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower().split("*", 1)[0]
    name = _ALIASES.get(name, name)
    if not name:
        return None
    if name.startswith("cp-"):
        name = "cp" + name[3:]
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # Codecs that are not character sets (base64, zlib, rot13...) are not charsets either.
    if codec in {"base64", "quopri", "hex", "zlib", "bz2", "uu", "rot-13"} or codec.endswith("_codec"):
        return None
    return codec


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    return len(bytes(range(256)).decode(codec, errors="replace")) == 256


def decode_bytes(data: bytes, label: str | None) -> str:
    """Decode ``data`` declared as ``label``; never raises (see the module docstring).

    Bytes that are valid UTF-8 are read as UTF-8 even under a single-byte label: text in a
    legacy charset is almost never valid UTF-8 by chance, while UTF-8 sent under a legacy
    label is a common mistake.
    """
    codec = codec_for(label)
    if codec is None:
        attempts = ["utf-8"]
    elif codec == "utf-8" or _single_byte(codec):
        attempts = ["utf-8", codec]
    else:
        attempts = [codec, "utf-8"]
    for attempt in dict.fromkeys(attempts):
        try:
            return data.decode(attempt)
        except UnicodeDecodeError:
            continue
    if codec is None:
        return data.decode("latin-1")
    return data.decode(codec, errors="replace")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        cleaned = text.strip()
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return text.encode("ascii", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "_":
            out.append(0x20)
        elif char == "=" and _HEX2.fullmatch(text[i + 1 : i + 3]):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 2
        else:
            out.extend(char.encode("utf-8", "surrogateescape"))
        i += 1
    return bytes(out)


def undo_surrogates(value: str, fallback: str | None) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: decode them (UTF-8 first)."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return decode_bytes(raw, fallback or "utf-8")


def decode_header_text(value: str | None, fallback_charset: str | None = None) -> str:
    """A raw header value as readable text: unfolded, encoded-words decoded, blanks collapsed, NFC.

    Adjacent encoded-words in one charset are joined as bytes before decoding, since senders
    split multi-byte characters across them. ``fallback_charset`` is tried for raw 8-bit bytes
    that are not UTF-8 (the charset of the message's text is a good guess).
    """
    if not value:
        return ""
    text = undo_surrogates(value, fallback_charset)
    text = re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", " ")
    pieces: list[str] = []
    pending: tuple[str, bytearray] | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if pending is not None and not _ONLY_SPACE.fullmatch(between):
            pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
            pending = None
        if pending is None:
            pieces.append(between)
        charset = match.group(1)
        data = _word_bytes(match.group(2), match.group(3))
        if pending is not None and pending[0].lower() == charset.lower():
            pending[1].extend(data)
        else:
            if pending is not None:
                pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
            pending = (charset, bytearray(data))
        position = match.end()
    if pending is not None:
        pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
    pieces.append(text[position:])
    decoded = "".join(char if char >= " " else " " for char in "".join(pieces))
    return unicodedata.normalize("NFC", _SPACES.sub(" ", decoded)).strip()
