"""Pack texts the integration tests share: an editor app and its paste rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.events import Chord, Focus

if TYPE_CHECKING:
    from agent.app import AgentCore

__all__ = ["PASTE_RULE", "UNDO_RULE", "editor_pack", "paste_in_editor"]

PASTE_RULE = """\
  - id: paste-plain
    habit: plain-paste
    when: {event: chord, app: editor, chord: ctrl+v}
    toast:
      title: {en: Paste without formatting}
"""

UNDO_RULE = """\
  - id: undo-tip
    habit: undo
    when: {event: chord, app: editor, chord: ctrl+z}
    toast:
      title: {en: Undo is Ctrl+Z}
"""


def editor_pack(version: int = 3, *rules: str) -> str:
    """A pack ``test-pack`` of ``version`` with the editor app and ``rules`` (default: paste)."""
    return (
        "waymark: 1\n"
        "id: test-pack\n"
        f"version: {version}\n"
        "title: Test pack\n"
        "default_locale: en\n"
        "apps:\n"
        "  editor: {windows: [notepad.exe], macos: [com.apple.TextEdit], linux: [gedit]}\n"
        "rules:\n" + "".join(rules or (PASTE_RULE,))
    )


def paste_in_editor(core: AgentCore) -> None:
    """Press Ctrl+V in gedit (what PASTE_RULE coaches) and wait until the engine has decided."""
    now = core.clock.now()
    core.post(Focus(now, "gedit", "notes.txt"))
    core.post(Chord(now, "ctrl+v"))
    assert core.wait_idle()
