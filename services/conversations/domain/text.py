"""Words, stems and sentences of message text, in English and Polish, without any library.

What the search index stores and what suggestions are built from. The stemmers are light
on purpose: they only need to make the inflected forms of one word meet (``paczka``,
``paczki``, ``paczkę``; ``printer``, ``printers``; ``connecting``, ``connected``), the same
way for the documents and the queries, not to find dictionary roots. Polish words lose a
known ending and are then cut to :data:`PL_STEM` letters (prefix stemming, which copes with
the consonant changes of Polish inflection: ``drukarka`` / ``drukarce``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
PL_LETTERS = frozenset("ąćęłńóśźż")
PL_STEM = 6
EN_STEM = 9
MIN_STEM = 3
MAX_WORD = 40
"""Longer "words" (hashes, base64, URLs run together) are not words."""

_EN_STOPWORDS = """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further get got had hadn't has hasn't have haven't having he her here hers
    herself him himself his how i i'm i've if in into is isn't it it's its itself just let's me more most
    my myself no nor not now of off on once only or other ought our ours ourselves out over own same she
    should shouldn't so some such than that that's the their theirs them themselves then there there's
    these they they're this those through to too under until up very was wasn't we we're were weren't what
    when where which while who whom why will with won't would wouldn't you you're your yours yourself
    yourselves also hi hello dear thanks thank please regards best kind cheers team support hey ok okay
    yes yet still since already again anyway would could might must shall may one two us via etc"""
EN_STOPWORDS = frozenset(_EN_STOPWORDS.split())
_PL_STOPWORDS = """
    a aby ach acz aczkolwiek aj albo ale ależ ani aż bardziej bardzo bez bo bowiem by byli bym bynajmniej
    być był była było były będzie będą cali cała cały ci cię ciebie co cokolwiek coś czasami czasem czemu
    czy czyli daleko dla dlaczego dlatego do dobrze dokąd dość dużo dwa dwaj dwie dwoje dziś dzisiaj gdy
    gdyby gdyż gdzie gdziekolwiek gdzieś go i ich ile im inna inne inny innych iż ja ją jak jaka jakaś
    jakby jaki jakichś jakie jakiś jakiż jakkolwiek jako jakoś je jeden jedna jedno jednak jednakże jego
    jej jemu jest jestem jeszcze jeśli jeżeli już każdy kiedy kilka kimś kto ktokolwiek ktoś która które
    którego której który których którym którzy ku lat lecz lub ma mają mam mamy mi mimo między mną mnie
    mogą moi moim moja moje może możliwe można mój mu musi my na nad nam nami nas nasi nasz nasza nasze
    naszego naszych natomiast natychmiast nawet nią nic nich nie niech niego niej niemu nigdy nim nimi niż
    no o obok od około on ona one oni ono oraz oto owszem pan pana pani po pod podczas pomimo ponad
    ponieważ powinien powinna powinni powinno poza prawie przecież przed przede przedtem przez przy roku
    również sam sama są się skąd sobie sobą sposób swoje ta tak taka taki takie także tam te tego tej ten
    teraz też to tobą tobie toteż trzeba tu tutaj twoi twoim twoja twoje twym twój ty tych tylko tym u w
    wam wami was wasz wasza wasze we według wiele wielu więc więcej wszyscy wszystkich wszystkie wszystkim
    wszystko wtedy wy właśnie z za zapewne zawsze ze zł znowu znów został żaden żadna żadne żadnych że
    żeby dzień dobry witam cześć pozdrawiam pozdrowienia dziękuję dziękujemy dzięki proszę uprzejmie
    szanowni szanowny szanowna państwo państwa poważaniem serdecznie mój moją"""
PL_STOPWORDS = frozenset(_PL_STOPWORDS.split())
STOPWORDS = EN_STOPWORDS | PL_STOPWORDS

_PL_ENDINGS = """
    owania owanie owaniu owaniem ościami ościach ością ości ość iejszy ejszy iejsza ejsza ałem ałam
        iłem iłam ować ywać iwać ami ach ach ów om owi em iem ego emu ymi imi ych ich ej ie ią ię ów aj ać eć
        ić yć ał ała ało ały ali ą ę a e i o u y"""
PL_ENDINGS = tuple(sorted(set(_PL_ENDINGS.split()), key=len, reverse=True))
EN_ENDINGS = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("fulness", "ful"),
    ("iveness", "ive"),
    ("ations", ""),
    ("ation", ""),
    ("ments", ""),
    ("ment", ""),
    ("ness", ""),
    ("ings", ""),
    ("ing", ""),
    ("ions", ""),
    ("ion", ""),
    ("ies", "y"),
    ("ied", "y"),
    ("ers", "er"),
    ("ed", ""),
    ("ly", ""),
    ("s", ""),
)
EN_ES = ("sses", "xes", "zes", "ches", "shes")
"""Plurals that lose ``es`` (boxes, matches); any other ``s`` goes alone (invoices -> invoice)."""
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


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased (letters and digits; an apostrophe may join two parts)."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text) if len(w) <= MAX_WORD]


def language(text: str) -> str:
    """``"pl"`` or ``"en"``: which stopwords (and Polish letters) the text has more of."""
    found = words(text)
    polish = sum(w in PL_STOPWORDS for w in found) + 2 * sum(1 for c in text.lower() if c in PL_LETTERS)
    english = sum(w in EN_STOPWORDS for w in found)
    return "pl" if polish > english else "en"


def stem(word: str, lang: str) -> str:
    """The light stem of a lower-cased ``word`` in ``lang``."""
    if word.isdigit() or len(word) <= MIN_STEM:
        return word
    if lang == "pl":
        for ending in PL_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
                word = word[: -len(ending)]
                break
        return word[:PL_STEM]
    word = word.removesuffix("'s")
    if word.endswith(EN_ES):
        word = word[:-2]
    for ending, replacement in EN_ENDINGS:
        shortest = MIN_STEM + 2 if ending == "ly" else MIN_STEM
        if word.endswith(ending) and len(word) - len(ending) >= shortest and not word.endswith("ss"):
            word = word[: -len(ending)] + replacement
            break
    if len(word) >= MIN_STEM + 1 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # stopped -> stop, running -> run
    if len(word) > MIN_STEM + 1 and word.endswith("e"):
        word = word[:-1]  # charge, charged -> charg
    return word[:EN_STEM]


def terms(text: str, lang: str | None = None) -> list[str]:
    """The stems of ``text``'s words that carry meaning (stopwords and one-letter words dropped)."""
    lang = lang or language(text)
    return [stem(w, lang) for w in words(text) if w not in STOPWORDS and len(w) > 1]


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
