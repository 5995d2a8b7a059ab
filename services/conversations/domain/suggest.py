"""Ticket name and summary suggestions, extracted from the conversation (no model, no service).

SPEC: a suggestion is generated locally from the ticket's conversation, never changes the
ticket, and asking again may give another one. Both kinds rank what the conversation itself
says: a sentence scores by how much of the conversation's vocabulary it carries (the stems
customers repeat weigh most, the first message more than later ones), a little less the
later it comes. Candidates are offered best first; the caller passes the ones it has
already shown (``exclude``) to get the next.

* Names: the best customer sentence, cut to a title's length at a clause or word boundary;
  the thread's subject (without ``Re:``/``Fwd:``/``Odp:``); the conversation's keywords.
* Summaries: the customer's key sentences and the agents' key answer, labelled, in the
  conversation's language (English or Polish); then other selections of sentences.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from services.chassis.words import STOPWORDS, language, stem, words
from services.conversations.domain.text import Sentence, split_conversation

MAX_NAME = 80
MAX_SUMMARY = 600
REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|odp|pd|aw|wg|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
TICKET_REF = re.compile(r"\[#\d+\]\s*")
LABELS = {"en": ("Customer", "Agent"), "pl": ("Klient", "Agent")}
_LEANING = "it this that these they he she its there to ten ta te on ona ono oni też także"
LEANING = frozenset(_LEANING.split())
"""First words of a sentence that needs the one before it to make sense."""
REDUNDANT = 0.5
"""Two sentences sharing more than this share of their stems say the same thing."""

Message = tuple[str, str]
"""``(kind, text)``: ``customer``, ``reply`` or ``note``, and the message's new text."""


def weights(sentences: Sequence[Sentence]) -> dict[str, float]:
    """How much each stem says about the conversation: customer stems weigh 2 (3 in the first
    customer message), agents' 1; repeated stems count with diminishing returns."""
    first_customer = min((s.message for s in sentences if s.kind == "customer"), default=-1)
    raw: dict[str, float] = defaultdict(float)
    for sentence in sentences:
        factor = 1.0 if sentence.kind != "customer" else 3.0 if sentence.message == first_customer else 2.0
        for term in set(sentence.stems):
            raw[term] += factor
    return {term: 1.0 + math.log(count) for term, count in raw.items()}


def score(sentence: Sentence, weight: dict[str, float], lead: float = 0.15) -> float:
    """What a sentence carries of the conversation's vocabulary, less the later it comes (``lead``
    per sentence into its message) and if it leans on an earlier one (``It``, ``To``...)."""
    distinct = set(sentence.stems)
    if not distinct:
        return 0.0
    carried = sum(weight.get(term, 0.0) for term in distinct) / math.sqrt(len(distinct))
    if words(sentence.text)[:1] and words(sentence.text)[0] in LEANING:
        carried *= 0.7
    return carried / (1.0 + lead * sentence.position + 0.05 * sentence.message)


def ranked(sentences: Iterable[Sentence], weight: dict[str, float], lead: float = 0.15) -> list[Sentence]:
    return sorted(sentences, key=lambda s: (-score(s, weight, lead), s.message, s.position))


def overlap(a: Sentence, b: Sentence) -> float:
    first, second = set(a.stems), set(b.stems)
    return len(first & second) / max(1, min(len(first), len(second)))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a clause boundary, else a word boundary (with ``…``)."""
    text = " ".join(text.split()).rstrip(" .!?;:,")
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in (";", ",", " - ", " – ", ":"):
        cut = head.rfind(mark)
        if cut >= limit // 2:
            return head[:cut].rstrip(" .,;:-–")
    return head[: head.rfind(" ")].rstrip(" .,;:-–") + "…"


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def distinct(candidates: Iterable[str], avoid: Iterable[str] = ()) -> list[str]:
    """Non-empty candidates, each once (ignoring case and spacing), none of ``avoid``."""
    seen = {_key(a) for a in avoid}
    found = []
    for candidate in candidates:
        key = _key(candidate)
        if key and key not in seen:
            seen.add(key)
            found.append(candidate)
    return found


def _key(text: str) -> str:
    return " ".join(words(text))


def name_candidates(messages: Sequence[Message], *, subject: str = "", current: str = "") -> list[str]:
    """Ticket names for the conversation, best first (never the ticket's current name)."""
    lang = language(" ".join(text for _kind, text in messages))
    all_sentences = split_conversation(messages, lang)
    weight = weights(all_sentences)
    customer = [s for s in all_sentences if s.kind == "customer"] or all_sentences
    found = [capital(shorten(s.text, MAX_NAME)) for s in ranked(customer, weight, lead=0.3)[:3]]
    clean_subject = TICKET_REF.sub("", REPLY_PREFIX.sub("", subject)).strip()
    if len(words(clean_subject)) >= 2:
        found.insert(1, capital(shorten(clean_subject, MAX_NAME)))
    if keywords := _keywords(all_sentences, weight, lang):
        found.append(keywords)
    return distinct(found, avoid=[current])


def _keywords(sentences: Sequence[Sentence], weight: dict[str, float], lang: str) -> str:
    """The conversation's three heaviest stems, each in its most frequent written form."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for sentence in sentences:
        for word in words(sentence.text):
            if word not in STOPWORDS and len(word) > 1:
                forms[stem(word, lang)][word] += 1
    top = sorted((s for s in weight if not s.isdigit()), key=lambda s: (-weight[s], s))[:3]
    shown = [forms[s].most_common(1)[0][0] for s in top if forms.get(s)]
    return capital(", ".join(shown)) if len(shown) >= 2 else ""


def summary_candidates(messages: Sequence[Message]) -> list[str]:
    """Summaries of the conversation, best first: the customer's key sentences and the agents'
    key answer, labelled; then the next-best selections."""
    lang = language(" ".join(text for _kind, text in messages))
    all_sentences = split_conversation(messages, lang)
    if not all_sentences:
        return []
    weight = weights(all_sentences)
    customer = ranked([s for s in all_sentences if s.kind == "customer"], weight)
    agent = ranked([s for s in all_sentences if s.kind == "reply"], weight)
    selections = [
        _select(customer, 2) + _select(agent, 1),
        _select(customer, 3) + _select(agent, 2),
        _select(customer[1:], 2) + _select(agent[1:], 1),
        _latest(all_sentences, weight),
    ]
    return distinct(_compose(chosen, lang) for chosen in selections if chosen)


def _select(candidates: Sequence[Sentence], count: int) -> list[Sentence]:
    """Up to ``count`` of the best sentences, skipping any that repeats one already taken."""
    chosen: list[Sentence] = []
    for sentence in candidates:
        if len(chosen) == count:
            break
        if all(overlap(sentence, other) <= REDUNDANT for other in chosen):
            chosen.append(sentence)
    return chosen


def _latest(sentences: Sequence[Sentence], weight: dict[str, float]) -> list[Sentence]:
    """The key sentence of the last customer message and of the last reply (where things stand)."""
    chosen = []
    for kind in ("customer", "reply"):
        last = max((s.message for s in sentences if s.kind == kind), default=None)
        if last is not None:
            chosen += ranked([s for s in sentences if s.message == last], weight)[:1]
    return chosen


def _compose(chosen: Sequence[Sentence], lang: str) -> str:
    customer_label, agent_label = LABELS.get(lang, LABELS["en"])
    parts = []
    for kind, label in (("customer", customer_label), ("reply", agent_label)):
        said = [s for s in sorted(chosen, key=lambda s: (s.message, s.position)) if s.kind == kind]
        if said:
            parts.append(f"{label}: " + " ".join(_sentence(s.text) for s in said))
    text = " ".join(parts)
    return text if len(text) <= MAX_SUMMARY else shorten(text, MAX_SUMMARY)


def _sentence(text: str) -> str:
    text = capital(" ".join(text.split()))
    return text if text[-1:] in ".!?…" else text + "."


def pick(candidates: Sequence[str], exclude: Iterable[str]) -> str | None:
    """The best candidate not shown yet; when all were, the best again (None when there is none)."""
    if not candidates:
        return None
    fresh = distinct(candidates, avoid=exclude)
    return fresh[0] if fresh else candidates[0]
