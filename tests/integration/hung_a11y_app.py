"""An accessible "app" that hangs: it sends AT-SPI focus signals and never answers a call.

``python hung_a11y_app.py PROCESS_NAME`` connects to the accessibility bus of the
session in $DBUS_SESSION_BUS_ADDRESS, prints ``ready``, and for each line ``focus``
on stdin emits ``object:state-changed:focused`` for one of its objects.  It never
reads its own messages, so every method call the agent makes to it goes unanswered,
as with an app stuck in a long operation.
"""

from __future__ import annotations

import ctypes
import sys

from jeepney import DBusAddress, new_method_call, new_signal  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

PR_SET_NAME = 15


def main() -> int:
    ctypes.CDLL(None).prctl(PR_SET_NAME, sys.argv[1].encode()[:15], 0, 0, 0)
    session = open_dbus_connection(bus="SESSION")
    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    address = session.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=10).body[0]
    conn = open_dbus_connection(bus=address)
    button = DBusAddress("/org/a11y/atspi/accessible/7", interface="org.a11y.atspi.Event.Object")
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "focus":
            conn.send(new_signal(button, "StateChanged", "siiva{sv}",
                                 ("focused", 1, 0, ("i", 0), {})))  # fmt: skip
            print("sent", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
