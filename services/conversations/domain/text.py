"""Lines and sentences of message text, in English and Polish: what suggestions are built from.

Words, stems and languages come from :mod:`services.chassis.words` (the ticket search uses them
too); this module finds what a message says (no greeting, closing, signature or quote) and
splits it into sentences with their stems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from services.chassis.words import terms, words

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
SIGNATURE = re.compile(r"^(--\s*|__+|sent from my .*|wysłano z .*)$", re.IGNORECASE)
CLOSING = re.compile(
    r"^(thanks|thank you|many thanks|regards|best regards|kind regards|best|cheers|sincerely|"
    r"pozdrawiam|z poważaniem|z pozdrowieniami|dziękuję|dziękuję bardzo|dzięki|serdecznie pozdrawiam)"
    r"[\s,.!]*$",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|dzień dobry|witam|cześć|szanown\w*)\b"
    r"[^.?!]{0,40}[,!]?$",
    re.IGNORECASE,
)
"""A line that only greets (``Hi team,``, ``Dear Ms Smith,``, ``Dzień dobry,``)."""


def body_lines(text: str) -> list[str]:
    """The lines of a message that say something: no greeting, closing, signature or quoted line."""
    kept: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if SIGNATURE.match(line) or CLOSING.match(line):
            break
        if not line or line.startswith(">") or GREETING.match(line):
            continue
        kept.append(line)
    return kept


@dataclass(frozen=True)
class Sentence:
    """A sentence of the conversation: where it is (message, position) and what it says."""

    text: str
    message: int  # index of its message in the conversation
    position: int  # index within its message
    kind: str  # customer, reply or note
    stems: tuple[str, ...]


def sentences(text: str) -> Iterator[str]:
    """The sentences of a message's body (a line break also ends one)."""
    for line in body_lines(text):
        for piece in SENTENCE_END.split(line):
            piece = piece.strip()
            if len(words(piece)) >= 2:
                yield piece


def split_conversation(messages: Iterable[tuple[str, str]], lang: str) -> list[Sentence]:
    """Every sentence of ``(kind, text)`` messages, in order, with its stems."""
    found: list[Sentence] = []
    for index, (kind, text) in enumerate(messages):
        for position, sentence in enumerate(sentences(text)):
            found.append(Sentence(sentence, index, position, kind, tuple(terms(sentence, lang))))
    return found
