"""Words, stems, sentences and suggestions of message text, in English and Polish."""

from __future__ import annotations

import pytest

from services.chassis.words import language, stem, terms
from services.conversations.domain.suggest import name_candidates, pick, shorten, summary_candidates
from services.conversations.domain.text import body_lines, sentences
from services.conversations.store.search import (
    MIN_QUERY_TERMS,
    QUERY_BUDGET,
    choose_terms,
    idf,
    pairs,
    telling_terms,
)


@pytest.mark.parametrize(
    ("forms", "lang"),
    [
        (["paczka", "paczki", "paczkę", "paczkami"], "pl"),
        (["drukarka", "drukarki", "drukarce", "drukarkę"], "pl"),
        (["zamówienie", "zamówienia", "zamówień"], "pl"),
        (["faktura", "faktury", "fakturze"], "pl"),
        (["printer", "printers"], "en"),
        (["connect", "connected", "connecting", "connection"], "en"),
        (["invoice", "invoices"], "en"),
        (["charge", "charged", "charges"], "en"),
        (["stop", "stopped"], "en"),
    ],
)
def test_inflected_forms_meet_at_one_stem(forms: list[str], lang: str) -> None:
    assert len({stem(word, lang) for word in forms}) == 1, {word: stem(word, lang) for word in forms}


def test_language_and_terms() -> None:
    assert language("Dzień dobry, moja paczka nie dotarła") == "pl"
    assert language("Hello, my parcel has not arrived") == "en"
    assert language("Zażółć gęślą jaźń") == "pl"
    assert terms("The printer is not printing, and it is out of paper!") == ["printer", "print", "paper"]
    assert terms("Nie mogę się zalogować do konta") == ["mog", "zalog", "kont"]


def test_bodies_lose_greetings_closings_signatures_and_quotes() -> None:
    text = "Hi team,\n\nThe export fails. It says 500!\n> old quoted text\nThanks,\nBob\n-- \nBob, ACME"
    assert body_lines(text) == ["The export fails. It says 500!"]
    assert list(sentences(text)) == ["The export fails.", "It says 500!"]
    assert list(sentences("Dzień dobry,\nNie działa eksport.\nPozdrawiam\nJan")) == ["Nie działa eksport."]


def test_shortening_keeps_a_clause_or_whole_words() -> None:
    long = (
        "The export to CSV fails for every report, whatever the date range or the columns chosen by the user"
    )
    assert shorten(long, 60) == "The export to CSV fails for every report"
    assert shorten("word " * 30, 40).endswith("…") and len(shorten("word " * 30, 40)) <= 41
    assert shorten("Short one.", 80) == "Short one"


def test_candidates_and_picking() -> None:
    conversation = [("customer", "Hello,\nThe export to CSV fails with error 500 since Monday.\nThanks")]
    names = name_candidates(conversation, subject="RE: Fwd: export broken [#12]", current="")
    assert names[0] == "The export to CSV fails with error 500 since Monday"
    assert "Export broken" in names
    assert pick(names, []) == names[0] and pick(names, [names[0].upper()]) == names[1]
    assert pick(names, names) == names[0] and pick([], []) is None
    assert (
        summary_candidates(conversation)[0]
        == "Customer: The export to CSV fails with error 500 since Monday."
    )
    assert summary_candidates([("customer", "Thanks,\nBob")]) == []


def test_a_search_uses_the_telling_stems_within_its_budget() -> None:
    docs = {
        "printer": 900,
        "error": 30_000,
        "tray": 400,
        "jam": 300,
        "the": 90_000,
        "toner": 5,
        "paper": 8_000,
    }
    stems = ["printer", "printer", "error", "tray", "jam", "the", "paper", "unknown"]
    chosen = choose_terms(stems, docs, total=100_000)
    names = [t for t, _w in chosen]
    assert "unknown" not in names and "toner" not in names  # only what the query says and the index holds
    assert names[0] == "printer"  # said twice, rare enough
    assert (
        set(names) >= {"tray", "jam"} and "the" not in names
    )  # the most common stems fall outside the budget
    assert sum(docs[t] for t in names[MIN_QUERY_TERMS:]) <= QUERY_BUDGET
    assert all(w > 0 for _t, w in chosen) and idf(10, 100) > idf(90, 100)
    assert choose_terms(["nothing"], docs, total=100_000) == []


def test_the_first_search_asks_for_two_telling_stems_at_least() -> None:
    docs = {"printer": 900, "jam": 300, "tray": 400, "error": 60_000}
    telling = telling_terms(["printer", "printer", "jam", "tray", "error"], docs, total=100_000)
    assert [t for t, _w in telling] == ["printer", "jam", "tray"]  # in over half the documents: tells nothing
    assert pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
