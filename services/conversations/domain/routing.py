"""Where an inbound message goes.

A customer's message joins a thread when it answers one of ours: first by the ids in its
``In-Reply-To`` and ``References`` (the mail client kept them), then by the ticket reference
``[#123]`` in its subject (the client dropped them) - but only when the sender already takes
part in that ticket's conversation, on any of its threads and channels: a customer of one of
them, someone who wrote on one, or someone our replies went to (To or Cc). So nobody can
write into a ticket by guessing its number. Otherwise it starts a new thread, and a new
ticket. Sender rules decide spam: an allow rule beats a deny rule, an address rule beats a
domain rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.conversations.domain.replies import EMAILED_CHANNELS

ALLOW = "allow"
DENY = "deny"


@dataclass(frozen=True)
class Candidate:
    """A thread of the referenced ticket, with the addresses that take part in it (lower case)."""

    thread_id: int
    channel: str
    participants: frozenset[str]


@dataclass(frozen=True)
class Joining:
    """Where a mail goes that names a ticket its sender takes part in: the thread ``thread_id``,
    or, when None, a new email thread on that ticket."""

    thread_id: int | None


def thread_for_ids(referenced: Sequence[str], known: Mapping[str, int]) -> int | None:
    """The thread of the most recent referenced message we know (``known``: message id -> thread)."""
    for message_id in reversed(referenced):
        if message_id in known:
            return known[message_id]
    return None


def join_by_subject(sender: str, candidates: Iterable[Candidate]) -> Joining | None:
    """Where a mail from ``sender`` goes whose subject names the ticket of ``candidates``.

    None when ``sender`` takes part in none of them: a stranger gets a ticket of their own.
    Else the newest thread they take part in whose replies are mailed (email, form), so the
    next answer reaches them; when they take part in chat threads only, a new email thread
    on the ticket, since a reply in the chat would not reach their mailbox.
    """
    address = sender.strip().lower()
    theirs = [c for c in candidates if address and address in c.participants]
    if not theirs:
        return None
    mailed = [c.thread_id for c in theirs if c.channel in EMAILED_CHANNELS]
    return Joining(max(mailed) if mailed else None)


def normalise_pattern(pattern: str) -> str:
    """A rule's pattern as stored: lower case, no spaces, no leading ``@`` on a domain."""
    text = pattern.strip().lower()
    return text[1:] if text.startswith("@") else text


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is neither an address nor a domain, or None."""
    text = normalise_pattern(pattern)
    local, at, domain = text.rpartition("@")
    host = domain if at else text
    if (at and not local) or not host or "." not in host or any(c.isspace() or c in "<>,;" for c in text):
        return "must be an address (ana@example.com) or a domain (example.com)"
    return None


def sender_verdict(address: str, rules: Mapping[str, str]) -> str | None:
    """``allow``, ``deny`` or None for ``address`` under ``rules`` (pattern -> action).

    The address's own rule decides first; then its domain's and each parent domain's, the
    nearest first. At the same level an allow wins (rules are a set, not an order).
    """
    address = address.strip().lower()
    if address in rules:
        return rules[address]
    _local, _at, domain = address.rpartition("@")
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        verdict = rules.get(".".join(labels[start:]))
        if verdict is not None:
            return verdict
    return None


def is_spam(verdict: str | None) -> bool:
    return verdict == DENY
