"""The coaching engine: events in, toasts and telemetry records out.

The engine is the sole owner of rule state and is deterministic: every
decision depends only on the pack, the events (their ``t``), the injected
clock's time zone, the device id/groups/OS and the saved state.  It runs on one
thread (the engine thread, or a replay) and is not thread-safe.

Semantics are DESIGN.md's "Rule packs" section; where it is silent the engine
decides as follows (docs/pack-format.md repeats this):

* **Occurrence.** An event matches a ``when`` (also ``after``, ``adopted``) when
  the kind matches; the app (``event.app``, or for events without one the app
  last in focus) resolves through the pack's ``apps`` aliases to a listed
  logical name (``any``/no app matches every app, including unknown ones); the
  chord/button is equal when given; the title pattern (RE2, *search*) matches
  the title of the focused window, for every event kind; and for ``idle`` the
  reported idle length is ``>=`` the threshold.
* **Elements and files.** An ``element`` event matches when its ``on`` is the
  matcher's and the matcher's selector id is among those the source matched
  (the source compared role, name, automation id and window on its own
  thread; :mod:`agent.rules.watchlist`); its ``app`` resolves like any
  event's.  A ``file`` event matches when its folder is one of the matcher's,
  its type is one of the matcher's types (any without ``type``), and the size
  threshold it reached is at least ``size_at_least``; a file event has no app
  of its own, so ``app`` means the app in front.
* **count.** The rule triggers at each occurrence where at least ``at_least``
  occurrences (this one included) lie within the trailing ``within`` seconds
  (``t - t_i <= within``).  The window is emptied when the rule is *shown*,
  not when it is suppressed, so a suppressed rule triggers again at the next
  occurrence while the window still holds enough.
* **after.** The rule triggers only if an event matching ``after`` happened
  ``<= within`` seconds before the occurrence; the occurrence itself does not
  count as its own ``after`` (``after`` times are recorded after ``when`` is
  decided).  Both ``count`` and ``after`` must hold when both are given.
* **Guards**, in order, the first that fails naming the reason: ``schedule``
  (``only``: local hours ``[start, end)``, wrapping past midnight when
  start > end; weekdays), ``audience`` (groups; rollout bucket), ``holdout``,
  ``paused``, ``never``, ``snoozed``, ``cooldown`` (``t - last_shown <
  cooldown``), ``rule_daily_cap``, ``rule_total_cap``, ``adopted_enough``
  (adoptions of the rule's habit ``>= stop_after_adopted``), ``pack_gap``
  (``t - last toast of the pack < min_gap``), ``pack_daily_cap``, ``quiet``
  (a Quiet state is on, the session is locked between ``lock`` and
  ``unlock``, or the focused app is on the never-interrupt list, given as OS
  identifiers or logical names).
* **Buckets** are per device and *habit*, so every rule of a habit puts a
  device in the same arm: ``int.from_bytes(sha256(f"{device}:{habit}").digest(),
  "big") % 100``.  A rule is outside its audience (``audience``) when the device
  is not in its groups or ``bucket >= rollout``; otherwise the device is in the
  holdout iff ``bucket < holdout``, where the habit's holdout is the largest
  ``holdout`` of its rules (the loader refuses rules of one habit that
  disagree).  The holdout is the bottom buckets, so raising a rollout never
  moves a device into or out of the holdout.
* **Several rules at one event.** The highest ``priority`` that passes every
  guard is shown (ties: earlier in the pack); other passing rules are
  suppressed with ``outranked``.  Records come in pack order, after the
  ``ShowToast``.
* **Adoption.** An event matching a rule's ``adopted`` records ``adopted`` once
  per habit per event and increments that habit's count; adoptions are handled
  before the triggers of the same event (so ``stop_after_adopted`` sees them).
* **Actions.** ``got-it`` or a button id → ``acted`` (``action`` = the id);
  ``snooze`` → ``snoozed`` until ``t + snooze_for`` (default: the toast's
  first snooze choice, else 1 h); ``never`` → ``never`` (that rule is never
  shown again); ``dismiss`` → ``dismissed``.  Actions for rules no longer in
  the pack are recorded without a habit.
* **Pause** stops matching, not just showing: while paused, title patterns are
  not evaluated (treated as no match) and no adoption is counted; rules that
  still trigger are suppressed with ``paused``.
* **Days** are local calendar days of the clock's time zone; daily caps reset
  at local midnight.
* **Hot swap** (:meth:`Engine.swap`) keeps the state of rules whose id stays
  (caps, cooldown, snooze, never, occurrence window) and drops the state of
  rules that left the pack; adoption counts are per habit and always kept.
* **Shown means on screen.** With ``confirm_shows`` (the desktop agent), the
  winner's caps, cooldown and gaps count at once, but its ``shown`` record
  waits for :class:`~agent.events.ToastShown` from the UI; a
  :class:`~agent.events.ToastNotShown`, or no answer within
  ``confirm_timeout`` seconds (:meth:`Engine.expire_unconfirmed`), takes the
  showing back and records ``suppressed`` with reason ``no_display``.
  Without it (replay, headless) a decision to show is the showing.
* Records never carry a title; ``Record.app`` is the logical app name of the
  event (the app layer removes it when policy forbids).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from agent.clock import Clock
from agent.events import Action, Element, FileSaved, Idle, InputEvent
from agent.rules.compiled import Candidates, CompiledMatcher, CompiledPack
from agent.rules.effects import Effect, ShowToast
from agent.rules.model import Pack, Rule
from agent.rules.never_interrupt import NeverInterrupt
from agent.rules.records import Record
from agent.rules.state import PackState, RuleState, StateStore

__all__ = [
    "SUPPRESS_REASONS",
    "Decision",
    "Engine",
    "bucket",
    "decision_of",
    "decisions_of",
    "habit_holdouts",
]

#: Every suppression reason, in guard order (then ``outranked``).
SUPPRESS_REASONS: Final = (
    "schedule",
    "audience",
    "holdout",
    "paused",
    "never",
    "snoozed",
    "cooldown",
    "rule_daily_cap",
    "rule_total_cap",
    "adopted_enough",
    "pack_gap",
    "pack_daily_cap",
    "quiet",
    "outranked",
    "no_display",
)

DEFAULT_SNOOZE: Final = 3600.0
#: Seconds the desktop UI has to confirm that a toast is on screen.
CONFIRM_TIMEOUT: Final = 10.0


def bucket(device: str, habit: str) -> int:
    """The device's deterministic bucket (0-99) for a habit: every rule of it shares it."""
    digest = hashlib.sha256(f"{device}:{habit}".encode()).digest()
    return int.from_bytes(digest, "big") % 100


def habit_holdouts(pack: Pack) -> dict[str, int]:
    """The holdout percentage of each habit: the largest of its rules' (usually all equal)."""
    out: dict[str, int] = {}
    for rule in pack.rules:
        held = rule.audience.holdout if rule.audience is not None else 0
        out[rule.habit] = max(out.get(rule.habit, 0), held)
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    """One line of a replay: a rule shown or suppressed, or a habit adopted."""

    t: float
    decision: Literal["show", "suppress", "adopted"]
    rule: str | None = None
    habit: str | None = None
    reason: str | None = None

    def as_json(self, t: float | None = None) -> dict[str, object]:
        """The DESIGN.md JSON shape; ``t`` overrides the time (e.g. seconds since start)."""
        when = float(self.t if t is None else t)
        if self.decision == "adopted":
            return {"t": when, "habit": self.habit, "decision": "adopted"}
        if self.decision == "show":
            return {"t": when, "rule": self.rule, "decision": "show"}
        return {"t": when, "rule": self.rule, "decision": "suppress", "reason": self.reason}


def decision_of(effect: Effect) -> Decision | None:
    """The decision an effect stands for (``None`` for toasts and action records)."""
    if not isinstance(effect, Record):
        return None
    if effect.kind == "shown":
        return Decision(effect.t, "show", effect.rule, effect.habit)
    if effect.kind == "suppressed":
        return Decision(effect.t, "suppress", effect.rule, effect.habit, effect.reason)
    if effect.kind == "adopted":
        return Decision(effect.t, "adopted", effect.rule, effect.habit)
    return None


def decisions_of(effects: Iterable[Effect]) -> list[Decision]:
    """The decisions among ``effects``, in order."""
    return [d for d in map(decision_of, effects) if d is not None]


class _RuleRun:
    """A rule with everything precomputed that its decisions need, plus its state."""

    __slots__ = (
        "after_within",
        "audience_reason",
        "cooldown",
        "count_n",
        "count_within",
        "habit",
        "holdout",
        "id",
        "index",
        "last_after",
        "max_per_day",
        "max_total",
        "only_days",
        "only_hours",
        "priority",
        "rule",
        "state",
        "stop_after",
        "times",
        "when_apps",
    )

    def __init__(
        self, rule: Rule, index: int, device: str, groups: frozenset[str], holdout: int
    ) -> None:
        self.rule = rule
        self.index = index
        self.id = rule.id
        self.habit = rule.habit
        self.priority = rule.priority
        self.when_apps = rule.when.apps
        self.count_n = rule.count.at_least if rule.count is not None else 0
        self.count_within = rule.count.within if rule.count is not None else 0.0
        self.times: deque[float] = deque(maxlen=max(self.count_n, 1))
        self.after_within = rule.after.within if rule.after is not None else None
        self.last_after: float | None = None
        self.only_hours = rule.only.hours if rule.only is not None else None
        self.only_days = rule.only.days if rule.only is not None else None
        limits = rule.limits
        self.cooldown = limits.cooldown
        self.max_per_day = limits.max_per_day
        self.max_total = limits.max_total
        self.stop_after = limits.stop_after_adopted
        #: The habit's holdout percentage (kept for a change of groups).
        self.holdout = holdout
        self.audience_reason = _audience_reason(rule, device, groups, holdout)
        self.state = RuleState()


def _audience_reason(rule: Rule, device: str, groups: frozenset[str], holdout: int) -> str | None:
    """``audience`` or ``holdout`` when this device must not see the rule, else None.

    ``holdout`` is the habit's, so a rule without an audience of its own still
    holds back the devices its habit's other rules hold out.
    """
    aud = rule.audience
    if aud is None and not holdout:
        return None
    b = bucket(device, rule.habit)
    outside = aud is not None and (
        (aud.groups is not None and not groups.intersection(aud.groups)) or b >= aud.rollout
    )
    if outside:
        return "audience"
    if b < holdout:
        return "holdout"
    return None


@dataclass(frozen=True, slots=True)
class _Pending:
    """A toast handed to the UI and not yet confirmed on screen, with what it changed."""

    rule: str
    t: float
    names: tuple[str, ...]
    rule_before: RuleState
    pack_before: PackState


_SavedLookup = Callable[[str], RuleState | None]
_MISS: Final = object()
_PLAIN_KINDS: Final = frozenset({"typing", "idle", "active", "lock", "unlock", "start", "focus"})


class Engine:
    """Decides, for each input event, which toast to show and what to record.

    ``device`` and ``groups`` pick the audience and rollout buckets; ``os_name``
    (``windows``/``macos``/``linux``; None: every OS) picks the app identifiers;
    ``state`` persists what must survive a restart (in memory when None);
    ``never_interrupt`` lists apps (OS identifiers or logical names) during which
    nothing is shown.  The clock supplies the time zone of local days and the
    time of :meth:`swap`; decisions use each event's ``t``.
    """

    def __init__(
        self,
        pack: Pack,
        *,
        clock: Clock,
        device: str,
        groups: Sequence[str] = (),
        os_name: str | None = None,
        state: StateStore | None = None,
        never_interrupt: Collection[str] = (),
        confirm_shows: bool = False,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        self.clock = clock
        self.confirm_shows = confirm_shows
        self.confirm_timeout = confirm_timeout
        self._pending: dict[int, _Pending] = {}
        self._next_toast = 0
        self.device = device
        self.groups = frozenset(groups)
        self.os_name = os_name
        self._store = state if state is not None else StateStore(None)
        self._adoptions: dict[str, int] = self._store.load_adoptions()
        self._paused_until: float | None = None
        self._locked = False
        self._quiet: set[str] = set()
        self._never_interrupt = NeverInterrupt(never_interrupt)
        self._focus_app: str | None = None
        self._focus_names: tuple[str, ...] = ()
        self._focus_title = ""
        self._focus_never = False
        self._titles: dict[int, bool] = {}
        # Candidates for events in the focused app by (kind, chord/button); reset on focus change.
        self._focus_cands: dict[tuple[str, str | None], Candidates | None] = {}
        self._day = 0
        self._day_start = 0.0
        self._day_end = 0.0
        saved = self._store.load_rules()
        self._pack = pack
        self._compiled = CompiledPack(pack, os_name)
        self._runs = self._make_runs(pack, lambda rid: saved.get(rid), None)
        self._by_id = {r.id: r for r in self._runs}
        self._pack_state = self._store.load_pack(pack.id)

    # -- public API ------------------------------------------------------------

    @property
    def pack(self) -> Pack:
        """The running pack."""
        return self._pack

    @property
    def pack_id(self) -> str:
        return self._pack.id

    @property
    def pack_version(self) -> int:
        return self._pack.version

    @property
    def compiled(self) -> CompiledPack:
        """The running pack's index (for diagnostics and benchmarks)."""
        return self._compiled

    @property
    def paused_until(self) -> float | None:
        """POSIX time until which matching is paused (``inf``: until resumed); None: running."""
        return self._paused_until

    def adoptions(self, habit: str) -> int:
        """How often ``habit`` was adopted on this device."""
        return self._adoptions.get(habit, 0)

    def rule_state(self, rule_id: str) -> RuleState | None:
        """The live state of a rule of the running pack (read it, do not change it)."""
        run = self._by_id.get(rule_id)
        return run.state if run is not None else None

    def swap(self, pack: Pack) -> None:
        """Replace the running pack atomically, keeping the state of rules that keep their id."""
        old = self._by_id
        saved = self._store.load_rules() if any(r.id not in old for r in pack.rules) else {}
        runs = self._make_runs(pack, saved.get, old)
        compiled = CompiledPack(pack, self.os_name)
        gone = [rid for rid in old if rid not in {r.id for r in runs}]
        self._store.delete_rules(gone)
        pack_state = (
            self._pack_state if pack.id == self._pack.id else self._store.load_pack(pack.id)
        )
        # Everything is built; the assignments below are the swap.
        self._pack, self._compiled, self._runs = pack, compiled, runs
        self._by_id = {r.id: r for r in runs}
        self._pack_state = pack_state
        self._focus_names = compiled.resolve_app(self._focus_app)
        self._update_focus_never()
        self._forget_candidates()
        self._titles.clear()

    def pause(self, until: float | None) -> None:
        """Pause matching until POSIX time ``until`` (``inf``: until resumed); None resumes."""
        self._paused_until = until

    def set_groups(self, groups: Sequence[str]) -> None:
        """This device's audience groups changed (policy): rules re-check their audience."""
        self.groups = frozenset(groups)
        for run in self._runs:
            run.audience_reason = _audience_reason(run.rule, self.device, self.groups, run.holdout)

    def set_never_interrupt(self, apps: Collection[str]) -> None:
        """Apps (OS identifiers or logical names) during which no toast is shown."""
        self._never_interrupt = NeverInterrupt(apps)
        self._update_focus_never()

    def reset_never(self) -> None:
        """Forget every "don't show this again" choice."""
        for run in self._runs:
            if run.state.never:
                run.state.never = False
                self._store.save_rule(run.id, run.state)

    def handle(self, event: InputEvent) -> list[Effect]:
        """Decide on one event; returns the toasts to show and the records to keep."""
        kind = event.kind
        if kind == "chord":
            assert event.kind == "chord"
            cands, names = self._candidates(kind, event.chord, event.app)
        elif kind == "click":
            assert event.kind == "click"
            cands, names = self._candidates(kind, event.button, event.app)
        elif kind == "element":
            assert event.kind == "element"
            cands, names = self._candidates(kind, event.on, event.app)
        elif kind == "file":
            cands, names = self._candidates(kind, None, None)
        elif kind in _PLAIN_KINDS:
            if kind == "focus":
                assert event.kind == "focus"
                self._set_focus(event.app, event.title)
            elif kind == "lock":
                self._locked = True
            elif kind == "unlock":
                self._locked = False
            cands, names = self._candidates(kind, None, None)
        elif kind == "quiet":
            assert event.kind == "quiet"
            if event.on:
                self._quiet.add(event.why)
            elif event.why:
                self._quiet.discard(event.why)
            else:
                self._quiet.clear()
            return []
        elif kind == "action":
            assert event.kind == "action"
            return self._on_action(event)
        elif kind == "toast_shown":
            assert event.kind == "toast_shown"
            return self._confirm(event.toast_id, shown=True)
        elif kind == "toast_not_shown":
            assert event.kind == "toast_not_shown"
            return self._confirm(event.toast_id, shown=False)
        elif kind == "pause":
            assert event.kind == "pause"
            self.pause(event.until)
            return []
        else:  # pragma: no cover - the event types are closed
            return []
        if cands is None:
            return []
        assert isinstance(cands, Candidates)
        return self._decide(event, cands, names)

    # -- matching --------------------------------------------------------------

    def _set_focus(self, app: str, title: str) -> None:
        if app != self._focus_app:
            self._focus_app = app
            names = self._compiled.resolve_app(app)
            if names != self._focus_names:
                self._focus_names = names
                self._forget_candidates()
            self._update_focus_never()
        if title != self._focus_title:
            self._focus_title = title
            self._titles.clear()

    def _forget_candidates(self) -> None:
        self._focus_cands.clear()

    def _candidates(
        self, kind: str, key: str | None, app: str | None
    ) -> tuple[Candidates | None, tuple[str, ...]]:
        """Candidate rules for an event and the logical apps it happened in.

        Events in the focused app (the common case) hit a per-focus cache.
        """
        if app is None or app == self._focus_app:
            cache_key = (kind, key)
            cands = self._focus_cands.get(cache_key, _MISS)
            if cands is _MISS:
                cands = self._focus_cands[cache_key] = self._compiled.candidates(
                    kind, self._focus_names, key
                )
            assert cands is None or isinstance(cands, Candidates)
            return cands, self._focus_names
        names = self._compiled.resolve_app(app)
        return self._compiled.candidates(kind, names, key), names

    def _update_focus_never(self) -> None:
        self._focus_never = self._never_interrupt.covers(self._focus_app, self._focus_names)

    def _matches(self, m: CompiledMatcher, event: InputEvent, paused: bool) -> bool:
        tid = m.title_id
        if tid >= 0:
            if paused:
                return False  # pausing stops matching: titles are not looked at
            hit = self._titles.get(tid)
            if hit is None:
                hit = self._titles[tid] = bool(self._compiled.patterns[tid](self._focus_title))
            if not hit:
                return False
        if m.idle is not None:
            return isinstance(event, Idle) and event.seconds >= m.idle
        if m.selector is not None:
            return isinstance(event, Element) and m.selector in event.selectors
        f = m.file
        if f is not None:
            return (
                isinstance(event, FileSaved)
                and event.folder in f.folders
                and (f.types is None or event.type in f.types)
                and (f.size_at_least is None or event.size_at_least >= f.size_at_least)
            )
        return True

    def _decide(self, event: InputEvent, cands: Candidates, names: tuple[str, ...]) -> list[Effect]:
        t = event.t
        until = self._paused_until
        paused = until is not None and t < until
        runs = self._runs
        matches = self._matches
        effects: list[Effect] = []
        if cands.adopted and not paused:
            habits: set[str] = set()
            for entry in cands.adopted:
                run = runs[entry.index]
                if run.habit in habits or not matches(entry.matcher, event, paused):
                    continue
                habits.add(run.habit)
                count = self._adoptions.get(run.habit, 0) + 1
                self._adoptions[run.habit] = count
                self._store.save_adoption(run.habit, count)
                effects.append(self._record(t, "adopted", run, names))
        triggered: list[_RuleRun] | None = None
        for entry in cands.when:
            if not matches(entry.matcher, event, paused):
                continue
            run = runs[entry.index]
            if run.count_n:
                times = run.times
                times.append(t)
                if len(times) < run.count_n or t - times[0] > run.count_within:
                    continue
            if run.after_within is not None:
                last = run.last_after
                if last is None or t - last > run.after_within:
                    continue
            if triggered is None:
                triggered = [run]
            else:
                triggered.append(run)
        for entry in cands.after:
            if matches(entry.matcher, event, paused):
                runs[entry.index].last_after = t
        if triggered is not None:
            self._choose(t, triggered, names, paused, effects)
        return effects

    # -- guards and showing ----------------------------------------------------

    def _choose(
        self,
        t: float,
        triggered: list[_RuleRun],
        names: tuple[str, ...],
        paused: bool,
        effects: list[Effect],
    ) -> None:
        day = self._day_of(t)
        reasons = [self._reason(run, t, day, paused) for run in triggered]
        winner: _RuleRun | None = None
        for run, reason in zip(triggered, reasons, strict=True):
            if reason is None and (winner is None or run.priority > winner.priority):
                winner = run
        toast_id = 0
        if winner is not None:
            self._next_toast += 1
            toast_id = self._next_toast
            if self.confirm_shows:
                self._pending[toast_id] = _Pending(
                    winner.id, t, names, replace(winner.state), replace(self._pack_state)
                )
            self._mark_shown(winner, t, day)
            pack = self._pack
            effects.append(
                ShowToast(
                    t,
                    winner.id,
                    winner.habit,
                    pack.id,
                    pack.version,
                    winner.rule.toast,
                    pack.default_locale,
                    toast_id,
                )
            )
        for run, reason in zip(triggered, reasons, strict=True):
            if run is winner:
                if not self.confirm_shows:
                    effects.append(self._record(t, "shown", run, names))
            else:
                effects.append(self._record(t, "suppressed", run, names, reason or "outranked"))

    def expire_unconfirmed(self, now: float) -> list[Effect]:
        """Take back the toasts the UI did not confirm within ``confirm_timeout`` seconds."""
        late = [tid for tid, p in self._pending.items() if now - p.t > self.confirm_timeout]
        return [e for tid in late for e in self._confirm(tid, shown=False)]

    def _confirm(self, toast_id: int, *, shown: bool) -> list[Effect]:
        pending = self._pending.pop(toast_id, None)
        run = self._by_id.get(pending.rule) if pending is not None else None
        if pending is None or run is None:
            return []  # unknown, already answered, or its rule left the pack
        if shown:
            return [self._record(pending.t, "shown", run, pending.names)]
        self._unmark_shown(run, pending)
        return [self._record(pending.t, "suppressed", run, pending.names, "no_display")]

    def _unmark_shown(self, run: _RuleRun, pending: _Pending) -> None:
        """Undo :meth:`_mark_shown` for a toast that never reached the screen."""
        state, before = run.state, pending.rule_before
        if state.last_shown == pending.t:  # nothing was shown for this rule since
            state.shown_day, state.shown_today = before.shown_day, before.shown_today
            state.total_shown, state.last_shown = before.total_shown, before.last_shown
        else:
            state.total_shown = max(0, state.total_shown - 1)
        pack_state, pack_before = self._pack_state, pending.pack_before
        if pack_state.last_shown == pending.t:
            pack_state.last_shown = pack_before.last_shown
            pack_state.shown_day, pack_state.shown_today = (
                pack_before.shown_day,
                pack_before.shown_today,
            )
        self._store.save_rule(run.id, state)
        self._store.save_pack(self._pack.id, pack_state)

    def _reason(self, run: _RuleRun, t: float, day: int, paused: bool) -> str | None:
        if run.only_hours is not None or run.only_days is not None:
            local = datetime.fromtimestamp(t, self.clock.tz)
            if run.only_days is not None and local.weekday() not in run.only_days:
                return "schedule"
            if run.only_hours is not None and not run.only_hours.contains(
                local.hour * 60 + local.minute
            ):
                return "schedule"
        if run.audience_reason is not None:
            return run.audience_reason
        if paused:
            return "paused"
        state = run.state
        if state.never:
            return "never"
        if state.snooze_until is not None and t < state.snooze_until:
            return "snoozed"
        last = state.last_shown
        if run.cooldown is not None and last is not None and t - last < run.cooldown:
            return "cooldown"
        shown_today = state.shown_today if state.shown_day == day else 0
        if run.max_per_day is not None and shown_today >= run.max_per_day:
            return "rule_daily_cap"
        if run.max_total is not None and state.total_shown >= run.max_total:
            return "rule_total_cap"
        if run.stop_after is not None and self._adoptions.get(run.habit, 0) >= run.stop_after:
            return "adopted_enough"
        limits = self._pack.limits
        pack_state = self._pack_state
        last = pack_state.last_shown
        if limits.min_gap is not None and last is not None and t - last < limits.min_gap:
            return "pack_gap"
        pack_today = pack_state.shown_today if pack_state.shown_day == day else 0
        if limits.max_per_day is not None and pack_today >= limits.max_per_day:
            return "pack_daily_cap"
        if self._quiet or self._locked or self._focus_never:
            return "quiet"
        return None

    def _mark_shown(self, run: _RuleRun, t: float, day: int) -> None:
        state = run.state
        if state.shown_day != day:
            state.shown_day, state.shown_today = day, 0
        state.shown_today += 1
        state.total_shown += 1
        state.last_shown = t
        run.times.clear()  # the count restarts after the rule is shown
        pack_state = self._pack_state
        if pack_state.shown_day != day:
            pack_state.shown_day, pack_state.shown_today = day, 0
        pack_state.shown_today += 1
        pack_state.last_shown = t
        self._store.save_rule(run.id, state)
        self._store.save_pack(self._pack.id, pack_state)

    def _day_of(self, t: float) -> int:
        """The local calendar day of ``t`` as a date ordinal (cached for the current day)."""
        if self._day_start <= t < self._day_end:
            return self._day
        tz = self.clock.tz
        date = datetime.fromtimestamp(t, tz).date()
        start = datetime(date.year, date.month, date.day, tzinfo=tz).timestamp()
        nxt = date + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp()
        if start <= t < end:  # a DST oddity could break the interval; then do not cache
            self._day_start, self._day_end = start, end
        self._day = date.toordinal()
        return self._day

    # -- actions and records -----------------------------------------------------

    def _on_action(self, event: Action) -> list[Effect]:
        run = self._by_id.get(event.rule)
        action = event.action
        t = event.t
        if action == "snooze":
            kind: Literal["snoozed", "never", "dismissed", "acted"] = "snoozed"
            if run is not None:
                length = event.snooze_for
                if length is None:
                    choices = run.rule.toast.snooze
                    length = choices[0] if choices else DEFAULT_SNOOZE
                run.state.snooze_until = t + length
                self._store.save_rule(run.id, run.state)
        elif action == "never":
            kind = "never"
            if run is not None:
                run.state.never = True
                self._store.save_rule(run.id, run.state)
        elif action == "dismiss":
            kind = "dismissed"
        else:
            kind = "acted"
        pack = self._pack
        return [
            Record(
                t,
                kind,
                pack.id,
                pack.version,
                rule=event.rule,
                habit=run.habit if run is not None else None,
                action=action,
            )
        ]

    def _record(
        self,
        t: float,
        kind: Literal["shown", "suppressed", "adopted"],
        run: _RuleRun,
        names: tuple[str, ...],
        reason: str | None = None,
    ) -> Record:
        app: str | None = None
        if names:
            app = names[0]
            if len(names) > 1:  # an identifier shared by two aliases: name the one that matched
                adopted = run.rule.adopted
                wanted = run.when_apps if kind != "adopted" else adopted.apps if adopted else None
                for name in names:
                    if wanted is None or name in wanted:
                        app = name
                        break
        pack = self._pack
        return Record(
            t, kind, pack.id, pack.version, rule=run.id, habit=run.habit, reason=reason, app=app
        )

    def _make_runs(
        self,
        pack: Pack,
        saved: _SavedLookup,
        previous: dict[str, _RuleRun] | None,
    ) -> list[_RuleRun]:
        runs: list[_RuleRun] = []
        holdouts = habit_holdouts(pack)
        for i, rule in enumerate(pack.rules):
            run = _RuleRun(rule, i, self.device, self.groups, holdouts[rule.habit])
            old = previous.get(rule.id) if previous is not None else None
            if old is not None:
                run.state = old.state
                if old.count_n == run.count_n and old.count_within == run.count_within:
                    run.times = old.times
                if old.after_within is not None and run.after_within is not None:
                    run.last_after = old.last_after
            else:
                state = saved(rule.id)
                if state is not None:
                    run.state = state
            runs.append(run)
        return runs
