"""The safe Markdown subset and the UI's own strings."""

from __future__ import annotations

import pytest

from agent.ui._pyside_guard import needs_guard
from agent.ui.markdown import is_safe_url, render_markdown, to_plain_text
from agent.ui.strings import STRINGS, pick_locale, resolve_language, tr


def test_raw_html_never_passes_through() -> None:
    out = render_markdown('<script>alert(1)</script> <img src=x onerror="y"> <b>x</b>')
    assert "<script" not in out and "<img" not in out and "<b>x</b>" not in out
    assert "&lt;script&gt;" in out


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "file:///etc/passwd", "http://plain.example", "data:text/html,x",
     "https://", "ftp://x.example", "vbscript:x"],
)  # fmt: skip
def test_only_https_and_mailto_links_survive(url: str) -> None:
    out = render_markdown(f"[click]({url})")
    assert "<a " not in out
    assert "click" in out


def test_https_and_mailto_links_render_and_quotes_are_escaped() -> None:
    out = render_markdown('[docs](https://x.example/a?b=1&c="2") [mail](mailto:help@x.example)')
    assert '<a href="https://x.example/a?b=1&amp;c=&quot;2&quot;"' in out
    assert '<a href="mailto:help@x.example"' in out
    assert is_safe_url("https://x.example") and not is_safe_url("https:relative")


def test_emphasis_code_lists_and_paragraphs() -> None:
    out = render_markdown("Keep **one** *copy* and `ctrl+k`.\n\n- first\n- second _it_")
    assert "<p>Keep <b>one</b> <i>copy</i> and <code>ctrl+k</code>.</p>" in out
    assert "<li>first</li><li>second <i>it</i></li>" in out


def test_code_spans_keep_their_stars() -> None:
    assert "<code>a*b*c</code>" in render_markdown("`a*b*c`")


def test_plain_text_for_screen_readers() -> None:
    assert to_plain_text("Links keep **one** [copy](https://x.example).\n- a") == (
        "Links keep one copy. a"
    )


def test_every_ui_string_has_english_and_italian() -> None:
    for key, texts in STRINGS.items():
        assert texts.get("en"), key
        assert texts.get("it"), key


def test_language_follows_setting_then_system() -> None:
    assert resolve_language("it", "en_US") == "it"
    assert resolve_language("system", "it_IT") == "it"
    assert resolve_language("system", "de_DE") == "en"
    assert tr("got_it", "it") == "Ho capito"
    assert tr("got_it", "fr") == "Got it"


def test_pack_locale_then_pack_default() -> None:
    texts = {"en": "Share", "it": "Condividi"}
    assert pick_locale(texts, "it", "en") == "Condividi"
    assert pick_locale(texts, "de", "en") == "Share"
    assert pick_locale({"de": "Teilen"}, "it", "en") == "Teilen"


def test_refcount_guard_applies_only_to_the_affected_versions() -> None:
    assert needs_guard((3, 11), "6.12.0")
    assert not needs_guard((3, 12), "6.12.0")
    assert not needs_guard((3, 11), "6.11.3")
