"""A pack compiled into an index, so that a decision only touches candidate rules.

Every matcher of every rule (``when``, ``after``, ``adopted``) is filed under
``(event kind, logical app or None for any, chord/button/element event or None)``.  For an
event the engine looks up at most four keys (its apps and ``any``, with and
without its chord or button), and caches the merged result until the focused
app changes, so the per-event cost does not grow with the number of rules.

App identifiers (exe names, bundle ids, WM_CLASS) are resolved to logical names
case-insensitively through the pack's ``apps`` for the device's OS; with no
known OS the identifiers of every OS count.  Title patterns are compiled once
with RE2 and de-duplicated, so the engine can cache one result per pattern
while a window stays in front.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import re2

from agent.rules.model import OS_NAMES, Matcher, Pack
from agent.rules.watchlist import selector_id

__all__ = ["ADOPTED", "AFTER", "WHEN", "Candidates", "CompiledMatcher", "CompiledPack", "Entry"]

#: Roles of a matcher inside its rule.
WHEN: Final = 0
AFTER: Final = 1
ADOPTED: Final = 2

#: A compiled RE2 search: ``search(title)`` is truthy on a match.
TitleSearch = Callable[[str], object]


class CompiledMatcher:
    """One matcher with its title pattern replaced by an index into ``CompiledPack.patterns``.

    ``apps``, ``chord``/``button`` and an element's ``on`` are already
    guaranteed by the index key; what is left to check per event is
    ``title_id`` (-1: none), ``idle``, the element ``selector`` id and the
    ``file`` filter.
    """

    __slots__ = ("apps", "button", "chord", "event", "file", "idle", "selector", "title_id")

    def __init__(self, matcher: Matcher, title_id: int) -> None:
        self.event: str = matcher.event
        self.apps: frozenset[str] | None = (
            frozenset(matcher.apps) if matcher.apps is not None else None
        )
        self.chord = matcher.chord
        self.button = matcher.button
        self.idle = matcher.idle
        self.title_id = title_id
        self.selector: str | None = (
            selector_id(matcher.on, matcher.element)
            if matcher.element is not None and matcher.on is not None
            else None
        )
        self.file = matcher.file


class Entry:
    """A matcher of rule number ``index`` (pack order) in a ``role`` (WHEN/AFTER/ADOPTED)."""

    __slots__ = ("index", "matcher", "role")

    def __init__(self, index: int, role: int, matcher: CompiledMatcher) -> None:
        self.index = index
        self.role = role
        self.matcher = matcher


class Candidates:
    """The entries an event may match, split by role, each in pack order."""

    __slots__ = ("adopted", "after", "when")

    def __init__(
        self, when: tuple[Entry, ...], after: tuple[Entry, ...], adopted: tuple[Entry, ...]
    ) -> None:
        self.when = when
        self.after = after
        self.adopted = adopted


_Key = tuple[str, str | None, str | None]


class CompiledPack:
    """The lookup structures for one pack and one device OS (``None``: every OS)."""

    __slots__ = ("_app_ids", "_index", "_resolved", "os_name", "pack", "patterns")

    def __init__(self, pack: Pack, os_name: str | None = None) -> None:
        self.pack = pack
        self.os_name = os_name
        oses = (os_name,) if os_name in OS_NAMES else OS_NAMES
        app_ids: dict[str, list[str]] = {}
        for alias in pack.apps.values():
            for os_key in oses:
                for ident in getattr(alias, os_key):
                    names = app_ids.setdefault(ident.lower(), [])
                    if alias.name not in names:
                        names.append(alias.name)
        self._app_ids: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in app_ids.items()}
        self._resolved: dict[str, tuple[str, ...]] = {}

        pattern_ids: dict[str, int] = {}
        patterns: list[TitleSearch] = []
        index: dict[_Key, list[Entry]] = {}

        def add(rule_index: int, role: int, matcher: Matcher) -> None:
            title_id = -1
            if matcher.title is not None:
                title_id = pattern_ids.get(matcher.title, -1)
                if title_id < 0:
                    title_id = pattern_ids[matcher.title] = len(patterns)
                    patterns.append(re2.compile(matcher.title).search)
            entry = Entry(rule_index, role, CompiledMatcher(matcher, title_id))
            extra = matcher.chord if matcher.event == "chord" else None
            if matcher.event == "click":
                extra = matcher.button
            elif matcher.event == "element":
                extra = matcher.on
            apps: tuple[str | None, ...] = matcher.apps if matcher.apps is not None else (None,)
            for app in dict.fromkeys(apps):
                index.setdefault((matcher.event, app, extra), []).append(entry)

        for i, rule in enumerate(pack.rules):
            add(i, WHEN, rule.when)
            if rule.after is not None:
                add(i, AFTER, rule.after.matcher)
            if rule.adopted is not None:
                add(i, ADOPTED, rule.adopted)
        self.patterns: tuple[TitleSearch, ...] = tuple(patterns)
        self._index: dict[_Key, tuple[Entry, ...]] = {k: tuple(v) for k, v in index.items()}

    def resolve_app(self, ident: str | None) -> tuple[str, ...]:
        """Logical app names of an OS identifier (``()`` when the pack does not know it)."""
        if not ident:
            return ()
        names = self._resolved.get(ident)
        if names is None:
            names = self._app_ids.get(ident.lower(), ())
            if len(self._resolved) > 4096:  # identifiers come from the OS; keep the memo bounded
                self._resolved.clear()
            self._resolved[ident] = names
        return names

    def candidates(self, kind: str, apps: tuple[str, ...], extra: str | None) -> Candidates | None:
        """Entries that may match an event of ``kind`` in ``apps`` with chord/button ``extra``.

        Returns None when there are none (the common case, kept allocation-free
        by the engine's per-focus cache).
        """
        index = self._index
        found: list[Entry] = []
        for app in (*apps, None):
            hit = index.get((kind, app, extra))
            if hit:
                found.extend(hit)
            if extra is not None:
                hit = index.get((kind, app, None))
                if hit:
                    found.extend(hit)
        if not found:
            return None
        if len(apps) > 1:  # a matcher listing two of the apps is filed under both
            found = list({id(e): e for e in found}.values())
        found.sort(key=lambda e: e.index)
        return Candidates(
            tuple(e for e in found if e.role == WHEN),
            tuple(e for e in found if e.role == AFTER),
            tuple(e for e in found if e.role == ADOPTED),
        )

    def __len__(self) -> int:
        return len(self.pack.rules)
