"""Load a rule pack from YAML or JSON into :class:`agent.rules.model.Pack`, checking everything.

Every problem is collected (not just the first) as a :class:`PackIssue` with
the file, 1-based line and column of the offending key or value, and raised
together in one :class:`PackError`.  The document is composed into YAML nodes
(which carry positions) and walked against the declaration in
:mod:`agent.rules.schema`; JSON is read the same way, so its errors point at
line:col too.  Only the standard library, PyYAML and re2 are used, so the
server and the authoring CLI can import this without Qt or OS libraries.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from typing import Any, Final

import yaml

from agent.rules._spec import (
    INVALID,
    Ctx,
    Found,
    FoundList,
    PackIssue,
    did_you_mean,
)
from agent.rules.model import (
    After,
    AppAlias,
    Audience,
    Count,
    ElementSelector,
    FileFilter,
    Matcher,
    Pack,
    PackLimits,
    Rule,
    RuleLimits,
    Schedule,
    Toast,
    ToastAction,
)
from agent.rules.schema import (
    DAYS,
    MAX_PACK_BYTES,
    MAX_RULES,
    PACK,
    RESERVED_ACTIONS,
)
from agent.timespans import TimeRange, parse_duration

__all__ = [
    "MAX_PACK_BYTES",
    "MAX_RULES",
    "PackError",
    "PackIssue",
    "load_pack",
    "load_pack_text",
    "locale_gaps",
    "parse_duration",
    "validate_pack_file",
]

#: Checking visits a value once per use; aliases may reuse values, within reason.
MAX_EXPANDED_NODES: Final = 2_000_000

_Loader: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PackError(Exception):
    """A pack that does not load; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[PackIssue]) -> None:
        self.issues: list[PackIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)


def _too_big(source: str, size: int) -> PackError:
    mib = MAX_PACK_BYTES // (1024 * 1024)
    return PackError(
        [
            PackIssue(
                source,
                1,
                1,
                f"the pack is {size:,} bytes, over the {mib} MiB limit; split it into "
                "smaller packs",
            )
        ]
    )


def load_pack(path: str | os.PathLike[str]) -> Pack:
    """Read and validate the pack at ``path``.

    Raises :class:`PackError` for an invalid pack and OSError when the file
    cannot be read.
    """
    source = os.fspath(path)
    size = os.stat(source).st_size
    if size > MAX_PACK_BYTES:
        raise _too_big(source, size)
    with open(source, "rb") as f:
        # One byte over the limit is enough to know (the file may grow after stat).
        data = f.read(MAX_PACK_BYTES + 1)
    return load_pack_text(data, source)


def validate_pack_file(path: str | os.PathLike[str]) -> list[PackIssue]:
    """Every problem of the pack at ``path`` (empty when it is valid).

    A file that cannot be read is reported as one issue at 1:1.
    """
    try:
        load_pack(path)
    except PackError as exc:
        return exc.issues
    except OSError as exc:
        return [PackIssue(os.fspath(path), 1, 1, f"cannot read the pack: {exc.strerror or exc}")]
    return []


def load_pack_text(text: str | bytes, source: str = "<pack>") -> Pack:
    """Validate a pack given as YAML or JSON text; ``source`` names it in messages."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PACK_BYTES:
        raise _too_big(source, size)
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise PackError(
                [PackIssue(source, line, col, "the pack is not UTF-8 text; save it as UTF-8")]
            ) from None
    # A big pack is a tree of millions of young objects that are all kept: the
    # cyclic GC would rescan them again and again (5x slower), and finds nothing.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _load(text, source)
    finally:
        if gc_was_on:
            gc.enable()


def _load(text: str, source: str) -> Pack:
    ctx = Ctx(source)
    root = _compose(text, ctx)
    if root is None:
        raise PackError(ctx.issues)
    found = PACK.check(root, ctx, "") if _rules_fit(root, ctx) else INVALID
    if isinstance(found, Found):
        _cross_checks(found, ctx)
    if ctx.issues or not isinstance(found, Found):
        # A cross-field check can meet a value reused through an alias twice.
        unique = dict.fromkeys(ctx.issues)
        raise PackError(sorted(unique, key=lambda i: (i.line, i.col)))
    return _build_pack(found, source)


def _compose(text: str, ctx: Ctx) -> yaml.Node | None:
    """The document's node tree, or None after reporting why there is none."""
    if text.lstrip("\ufeff \r\n").startswith(("{", "[")):
        # JSON may indent with tabs, which YAML forbids; outside strings a tab is
        # only whitespace (inside JSON strings it must be escaped), so a space
        # keeps both the meaning and every column.
        text = text.replace("\t", " ")
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "cannot read this"
        where = f" ({exc.context})" if exc.context else ""
        if mark is not None:
            ctx.error(mark, f"not valid YAML/JSON: {problem}{where}")
        else:
            ctx.issues.append(PackIssue(ctx.source, 1, 1, f"not valid YAML/JSON: {problem}"))
        return None
    except yaml.YAMLError as exc:
        ctx.issues.append(PackIssue(ctx.source, 1, 1, f"not valid YAML/JSON: {exc}"))
        return None
    if node is None:
        ctx.issues.append(PackIssue(ctx.source, 1, 1, "the pack is empty"))
        return None
    if "*" in text and _expansion_problem(node, ctx):
        return None
    return node


def _expansion_problem(root: yaml.Node, ctx: Ctx) -> bool:
    """Report aliases that loop or blow a small file up into a huge tree ("billion laughs").

    Aliases are fine for reusing a toast; the walk below visits each distinct
    node once and computes how many nodes the checks would visit.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    # Iterative post-order walk: a deeply nested document must not hit the recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = _children(node)
            sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
            in_progress.discard(key)
            if sizes[key] > MAX_EXPANDED_NODES:
                ctx.error(
                    node,
                    f"through YAML aliases (*name) this value expands to more than "
                    f"{MAX_EXPANDED_NODES:,} values; write it out or reuse less",
                )
                return True
            continue
        if key in sizes:
            continue
        if key in in_progress:
            ctx.error(node, "this YAML anchor (&name) contains an alias to itself (*name)")
            return True
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in sizes)
    return False


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _rules_fit(root: yaml.Node, ctx: Ctx) -> bool:
    """Refuse a pack with more than MAX_RULES rules before checking any of them."""
    if not isinstance(root, yaml.MappingNode):
        return True
    for key, value in root.value:
        is_rules = getattr(key, "value", None) == "rules"
        if is_rules and isinstance(value, yaml.SequenceNode) and len(value.value) > MAX_RULES:
            ctx.error(
                value,
                f"the pack has {len(value.value):,} rules, over the limit of "
                f"{MAX_RULES:,}; split it into several packs",
            )
            return False
    return True


# ----------------------------------------------------------------------------
# Checks across fields


def _each_rule(found: Found) -> Iterable[tuple[Found, yaml.Node]]:
    rules = found.get("rules")
    if isinstance(rules, FoundList):
        for rule, node in zip(rules, rules.item_nodes, strict=True):
            if isinstance(rule, Found):
                yield rule, node


def _cross_checks(pack: Found, ctx: Ctx) -> None:
    apps = pack.get("apps")
    declared = list(apps.key_nodes) if isinstance(apps, Found) else []
    if isinstance(apps, Found):
        for name, alias in apps.items():
            if name == "any":
                ctx.error(apps.key_nodes[name], "apps: 'any' is reserved (it means every app); "
                          "give this app another name")  # fmt: skip
            elif isinstance(alias, Found) and not any(alias.get(o) for o in alias):
                ctx.error(apps.key_nodes[name], f"apps.{name} lists no identifiers; add "
                          "windows, macos or linux identifiers")  # fmt: skip
    # A broken default_locale or apps is reported once, not again at every use.
    locale = pack.get("default_locale") if "default_locale" in pack.key_nodes else "en"
    check_apps = isinstance(apps, Found) or "apps" not in pack.key_nodes
    seen_ids: dict[str, int] = {}
    habit_holdouts: dict[str, tuple[int, str, int]] = {}
    rules = pack.get("rules")
    if not isinstance(rules, FoundList):
        return
    for i, (rule, node) in enumerate(zip(rules, rules.item_nodes, strict=True)):
        if not isinstance(rule, Found):
            continue
        where = f"rules[{i + 1}]"
        rule_id = rule.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen_ids:
                ctx.error(
                    rule.at("id"),
                    f"{where}.id: duplicate rule id {rule_id!r} "
                    f"(first used on line {seen_ids[rule_id]})",
                )
            else:
                seen_ids[rule_id] = node.start_mark.line + 1
        for role in ("when", "after", "adopted"):
            matcher = rule.get(role)
            if isinstance(matcher, Found):
                if check_apps:
                    _check_app_refs(matcher, declared, ctx, f"{where}.{role}")
                _check_event_fields(matcher, ctx, f"{where}.{role}")
        audience = rule.get("audience")
        holdout: object = 0
        if isinstance(audience, Found):
            rollout = audience.get("rollout", 100)
            holdout = audience.get("holdout", 0)
            if isinstance(rollout, int) and isinstance(holdout, int) and holdout > rollout:
                ctx.error(
                    audience.at("holdout"),
                    f"{where}.audience.holdout ({holdout}) cannot be larger than rollout "
                    f"({rollout}): the holdout is taken from the devices in the rollout",
                )
        habit = rule.get("habit", rule_id)
        if isinstance(habit, str) and isinstance(holdout, int):
            _check_habit_holdout(habit, holdout, rule, node, habit_holdouts, ctx, where)
        toast = rule.get("toast")
        if isinstance(toast, Found) and isinstance(locale, str):
            _check_toast(toast, locale, ctx, f"{where}.toast")


def _check_habit_holdout(
    habit: str,
    holdout: int,
    rule: Found,
    node: yaml.Node,
    seen: dict[str, tuple[int, str, int]],
    ctx: Ctx,
    where: str,
) -> None:
    """Rules of one habit hold out the same devices: the arm is per (device, habit)."""
    first = seen.setdefault(habit, (holdout, str(rule.get("id", where)), node.start_mark.line + 1))
    if first[0] != holdout:
        ctx.error(
            rule.at("audience"),
            f"{where}: habit {habit!r} has a holdout of {first[0]} % in rule {first[1]!r} "
            f"(line {first[2]}) and {holdout} % here; the holdout is per habit (a device is "
            "held out of every rule of a habit or of none), so give its rules the same "
            "audience.holdout",
        )


#: Keys an event kind cannot do without.
_NEEDED: Final = {"element": ("on", "element"), "file": ("folder",)}


def _check_event_fields(matcher: Found, ctx: Ctx, where: str) -> None:
    event = matcher.get("event")
    for key in _NEEDED.get(event, ()) if isinstance(event, str) else ():
        if key not in matcher.key_nodes:
            ctx.error(matcher.node, f"{where}: event {event} needs {key!r}")
    if event == "element":
        refs = matcher.get("app")
        if "app" not in matcher.key_nodes or (isinstance(refs, FoundList) and "any" in refs):
            ctx.error(
                matcher.at("app"),
                f"{where}: an element rule must name the apps it watches (app: outlook, or "
                "a list); Waymark looks at no other app's elements",
            )


def _check_app_refs(matcher: Found, declared: list[str], ctx: Ctx, where: str) -> None:
    refs = matcher.get("app")
    if not isinstance(refs, FoundList):
        return
    for name, node in zip(refs, refs.item_nodes, strict=True):
        if name is INVALID:
            continue
        if name == "any":
            if len(refs) > 1:
                ctx.error(node, f"{where}.app: 'any' already means every app; list names or "
                          "write just any")  # fmt: skip
        elif name not in declared:
            hint = did_you_mean(name, declared)
            ctx.error(
                node,
                f"{where}.app: unknown app {name!r}{hint} (declare it under apps "
                "with its windows/macos/linux identifiers)",
            )


def _check_toast(toast: Found, locale: str, ctx: Ctx, where: str) -> None:
    def need(texts: Any, path: str) -> None:
        if isinstance(texts, Found) and locale not in texts.key_nodes:
            ctx.error(texts.node, f"{path} has no text for the default locale {locale!r}")

    need(toast.get("title"), f"{where}.title")
    need(toast.get("body"), f"{where}.body")
    actions = toast.get("actions")
    if not isinstance(actions, FoundList):
        return
    ids: set[str] = set()
    for i, action in enumerate(actions):
        if not isinstance(action, Found):
            continue
        path = f"{where}.actions[{i + 1}]"
        need(action.get("label"), f"{path}.label")
        action_id = action.get("id")
        if not isinstance(action_id, str):
            continue
        if action_id in RESERVED_ACTIONS:
            ctx.error(
                action.at("id"),
                f"{path}.id: {action_id!r} is reserved (got-it, snooze, never and dismiss are "
                "the toast's own choices); pick another id",
            )
        elif action_id in ids:
            ctx.error(action.at("id"), f"{path}.id: {action_id!r} is used twice in this toast")
        ids.add(action_id)


# ----------------------------------------------------------------------------
# Warnings (a valid pack that people will see partly in another language)


def locale_gaps(text: str | bytes, source: str = "<pack>") -> list[PackIssue]:
    """Texts that lack a locale the pack uses elsewhere, as ``warning:`` issues.

    A valid pack may give German for one toast's title and not for its body;
    a German reader then sees that body in the default locale.  Each text
    mapping (title, body, button label) missing one of the pack's locales is
    reported at its own line:col.  Only meaningful for a pack that loads.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    ctx = Ctx(source)
    root = _compose(text, ctx)
    if not isinstance(root, yaml.MappingNode):
        return []
    texts: list[tuple[str, yaml.MappingNode]] = []
    rules = _value(root, "rules")
    for i, rule in enumerate(rules.value if isinstance(rules, yaml.SequenceNode) else []):
        toast = _value(rule, "toast")
        where = f"rules[{i + 1}].toast"
        for field in ("title", "body"):
            node = _value(toast, field)
            if isinstance(node, yaml.MappingNode):
                texts.append((f"{where}.{field}", node))
        actions = _value(toast, "actions")
        for j, action in enumerate(actions.value if isinstance(actions, yaml.SequenceNode) else []):
            label = _value(action, "label")
            if isinstance(label, yaml.MappingNode):
                texts.append((f"{where}.actions[{j + 1}].label", label))
    default = _value(root, "default_locale")
    default_locale = default.value if isinstance(default, yaml.ScalarNode) else "en"
    locales_of = [(path, node, {str(k.value) for k, _ in node.value}) for path, node in texts]
    every = set().union(*(found for _, _, found in locales_of)) if locales_of else set()
    for path, node, found in locales_of:
        missing = sorted(every - found)
        if missing:
            names = ", ".join(missing)
            ctx.error(
                node,
                f"warning: {path} has no text for {names} (the pack has {names} elsewhere); "
                f"people reading {names} see it in {default_locale}",
            )
    return ctx.issues


def _value(node: object, key: str) -> yaml.Node | None:
    """The value of ``key`` in a YAML mapping node (None when absent or not a mapping)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if getattr(k, "value", None) == key and isinstance(v, yaml.Node):
            return v
    return None


# ----------------------------------------------------------------------------
# Conversion (only called on a pack without issues)


def _build_pack(found: Found, source: str) -> Pack:
    apps = {
        name: AppAlias(
            name,
            tuple(alias.get("windows", ())),
            tuple(alias.get("macos", ())),
            tuple(alias.get("linux", ())),
        )
        for name, alias in found.get("apps", {}).items()
    }
    limits = found.get("limits", {})
    return Pack(
        id=found["id"],
        version=found["version"],
        title=found["title"],
        default_locale=found.get("default_locale", "en"),
        apps=apps,
        rules=tuple(_build_rule(rule, node) for rule, node in _each_rule(found)),
        limits=PackLimits(limits.get("min_gap"), limits.get("max_per_day")),
        waymark=found["waymark"],
        source=source,
    )


def _matcher(found: Found) -> Matcher:
    refs = found.get("app")
    apps = None if refs is None or list(refs) == ["any"] else tuple(refs)
    element = found.get("element")
    selector = None
    if element is not None:
        names = element.get("name")
        window = element.get("window", {})
        selector = ElementSelector(
            role=element["role"],
            names=tuple(names) if names else None,
            name_re=element.get("name_re"),
            automation_id=element.get("automation_id"),
            window_role=window.get("role"),
            window_title=window.get("title"),
        )
    files = None
    if found["event"] == "file":
        types = found.get("type")
        files = FileFilter(
            tuple(found["folder"]), tuple(types) if types else None, found.get("size_at_least")
        )
    return Matcher(
        event=found["event"],
        apps=apps,
        chord=found.get("chord"),
        button=found.get("button"),
        title=found.get("title"),
        idle=found.get("idle"),
        on=found.get("on"),
        element=selector,
        file=files,
    )


def _texts(found: Any) -> dict[str, str]:
    return dict(found) if found else {}


def _build_rule(found: Found, node: yaml.Node) -> Rule:
    count = found.get("count")
    after = found.get("after")
    only = found.get("only")
    audience = found.get("audience")
    limits = found.get("limits", {})
    adopted = found.get("adopted")
    toast = found["toast"]
    schedule = None
    if only is not None:
        hours = only.get("hours")
        days = only.get("days")
        schedule = Schedule(
            TimeRange.parse(hours) if hours else None,
            frozenset(DAYS.index(d) for d in days) if days else None,
        )
    return Rule(
        id=found["id"],
        habit=found.get("habit", found["id"]),
        when=_matcher(found["when"]),
        toast=Toast(
            title=_texts(toast["title"]),
            body=_texts(toast.get("body")),
            actions=tuple(
                ToastAction(a["id"], _texts(a["label"]), a.get("open"))
                for a in toast.get("actions", ())
            ),
            snooze=tuple(toast.get("snooze", ())),
            timeout=toast.get("timeout", 15.0),
            image=toast.get("image"),
        ),
        priority=found.get("priority", 0),
        count=Count(count["at_least"], count["within"]) if count is not None else None,
        after=After(_matcher(after), after["within"]) if after is not None else None,
        only=schedule,
        audience=(
            Audience(
                tuple(audience["groups"]) if "groups" in audience else None,
                audience.get("rollout", 100),
                audience.get("holdout", 0),
            )
            if audience is not None
            else None
        ),
        limits=RuleLimits(
            limits.get("cooldown"),
            limits.get("max_per_day"),
            limits.get("max_total"),
            limits.get("stop_after_adopted"),
        ),
        adopted=_matcher(adopted) if adopted is not None else None,
        line=node.start_mark.line + 1,
    )
