"""HTML from strangers, made safe to show inside our own pages.

:func:`sanitize_html` keeps an allow-list of formatting tags and attributes (nh3, the
binding of the ammonia sanitizer, which parses like a browser does) and nothing else:

* no script in any form: no ``<script>``, no event handler attribute, no URL scheme but
  ``http``, ``https``, ``mailto`` and ``tel`` in links (so no ``javascript:``, ``vbscript:``
  or ``data:``), no relative URL;
* nothing that loads, embeds or redirects: no ``form``, ``input``, ``button``, ``iframe``,
  ``object``, ``embed``, ``svg``, ``math``, ``style``, ``link``, ``meta``, ``base``;
  the content of ``script``, ``style``, ``title``, ``template``, ``svg``, ``math`` and
  ``noscript`` is dropped with them;
* no ``style``, ``class`` or ``id`` attributes: CSS can fetch (``url()``) and leak, and our
  own classes or ids could dress the mail up as our interface;
* images only from the mail itself: an ``img`` keeps its ``src`` only when it is ``cid:``
  (the service rewrites it with :func:`rewrite_cid`); a remote image loses its ``src`` and is
  counted in ``remote_images_blocked``, so nobody learns that or when the mail was read;
* links get ``rel="noopener noreferrer nofollow"`` and no ``target``.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

_TAGS = {
    "a", "abbr", "acronym", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em",
    "figcaption", "figure", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
}  # fmt: skip
_DROP_WITH_CONTENT = {"script", "style", "title", "template", "svg", "math", "noscript", "xmp", "noembed"}
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor", "nowrap"}
_ATTRIBUTES = {
    "*": {"dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "align", "border"},
    "table": {"align", "width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"align", "valign", "bgcolor"},
    "col": {"span", "width", "align", "valign"},
    "colgroup": {"span", "width", "align", "valign"},
    "div": {"align"},
    "p": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value", "type"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "abbr": {"title"},
    "bdo": {"dir"},
}
_LINK_SCHEMES = {"http", "https", "mailto", "tel"}
_SCHEME_OK = re.compile(r"^(?:https?://|mailto:|tel:)", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_IMG_TAG = re.compile(r"<img\b(?:[^>\"]|\"[^\"]*\")*>")
_SRC_CID = re.compile(r'(\ssrc=")cid:([^"]*)(")')


@dataclass(frozen=True)
class SanitizedHtml:
    html: str
    remote_images_blocked: int


def _url(value: str) -> str:
    """``value`` as a browser reads it: without the blanks and invisibles it would skip."""
    return _INVISIBLE.sub("", value)


def sanitize_html(html: str) -> SanitizedHtml:
    """Safe HTML for ``html`` (see the module docstring) and the number of remote images dropped."""
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute == "src":
            if tag == "img" and _url(value).lower().startswith("cid:") and len(value) > 4:
                return _url(value)
            if tag == "img":
                blocked += 1
            return None
        if attribute in ("href", "cite"):
            return value if _SCHEME_OK.match(_url(value)) else None
        return value

    cleaned = nh3.clean(
        html.replace("\x00", ""),
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=keep,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=_LINK_SCHEMES | {"cid"},
        url_relative="deny",
    )
    return SanitizedHtml(cleaned, blocked)


def content_id_key(value: str) -> str:
    """A Content-ID or ``cid:`` URL reduced to the form both share (RFC 2392): no brackets, unquoted."""
    value = value.strip()
    if value.lower().startswith("cid:"):
        value = unquote(value[4:])
    return value.strip().strip("<>").strip()


def rewrite_cid(html: str, mapping: dict[str, str]) -> str:
    """Point each ``<img src="cid:x">`` of sanitised ``html`` at ``mapping[x]``.

    Keys are Content-IDs in any form (``<x>``, ``x``); values are the URLs the service serves
    the inline parts at. An image whose id has no entry loses its ``src``. Only the output of
    :func:`sanitize_html` is handled: its serialiser quotes every attribute with ``"``.
    """
    table = {content_id_key(key): url for key, url in mapping.items()}

    def one_tag(tag: re.Match[str]) -> str:
        def one_src(src: re.Match[str]) -> str:
            url = table.get(content_id_key("cid:" + html_lib.unescape(src.group(2))))
            if url is None:
                return ""
            return f"{src.group(1)}{html_lib.escape(url, quote=True)}{src.group(3)}"

        return _SRC_CID.sub(one_src, tag.group(0))

    return _IMG_TAG.sub(one_tag, html)
