"""The new text of a reply, and the quoted history collapsed under it; nothing is ever lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.conversations.mail.quote import split_quoted


def split(text: str) -> tuple[str, str]:
    new, quoted = split_quoted(text)
    assert new + quoted == text
    return new, quoted


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Jun 3, 2024 at 10:00 AM Jan Kowalski <jan@example.com> wrote:",
        "On 03/06/2024 10:00, Jan Kowalski wrote:",
        "W dniu 03.06.2024 o 10:00, Jan Kowalski pisze:",
        "W dniu pon., 3 cze 2024 o 10:00 Jan Kowalski <jan@example.com> napisał(a):",
        "pon., 3 cze 2024 o 10:00 Jan Kowalski <jan@example.com> napisał(a):",
        "Dnia 3 czerwca 2024 10:00 Jan Kowalski <jan@example.com> napisał:",
        "Użytkownik Jan Kowalski <jan@example.com> napisał:",
        "Am 03.06.2024 um 10:00 schrieb Jan Kowalski <jan@example.com>:",
    ],
)
def test_attribution_and_quoted_lines_are_history(attribution: str) -> None:
    text = f"Dziękuję, działa.\n\n{attribution}\n> Proszę zrestartować router.\n>\n> Pozdrawiamy\n"
    history = f"\n{attribution}\n> Proszę zrestartować router.\n>\n> Pozdrawiamy\n"
    assert split(text) == ("Dziękuję, działa.\n", history)


def test_attribution_wrapped_over_two_lines() -> None:
    text = (
        "Thanks!\n\nOn Mon, Jun 3, 2024 at 10:00 AM Help Desk Support <support@helpdesk.example>\n"
        "wrote:\n\n> we are looking into it.\n"
    )
    new, quoted = split(text)
    assert new == "Thanks!\n"
    assert quoted.startswith("\nOn Mon, Jun 3")


def test_outlook_original_message_separator() -> None:
    text = (
        "Please see below.\n\n-----Original Message-----\nFrom: Help Desk <support@helpdesk.example>\n"
        "Sent: Monday, June 3, 2024 10:00 AM\nTo: Anna\nSubject: RE: parcel\n\nWe are on it.\n"
    )
    assert split(text) == ("Please see below.\n", text[len("Please see below.\n") :])


@pytest.mark.parametrize(
    "block",
    [
        "From: Help Desk <support@helpdesk.example>\nSent: Monday, June 3, 2024 10:00 AM\nTo: Anna Smith\n"
        "Cc: Bob\nSubject: RE: parcel [#7]",
        "Od: Obsługa klienta <support@helpdesk.example>\nWysłane: poniedziałek, 3 czerwca 2024 10:00\n"
        "Do: Zofia\nTemat: Re: Paczka [#42]",
        "Od: Obsługa klienta [mailto:support@helpdesk.example]\nWysłano: 3 czerwca 2024 10:00\nDo: Zofia\n"
        "DW: Jan\nTemat: Re: Paczka",
        "*From:* Help Desk <support@helpdesk.example>\n*Sent:* Monday\n*To:* Anna\n*Subject:* parcel",
        "Von: Help Desk\nGesendet: Montag, 3. Juni 2024 10:00\nAn: Anna\nBetreff: Paket",
    ],
)
def test_outlook_header_block_without_quote_marks(block: str) -> None:
    text = f"Nadal czekam.\n\n________________________________\n{block}\n\nTreść poprzedniej wiadomości.\n"
    new, quoted = split(text)
    assert new == "Nadal czekam.\n"
    assert quoted.startswith("\n________________________________\n")


def test_polish_original_message_separator() -> None:
    text = "Tak.\n\n-----Wiadomość oryginalna-----\nOd: A\nWysłano: B\nDo: C\nTemat: D\n\nstare\n"
    assert split(text)[0] == "Tak.\n"


def test_trailing_quote_block_without_attribution() -> None:
    assert split("New text\n\n> old line\n> older line\n") == ("New text\n", "\n> old line\n> older line\n")


def test_interleaved_reply_is_kept_whole() -> None:
    text = "On Mon, 3 Jun 2024, Help Desk <s@h.example> wrote:\n> Which order?\n5512\n> Which day?\nMonday\n"
    assert split(text) == (text, "")


def test_bottom_posting_keeps_everything_new() -> None:
    text = "> Which order is it?\n\nIt is 5512.\n"
    assert split(text) == (text, "")


def test_only_quoted_text_is_not_split() -> None:
    text = "> just a quote\n> nothing else\n"
    assert split(text) == (text, "")


def test_signature_stays_with_the_new_text() -> None:
    text = (
        "Thanks\n\n-- \nAnna Smith\n+44 20 7946 0000\n\n"
        "On 3 Jun 2024, Help Desk <s@h.example> wrote:\n> hello\n"
    )
    new, quoted = split(text)
    assert new == "Thanks\n\n-- \nAnna Smith\n+44 20 7946 0000\n"
    assert quoted == "\nOn 3 Jun 2024, Help Desk <s@h.example> wrote:\n> hello\n"


def test_lines_that_only_look_like_attributions_are_text() -> None:
    text = "On Monday my colleague wrote:\nthe order never came.\n"
    assert split(text) == (text, "")
    text = "From: Warsaw\nTo: Krakow\nthe parcel went the wrong way\n"
    assert split(text) == (text, "")


def test_text_without_history() -> None:
    assert split("Dzień dobry,\npaczka nie dotarła.") == ("Dzień dobry,\npaczka nie dotarła.", "")
    assert split("") == ("", "")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "",
                    "> quoted",
                    ">",
                    "-- ",
                    "On Mon, 3 Jun 2024 Jan <j@x.pl> wrote:",
                    "W dniu 3.06.2024 Jan pisze:",
                    "-----Original Message-----",
                    "From: a",
                    "Sent: b",
                    "To: c",
                    "Subject: d",
                    "________________________________",
                ]
            ),
            st.text(max_size=30),
        ),
        max_size=30,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_new_plus_quoted_is_always_the_whole_text(lines: list[str], newline: str) -> None:
    new, quoted = split_quoted(newline.join(lines))
    assert new + quoted == newline.join(lines)
