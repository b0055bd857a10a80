"""Pure key decoding: modifier state + one key → a normalised chord, typing, or nothing.

Everything here is a table lookup so that it can run inside a hook callback
(budget: p99 ≤ 20 µs from key to queue).  No OS library is imported: pynput
keys are described by their ``Key`` member *name* (``"ctrl_l"``, ``"f1"``) or,
for character keys, by their platform virtual-key code, which is layout- and
modifier-independent on Windows and macOS (``ctrl+v`` arrives as the control
character ``"\\x16"`` on Windows and ``alt+v`` as ``"√"`` on macOS, so the
character is not usable there).  On X11 pynput's ``vk`` is the keysym, which
Shift changes (``v`` → ``V``, ``1`` → ``!``); :data:`US_SHIFTED` folds it back.

A chord is only reported when Ctrl, Alt, Cmd or Win is held, or the key is a
named key (Enter, F1 …); Shift alone with a character is typing.  AltGr
(``alt_gr``; Windows also fakes a left Ctrl with it) makes a character typing,
because AltGr is how many layouts type ``@``, ``€`` or ``{``.
"""

from __future__ import annotations

from typing import Final

from agent.events import MODIFIERS, NAMED_KEYS

__all__ = [
    "ALT",
    "ALTGR",
    "CHORD_MODS",
    "CMD",
    "CTRL",
    "MACOS_VK",
    "SHIFT",
    "US_SHIFTED",
    "WIN",
    "WINDOWS_VK",
    "X11_NAMED_KEYSYMS",
    "char_key_name",
    "chord_for",
    "modifier_bits",
    "named_key",
    "named_vk",
]

CTRL: Final = 1
ALT: Final = 2
SHIFT: Final = 4
CMD: Final = 8
WIN: Final = 16
ALTGR: Final = 32
#: Modifiers that make a character key a chord (Shift alone does not).
CHORD_MODS: Final = CTRL | ALT | CMD | WIN


def modifier_bits(platform: str) -> dict[str, int]:
    """pynput ``Key`` member name → modifier bit.

    pynput calls the Super/Windows key ``cmd`` on every OS; it is ``cmd`` in a
    chord on macOS and ``win`` elsewhere.
    """
    super_bit = CMD if platform == "darwin" else WIN
    return {
        "ctrl": CTRL, "ctrl_l": CTRL, "ctrl_r": CTRL,
        "alt": ALT, "alt_l": ALT, "alt_r": ALT,
        "shift": SHIFT, "shift_l": SHIFT, "shift_r": SHIFT,
        "cmd": super_bit, "cmd_l": super_bit, "cmd_r": super_bit,
        "alt_gr": ALTGR,
    }  # fmt: skip


# pynput Key member names that differ from our chord names; the others in
# NAMED_KEYS (enter, tab, f1 …) are spelt the same.
_KEY_RENAMES: Final = {"esc": "escape"}


def named_key(pynput_name: str) -> str | None:
    """A pynput ``Key`` member name → our named key, or None (media keys, num_lock …)."""
    name = _KEY_RENAMES.get(pynput_name, pynput_name)
    return name if name in NAMED_KEYS else None


#: US layout: the character Shift produces → the key it is on.
US_SHIFTED: Final = {
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8",
    "(": "9", ")": "0", "_": "-", "+": "=", "{": "[", "}": "]", "|": "\\", ":": ";",
    '"': "'", "<": ",", ">": ".", "?": "/", "~": "`",
}  # fmt: skip

_PUNCT: Final = frozenset("`-=[]\\;',./")

#: Windows virtual-key codes of character keys → key name (layout-independent).
WINDOWS_VK: Final[dict[int, str]] = {
    **{0x41 + i: chr(ord("a") + i) for i in range(26)},
    **{0x30 + i: str(i) for i in range(10)},
    **{0x60 + i: str(i) for i in range(10)},  # numpad digits
    0xBA: ";", 0xBB: "=", 0xBC: ",", 0xBD: "-", 0xBE: ".", 0xBF: "/", 0xC0: "`",
    0xDB: "[", 0xDC: "\\", 0xDD: "]", 0xDE: "'",
}  # fmt: skip

#: macOS ANSI virtual key codes (Carbon Events.h kVK_ANSI_*) → key name.
MACOS_VK: Final[dict[int, str]] = {
    0x00: "a", 0x01: "s", 0x02: "d", 0x03: "f", 0x04: "h", 0x05: "g", 0x06: "z",
    0x07: "x", 0x08: "c", 0x09: "v", 0x0B: "b", 0x0C: "q", 0x0D: "w", 0x0E: "e",
    0x0F: "r", 0x10: "y", 0x11: "t", 0x12: "1", 0x13: "2", 0x14: "3", 0x15: "4",
    0x16: "6", 0x17: "5", 0x18: "=", 0x19: "9", 0x1A: "7", 0x1B: "-", 0x1C: "8",
    0x1D: "0", 0x1E: "]", 0x1F: "o", 0x20: "u", 0x21: "[", 0x22: "i", 0x23: "p",
    0x25: "l", 0x26: "j", 0x27: "'", 0x28: "k", 0x29: ";", 0x2A: "\\", 0x2B: ",",
    0x2C: "/", 0x2D: "n", 0x2E: "m", 0x2F: ".", 0x32: "`",
}  # fmt: skip


def char_key_name(char: str | None, vk: int | None, platform: str) -> str | None:
    """The base key of a character key press (``"v"``, ``"1"``, ``"/"``), or None.

    Uses the virtual-key code on Windows and macOS; on X11 pynput's ``vk`` is
    the keysym, and for ASCII keysyms that is the character itself.
    """
    if platform == "win32":
        return WINDOWS_VK.get(vk) if vk is not None else None
    if platform == "darwin":
        if vk is not None and vk in MACOS_VK:
            return MACOS_VK[vk]
    elif vk is not None and 0x20 < vk < 0x7F:
        char = chr(vk)
    if char is None or len(char) != 1:
        return None
    char = US_SHIFTED.get(char, char).lower()
    if ("a" <= char <= "z") or ("0" <= char <= "9") or char in _PUNCT:
        return char
    return None  # a non-ASCII character: a layout's own key, never part of a chord


_BIT_OF: Final = {"ctrl": CTRL, "alt": ALT, "shift": SHIFT, "cmd": CMD, "win": WIN}
# The canonical modifier order is defined once, in agent.events.MODIFIERS.
#: X11 keysyms of named keys that pynput delivers as plain key codes, not ``Key``
#: members: Shift+Tab arrives as ISO_Left_Tab, the keypad's keys as KP_*.
X11_NAMED_KEYSYMS: Final[dict[int, str]] = {
    0xFE20: "tab", 0xFF8D: "enter", 0xFF9F: "delete", 0xFF9E: "insert", 0xFF95: "home",
    0xFF9C: "end", 0xFF9A: "page_up", 0xFF9B: "page_down", 0xFF97: "up", 0xFF99: "down",
    0xFF96: "left", 0xFF98: "right",
}  # fmt: skip


def named_vk(platform: str) -> dict[int, str]:
    """Virtual-key codes that are named keys even when pynput calls them key codes."""
    return dict(X11_NAMED_KEYSYMS) if platform not in ("win32", "darwin") else {}


_ORDER: Final = tuple((_BIT_OF[name], name) for name in MODIFIERS)


def chord_for(mods: int, key: str, named: bool) -> str | None:
    """The normalised chord for ``key`` pressed with modifier bits ``mods``.

    ``named`` says ``key`` is a named key (``f1``).  Returns None when the press
    is plain typing: a character without Ctrl/Alt/Cmd/Win, or with AltGr.
    """
    if not named:
        if mods & ALTGR or not mods & CHORD_MODS:
            return None
    elif key == "space" and not mods & (CHORD_MODS | SHIFT):
        return None  # a bare space is typing: reporting it would show word boundaries
    elif mods & ALTGR:
        mods &= ~(CTRL | ALT)  # Windows reports AltGr as Ctrl+Alt
    prefix = "".join(f"{name}+" for bit, name in _ORDER if mods & bit)
    return prefix + key
