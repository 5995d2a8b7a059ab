"""Splitting a reply into its new text and the quoted history under it.

:func:`split_quoted` cuts the text once, at a line boundary: ``new + quoted == text``, so
nothing is ever lost and the service can show ``quoted`` collapsed. The cut is placed at
the first of

* an Outlook-style separator: ``-----Original Message-----`` (and its Polish and German
  forms) or a header block ``From:/Od: ... Sent:/Wysłane:/Wysłano:/Date: ... To:/Do: ...
  Subject:/Temat: ...``; everything below it is history, quoted with ``>`` or not;
* an attribution line (``On ... wrote:``, ``W dniu ... pisze:``, ``... napisał(a):``; it may
  be wrapped over up to three lines and must contain a digit or an ``@``, as real ones carry a
  date or an address) followed only by quoted lines, or by no quoted line at all;
* the trailing block of ``>`` lines (with the attribution line just above it, if any).

Only history *below* the new text is collapsed: bottom-posted and interleaved replies stay
whole in the new text, since their quotes are the context of the answers. The blank lines
between the new text and the history go with the history. Text that would leave the new
part empty is not split. A ``-- `` signature above the history stays with the new text: it is
part of what the sender wrote this time (agents need the phone number in it), and cutting it
out would break ``new + quoted == text``.
"""

from __future__ import annotations

import re

_ATTRIBUTION_END = re.compile(
    r"(?:\bwrote|\bnapisał(?:\(a\)|a)?|\bpisze|\ba écrit|\bescribió|\bschrieb\b[^:]{0,200})\s*:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:on\b|w dniu\b|dnia\b|am\b|le\b|el\b|\d|[a-ząćęłńóśźż]{2,4}\.,?\s+\d)", re.IGNORECASE
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|wiadomość oryginalna|oryginalna wiadomość|"
    r"ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_FIELD = r"^\s*\*?\s*(?:{names})\s*:\s*\*?"
_FROM = re.compile(_FIELD.format(names="from|od|von|de"), re.IGNORECASE)
_SENT = re.compile(_FIELD.format(names="sent|date|wysłane|wysłano|data|gesendet|datum|envoyé"), re.IGNORECASE)
_TO = re.compile(_FIELD.format(names="to|do|an|à"), re.IGNORECASE)
_SUBJECT = re.compile(_FIELD.format(names="subject|temat|betreff|objet"), re.IGNORECASE)


def _is_quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _header_block_at(lines: list[str], index: int) -> bool:
    if not _FROM.match(lines[index]):
        return False
    window = [line for line in lines[index + 1 : index + 8] if not _is_blank(line)][:6]
    return (
        any(_SENT.match(x) for x in window)
        and any(_SUBJECT.match(x) for x in window)
        and (any(_TO.match(x) for x in window) or len(window) >= 2)
    )


def _attribution_at(lines: list[str], index: int) -> int:
    """How many lines the attribution starting at ``index`` spans (0: none there)."""
    if _is_quoted(lines[index]) or _is_blank(lines[index]):
        return 0
    joined = ""
    for span in range(1, 4):
        if index + span > len(lines):
            break
        line = lines[index + span - 1]
        if _is_blank(line) or (span > 1 and _is_quoted(line)):
            break
        joined = f"{joined} {line.strip()}".strip()
        if len(joined) > 400:
            break
        if not joined.endswith(":") or not _ATTRIBUTION_END.search(joined):
            continue
        has_address = "@" in joined
        if (has_address or _ATTRIBUTION_START.match(joined)) and (has_address or re.search(r"\d", joined)):
            return span
    return 0


def _outlook_marker_at(lines: list[str], index: int) -> int | None:
    """Where history starts if an Outlook separator or header block is at ``index`` (with the
    line of underscores Outlook draws above it, if any); None if there is none."""
    line = lines[index]
    if _SEPARATOR.match(line) or _header_block_at(lines, index):
        return index - 1 if index > 0 and _UNDERSCORES.match(lines[index - 1]) else index
    if _UNDERSCORES.match(line) and index + 1 < len(lines) and _header_block_at(lines, index + 1):
        return index
    return None


def _trailing_quotes(lines: list[str]) -> int | None:
    """Where the trailing block of ``>`` lines starts, with an attribution just above it, if any."""
    end = len(lines)
    while end > 0 and _is_blank(lines[end - 1]):
        end -= 1
    start = end
    while start > 0 and (_is_quoted(lines[start - 1]) or _is_blank(lines[start - 1])):
        start -= 1
    while start < end and _is_blank(lines[start]):
        start += 1
    if start == end:
        return None
    for above in range(max(0, start - 3), start):
        if _attribution_at(lines, above) == start - above:
            return above
    return start


def _history_start(lines: list[str]) -> int | None:
    # quoted_after[i] / plain_after[i]: is there a quoted / an unquoted non-blank line at i or below
    quoted_after = [False] * (len(lines) + 1)
    plain_after = [False] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        quoted_after[index] = quoted_after[index + 1] or _is_quoted(line)
        plain_after[index] = plain_after[index + 1] or not (_is_quoted(line) or _is_blank(line))
    for index, line in enumerate(lines):
        if _is_quoted(line):
            continue
        start = _outlook_marker_at(lines, index)
        if start is not None:
            return start
        span = _attribution_at(lines, index)
        # an attribution counts when the history below it is all quoted, or none of it is
        if span and quoted_after[index + span] != plain_after[index + span]:
            return index
    return _trailing_quotes(lines)


def split_quoted(text: str) -> tuple[str, str]:
    """``(new, quoted)`` with ``new + quoted == text`` (see the module docstring)."""
    lines = text.splitlines(keepends=True)
    start = _history_start(lines)
    if start is None:
        return text, ""
    cut = start
    while cut > 0 and _is_blank(lines[cut - 1]):
        cut -= 1
    if cut == 0:
        return text, ""
    offset = sum(len(line) for line in lines[:cut])
    return text[:offset], text[offset:]
