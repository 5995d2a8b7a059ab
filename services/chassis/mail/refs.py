"""Message ids and the ticket reference in subjects: what threads outgoing mail.

Ids are kept without angle brackets (:func:`normalise_message_id`) and written with them
(:func:`make_message_id` returns the header form ``<uuid@domain>``). Every outgoing subject
that concerns a ticket carries the reference ``[#123]`` once, at its end
(:func:`subject_with_ref`), for mail clients that drop ``In-Reply-To``/``References``;
:data:`TICKET_REF` is the pattern a reader of incoming mail looks for.
"""

from __future__ import annotations

import re
import uuid

MAX_REFERENCES = 20

TICKET_REF = re.compile(r"\[#(\d{1,20})\]")
"""``[#123]`` in a subject; group 1 is the ticket id."""

_BRACKETED = re.compile(r"<([^<>]*)>")
_SPACES = re.compile(r"\s+")


def normalise_message_id(value: str | None) -> str | None:
    """The id inside the first ``<...>`` of a header value (or the bare token), None if empty."""
    if not value:
        return None
    found = _BRACKETED.search(value)
    if found:
        token = _SPACES.sub("", found.group(1))
    else:
        words = value.split()
        token = words[0] if words else ""
    return token or None


def parse_references(value: str | None) -> list[str]:
    """All ids of a ``References`` header in order, once each."""
    if not value:
        return []
    tokens = _BRACKETED.findall(value) or [t for t in value.split() if "@" in t]
    ids = (_SPACES.sub("", token) for token in tokens)
    return list(dict.fromkeys(i for i in ids if i))


def make_message_id(domain: str) -> str:
    """A new, globally unique id in header form: ``<32 hex digits of a uuid4@domain>``.

    ``domain`` is our own mail domain (``support@example.com`` -> ``example.com``); a non-ASCII
    domain is written in IDNA. Store ids with :func:`normalise_message_id` applied.
    """
    domain = domain.strip().strip(".").lower()
    if not domain or any(char in domain for char in "<>@ \t\r\n"):
        raise ValueError(f"not a mail domain: {domain!r}")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"<{uuid.uuid4().hex}@{domain}>"


def mail_domain(address: str) -> str:
    """The domain our Message-IDs are made in: that of our own address (``localhost`` at worst)."""
    _local, at, domain = address.strip().rpartition("@")
    return domain if at and domain else "localhost"


def build_references(parent_references: list[str], parent_message_id: str | None) -> list[str]:
    """``References`` of a reply: the parent's references plus the parent's id, without brackets.

    Trimmed to the thread's first id plus the latest ones (:data:`MAX_REFERENCES` in all), as
    mail clients do, so long threads do not grow the header without end.
    """
    ids = [normalise_message_id(i) for i in [*parent_references, parent_message_id or ""]]
    unique = list(dict.fromkeys(i for i in ids if i))
    if len(unique) > MAX_REFERENCES:
        unique = [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
    return unique


def subject_with_ref(subject: str, ticket_id: int) -> str:
    """``subject`` ending with `` [#ticket_id]`` exactly once.

    A subject already carrying this reference is returned as it is; references to other
    tickets (an absorbed ticket after a merge) are replaced, so a subject names one ticket.
    """
    subject = _SPACES.sub(" ", subject or "").strip()
    tag = f"[#{ticket_id}]"
    refs = [int(m.group(1)) for m in TICKET_REF.finditer(subject)]
    if refs and all(ref == ticket_id for ref in refs):
        return subject
    bare = _SPACES.sub(" ", TICKET_REF.sub(" ", subject)).strip()
    return f"{bare} {tag}" if bare else tag
