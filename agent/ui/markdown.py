"""A small, safe Markdown subset for toast bodies, rendered to Qt rich text.

Supported: paragraphs (blank line), line breaks, ``- `` bullet lists,
``**bold**``, ``*italic*`` / ``_italic_``, ``code`` and ``[text](url)``.
Everything is HTML-escaped first, so no raw HTML from a pack ever reaches the
label; a link is kept only when its scheme is https or mailto — any other link
becomes plain text.
"""

from __future__ import annotations

import html
import re
from typing import Final
from urllib.parse import urlsplit

__all__ = ["ALLOWED_SCHEMES", "is_safe_url", "render_markdown", "to_plain_text"]

ALLOWED_SCHEMES: Final = frozenset({"https", "mailto"})

_LINK: Final = re.compile(r"\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")
_CODE: Final = re.compile(r"`([^`\n]+)`")
_BOLD: Final = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC: Final = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")
_BULLET: Final = re.compile(r"^\s*[-*]\s+(.*)$")


def is_safe_url(url: str) -> bool:
    """True for https URLs with a host and for mailto addresses."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return bool(parts.netloc)
    return scheme == "mailto" and bool(parts.path)


def _inline(text: str, link_color: str) -> str:
    """Inline markup of one escaped-on-the-way line."""
    out: list[str] = []
    pos = 0
    # Links first, on the raw text, so that their URL is never touched by emphasis.
    for m in _LINK.finditer(text):
        out.append(_emphasis(html.escape(text[pos : m.start()])))
        label = _emphasis(html.escape(m.group(1)))
        url = html.unescape(m.group(2))
        if is_safe_url(url):
            style = f' style="color:{link_color};"' if link_color else ""
            out.append(f'<a href="{html.escape(url, quote=True)}"{style}>{label}</a>')
        else:
            out.append(label)
        pos = m.end()
    out.append(_emphasis(html.escape(text[pos:])))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    parts = _CODE.split(escaped)
    for i in range(0, len(parts), 2):  # even parts are outside `code`
        chunk = _BOLD.sub(r"<b>\1</b>", parts[i])
        parts[i] = _ITALIC.sub(r"<i>\1</i>", chunk)
    for i in range(1, len(parts), 2):
        parts[i] = f"<code>{parts[i]}</code>"
    return "".join(parts)


def render_markdown(text: str, link_color: str = "") -> str:
    """Qt rich text (an HTML subset) for ``text``; safe for a QLabel."""
    blocks: list[str] = []
    paragraph: list[str] = []
    bullets: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()

    def close_list() -> None:
        if bullets:
            items = "".join(f"<li>{b}</li>" for b in bullets)
            blocks.append(f'<ul style="margin-left:0px; -qt-list-indent:1;">{items}</ul>')
            bullets.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            close_paragraph()
            close_list()
            continue
        bullet = _BULLET.match(line)
        if bullet:
            close_paragraph()
            bullets.append(_inline(bullet.group(1), link_color))
        else:
            close_list()
            paragraph.append(_inline(line.strip(), link_color))
    close_paragraph()
    close_list()
    return "".join(blocks)


def to_plain_text(text: str) -> str:
    """The text without markup (for accessible descriptions and announcements)."""
    text = _LINK.sub(r"\1", text)
    text = re.sub(r"\*\*|`", "", text)
    text = re.sub(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])", r"\1", text)
    lines = [_BULLET.sub(r"\1", line).strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line)
