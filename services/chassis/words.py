"""Words and light stems of English and Polish text, without any library: what the help desk
searches by.

The stemmers are light on purpose: they only need to make the inflected forms of one word meet
(``paczka``, ``paczki``, ``paczkę``; ``printer``, ``printers``; ``connecting``, ``connected``),
the same way for what is stored and what is asked, not to find dictionary roots. Polish words
lose a known ending and are then cut to :data:`PL_STEM` letters (prefix stemming, which copes
with the consonant changes of Polish inflection: ``drukarka`` / ``drukarce``).

Two uses share them: the conversations service's index of similar tickets (stems, see
:func:`terms`) and the free-text search ``q`` of every ticket list (:func:`search_terms`: each
word of a query becomes a prefix that its inflected forms share, matched inside the text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
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


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased (letters and digits; an apostrophe may join two parts)."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text) if len(w) <= MAX_WORD]


def language(text: str) -> str:
    """``"pl"`` or ``"en"``: which stopwords (and Polish letters) the text has more of."""
    found = words(text)
    polish = sum(w in PL_STOPWORDS for w in found) + 2 * sum(1 for c in text.lower() if c in PL_LETTERS)
    english = sum(w in EN_STOPWORDS for w in found)
    return "pl" if polish > english else "en"


def pl_unended(word: str) -> str:
    """``word`` without its longest Polish inflection ending (at least :data:`MIN_STEM` letters stay)."""
    for ending in PL_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def stem(word: str, lang: str) -> str:
    """The light stem of a lower-cased ``word`` in ``lang``."""
    if word.isdigit() or len(word) <= MIN_STEM:
        return word
    if lang == "pl":
        return pl_unended(word)[:PL_STEM]
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


MIN_PREFIX = 5
"""A search prefix shorter than this would match too much (``data`` is not cut to ``dat``)."""
MAX_SEARCH_TERMS = 8
"""Words of a query beyond these are not searched for (each is one more condition on every row)."""
MAX_TERM = 200
EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"'.]+")


def is_address(term: str) -> bool:
    """Whether ``term`` is a whole e-mail address (as :func:`search_terms` keeps them)."""
    return EMAIL.fullmatch(term) is not None


def search_prefix(word: str, lang: str) -> str:
    """What a lower-cased query ``word`` is searched by: the shortest of its light stems that is
    still a prefix of it and at least :data:`MIN_PREFIX` letters long (else the word itself).

    ``paczka`` -> ``paczk`` (finds ``paczki``), ``printers`` -> ``printer``, ``refunds`` ->
    ``refund``, ``data`` -> ``data``. In a query that reads as Polish the Polish stem is also
    cut to :data:`PL_STEM` letters, as the index's stems are (``drukarce`` -> ``drukar``, which
    finds ``drukarka``)."""
    if word.isdigit() or len(word) <= MIN_PREFIX:
        return word
    polish = pl_unended(word)
    candidates = [polish[:PL_STEM] if lang == "pl" else polish, stem(word, "en")]
    if word.endswith("s") and not word.endswith("ss"):
        candidates.append(word[:-1])
    fitting = [c for c in candidates if len(c) >= MIN_PREFIX and word.startswith(c)]
    return min(fitting, key=len, default=word)


def search_terms(query: str) -> tuple[str, ...]:
    """The terms a free-text search ``query`` matches by, each a lower-case piece of text that must
    occur in what is searched (all of them, in any order).

    E-mail addresses stay whole; every other word that carries meaning becomes its
    :func:`search_prefix` (stopwords and one-letter words other than digits are left out unless
    nothing else is left); at most :data:`MAX_SEARCH_TERMS`. A query of no words at all (``%``,
    ``#``) is one term, itself. Empty for an empty query.
    """
    text = query.strip()
    emails = [e.lower()[:MAX_TERM] for e in EMAIL.findall(text)]
    found = words(EMAIL.sub(" ", text))
    meaningful = [w for w in found if w not in STOPWORDS and (len(w) > 1 or w.isdigit())] or found
    lang = language(text)
    unique = tuple(dict.fromkeys([*emails, *(search_prefix(w, lang) for w in meaningful)]))
    if unique:
        return unique[:MAX_SEARCH_TERMS]
    return (text.lower()[:MAX_TERM],) if text else ()


def document_words(texts: Iterable[str], *, limit: int) -> str:
    """Every distinct lower-cased word of ``texts`` (at most ``limit``, first seen first), each
    between spaces: text a :func:`search_terms` term is looked for in with one ``LIKE``."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in [*(e.lower() for e in EMAIL.findall(text)), *words(text)]:
            seen.setdefault(word, None)
            if len(seen) >= limit:
                return " " + " ".join(seen) + " "
    return " " + " ".join(seen) + " " if seen else ""
