"""Screenshots: the committed docs set and a fresh `python -m devtools.demo --screenshots`
run under its own Xvfb are non-blank, and each toast's title is where the
layout put it (pixels of the theme's text colour on its background there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots"
REQUIRED = ("toast-light.png", "toast-dark.png", "consent.png", "settings.png")


def _distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def _load(path: Path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not a readable PNG"
    return image


def check_not_blank(path: Path) -> None:
    image = _load(path)
    assert image.width() >= 300 and image.height() >= 150, path
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)
    }
    assert len(colours) > 50, f"{path} looks blank ({len(colours)} colours)"


def check_title(folder: Path, name: str) -> None:
    layout = json.loads((folder / "layout.json").read_text(encoding="utf-8"))[name]
    image = _load(folder / name)
    x, y, w, h = layout["title"]
    text, background = QColor(layout["text"]), QColor(layout["background"])
    assert x >= 0 and x + w <= image.width() and y >= 0 and y + h <= image.height()
    inside = [QColor(image.pixel(i, j)) for i in range(x, x + w) for j in range(y, y + h)]
    ink = sum(_distance(c, text) < 90 for c in inside) / len(inside)
    paper = sum(_distance(c, background) < 30 for c in inside) / len(inside)
    assert ink > 0.05, f"{name}: no title text at {layout['title']} ({ink:.1%} ink)"
    assert paper > 0.3, f"{name}: the title area is not on the toast ({paper:.1%} background)"
    # Just left of the toast there is no title text (the layout is not shifted).
    left = [QColor(image.pixel(i, j)) for i in range(0, 8) for j in range(y, y + h)]
    assert sum(_distance(c, text) < 90 for c in left) / len(left) < 0.05


@pytest.mark.parametrize("name", REQUIRED)
def test_committed_screenshot_is_not_blank(name: str, qapp: QApplication) -> None:
    check_not_blank(DOCS / name)


@pytest.mark.parametrize("name", ["toast-light.png", "toast-dark.png"])
def test_committed_toast_title_is_where_the_layout_puts_it(name: str, qapp: QApplication) -> None:
    check_title(DOCS, name)


@pytest.mark.x11
def test_make_screenshots_renders_the_set_under_xvfb(tmp_path: Path, qapp: QApplication) -> None:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    out = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--screenshots", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "showed 2 toast(s): share-link, co-author" in out.stdout
    for name in REQUIRED:
        check_not_blank(tmp_path / name)
    for name in ("toast-light.png", "toast-dark.png", "demo-1-share-link.png",
                 "demo-2-co-author.png"):  # fmt: skip
        check_title(tmp_path, name)
