"""What a free-text search matches by: the terms of a query and the words of a document."""

from __future__ import annotations

import pytest

from services.chassis.words import MAX_SEARCH_TERMS, MAX_TERM, document_words, search_prefix, search_terms


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("paczka", ("paczk",)),  # SPEC: "paczka" finds "paczki"
        ("Gdzie są moje paczki?", ("paczk",)),  # stopwords (gdzie, są, moje) are left out
        ("drukarce", ("drukarc",)),
        ("zaginęła przesyłka", ("zaginę", "przesy")),  # reads as Polish: cut as the index's stems are
        ("printers", ("printer",)),
        ("Refunds", ("refund",)),
        ("invoices", ("invoic",)),
        ("issues", ("issue",)),
        ("data", ("data",)),  # too short to cut: "dat" would find every "update"
        ("refund request", ("refund", "request")),
        ("request refund refund", ("request", "refund")),
        ("(12345)", ("12345",)),
        ("printer 4 a", ("printer", "4")),  # a digit is a word; a letter is not
        ("Jan.Kowalski@Firma.PL", ("jan.kowalski@firma.pl",)),
        ("paczka od jan@firma.pl", ("jan@firma.pl", "paczk")),
        ("the", ("the",)),  # only stopwords: they are the query
        ("%", ("%",)),  # no words at all: the text itself
        ("100%", ("100",)),
        ("   ", ()),
        ("", ()),
    ],
)
def test_the_terms_of_a_query(query: str, terms: tuple[str, ...]) -> None:
    assert search_terms(query) == terms


def test_every_term_is_a_prefix_of_its_word_so_the_word_itself_matches() -> None:
    for word in ("paczkami", "drukarkach", "connecting", "happiness", "companies", "zamówieniu", "customer"):
        for lang in ("en", "pl"):
            prefix = search_prefix(word, lang)
            assert word.startswith(prefix) and len(prefix) >= min(5, len(word)), (word, lang, prefix)


def test_a_query_is_bounded() -> None:
    many = " ".join(f"word{n}x" for n in range(3 * MAX_SEARCH_TERMS))
    assert len(search_terms(many)) == MAX_SEARCH_TERMS
    assert search_terms("%" * 1000) == ("%" * MAX_TERM,)


def test_the_words_of_a_document() -> None:
    found = document_words(["Paczka nie dotarła", "From jan@firma.pl: paczka, again"], limit=100)
    assert found == " paczka nie dotarła jan@firma.pl from jan firma pl again "
    assert document_words([], limit=10) == "" and document_words(["", "  "], limit=10) == ""
    assert document_words(["a b c d e"], limit=3) == " a b c "


def test_each_term_of_a_query_is_found_in_the_document_of_its_inflected_forms() -> None:
    document = document_words(["Moje paczki nie dotarły", "Printer jammed", "od Jan@Firma.pl"], limit=100)
    for query in ("paczka", "PACZKĄ", "printers", "jan@firma.pl", "paczkach printer"):
        assert all(term in document for term in search_terms(query)), query
    assert not all(term in document for term in search_terms("paczka scanner"))
