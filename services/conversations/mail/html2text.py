"""A readable text version of HTML mail, for previews, search and mail that came as HTML only.

Block elements start new lines (paragraphs and headings a blank line), ``<br>`` breaks a
line, list items read ``- item`` (``1. item`` in ordered lists), links read ``text (url)``
unless the text already is the url, images give their alt text, table cells are separated
by a space and rows by a line, ``<blockquote>`` lines are prefixed with ``> `` (so the quoted
history of an HTML reply is recognised as such), and ``<pre>`` keeps its spacing. Nothing of
``<script>``, ``<style>``, ``<head>`` or ``<template>`` is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

_SKIP = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg", "math"}
_BLOCK = {
    "address", "article", "aside", "center", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "main", "nav",
    "section", "summary", "table", "tbody", "thead", "tfoot", "caption", "tr", "ul", "ol",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr"}
_VOID = {"br", "img", "hr", "wbr", "input", "meta", "link", "area", "base", "col", "embed", "source"}
_WHITESPACE = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:", "ftp://")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current = ""
        self.breaks = 0  # newlines owed before the next text
        self.break_quote = 0  # quote depth of the blank lines owed
        self.skip: list[str] = []
        self.pre = 0
        self.quote = 0
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.links: list[str] = []
        self.pending_prefix = ""

    # -- output ---------------------------------------------------------------------------------

    def newline(self, count: int) -> None:
        if self.lines or self.current:
            self.break_quote = min(self.break_quote, self.quote) if self.breaks else self.quote
            self.breaks = max(self.breaks, count)

    def flush_breaks(self) -> None:
        if not self.breaks:
            return
        self.lines.append(self.current.rstrip())
        self.current = ""
        for _ in range(self.breaks - 1):  # blank lines inside a quote stay quoted
            self.lines.append(">" * min(self.break_quote, self.quote))
        self.breaks = 0

    def write(self, text: str) -> None:
        if not text:
            return
        self.flush_breaks()
        if not self.current:
            prefix = "> " * self.quote + "  " * max(0, len(self.lists) - 1)
            if not self.pending_prefix:
                text = text.lstrip(" ")
                if not text:
                    return
            self.current = prefix + self.pending_prefix
            self.pending_prefix = ""
        elif self.current.endswith(" ") and text.startswith(" "):
            text = text.lstrip(" ")
        self.current += text

    # -- parser callbacks -----------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip:
            if tag not in _VOID:
                self.skip.append(tag)
            return
        if tag in _SKIP:
            self.skip.append(tag)
            return
        values = {name: value or "" for name, value in attrs}
        if tag in _PARAGRAPH:
            self.open_paragraph(tag)
        elif tag in _BLOCK:
            self.open_block(tag, values)
        elif start := _OTHER_STARTS.get(tag):
            start(self, values)

    def open_paragraph(self, tag: str) -> None:
        self.newline(2)
        if tag == "pre":
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "hr":
            self.write("----")
            self.newline(2)

    def open_block(self, tag: str, values: dict[str, str]) -> None:
        self.newline(1)
        if tag in ("ul", "ol"):
            self.lists.append([int(values.get("start") or 1)] if tag == "ol" else [])

    def line_break(self, values: dict[str, str]) -> None:
        self.flush_breaks()
        self.lines.append(self.current.rstrip())
        self.current = ""

    def open_item(self, values: dict[str, str]) -> None:
        self.newline(1)
        numbering = self.lists[-1] if self.lists else []
        if numbering:
            self.pending_prefix = f"{numbering[0]}. "
            numbering[0] += 1
        else:
            self.pending_prefix = "- "

    def open_cell(self, values: dict[str, str]) -> None:
        if self.current and not self.breaks:
            self.write(" ")

    def open_link(self, values: dict[str, str]) -> None:
        self.links.append(values.get("href", "").strip())

    def image(self, values: dict[str, str]) -> None:
        alt = _WHITESPACE.sub(" ", values.get("alt", "")).strip()
        if alt:
            self.write(f" [{alt}]" if self.current and not self.breaks else f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if tag in _PARAGRAPH:
            self.close_paragraph(tag)
        elif tag in _BLOCK:
            if tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            self.newline(1)
        elif tag == "li":
            self.newline(1)
        elif tag == "a" and self.links:
            self.link_suffix(self.links.pop())

    def close_paragraph(self, tag: str) -> None:
        if tag == "pre" and self.pre:
            self.pre -= 1
        elif tag == "blockquote" and self.quote:
            self.quote -= 1
        self.newline(2)

    def link_suffix(self, href: str) -> None:
        if not href.lower().startswith(_LINK_SCHEMES):
            return
        shown = href[7:] if href.lower().startswith("mailto:") else href
        tail = self.current.rstrip()
        if tail.endswith(shown) or tail.endswith(href):
            return
        self.write(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            for number, line in enumerate(data.split("\n")):
                if number:
                    self.flush_breaks()
                    self.lines.append(self.current.rstrip())
                    self.current = ""
                if line:
                    self.flush_breaks()
                    if not self.current:
                        self.current = "> " * self.quote
                    self.current += line.replace("\u00a0", " ")
            return
        self.write(_WHITESPACE.sub(" ", data))

    def result(self) -> str:
        self.close()
        self.lines.append(self.current.rstrip())
        text = "\n".join(line.rstrip() for line in self.lines)
        text = re.sub(r"\n{3,}", "\n\n", text)
        return text.strip("\n")


_OTHER_STARTS: dict[str, Callable[[_Converter, dict[str, str]], None]] = {
    "br": _Converter.line_break,
    "li": _Converter.open_item,
    "td": _Converter.open_cell,
    "th": _Converter.open_cell,
    "a": _Converter.open_link,
    "img": _Converter.image,
}
"""Start tags outside paragraphs and blocks that write something, with their handler."""


def html_to_text(html: str) -> str:
    """The text a reader of ``html`` sees, as plain lines (see the module docstring)."""
    converter = _Converter()
    converter.feed(html)
    return converter.result()
