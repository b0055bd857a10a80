"""Linux element events from AT-SPI over D-Bus (jeepney), for the apps element rules name.

The accessibility bus's address comes from ``org.a11y.Bus.GetAddress`` on the
session bus; the source turns ``org.a11y.Status.IsEnabled`` on (so toolkits
that start afterwards expose their widgets; it is put back at stop if the
source set it), registers for focus, window and state events with the
registry and listens for the signals.

Privacy, in the order things happen (tests prove each):

1. A signal names its sender (a bus name).  The sender's process id comes
   from the bus daemon; the app's identifiers are the WM_CLASS of its X
   windows (from the X server, like the focus source's) and its process name
   (``/proc/PID/comm``): none of these is a read of the app.  If no loaded
   element rule names that app, the signal is dropped here and nothing is
   ever read from that app.
2. For a watched app, the role and accessible id of the element are read in
   one batched call; a password field, or a role no selector asks for, ends
   it there.  The name is read only when a selector of that role matches on
   names; values, text and selections are never read.
3. The name is matched on this thread; the engine gets an
   :class:`~agent.events.Element` with the matched selector ids, the role and
   the app.

AT-SPI has no "button pressed" event, so ``invoke`` is a left click or
Enter/Space (the input source pokes this source through :meth:`poke`, and the
reading happens on this source's thread, never in the input callback): for a
key, the element that has focus; for a click, the element that takes focus
within ``settle`` seconds, else the element under the pointer, queried once
per level through ``Component.GetAccessibleAtPoint``.  GTK sends some focus
events twice: a repeat within 50 ms is ignored.  An app whose answer takes
longer than 250 ms is left alone for a while (:class:`AppBackoff`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

from agent.hooks.a11y import SLOW_CALL, AppBackoff, ElementSeen, Inspector, element_event
from agent.hooks.base import Emit, SourceState, WakePipe, join_quietly
from agent.rules.elements import ElementEvent
from agent.rules.watchlist import Watchlist

__all__ = ["AtspiSource", "app_of_pid", "decode_signal", "role_of", "wm_classes_of_pid"]

log = logging.getLogger(__name__)

_REGISTRY: Final = ("org.a11y.atspi.Registry", "/org/a11y/atspi/registry")
_EVENTS: Final = (
    "object:state-changed:focused",
    "object:state-changed:showing",
    "window:activate",
    "window:create",
)
_ACCESSIBLE: Final = "org.a11y.atspi.Accessible"
_COMPONENT: Final = "org.a11y.atspi.Component"
_PROPERTIES: Final = "org.freedesktop.DBus.Properties"
#: Focus signals of the same element closer than this are one (GTK sends some twice).
_REPEAT: Final = 0.05
#: The pointer walk stops after this many levels.
_MAX_DEPTH: Final = 6

# AtspiRole numbers (atspi-constants.h) → Waymark's roles.
_ROLES: Final = {
    43: "button", 62: "button", 129: "button",
    35: "menu_item", 8: "menu_item", 45: "menu_item", 59: "menu_item",
    33: "menu", 41: "menu", 34: "menu_bar",
    16: "dialog", 2: "dialog", 19: "dialog", 9: "dialog", 22: "dialog",
    23: "window", 69: "window",
    37: "tab", 88: "link", 7: "checkbox", 130: "checkbox", 44: "radio", 11: "combo_box",
    63: "toolbar", 31: "list", 98: "list", 32: "list_item", 91: "tree_item",
    61: "edit", 79: "edit", 52: "edit", 76: "edit", 77: "edit",
    40: "password",
    82: "document", 92: "document", 93: "document", 94: "document", 95: "document",
    96: "document",
    56: "cell", 29: "text", 116: "text", 83: "text", 27: "image", 26: "icon",
}  # fmt: skip

Signal = Literal["focus", "activate", "create", "showing"]


def role_of(number: int) -> str:
    """Waymark's role for an AtspiRole number (``other`` when it has none)."""
    role = _ROLES.get(number, "other")
    return "image" if role == "icon" else role


def decode_signal(interface: str | None, member: str | None, body: Sequence[Any]) -> Signal | None:
    """An AT-SPI event signal → what it means for this source (None: not of interest)."""
    if interface == "org.a11y.atspi.Event.Object" and member == "StateChanged" and len(body) >= 2:
        if body[0] == "focused" and body[1] == 1:
            return "focus"
        if body[0] == "showing" and body[1] == 1:
            return "showing"
        return None
    if interface == "org.a11y.atspi.Event.Window" and member in ("Activate", "Create"):
        return "activate" if member == "Activate" else "create"
    return None


def app_of_pid(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The process name (``/proc/PID/comm``), the Linux identifier packs list; None if gone."""
    try:
        return (proc / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


class _Slow(Exception):
    """An app did not answer within the limit."""


class AtspiSource:
    """Emits :class:`~agent.events.Element` for the apps the :class:`Watchlist` names.

    ``inspector`` (``waymark inspect``, with an
    :class:`~agent.rules.watchlist.InspectWatchlist`) also receives each
    element read, on this thread.
    """

    name = "accessibility"

    def __init__(
        self,
        watchlist: Watchlist,
        *,
        session_bus: str | None = None,
        inspector: Inspector | None = None,
        settle: float = 0.15,
        call_timeout: float = SLOW_CALL,
        enable_accessibility: bool = True,
    ) -> None:
        self._watchlist = watchlist
        self._session_bus = session_bus
        self._inspector = inspector
        self._settle = settle
        self._call_timeout = call_timeout
        self._enable = enable_accessibility
        self._emit: Emit | None = None
        self._conn: Any = None
        self._session: Any = None
        self._enabled_by_us = False
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._error = ""
        self._waker = WakePipe()
        self._pokes: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._backlog: deque[Any] = deque()
        self._backoff = AppBackoff()
        self._apps: dict[str, str | None] = {}  # sender → app identifier
        self._known: dict[tuple[str, str], tuple[str, str | None]] = {}  # role, id by object
        self._windows: dict[str, tuple[str | None, str | None]] = {}  # sender → (role, title)
        self._opened: dict[str, set[str]] = {}  # sender → window paths seen activating
        self._active: tuple[str, str] | None = None  # (sender, window path) in front
        self._focused: tuple[str, str, ElementSeen | None, float] | None = None
        self._last_focus: tuple[str, str, float] = ("", "", 0.0)
        self._click_deadline = 0.0
        self._detail = "not started"
        #: Counters for doctor and the benchmark.
        self.signals = 0
        self.dropped = 0
        self.app_reads = 0
        self.names_read: Counter[str] = Counter()  # by role

    # -- lifecycle -------------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Connect to the accessibility bus (raises with a clear message if it cannot)."""
        self._emit = emit
        self._stopping.clear()
        self._ready.clear()
        self._error = ""
        self._thread = threading.Thread(target=self._run, name="waymark-atspi", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            join_quietly(self._thread)
            raise RuntimeError(self._error)

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        join_quietly(self._thread)
        self._thread = None
        if self._enabled_by_us and self._session is not None:
            with contextlib.suppress(Exception):  # best effort: the session may be ending
                self._set_enabled(self._session, False)
        for conn in (self._conn, self._session):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._conn = self._session = None
        self._waker.close()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), self._detail)

    def set_watchlist(self, watchlist: Watchlist) -> None:
        """Follow a new pack's element rules (read at the next signal)."""
        self._watchlist = watchlist

    def poke(self, why: Literal["click", "key"]) -> None:
        """A left click, or Enter/Space, happened (any thread; returns at once)."""
        self._pokes.put(why)
        self._wake()

    def _wake(self) -> None:
        self._waker.wake()

    # -- connection ------------------------------------------------------------------

    def _connect(self) -> None:
        from jeepney import DBusAddress, MatchRule, new_method_call  # type: ignore[import-untyped]
        from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

        try:
            session = open_dbus_connection(bus=self._session_bus or "SESSION")
        except (OSError, KeyError, ValueError) as exc:
            raise RuntimeError(f"no session bus to find the accessibility bus on ({exc})") from exc
        self._session = session
        bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        try:
            address = session.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=5)
            address = address.body[0]
        except Exception as exc:
            raise RuntimeError(
                f"no accessibility bus (org.a11y.Bus; install at-spi2-core): {exc}"
            ) from exc
        if self._enable:
            self._enabled_by_us = not self._is_enabled(session)
            if self._enabled_by_us:
                self._set_enabled(session, True)
        try:
            conn = open_dbus_connection(bus=address)
        except OSError as exc:
            raise RuntimeError(f"cannot connect to the accessibility bus: {exc}") from exc
        self._conn = conn
        registry = DBusAddress(_REGISTRY[1], bus_name=_REGISTRY[0], interface=_REGISTRY[0])
        for event in _EVENTS:
            conn.send_and_get_reply(new_method_call(registry, "RegisterEvent", "s", (event,)))
        for interface in ("org.a11y.atspi.Event.Object", "org.a11y.atspi.Event.Window"):
            rule = MatchRule(type="signal", interface=interface)
            conn.send_and_get_reply(message_bus.AddMatch(rule))
        self._detail = "AT-SPI (D-Bus accessibility bus): focus, window and menu events of " + (
            ", ".join(sorted(self._watchlist.apps)) or "no app"
        )

    @staticmethod
    def _status_address() -> Any:
        from jeepney import DBusAddress

        return DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface=_PROPERTIES)

    def _is_enabled(self, session: Any) -> bool:
        from jeepney import new_method_call

        msg = new_method_call(self._status_address(), "Get", "ss", ("org.a11y.Status", "IsEnabled"))
        try:
            reply = session.send_and_get_reply(msg, timeout=5)
        except Exception:
            return False
        value = reply.body[0] if reply.body else None
        return bool(value[1]) if isinstance(value, tuple) else bool(value)

    def _set_enabled(self, session: Any, on: bool) -> None:
        from jeepney import new_method_call

        msg = new_method_call(
            self._status_address(), "Set", "ssv", ("org.a11y.Status", "IsEnabled", ("b", on))
        )
        session.send_and_get_reply(msg, timeout=5)

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._waker.open()
            self._connect()
        except Exception as exc:
            self._error = str(exc) or type(exc).__name__
            self._detail = self._error
            self._ready.set()
            return
        self._ready.set()
        conn = self._conn
        while not self._stopping.is_set():
            timeout = None
            if self._click_deadline:
                timeout = max(0.0, self._click_deadline - time.monotonic())
            try:
                readable, _, _ = select.select([conn.sock, self._waker.r], [], [], timeout)
            except (OSError, ValueError):
                break
            if self._waker.r in readable:
                self._waker.drain()
            try:
                self._drain()
            except OSError as exc:
                if not self._stopping.is_set():
                    log.warning("accessibility bus lost (%s); element rules pause", exc)
                    self._detail = f"accessibility bus lost: {exc}"
                break
            except Exception:
                log.exception("accessibility source failed on an event")
            self._handle_pokes()
            if self._click_deadline and time.monotonic() >= self._click_deadline:
                self._click_deadline = 0.0
                self._invoke_at_pointer()

    def _drain(self) -> None:
        conn = self._conn
        while True:
            if self._backlog:
                self._on_message(self._backlog.popleft())
                continue
            try:
                msg = conn.receive(timeout=0)
            except TimeoutError:
                return
            self._on_message(msg)

    def _handle_pokes(self) -> None:
        while True:
            try:
                why = self._pokes.get_nowait()
            except queue.Empty:
                return
            if why == "key":
                self._invoke_focused()
            else:
                self._click_deadline = time.monotonic() + self._settle

    # -- signals ---------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        from jeepney import HeaderFields, MessageType

        header = msg.header
        if header.message_type != MessageType.signal:
            return
        fields = header.fields
        kind = decode_signal(
            fields.get(HeaderFields.interface), fields.get(HeaderFields.member), msg.body
        )
        if kind is None:
            return
        self.signals += 1
        sender = fields.get(HeaderFields.sender, "")
        path = fields.get(HeaderFields.path, "")
        if kind == "focus":
            focused = self._focused
            if focused is not None and focused[0] != sender:
                self._focused = None  # another app has focus now: no read needed to know that
        if kind == "activate":
            self._active = (sender, path)
            if sender in self._apps and not self._watched(self._apps[sender] or ""):
                del self._apps[sender]  # a new window may carry another WM_CLASS: look again
        app = self._app(sender)
        if app is None or not self._watched(app) or self._backoff.blocked(app):
            self.dropped += 1
            return
        try:
            if kind == "focus":
                self._on_focus(sender, path, app)
            elif kind in ("activate", "create"):
                self._on_window(sender, path, app, kind)
            else:
                self._on_showing(sender, path, app)
        except _Slow:
            pass

    def _watched(self, app: str) -> bool:
        return self._watchlist.watches(app)

    def _app(self, sender: str) -> str | None:
        if sender in self._apps:
            return self._apps[sender]
        from jeepney import DBusAddress, new_method_call

        bus = DBusAddress(
            "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )  # fmt: skip
        try:
            (reply,) = self._call([new_method_call(bus, "GetConnectionUnixProcessID", "s",
                                                   (sender,))], app=None)  # fmt: skip
        except _Slow:
            return None
        pid = int(reply[0]) if reply is not None else 0
        names = [n for n in (app_of_pid(pid), *self._wm_classes(pid)) if n] if pid else []
        # The app as a rule names it: its WM_CLASS (what focus rules use) or its process name.
        app = next((n for n in names if self._watched(n)), names[0] if names else None)
        if len(self._apps) > 1024:
            self._apps.clear()
        self._apps[sender] = app
        return app

    def _wm_classes(self, pid: int) -> list[str]:
        """The WM_CLASS of the X windows of process ``pid`` (the X server's, not the app's)."""
        try:
            return wm_classes_of_pid(pid)
        except Exception:  # no X display (Wayland) or it went away: the process name is left
            return []

    def _roles_wanted(self, app: str, *events: ElementEvent) -> frozenset[str]:
        """Roles worth reading for ``events``."""
        out: frozenset[str] = frozenset()
        for on in events:
            out |= self._watchlist.roles(app, on)
        return out

    def _on_focus(self, sender: str, path: str, app: str) -> None:
        now = time.monotonic()
        last_sender, last_path, last_t = self._last_focus
        if (sender, path) == (last_sender, last_path) and now - last_t < _REPEAT:
            return
        self._last_focus = (sender, path, now)
        wanted = self._roles_wanted(app, "focus", "invoke")
        if not wanted:
            self._focused = (sender, path, None, now)
            return
        role, automation_id = self._role_and_id(sender, path, app)
        if role == "password" or role not in wanted:
            self._focused = (sender, path, None, now)
            return
        name = None
        if any(self._watchlist.needs_name(app, on, role) for on in ("focus", "invoke")):
            name = self._name(sender, path, app, role)
        window_role, window_title = self._windows.get(sender, (None, None))
        seen = ElementSeen(app, "focus", role, name, automation_id, window_role, window_title)
        self._report(seen)
        invoke = ElementSeen(app, "invoke", role, name, automation_id, window_role, window_title)
        self._focused = (sender, path, invoke, now)
        if self._click_deadline:  # the click that gave this element focus pressed it
            self._click_deadline = 0.0
            self._report(invoke)

    def _on_window(self, sender: str, path: str, app: str, kind: str) -> None:
        if not self._roles_wanted(app, "window_open") and not self._watchlist.uses_windows(app):
            return
        role, _ = self._role_and_id(sender, path, app, with_id=False)
        # What activates is a window; toolkits give top-levels roles like frame or filler.
        role = "dialog" if role == "dialog" else "window"
        title = self._name(sender, path, app, role)
        self._windows[sender] = (role, title)
        opened = self._opened.setdefault(sender, set())
        if path in opened:
            return
        if len(opened) > 256:
            opened.clear()
        opened.add(path)
        self._report(ElementSeen(app, "window_open", role, title, None, role, title))

    def _on_showing(self, sender: str, path: str, app: str) -> None:
        wanted = self._roles_wanted(app, "menu_open")
        if "menu" not in wanted:
            return
        role, automation_id = self._role_and_id(sender, path, app)
        if role != "menu":
            return
        needed = self._watchlist.needs_name(app, "menu_open", role)
        name = self._name(sender, path, app, role) if needed else None
        window_role, window_title = self._windows.get(sender, (None, None))
        self._report(
            ElementSeen(app, "menu_open", role, name, automation_id, window_role, window_title)
        )

    # -- invoke ----------------------------------------------------------------------

    def _invoke_focused(self) -> None:
        focused = self._focused
        if focused is not None and focused[2] is not None:
            self._report(focused[2])

    def _invoke_at_pointer(self) -> None:
        """A click no focus change explained: the element under the pointer, queried once."""
        active = self._active
        if active is None:
            return
        sender, window = active
        app = self._apps.get(sender)
        if app is None or not self._watched(app) or self._backoff.blocked(app):
            return
        wanted = self._roles_wanted(app, "invoke")
        if not wanted:
            return
        point = _pointer()
        if point is None:
            return
        from jeepney import DBusAddress, new_method_call

        path = window
        try:
            for _ in range(_MAX_DEPTH):
                address = DBusAddress(path, bus_name=sender, interface=_COMPONENT)
                msg = new_method_call(address, "GetAccessibleAtPoint", "iiu", (*point, 0))
                (reply,) = self._call([msg], app=app)
                if reply is None:
                    break
                child = reply[0]
                if not child or child[1] in ("", "/org/a11y/atspi/null") or child[1] == path:
                    break
                path = child[1]
            if path == window:
                return
            role, automation_id = self._role_and_id(sender, path, app)
            if role == "password" or role not in wanted:
                return
            needed = self._watchlist.needs_name(app, "invoke", role)
            name = self._name(sender, path, app, role) if needed else None
        except _Slow:
            return
        window_role, window_title = self._windows.get(sender, (None, None))
        self._report(
            ElementSeen(app, "invoke", role, name, automation_id, window_role, window_title)
        )

    # -- reads -----------------------------------------------------------------------

    def _role_and_id(
        self, sender: str, path: str, app: str, *, with_id: bool = True
    ) -> tuple[str, str | None]:
        """An element's role and accessible id: one batched call, then remembered.

        Neither changes during an object's life, so a control used again costs
        no read for them (only for its name, when a rule needs the name).
        """
        known = self._known.get((sender, path))
        if known is not None and (known[1] is not None or not with_id):
            return known
        from jeepney import DBusAddress, new_method_call

        accessible = DBusAddress(path, bus_name=sender, interface=_ACCESSIBLE)
        props = DBusAddress(path, bus_name=sender, interface=_PROPERTIES)
        calls = [new_method_call(accessible, "GetRole")]
        if with_id:
            calls.append(new_method_call(props, "Get", "ss", (_ACCESSIBLE, "AccessibleId")))
        replies = self._call(calls, app=app)
        role = role_of(int(replies[0][0])) if replies[0] is not None else "other"
        automation_id = (_variant_text(replies[1]) or None) if with_id else None
        if len(self._known) > 4096:
            self._known.clear()
        self._known[(sender, path)] = (role, automation_id)
        return role, automation_id

    def _name(self, sender: str, path: str, app: str, role: str) -> str | None:
        from jeepney import DBusAddress, new_method_call

        self.names_read[role] += 1
        props = DBusAddress(path, bus_name=sender, interface=_PROPERTIES)
        (reply,) = self._call([new_method_call(props, "Get", "ss", (_ACCESSIBLE, "Name"))], app=app)
        return _variant_text(reply)

    def _call(self, messages: list[Any], *, app: str | None) -> list[tuple[Any, ...] | None]:
        """Send ``messages`` at once and wait for every answer (one round trip).

        Signals that arrive meanwhile wait in the backlog.  An error answer is
        None.  Past ``call_timeout`` the app is backed off and :class:`_Slow`
        raised.
        """
        from jeepney import HeaderFields, MessageType

        conn = self._conn
        serials: dict[int, int] = {}
        for i, msg in enumerate(messages):
            serial = next(conn.outgoing_serial)
            conn.send(msg, serial=serial)
            serials[serial] = i
        if app is not None:
            self.app_reads += 1
        replies: list[tuple[Any, ...] | None] = [None] * len(messages)
        started = time.monotonic()
        deadline = started + self._call_timeout
        while serials:
            remaining = deadline - time.monotonic()
            try:
                msg = conn.receive(timeout=max(remaining, 0.0))
            except TimeoutError:
                if app is not None:
                    self._backoff.slow(app, time.monotonic() - started)
                raise _Slow from None
            reply_to = msg.header.fields.get(HeaderFields.reply_serial)
            index = serials.pop(reply_to, None) if reply_to is not None else None
            if index is None:
                if msg.header.message_type == MessageType.signal:
                    self._backlog.append(msg)
                continue
            if msg.header.message_type == MessageType.method_return:
                replies[index] = tuple(msg.body)
        if app is not None:
            self._backoff.fine(app)
        return replies

    def _report(self, seen: ElementSeen) -> None:
        if self._inspector is not None:
            self._inspector(seen)
        emit = self._emit
        event = element_event(time.time(), seen, self._watchlist)
        if event is not None and emit is not None:
            emit(event)


def wm_classes_of_pid(pid: int, display_name: str | None = None) -> list[str]:
    """The WM_CLASS classes (lower-case) of the top-level windows whose _NET_WM_PID is ``pid``."""
    from Xlib import Xatom, display

    from agent.hooks.focus_x11 import app_from_wm_class

    d = display.Display(display_name)
    try:
        root = d.screen().root
        clients = root.get_full_property(d.intern_atom("_NET_CLIENT_LIST"), Xatom.WINDOW)
        pid_atom = d.intern_atom("_NET_WM_PID")
        found: list[str] = []
        for wid in clients.value if clients is not None else ():
            window = d.create_resource_object("window", wid)
            prop = window.get_full_property(pid_atom, Xatom.CARDINAL)
            if prop is not None and prop.value and int(prop.value[0]) == pid:
                name = app_from_wm_class(window.get_wm_class())
                if name and name not in found:
                    found.append(name)
        return found
    finally:
        d.close()


def _variant_text(reply: tuple[Any, ...] | None) -> str | None:
    if not reply:
        return None
    value = reply[0]
    if isinstance(value, tuple) and len(value) == 2:  # jeepney variants: (signature, value)
        value = value[1]
    return value if isinstance(value, str) else None


def _pointer() -> tuple[int, int] | None:
    """The pointer position on the X screen (read here and used only for the query)."""
    try:
        from Xlib import display

        d = display.Display()
        try:
            pointer = d.screen().root.query_pointer()
            return int(pointer.root_x), int(pointer.root_y)
        finally:
            d.close()
    except Exception:
        return None
