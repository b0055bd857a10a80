"""A tiny real X11 window for tests: ``python x11_window.py CLASS TITLE``.

Maps a python-xlib window with ``WM_CLASS = (class lower-case, CLASS)`` and the
given title, prints ``ready <window id>`` once it is mapped, then obeys lines
on stdin: ``title <text>`` renames it, ``fullscreen on|off`` asks the window
manager for full screen.  Runs until stdin closes or it is killed.
"""

from __future__ import annotations

import select
import sys

from Xlib import X, display
from Xlib.protocol import event


def main() -> int:
    wm_class, title = sys.argv[1], sys.argv[2]
    d = display.Display()
    root = d.screen().root
    win = root.create_window(
        50, 50, 400, 300, 0, d.screen().root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=d.screen().white_pixel,
        event_mask=X.ExposureMask | X.StructureNotifyMask | X.KeyPressMask,
    )  # fmt: skip
    win.set_wm_class(wm_class.lower(), wm_class)
    utf8 = d.intern_atom("UTF8_STRING")
    net_name = d.intern_atom("_NET_WM_NAME")

    def set_title(text: str) -> None:
        win.set_wm_name(text)
        win.change_property(net_name, utf8, 8, text.encode())
        d.flush()

    set_title(title)
    win.map()
    d.flush()
    while True:
        ev = d.next_event()
        if ev.type == X.MapNotify:
            break
    print(f"ready {win.id}", flush=True)
    fd = d.fileno()
    while True:
        while d.pending_events():
            d.next_event()
        readable, _, _ = select.select([fd, sys.stdin], [], [])
        if sys.stdin in readable:
            line = sys.stdin.readline()
            if not line:
                return 0
            cmd, _, arg = line.rstrip("\n").partition(" ")
            if cmd == "title":
                set_title(arg)
            elif cmd == "fullscreen":
                state = d.intern_atom("_NET_WM_STATE")
                full = d.intern_atom("_NET_WM_STATE_FULLSCREEN")
                msg = event.ClientMessage(
                    window=win, client_type=state,
                    data=(32, [1 if arg == "on" else 0, full, 0, 1, 0]),
                )  # fmt: skip
                root.send_event(
                    msg, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask
                )
                d.flush()


if __name__ == "__main__":
    sys.exit(main())
