"""Linux lock/unlock from D-Bus signals (best effort), through jeepney.

Two places announce a locked screen, and desktops differ in which they use:

* the session bus: ``ActiveChanged(bool)`` of ``org.freedesktop.ScreenSaver``
  (KDE, Xfce, many lockers) and of the GNOME/MATE/Cinnamon screensaver
  interfaces;
* the system bus: logind's ``LockedHint`` property of this session (set by
  GNOME and by lockers that integrate with logind) and its ``Lock``/``Unlock``
  signals (``loginctl lock-session``).

Each bus that can be reached gets one thread blocked in ``receive``; the
source works if at least one bus is reachable.  A plain X11 session with no
screen locker on D-Bus reports no lock at all; docs/hooks.md says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any, Literal

from agent.events import Lock, Unlock
from agent.hooks.base import Emit, SourceState, join_quietly

__all__ = ["LinuxLockSource", "decode_lock_signal"]

log = logging.getLogger(__name__)

SCREENSAVER_INTERFACES = (
    "org.freedesktop.ScreenSaver",
    "org.gnome.ScreenSaver",
    "org.mate.ScreenSaver",
    "org.cinnamon.ScreenSaver",
)
LOGIN1_SESSION = "org.freedesktop.login1.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"


def decode_lock_signal(
    interface: str | None, member: str | None, body: tuple[Any, ...]
) -> Literal["lock", "unlock"] | None:
    """A D-Bus signal → ``lock``, ``unlock`` or None (not about locking)."""
    if interface in SCREENSAVER_INTERFACES and member == "ActiveChanged" and body:
        return "lock" if body[0] else "unlock"
    if interface == LOGIN1_SESSION and member in ("Lock", "Unlock"):
        return "lock" if member == "Lock" else "unlock"
    if (
        interface == PROPERTIES
        and member == "PropertiesChanged"
        and len(body) >= 2
        and body[0] == LOGIN1_SESSION
        and isinstance(body[1], dict)
        and "LockedHint" in body[1]
    ):
        value = body[1]["LockedHint"]
        locked = value[1] if isinstance(value, tuple) else value  # jeepney variants: (sig, value)
        return "lock" if locked else "unlock"
    return None


class LinuxLockSource:
    """Emits :class:`Lock`/:class:`Unlock` from the session and system D-Bus."""

    name = "lock"

    def __init__(self, session_bus: str | None = None, system_bus: bool = True) -> None:
        self._session_bus = session_bus  # an address; None means DBUS_SESSION_BUS_ADDRESS
        self._use_system = system_bus
        self._conns: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._detail = "not started"
        self._emit: Emit | None = None
        self._last: str | None = None

    def start(self, emit: Emit) -> None:
        try:
            from jeepney import MatchRule  # type: ignore[import-untyped]
            from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
            from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
        except ImportError as exc:
            self._detail = f"no D-Bus client library (jeepney): {exc}"
            raise RuntimeError(self._detail) from exc
        self._emit = emit
        self._stopping = False
        found: list[str] = []
        problems: list[str] = []
        rules: list[tuple[str, Any, list[Any]]] = []
        session_addr = self._session_bus or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if session_addr:
            rules.append(("session", session_addr, [
                MatchRule(type="signal", interface=i, member="ActiveChanged")
                for i in SCREENSAVER_INTERFACES
            ]))  # fmt: skip
        else:
            problems.append("no session bus")
        if self._use_system:
            rules.append(("system", "SYSTEM", []))
        for label, address, matches in rules:
            try:
                conn = open_dbus_connection(bus=address)
            except Exception as exc:
                problems.append(f"{label} bus unreachable ({type(exc).__name__})")
                continue
            try:
                if label == "system":
                    matches = self._login1_rules(conn, MatchRule)
                for rule in matches:
                    conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=2)
            except Exception as exc:
                problems.append(f"{label} bus: {exc}")
                conn.close()
                continue
            self._conns.append(conn)
            found.append(label)
            thread = threading.Thread(
                target=self._run, args=(conn,), name=f"waymark-lock-{label}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        if not found:
            self._detail = "lock events unavailable: " + "; ".join(problems)
            raise RuntimeError(self._detail)
        self._detail = (
            "D-Bus "
            + " and ".join(found)
            + " bus"
            + (f" ({'; '.join(problems)})" if problems else "")
        )

    def _login1_rules(self, conn: Any, match_rule: Any) -> list[Any]:
        from jeepney import DBusAddress, new_method_call

        manager = DBusAddress(
            "/org/freedesktop/login1",
            bus_name="org.freedesktop.login1",
            interface="org.freedesktop.login1.Manager",
        )
        reply = conn.send_and_get_reply(
            new_method_call(manager, "GetSessionByPID", "u", (os.getpid(),)), timeout=2
        )
        if not reply.body:
            raise RuntimeError("this process has no logind session")
        path = reply.body[0]
        return [
            match_rule(type="signal", interface=LOGIN1_SESSION, path=path),
            match_rule(type="signal", interface=PROPERTIES, member="PropertiesChanged", path=path),
        ]

    def stop(self) -> None:
        self._stopping = True
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked receive()
        for thread in self._threads:
            join_quietly(thread)
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self._threads.clear()

    def alive(self) -> bool:
        return bool(self._threads) and any(t.is_alive() for t in self._threads)

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), self._detail)

    def _run(self, conn: Any) -> None:
        from jeepney import HeaderFields, MessageType

        try:
            while not self._stopping:
                msg = conn.receive()
                if msg.header.message_type != MessageType.signal:
                    continue
                fields = msg.header.fields
                what = decode_lock_signal(
                    fields.get(HeaderFields.interface), fields.get(HeaderFields.member), msg.body
                )
                if what is None or what == self._last or self._emit is None:
                    continue
                self._last = what
                self._emit(Lock(time.time()) if what == "lock" else Unlock(time.time()))
        except Exception as exc:
            if not self._stopping:
                log.warning("lock source: D-Bus connection lost (%s)", exc)
