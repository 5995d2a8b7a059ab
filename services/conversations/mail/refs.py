"""Reading what threads an incoming mail: the ``[#ticket]`` subject marker and reply subjects.

The outgoing side (message ids, ``References`` of a reply, putting the marker on a subject)
is generic mail code shared with the notifications service and lives in
:mod:`services.chassis.mail.refs`; :func:`ticket_ref_in_subject` reads back exactly the marker
:func:`~services.chassis.mail.refs.subject_with_ref` writes.
"""

from __future__ import annotations

import re

from services.chassis.mail.refs import TICKET_REF

MAX_TICKET_ID = 2**53

_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|odp|fwd?|wg|pd|sv|vs|antw|tr|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


def ticket_ref_in_subject(subject: str | None) -> int | None:
    """The ticket id of the last ``[#123]`` in ``subject``; ids of 0 or above 2**53 are ignored.

    The last one wins: ``subject_with_ref`` puts ours at the end.
    """
    if not subject:
        return None
    found = None
    for match in TICKET_REF.finditer(subject):
        number = int(match.group(1))
        if 0 < number <= MAX_TICKET_ID:
            found = number
    return found


def strip_reply_prefixes(subject: str | None) -> str:
    """``subject`` without its leading reply and forward prefixes (Re:, RE:, Odp:, AW:, Fwd:, FW:...)."""
    text = _SPACES.sub(" ", subject or "").strip()
    while True:
        stripped = _REPLY_PREFIX.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


def reply_subject(subject: str | None) -> str:
    """The subject of a reply: ``Re: `` once in front of the original without its prefixes."""
    base = strip_reply_prefixes(subject)
    return f"Re: {base}" if base else "Re:"
