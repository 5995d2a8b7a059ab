"""An agent's reply by email: who it goes to and how it threads back.

The reply goes to the thread's customer with the Cc of the customer's last message (SPEC
"Email, as people actually send it"), unless the agent names recipients. Our own address
is never a recipient, and nobody is named twice. ``In-Reply-To`` is the last message of
the thread that has a Message-ID and ``References`` carries the chain, so the customer's
answer threads back; the subject carries ``[#ticket]`` for clients that drop both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.chassis.mail.refs import build_references
from services.conversations.mail.refs import reply_subject

EMAILED_CHANNELS = ("email", "form")
"""Replies on these channels go to the customer by email; chat replies wait for the chat."""


@dataclass(frozen=True)
class Recipients:
    to: list[str]
    cc: list[str]

    @property
    def all(self) -> list[str]:
        return [*self.to, *self.cc]


def _distinct(addresses: Iterable[str], skip: set[str]) -> list[str]:
    found: list[str] = []
    for address in addresses:
        key = address.strip().lower()
        if key and key not in skip:
            skip.add(key)
            found.append(key)
    return found


def reply_recipients(
    *,
    customer: str,
    last_cc: Sequence[str],
    own_address: str,
    to: Sequence[str] | None = None,
    cc: Sequence[str] | None = None,
) -> Recipients:
    """To and Cc of a reply (see the module docstring); ``to``/``cc`` given by the agent win."""
    seen = {own_address.strip().lower()}
    chosen_to = _distinct(to if to is not None else [customer], seen)
    chosen_cc = _distinct(cc if cc is not None else last_cc, seen)
    return Recipients(chosen_to, chosen_cc)


@dataclass(frozen=True)
class Threading:
    subject: str
    in_reply_to: str | None
    references: list[str]


def reply_threading(
    thread_subject: str, parent_id: str | None, parent_references: Sequence[str]
) -> Threading:
    """Subject and ids of a reply to the message ``parent_id`` (None when the thread has no mail yet)."""
    return Threading(
        subject=reply_subject(thread_subject) if parent_id else thread_subject,
        in_reply_to=parent_id,
        references=build_references(list(parent_references), parent_id),
    )
