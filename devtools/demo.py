"""A self-contained demonstration: a scripted morning on a virtual desktop.

    python -m devtools.demo                      # screenshots of each toast in a temp folder
    python -m devtools.demo --screenshots DIR    # also the docs set: toast-light.png,
                                              # toast-dark.png, consent.png, settings.png

Starts its own Xvfb (and openbox when installed), so it runs headless and never
touches the person's screen.  The real agent runs inside: ``AgentCore`` with
its engine thread and outbox, a scripted source replaying the morning on real
time, and the real desktop UI (``DesktopUi``).  A scripted "person" answers the
first-run consent page and each toast, the way an employee would.  Every toast
the agent shows is saved as ``demo-<n>-<rule>.png``; ``layout.json`` records
where each toast's title is in its screenshot (tests check the pixels there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.virtual_display import running_xserver

__all__ = ["DEMO_PACK", "DEMO_SCRIPT", "main", "virtual_display"]

# The demo's coaching pack (the pack format of docs/pack-format.md, as JSON).
DEMO_PACK: dict[str, Any] = {
    "waymark": 1,
    "id": "demo-m365",
    "version": 3,
    "title": "Microsoft 365 habits (demo)",
    "default_locale": "en",
    "apps": {
        "outlook": {
            "windows": ["outlook.exe"],
            "macos": ["com.microsoft.Outlook"],
            "linux": ["thunderbird"],
        },
        "excel": {
            "windows": ["excel.exe"],
            "macos": ["com.microsoft.Excel"],
            "linux": ["libreoffice-calc"],
        },
    },
    "rules": [
        {
            "id": "share-link",
            "habit": "share-links",
            "priority": 10,
            "when": {"event": "chord", "app": "outlook", "chord": "ctrl+v"},
            "count": {"at_least": 2, "within": "2m"},
            "adopted": {"event": "chord", "app": "outlook", "chord": "ctrl+k"},
            "toast": {
                "title": {
                    "en": "Share a link instead of a copy",
                    "it": "Condividi un link invece di una copia",
                },
                "body": {
                    "en": "You are attaching a 20 MB file. A **OneDrive link** keeps one "
                    "version that everyone edits, and your mail stays small.",
                    "it": "Stai allegando un file di 20 MB. Un **link OneDrive** mantiene "
                    "una sola versione che tutti modificano, e la mail resta leggera.",
                },
                "actions": [
                    {
                        "id": "how",
                        "label": {"en": "Show me how", "it": "Mostrami come"},
                        "open": "https://support.microsoft.com/office/share-onedrive-files",
                    }
                ],
                "snooze": ["1h", "1d"],
                "timeout": "30s",
            },
        },
        {
            "id": "co-author",
            "habit": "co-authoring",
            "when": {"event": "focus", "app": "excel", "title": "(?i)copy of"},
            "toast": {
                "title": {
                    "en": "Edit together, not in copies",
                    "it": "Modificate insieme, non in copie",
                },
                "body": {
                    "en": "Open the shared workbook from Teams and edit it at the same time "
                    "as your colleagues: no more *Copy of …* files.",
                    "it": "Apri la cartella condivisa da Teams e modificala insieme ai "
                    "colleghi: niente più file *Copia di …*.",
                },
                "snooze": ["1h", "1d"],
                "timeout": "30s",
            },
        },
    ],
}

# A short morning: t is seconds since the start (replayed on real time).
DEMO_SCRIPT: list[dict[str, Any]] = [
    {"t": 0.5, "kind": "focus", "app": "thunderbird", "title": "New message - Outlook"},
    {"t": 1.0, "kind": "chord", "chord": "ctrl+v"},
    {"t": 1.4, "kind": "chord", "chord": "ctrl+v"},
    {"t": 5.0, "kind": "focus", "app": "libreoffice-calc", "title": "Copy of Q3 budget.xlsx"},
    {"t": 9.0, "kind": "focus", "app": "thunderbird", "title": "New message - Outlook"},
    {"t": 9.4, "kind": "chord", "chord": "ctrl+k"},
]

# What the scripted person does with each toast: a button id, or ("snooze", index).
PERSON: dict[str, tuple[str, int]] = {"share-link": ("how", 0), "co-author": ("snooze", 0)}

SCREEN = "1280x800x24"
ORGANISATION = "Example Corp"
SERVER = "https://waymark.example.com"


@contextmanager
def virtual_display(size: str = SCREEN, window_manager: bool = True) -> Iterator[str]:
    """Start Xvfb (and openbox) on a free display; yields ``:N``."""
    try:
        with running_xserver(size, window_manager) as server:
            yield server.display
    except RuntimeError as exc:
        raise SystemExit(f"waymark demo: {exc}") from None


@dataclass
class DemoResult:
    toasts: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    pending: list[dict[str, object]] = field(default_factory=list)
    ok: bool = False


def _write_inputs(folder: Path) -> tuple[Path, Path]:
    pack = folder / "demo-pack.json"
    pack.write_text(json.dumps(DEMO_PACK, indent=2, ensure_ascii=False), encoding="utf-8")
    script = folder / "morning.jsonl"
    start = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    start = start[:-2] + ":" + start[-2:]
    lines = [json.dumps({"header": {"start": start, "device": "demo-laptop", "os": "linux"}})]
    lines += [json.dumps(e) for e in DEMO_SCRIPT]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pack, script


def run_demo(out_dir: Path, *, docs_set: bool, timeout: float = 60.0) -> DemoResult:
    """Run the morning on the current X display; returns what happened."""
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtCore import QSize, QTimer
    from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
    from PySide6.QtWidgets import QApplication

    import agent.ui  # noqa: F401  (applies the PySide6 refcount guard)
    from agent.app import AgentCore, AgentOptions
    from agent.config.policy import Policy
    from agent.rules.effects import ShowToast
    from agent.ui.desktop import DesktopUi, exit_event_loop
    from agent.ui.icons import app_icon
    from agent.ui.theme import DARK, LIGHT, Theme
    from agent.ui.toast import ToastStack, ToastWindow
    from devtools.backdrop import DesktopBackdrop

    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="waymark-demo-"))
    pack_path, script_path = _write_inputs(work)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(app_icon())
    if "Noto Sans" in QFontDatabase.families():
        app.setFont(QFont("Noto Sans", 10))
    backdrop = DesktopBackdrop()
    backdrop.show_fullscreen()

    policy = Policy(
        values={"organisation": ORGANISATION, "server_url": SERVER,
                "never_interrupt": ["powerpnt.exe", "zoom"]},
        source="demo",
    )  # fmt: skip
    core = AgentCore(AgentOptions(pack_path=pack_path, script=script_path, data_dir=work / "data",
                                  hooks=False, policy=policy, confirm_shows=True))  # fmt: skip
    theme: list[Theme] = [LIGHT]
    opened: list[str] = []
    ui = DesktopUi(core, theme=lambda: theme[0], quit_app=exit_event_loop, open_url=opened.append)
    result = DemoResult()
    effects: dict[str, ShowToast] = {}
    ui.bridge.toast_requested.connect(lambda e: effects.__setitem__(e.rule, e))
    shots = ToastStack(lambda a: None, corner=lambda: "bottom-right", ui_lang=ui.lang,
                       theme=lambda: DARK)  # fmt: skip
    deadline = time.monotonic() + timeout

    t0 = time.monotonic()

    def say(text: str) -> None:
        print(f"waymark demo: [{time.monotonic() - t0:5.1f}s] {text}", flush=True)

    def save(name: str, image: Any) -> None:
        path = out_dir / name
        image.save(str(path), "PNG")
        result.files.append(path)

    def grab_toast(window: ToastWindow, name: str, t: Theme) -> None:
        screen = QGuiApplication.primaryScreen()
        frame = window.frameGeometry()
        area = screen.geometry()
        crop = frame.adjusted(-28, -28, 28, 28).intersected(area)
        pixmap = screen.grabWindow(0, crop.x(), crop.y(), crop.width(), crop.height())
        save(name, pixmap)
        title = window.title_label
        top_left = title.mapToGlobal(title.rect().topLeft()) - crop.topLeft()
        text_width = min(title.width(), title.fontMetrics().horizontalAdvance(title.text()))
        result.layout[name] = {
            "title": [top_left.x(), top_left.y(), text_width, title.height()],
            "title_text": title.text(),
            "text": t.text,
            "background": t.background,
        }

    def after(ms: int, fn: Any) -> None:
        QTimer.singleShot(ms, fn)

    def on_toast(window: ToastWindow) -> None:
        rule = window.content.rule
        result.toasts.append(rule)
        say(f"the agent shows the tip {rule!r}")
        n = len(result.toasts)

        def shoot() -> None:
            grab_toast(window, f"demo-{n}-{rule}.png", theme[0])
            if docs_set and n == 1:
                grab_toast(window, "toast-light.png", LIGHT)
            after(400, lambda: answer(window, rule, n))

        if window.isVisible():
            after(250, shoot)

    def answer(window: ToastWindow, rule: str, n: int) -> None:
        choice, index = PERSON.get(rule, ("got-it", 0))
        say(f"the person answers {rule!r} with {choice!r}")
        if choice == "snooze" and window.snooze_button is not None:
            window.snooze_button.click()  # unfolds the choices inside the toast
            window.snooze_choices[index].click()
        elif choice in window.action_buttons:
            window.action_buttons[choice].click()
        else:
            window.got_it_button.click()
        if docs_set and n == 1:
            after(200, lambda: dark_shot(rule))

    def dark_shot(rule: str) -> None:
        dark = shots.show_toast(effects[rule])
        dark.pause_timer()

        def shoot() -> None:
            grab_toast(dark, "toast-dark.png", DARK)
            dark.choose("dismiss")

        after(250, shoot)

    ui.toasts.shown.connect(on_toast)

    def consent_then_start() -> None:
        window = ui.open_settings("coaching")
        window.resize(window.natural_size().expandedTo(QSize(760, 560)))
        window.move(260, 90)

        def shoot() -> None:
            if docs_set:
                save("consent.png", window.grab())
            assert window.consent is not None and window.consent.opt_in_button is not None
            window.consent.opt_in_button.click()  # the person opts in
            say("first run: the person reads the consent page and opts in")
            window.hide()
            core.start()
            after(300, watch)

        after(400, shoot)

    def watch() -> None:
        if time.monotonic() > deadline:
            say(f"timed out (script finished: {core.script_finished()}, "
                f"toasts open: {len(ui.toasts.toasts)}, {len(shots.toasts)})")  # fmt: skip
            exit_event_loop()
            return
        if core.script_finished() and not ui.toasts.toasts and not shots.toasts:
            say("the morning is over")
            core.wait_idle()
            after(300, finish)
            return
        after(200, watch)

    def finish() -> None:
        if docs_set:
            window = ui.open_settings("privacy")
            window.resize(window.natural_size().expandedTo(QSize(760, 560)))
            window.refresh_privacy()

            def shoot() -> None:
                save("settings.png", window.grab())
                window.tabs.setCurrentIndex(0)
                after(200, lambda: last_shot(window))

            after(400, shoot)
        else:
            exit_event_loop()

    def last_shot(window: Any) -> None:
        save("settings-coaching.png", window.grab())
        exit_event_loop()

    after(300, consent_then_start)
    app.exec()
    result.pending = [row.to_wire() for row in core.outbox.pending(50)]
    core.stop()
    ui.toasts.close_all()
    if result.layout:
        (out_dir / "layout.json").write_text(json.dumps(result.layout, indent=2) + "\n",
                                             encoding="utf-8")  # fmt: skip
    result.ok = bool(result.toasts)
    shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--screenshots", type=Path, metavar="DIR",
                        help="write the docs screenshots (toast-light/dark, consent, settings) "
                        "and each toast to DIR")  # fmt: skip
    parser.add_argument("--display", help="use this X display instead of starting Xvfb")
    args = parser.parse_args(argv)
    out_dir = args.screenshots or Path(tempfile.mkdtemp(prefix="waymark-demo-shots-"))
    docs_set = args.screenshots is not None
    if args.display:
        os.environ["DISPLAY"] = args.display
        result = run_demo(out_dir, docs_set=docs_set)
    else:
        with virtual_display() as display:
            os.environ["DISPLAY"] = display
            os.environ.pop("WAYLAND_DISPLAY", None)
            result = run_demo(out_dir, docs_set=docs_set)
    print(f"waymark demo: the agent showed {len(result.toasts)} toast(s): "
          f"{', '.join(result.toasts) or 'none'}")  # fmt: skip
    print("waymark demo: statistics waiting to be sent (what the Privacy page lists):")
    for row in result.pending:
        detail = row.get("reason") or row.get("action") or ""
        print(f"  {row['kind']:<10} {row.get('rule') or row.get('habit')}  {detail}")
    for path in result.files:
        print(f"waymark demo: saved {path}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
