"""What the loaded rules ask the element and file sources to watch, compiled for one OS.

An accessibility source must not look at an app no element rule names, must
not read a name it does not need, and must not let a name leave its thread.
So the source holds a :class:`Watchlist`: it asks :meth:`Watchlist.watches`
before any read of another process, :meth:`Watchlist.roles` and
:meth:`Watchlist.needs_name` before reading a name, and hands the engine only
the ids of the selectors an element matched (:meth:`Watchlist.match`), its
role and its app.  A file source asks for the folders and size thresholds the
rules use, and reports a size as the largest threshold it reached.

Selector ids are stable hashes of the selector (``el-`` and 12 hex digits),
so the engine's matchers and the source agree without sharing objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Final

import re2

from agent.rules.elements import PRIVATE_ROLES, ROLES
from agent.rules.model import OS_NAMES, ElementSelector, Matcher, Pack
from agent.rules.never_interrupt import app_key

__all__ = ["EMPTY_WATCHLIST", "InspectWatchlist", "WatchedSelector", "Watchlist", "selector_id"]

_Search = Callable[[str], object]


def selector_id(on: str, selector: ElementSelector) -> str:
    """The stable id of ``selector`` for element events ``on``."""
    canonical = json.dumps({"on": on, **asdict(selector)}, sort_keys=True, ensure_ascii=False)
    return "el-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class WatchedSelector:
    """A selector ready to match, in the form a source needs."""

    id: str
    on: str
    role: str
    names: frozenset[str] | None
    name_re: str | None
    automation_id: str | None
    window_role: str | None
    window_title: str | None

    @property
    def uses_name(self) -> bool:
        return self.names is not None or self.name_re is not None


class Watchlist:
    """Element selectors by app identifier, and the file folders and size thresholds."""

    def __init__(self, pack: Pack | None = None, os_name: str | None = None) -> None:
        oses = (os_name,) if os_name in OS_NAMES else OS_NAMES
        self._by_app: dict[str, list[WatchedSelector]] = {}
        self._patterns: dict[str, _Search] = {}
        folders: set[str] = set()
        sizes: set[int] = set()
        for matcher in _matchers(pack):
            if matcher.event == "file" and matcher.file is not None:
                folders.update(matcher.file.folders)
                if matcher.file.size_at_least:
                    sizes.add(matcher.file.size_at_least)
            if matcher.event != "element" or matcher.element is None or matcher.on is None:
                continue
            assert pack is not None and matcher.apps is not None  # the loader requires apps
            watched = _watched(matcher.on, matcher.element)
            for pattern in (watched.name_re, watched.window_title):
                if pattern is not None and pattern not in self._patterns:
                    self._patterns[pattern] = re2.compile(pattern).search
            for name in matcher.apps:
                alias = pack.apps.get(name)
                if alias is None:
                    continue
                for os_key in oses:
                    for ident in getattr(alias, os_key):
                        entries = self._by_app.setdefault(app_key(ident), [])
                        if watched not in entries:
                            entries.append(watched)
        self.folders: frozenset[str] = frozenset(folders)
        self.size_thresholds: tuple[int, ...] = tuple(sorted(sizes))

    # -- element sources -----------------------------------------------------------

    @property
    def has_element_rules(self) -> bool:
        """False: the accessibility source has nothing to do and does not start."""
        return bool(self._by_app)

    @property
    def apps(self) -> frozenset[str]:
        """The app identifiers (in :func:`app_key` form) whose elements are watched."""
        return frozenset(self._by_app)

    def watches(self, app: str) -> bool:
        """True if some element rule names ``app`` (an OS identifier)."""
        return app_key(app) in self._by_app

    def roles(self, app: str, on: str) -> frozenset[str]:
        """The roles the selectors for ``app`` and ``on`` ask for."""
        return frozenset(s.role for s in self._by_app.get(app_key(app), ()) if s.on == on)

    def uses_windows(self, app: str) -> bool:
        """True if a selector for ``app`` names the window its element is in."""
        return any(
            s.window_role is not None or s.window_title is not None
            for s in self._by_app.get(app_key(app), ())
        )

    def needs_name(self, app: str, on: str, role: str) -> bool:
        """True if a selector for this app, event and role matches on the name.

        A password field's name is never needed; the name of a private role
        (an edit field, a document, a cell, a list item) only when a selector
        asks for exactly that role.
        """
        if role == "password":
            return False
        # Every selector has a role, so a private role's name is read only for its own selector.
        selectors = self._by_app.get(app_key(app), ())
        return any(s.role == role and s.on == on and s.uses_name for s in selectors)

    def match(
        self,
        app: str,
        on: str,
        role: str,
        name: str | None = None,
        automation_id: str | None = None,
        window_role: str | None = None,
        window_title: str | None = None,
    ) -> frozenset[str]:
        """The ids of the selectors this element matches (empty: none)."""
        if role == "password":
            return frozenset()
        folded = name.casefold() if name is not None else None
        found: list[str] = []
        for s in self._by_app.get(app_key(app), ()):
            if s.on != on or s.role != role:
                continue
            if s.names is not None and (folded is None or folded not in s.names):
                continue
            if s.name_re is not None and (name is None or not self._patterns[s.name_re](name)):
                continue
            if s.automation_id is not None and automation_id != s.automation_id:
                continue
            if s.window_role is not None and window_role != s.window_role:
                continue
            if s.window_title is not None and (
                window_title is None or not self._patterns[s.window_title](window_title)
            ):
                continue
            found.append(s.id)
        return frozenset(found)

    # -- file sources ---------------------------------------------------------------

    @property
    def has_file_rules(self) -> bool:
        return bool(self.folders)

    def size_reached(self, size: int) -> int:
        """The largest size threshold of the rules that ``size`` reaches (0: none)."""
        reached = 0
        for threshold in self.size_thresholds:
            if size >= threshold:
                reached = threshold
        return reached


class InspectWatchlist(Watchlist):
    """What ``waymark inspect`` looks at: every element of ``apps`` but the private roles.

    The sources read through it exactly as through a pack's watchlist, so
    inspecting shows what they can see; it matches no selector, so nothing
    reaches an engine, and names of private roles and passwords stay unread.
    """

    def __init__(self, apps: Iterable[str]) -> None:
        super().__init__()
        self._inspected = frozenset(app_key(a) for a in apps)
        self._every = frozenset(r for r in ROLES if r not in PRIVATE_ROLES)

    @property
    def has_element_rules(self) -> bool:
        return bool(self._inspected)

    @property
    def apps(self) -> frozenset[str]:
        return self._inspected

    def watches(self, app: str) -> bool:
        return app_key(app) in self._inspected

    def roles(self, app: str, on: str) -> frozenset[str]:
        return self._every if self.watches(app) else frozenset()

    def uses_windows(self, app: str) -> bool:
        return self.watches(app)

    def needs_name(self, app: str, on: str, role: str) -> bool:
        return self.watches(app) and role in self._every


def _matchers(pack: Pack | None) -> Iterable[Matcher]:
    if pack is None:
        return
    for rule in pack.rules:
        yield rule.when
        if rule.after is not None:
            yield rule.after.matcher
        if rule.adopted is not None:
            yield rule.adopted


def _watched(on: str, selector: ElementSelector) -> WatchedSelector:
    return WatchedSelector(
        id=selector_id(on, selector),
        on=on,
        role=selector.role,
        names=frozenset(n.casefold() for n in selector.names) if selector.names else None,
        name_re=selector.name_re,
        automation_id=selector.automation_id,
        window_role=selector.window_role,
        window_title=selector.window_title,
    )


#: The watchlist of a pack without element or file rules.
EMPTY_WATCHLIST: Final = Watchlist()
