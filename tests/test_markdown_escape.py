"""Source and user text put into the dashboard's Markdown renders as the text itself (issue 15: a
Trace identifier `[Reset your password](https://…)` showed a live link). Checked with a real
CommonMark renderer, on the cases found and on generated text."""
from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pages.common.markdown import code, text

md = MarkdownIt("commonmark")
TAGS = ("<a", "<strong", "<em", "<img", "<code", "<h", "<ul", "<ol", "<blockquote", "<pre", "<hr", "<script")


def rendered(fragment: str) -> str:
    return md.renderInline(fragment)


def test_the_reported_link_is_text():
    ident = "[Reset your password](https://evil.example/reset)"
    out = rendered(f"Not found: nothing has the identifier {code(ident)}.")
    assert "<a" not in out and html.escape(ident, quote=False) in out
    out = rendered(f"Not found: {text(ident)}.")
    assert "<a" not in out


def test_a_backtick_cannot_end_the_code_span():
    ident = "x` [click](https://evil.example) `y"
    out = rendered(code(ident))
    assert "<a" not in out and out.count("<code>") == 1
    assert out == f"<code>{html.escape(ident, quote=False)}</code>"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_text_renders_as_itself(value):
    out = rendered(text(value))
    assert not any(tag in out for tag in TAGS), out
    assert html.unescape(out) == " ".join(value.splitlines()).replace("\x00", "\ufffd")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_any_code_span_shows_its_value(value):
    out = rendered(code(value))
    assert out.startswith("<code>") and out.endswith("</code>") and out.count("<code>") == 1, out
