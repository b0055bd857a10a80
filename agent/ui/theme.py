"""Toast and window colours: light, dark and high contrast, following the system.

The system's choice comes from ``QStyleHints.colorScheme()`` (Qt ≥ 6.5) and,
where the platform reports it, the contrast preference (Qt ≥ 6.10); when a
platform reports neither, the palette's window lightness decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette

__all__ = [
    "DARK",
    "HIGH_CONTRAST",
    "LIGHT",
    "THEMES",
    "Theme",
    "ThemeName",
    "system_theme",
    "theme_for",
    "toast_stylesheet",
]

ThemeName = Literal["light", "dark", "high-contrast"]


@dataclass(frozen=True, slots=True)
class Theme:
    name: ThemeName
    background: str
    surface: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    link: str
    focus: str
    border_width: int = 1


LIGHT: Final = Theme(
    name="light",
    background="#ffffff",
    surface="#f1f4f8",
    text="#1a1d21",
    muted="#5b6470",
    border="#c9d1db",
    accent="#0b5cad",
    accent_text="#ffffff",
    link="#0b5cad",
    focus="#e36a00",
)
DARK: Final = Theme(
    name="dark",
    background="#23272e",
    surface="#2f353e",
    text="#eef1f5",
    muted="#a9b2bd",
    border="#454d58",
    accent="#5aa9ff",
    accent_text="#0d1117",
    link="#8cc4ff",
    focus="#ffb347",
)
HIGH_CONTRAST: Final = Theme(
    name="high-contrast",
    background="#000000",
    surface="#000000",
    text="#ffffff",
    muted="#ffffff",
    border="#ffffff",
    accent="#ffff00",
    accent_text="#000000",
    link="#ffff00",
    focus="#00ffff",
    border_width=2,
)
THEMES: Final = {t.name: t for t in (LIGHT, DARK, HIGH_CONTRAST)}


def theme_for(scheme: Qt.ColorScheme, high_contrast: bool, window_lightness: int) -> Theme:
    """The theme for what the platform reports (pure, for tests)."""
    if high_contrast:
        return HIGH_CONTRAST
    if scheme == Qt.ColorScheme.Dark:
        return DARK
    if scheme == Qt.ColorScheme.Light:
        return LIGHT
    return DARK if window_lightness < 128 else LIGHT


def system_theme() -> Theme:
    """The theme that matches the system now."""
    hints = QGuiApplication.styleHints()
    accessibility = getattr(hints, "accessibility", None)
    high_contrast = accessibility is not None and (
        accessibility().contrastPreference() == Qt.ContrastPreference.HighContrast
    )
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return theme_for(hints.colorScheme(), high_contrast, window.lightness())


def toast_stylesheet(theme: Theme, *, rounded: bool = True) -> str:
    """The Qt stylesheet of a toast window in ``theme``.

    ``rounded``: 10 px corners (the window must be translucent, which needs a
    compositing window manager); otherwise square corners, so nothing outside
    the border shows.
    """
    t = theme
    bw = t.border_width
    radius = 10 if rounded else 0
    inner = max(0, radius - bw)
    return f"""
#WaymarkToast {{ background: {t.background}; border: {bw}px solid {t.border};
                 border-radius: {radius}px; }}
#WaymarkToast QWidget#accent {{ background: {t.accent};
    border-top-left-radius: {inner}px; border-bottom-left-radius: {inner}px; }}
#WaymarkToast QLabel {{ color: {t.text}; background: transparent; }}
#WaymarkToast QLabel#caption {{ color: {t.muted}; font-size: 9pt; }}
#WaymarkToast QLabel#title {{ font-size: 12pt; font-weight: 600; }}
#WaymarkToast QLabel#body {{ font-size: 10pt; }}
#WaymarkToast QPushButton, #WaymarkToast QToolButton {{
    color: {t.text}; background: {t.surface}; border: {bw}px solid {t.border};
    border-radius: 6px; padding: 5px 12px; font-size: 9.5pt; }}
#WaymarkToast QPushButton#primary {{ color: {t.accent_text}; background: {t.accent};
    border-color: {t.accent}; font-weight: 600; }}
#WaymarkToast QPushButton#secondary:checked {{ border-color: {t.accent}; }}
#WaymarkToast QPushButton#snooze-choice {{ background: {t.background};
    border-color: {t.accent}; color: {t.link}; }}
#WaymarkToast QPushButton#never {{ background: transparent; border: none; color: {t.muted};
    text-decoration: underline; padding: 5px 4px; }}
#WaymarkToast QToolButton#close {{ background: transparent; border: none; color: {t.muted};
    padding: 0px 6px; font-size: 12pt; }}
#WaymarkToast QPushButton:focus, #WaymarkToast QToolButton:focus {{
    border: 2px solid {t.focus}; }}
#WaymarkToast QPushButton:hover, #WaymarkToast QToolButton:hover {{ border-color: {t.accent}; }}
"""
