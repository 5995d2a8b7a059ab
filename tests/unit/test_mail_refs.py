"""Message ids, References of a reply, the [#ticket] subject marker and reply subjects."""

from __future__ import annotations

import re

import pytest

from services.chassis.mail.refs import (
    MAX_REFERENCES,
    build_references,
    make_message_id,
    normalise_message_id,
    parse_references,
    subject_with_ref,
)
from services.conversations.mail.refs import reply_subject, strip_reply_prefixes, ticket_ref_in_subject


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <abc@example.com>  ", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com> (Jan's message of Monday)", "abc@example.com"),
        ("<ab\r\n c@example.com>", "abc@example.com"),
        ("<CAJ+4x7k=Tq0@mail.gmail.com>", "CAJ+4x7k=Tq0@mail.gmail.com"),
        ("", None),
        ("<>", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalise_message_id(value: str | None, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


def test_parse_references() -> None:
    assert parse_references("<a@x> <b@x>\r\n <c@x> <a@x>") == ["a@x", "b@x", "c@x"]
    assert parse_references("a@x b@x") == ["a@x", "b@x"]
    assert parse_references(None) == []


def test_make_message_id_is_unique_and_in_header_form() -> None:
    ids = {make_message_id("helpdesk.example") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"<[0-9a-f]{32}@helpdesk\.example>", i) for i in ids)
    assert make_message_id("Przykład.PL").endswith("@xn--przykad-rjb.pl>")
    for bad in ("", "a@b", "a b", "<x>"):
        with pytest.raises(ValueError):
            make_message_id(bad)


def test_build_references_appends_the_parent_and_trims_long_threads() -> None:
    assert build_references(["<a@x>", "b@x"], "<c@x>") == ["a@x", "b@x", "c@x"]
    assert build_references([], "<c@x>") == ["c@x"]
    assert build_references(["a@x"], None) == ["a@x"]
    assert build_references(["a@x", "c@x"], "c@x") == ["a@x", "c@x"]
    long = [f"m{i}@x" for i in range(50)]
    trimmed = build_references(long, "parent@x")
    assert len(trimmed) == MAX_REFERENCES
    assert trimmed[0] == "m0@x"  # the thread's root stays
    assert trimmed[-2:] == ["m49@x", "parent@x"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Paczka nie dotarła [#42]", 42),
        ("[#7] Where is my parcel?", 7),
        ("RE: RE: [External] Order [#12345]", 12345),
        ("Faktura [#3] [#5]", 5),
        ("[#5] [#0]", 5),
        ("Order [#9007199254740993]", None),  # > 2**53: not ours
        ("Order [#9007199254740992]", 2**53),
        ("Order [# 42] [#x] #42 [42] (#42)", None),
        ("", None),
        (None, None),
    ],
)
def test_ticket_ref_in_subject(subject: str | None, expected: int | None) -> None:
    assert ticket_ref_in_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Paczka nie dotarła", "Paczka nie dotarła [#42]"),
        ("Re: Re: Paczka nie dotarła [#42]", "Re: Re: Paczka nie dotarła [#42]"),
        ("[#42] Paczka", "[#42] Paczka"),
        ("Paczka [#41]", "Paczka [#42]"),
        ("Paczka [#41] [#42]", "Paczka [#42]"),
        ("[External] Paczka", "[External] Paczka [#42]"),
        ("", "[#42]"),
        ("  two  spaces\tand tab ", "two spaces and tab [#42]"),
    ],
)
def test_subject_with_ref(subject: str, expected: str) -> None:
    assert subject_with_ref(subject, 42) == expected
    assert subject_with_ref(expected, 42) == expected
    assert ticket_ref_in_subject(subject_with_ref(subject, 42)) == 42


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Paczka", "Re: Paczka"),
        ("Re: Paczka", "Re: Paczka"),
        ("RE: Re: re: Paczka", "Re: Paczka"),
        ("Odp: Paczka", "Re: Paczka"),
        ("ODP: Odp: Paczka", "Re: Paczka"),
        ("AW: Paket", "Re: Paket"),
        ("Fwd: Paczka", "Re: Paczka"),
        ("FW: RE: Paczka [#42]", "Re: Paczka [#42]"),
        ("Re[2]: Paczka", "Re: Paczka"),
        ("RE : Commande", "Re: Commande"),
        ("PD: Paczka", "Re: Paczka"),
        ("Re-order: item", "Re: Re-order: item"),
        ("Reklamacja", "Re: Reklamacja"),
        ("", "Re:"),
        (None, "Re:"),
    ],
)
def test_reply_subject(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected
    assert reply_subject(reply_subject(subject)) == expected


def test_strip_reply_prefixes() -> None:
    assert strip_reply_prefixes("Re: Fwd: AW: Odp: Paczka") == "Paczka"
