"""Where an inbound message goes.

A customer's message joins a thread when it answers one of ours: first by the ids in its
``In-Reply-To`` and ``References`` (the mail client kept them), then by the ticket reference
``[#123]`` in its subject (the client dropped them) - but only when the sender already takes
part in that ticket's conversation, so nobody can write into a ticket by guessing its number.
Otherwise it starts a new thread, and a new ticket. Sender rules decide spam: an allow rule
beats a deny rule, an address rule beats a domain rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALLOW = "allow"
DENY = "deny"


@dataclass(frozen=True)
class Candidate:
    """A thread of the referenced ticket, with the addresses that take part in it."""

    thread_id: int
    channel: str
    participants: frozenset[str]


def thread_for_ids(referenced: Sequence[str], known: Mapping[str, int]) -> int | None:
    """The thread of the most recent referenced message we know (``known``: message id -> thread)."""
    for message_id in reversed(referenced):
        if message_id in known:
            return known[message_id]
    return None


def thread_for_subject(sender: str, candidates: Iterable[Candidate]) -> int | None:
    """The newest email thread of the subject's ticket that ``sender`` takes part in."""
    for candidate in sorted(candidates, key=lambda c: c.thread_id, reverse=True):
        if candidate.channel == "email" and sender in candidate.participants:
            return candidate.thread_id
    return None


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
