"""The text version of HTML-only mail reads the way the HTML looks."""

from __future__ import annotations

from services.conversations.mail.html2text import html_to_text


def test_blocks_breaks_lists_and_links() -> None:
    html = (
        "<h1>Zamówienie</h1><p>Dzień&nbsp;dobry,<br>paczka   nie\n dotarła.</p>"
        "<ul><li>jeden</li><li>dwa <a href='https://shop.example/o/1'>link</a></li></ul>"
        "<ol start=3><li>trzy<li>cztery</ol>"
        "<div>Pisz: <a href='mailto:a@b.pl'>a@b.pl</a> albo <a href='https://x.pl'>https://x.pl</a></div>"
        "<table><tr><td>A</td><td>B</td></tr><tr><td>C</td><td>D</td></tr></table><hr><p>end</p>"
    )
    assert html_to_text(html) == (
        "Zamówienie\n\nDzień dobry,\npaczka nie dotarła.\n\n- jeden\n- dwa link (https://shop.example/o/1)\n"
        "3. trzy\n4. cztery\nPisz: a@b.pl albo https://x.pl\nA B\nC D\n\n----\n\nend"
    )


def test_no_script_style_or_head_content() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style><script>var x='<p>';</script></head>"
        "<body><p>visible</p><script>alert(1)</script><noscript>no</noscript><template>t</template></body></html>"
    )
    assert html_to_text(html) == "visible"


def test_blockquotes_become_quoted_lines() -> None:
    html = "<div>New</div><blockquote><p>old one</p><p>old two</p><blockquote>older</blockquote></blockquote>"
    assert html_to_text(html) == "New\n\n> old one\n>\n> old two\n>\n> > older"


def test_pre_keeps_spacing_and_images_give_alt_text() -> None:
    assert html_to_text("<pre>  a\n    b</pre><p>x<img src=cid:1 alt='Logo'></p>") == "  a\n    b\n\nx [Logo]"


def test_unsafe_links_are_not_shown_and_broken_html_is_fine() -> None:
    assert html_to_text("<a href='javascript:alert(1)'>click</a>") == "click"
    assert html_to_text("<p>unclosed <b>bold <i>both</p>text</div></span>") == "unclosed bold both\n\ntext"
    assert html_to_text("") == ""
