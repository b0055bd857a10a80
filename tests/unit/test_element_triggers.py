"""Element and file triggers without a desktop: vocabulary, watchlist, decoders, engine, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.clock import VirtualClock
from agent.events import Element, FileSaved, Focus
from agent.hooks.a11y import ElementSeen, element_event, inspect_line
from agent.hooks.a11y_macos import role_of_ax
from agent.hooks.a11y_windows import (
    EVENT_OBJECT_FOCUS,
    EVENT_OBJECT_INVOKED,
    EVENT_SYSTEM_DIALOGSTART,
    element_event_of_winevent,
    role_of_control_type,
)
from agent.hooks.folders import parse_user_dirs, synced_folder
from agent.hooks.scripted import parse_script
from agent.rules.elements import file_type, is_temporary_file, parse_size
from agent.rules.engine import Engine, decisions_of
from agent.rules.loader import PackError, load_pack_text
from agent.rules.model import Pack
from agent.rules.watchlist import Watchlist, selector_id

PACK = """\
waymark: 1
id: t
version: 1
title: T
apps:
  outlook: {windows: [OUTLOOK.EXE], macos: [com.microsoft.Outlook], linux: [mailapp]}
  word: {windows: [winword.exe]}
rules:
  - id: attach
    when: {event: element, app: outlook, on: invoke, element: {role: button, name: [Attach File, Allega file]}}
    adopted: {event: element, app: outlook, on: invoke, element: {role: button, name_re: "(?i)share"}}
    count: {at_least: 2, within: 10m}
    toast: {title: {en: Share a link}}
  - id: save-as
    when: {event: element, app: [outlook, word], on: window_open, element: {role: dialog, window: {title: "(?i)save as"}}}
    toast: {title: {en: Save to OneDrive}}
  - id: subject
    when: {event: element, app: outlook, on: focus, element: {role: edit, automation_id: subjectBox}}
    toast: {title: {en: Write a clear subject}}
  - id: big-deck
    when: {event: file, folder: [desktop, downloads], type: presentation, size_at_least: 20MB}
    adopted: {event: file, folder: synced}
    toast: {title: {en: Move it to the synced folder}}
"""  # noqa: E501 - one rule a line reads best here

T0 = 1_800_000_000.0


def pack() -> Pack:
    return load_pack_text(PACK, "p.yaml")


def engine() -> Engine:
    return Engine(pack(), clock=VirtualClock(T0), device="d", os_name="windows")


# -- vocabulary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("Deck.PPTX", "presentation"), ("a.docx", "document"), ("b.xlsx", "spreadsheet"),
     ("c.pdf", "pdf"), ("d.zip", "archive"), ("e.heic", "image"), ("f.exe", "other"),
     ("noext", "other")],
)  # fmt: skip
def test_file_types_come_from_the_extension(name: str, kind: str) -> None:
    assert file_type(name) == kind


@pytest.mark.parametrize(
    "name",
    ["~$deck.pptx", ".~lock.deck.odp#", "deck.pptx.tmp", "file.crdownload", "big.part",
     ".hidden", "notes.txt~", "~WRL0003.tmp"],
)  # fmt: skip
def test_temporary_and_lock_files_are_recognised(name: str) -> None:
    assert is_temporary_file(name)


@pytest.mark.parametrize("name", ["deck.pptx", "report final.docx", "a~b.txt", "tmpfile.txt"])
def test_ordinary_files_are_not_temporary(name: str) -> None:
    assert not is_temporary_file(name)


def test_sizes_use_decimal_and_binary_units() -> None:
    assert parse_size("20MB") == 20_000_000
    assert parse_size("500KiB") == 512_000
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size(1024) == 1024
    with pytest.raises(ValueError, match="not a size"):
        parse_size("20 parsecs")


# -- the pack format --------------------------------------------------------------------


def test_element_rules_must_name_apps_with_identifiers_and_a_role() -> None:
    bad = PACK.replace(
        "app: outlook, on: invoke, element: {role: button, name: [",
        "on: invoke, element: {name: [",
        1,
    )
    bad = bad.replace("  word: {windows: [winword.exe]}", "  word: {}")
    with pytest.raises(PackError) as err:
        load_pack_text(bad, "p.yaml")
    text = str(err.value)
    assert "p.yaml:10:11: rules[1].when: an element rule must name the apps it watches" in text
    assert "missing the required key 'role'" in text
    assert "apps.word lists no identifiers" in text


def test_a_file_rule_needs_a_folder_and_element_keys_need_event_element() -> None:
    bad = PACK.replace(
        "{event: file, folder: [desktop, downloads], type: presentation,",
        "{event: file, on: focus, type: presentation,",
    )
    with pytest.raises(PackError, match=r"event file needs 'folder'") as err:
        load_pack_text(bad, "p.yaml")
    assert "only applies to event: element" in str(err.value)


# -- the watchlist: what a source may read -----------------------------------------------


def test_the_watchlist_names_only_the_apps_of_element_rules() -> None:
    w = Watchlist(pack(), "windows")
    assert w.has_element_rules and w.has_file_rules
    assert w.watches("outlook.exe") and w.watches("OUTLOOK") and w.watches("WinWord.exe")
    assert not w.watches("excel.exe") and not w.watches("mailapp")  # a Linux id on Windows
    assert w.roles("outlook.exe", "invoke") == {"button"}
    assert w.roles("winword.exe", "invoke") == frozenset()
    assert w.folders == {"desktop", "downloads", "synced"}
    assert Watchlist(None).has_element_rules is False


def test_names_are_read_only_when_a_selector_of_that_role_uses_names() -> None:
    w = Watchlist(pack(), "windows")
    assert w.needs_name("outlook.exe", "invoke", "button")
    assert not w.needs_name("outlook.exe", "focus", "edit")  # matched on automation_id only
    assert not w.needs_name("outlook.exe", "invoke", "edit")  # no selector for edit fields
    assert not w.needs_name("outlook.exe", "invoke", "password")
    assert w.uses_windows("winword.exe")


def test_matching_folds_case_and_checks_every_part_of_a_selector() -> None:
    w = Watchlist(pack(), "windows")
    [attach] = w.match("outlook.exe", "invoke", "button", "allega FILE")
    assert attach.startswith("el-")
    assert w.match("outlook.exe", "invoke", "button", "Attach") == frozenset()
    assert w.match("outlook.exe", "invoke", "password", "Attach File") == frozenset()
    assert w.match("outlook.exe", "focus", "edit", None, "subjectBox")
    assert not w.match("outlook.exe", "focus", "edit", None, "toBox")
    assert w.match("winword.exe", "window_open", "dialog", "x", None, "dialog", "Save As")
    assert not w.match("winword.exe", "window_open", "dialog", "x", None, "dialog", "Print")
    assert w.size_reached(25_000_000) == 20_000_000 and w.size_reached(5) == 0


def test_selector_ids_are_stable_and_content_addressed() -> None:
    rule = pack().rules[0]
    assert rule.when.element is not None
    assert selector_id("invoke", rule.when.element) == selector_id("invoke", rule.when.element)
    assert selector_id("invoke", rule.when.element) != selector_id("focus", rule.when.element)


# -- what leaves a source ---------------------------------------------------------------


def test_an_element_event_carries_ids_role_and_app_but_no_name() -> None:
    w = Watchlist(pack(), "windows")
    seen = ElementSeen("OUTLOOK.EXE", "invoke", "button", "Attach File", "btnAttach")
    event = element_event(T0, seen, w)
    assert event is not None and event.role == "button" and event.app == "OUTLOOK.EXE"
    assert "Attach" not in repr(event) and "btnAttach" not in repr(event)
    assert element_event(T0, ElementSeen("OUTLOOK.EXE", "invoke", "button", "Send"), w) is None


def test_inspect_prints_a_selector_but_never_private_roles_or_passwords() -> None:
    line = inspect_line(ElementSeen("outlook.exe", "invoke", "button", "Attach: File", "a1",
                                    "window", "Inbox"))  # fmt: skip
    assert line == (
        'outlook.exe  invoke      {role: button, name: "Attach: File", automation_id: a1}'
        "   window: {role: window, title: Inbox}"
    )
    assert inspect_line(ElementSeen("outlook.exe", "focus", "password", "PIN")) is None
    assert inspect_line(ElementSeen("outlook.exe", "focus", "edit", "Subject")) is None


# -- OS decoders ----------------------------------------------------------------------------


def test_uia_control_types_decode_to_roles() -> None:
    assert role_of_control_type(50000) == "button"
    assert role_of_control_type(50004, is_password=True) == "password"
    assert role_of_control_type(50032, class_name="#32770") == "dialog"
    assert role_of_control_type(50032, is_dialog=True) == "dialog"
    assert role_of_control_type(50032) == "window"
    assert role_of_control_type(50099) == "other"
    assert element_event_of_winevent(EVENT_OBJECT_INVOKED) == "invoke"
    assert element_event_of_winevent(EVENT_OBJECT_FOCUS) == "focus"
    assert element_event_of_winevent(EVENT_SYSTEM_DIALOGSTART) == "window_open"
    assert element_event_of_winevent(0x800C) is None


def test_ax_roles_decode_to_roles() -> None:
    assert role_of_ax("AXButton") == "button"
    assert role_of_ax("AXTextField", "AXSecureTextField") == "password"
    assert role_of_ax("AXWindow", "AXDialog") == "dialog"
    assert role_of_ax("AXWindow", "AXStandardWindow") == "window"
    assert role_of_ax("AXRadioButton", "AXTabButton") == "tab"
    assert role_of_ax(None) == "other"


def test_xdg_user_dirs_and_synced_folder_settings_are_read() -> None:
    home = Path("/home/ana")
    text = (
        '# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Scrivania"\n'
        'XDG_DOWNLOAD_DIR="$HOME/"\nXDG_DOCUMENTS_DIR="/data/docs"\n'
    )
    assert parse_user_dirs(text, home) == {
        "desktop": home / "Scrivania",
        "documents": Path("/data/docs"),
    }  # an empty $HOME/ disables Downloads
    env = {"OneDrive": "C:\\Users\\ana\\OneDrive - Acme", "HOME": "/home/ana"}
    assert synced_folder("%OneDrive%", env) == Path("C:\\Users\\ana\\OneDrive - Acme")
    assert synced_folder("~/OneDrive", env) == Path("/home/ana/OneDrive")
    assert synced_folder("$HOME/Sync", env) == Path("/home/ana/Sync")
    assert synced_folder("  ", env) is None


# -- the engine -------------------------------------------------------------------------------


def _attach(w: Watchlist, t: float, name: str = "Attach File") -> Element:
    event = element_event(t, ElementSeen("outlook.exe", "invoke", "button", name), w)
    assert event is not None
    return event


def test_element_rules_count_and_adopt_like_any_trigger() -> None:
    e, w = engine(), Watchlist(pack(), "windows")
    e.handle(Focus(T0, "outlook.exe", "Inbox"))
    assert decisions_of(e.handle(_attach(w, T0 + 1))) == []  # count: 1 of 2
    [shown] = decisions_of(e.handle(_attach(w, T0 + 2)))
    assert (shown.decision, shown.rule) == ("show", "attach")
    [adopted] = decisions_of(e.handle(_attach(w, T0 + 3, "Share link")))
    assert (adopted.decision, adopted.habit) == ("adopted", "attach")


def test_an_element_of_another_app_does_not_match_even_with_the_same_selector() -> None:
    e, w = engine(), Watchlist(pack(), "windows")
    seen = ElementSeen("outlook.exe", "invoke", "button", "Attach File")
    event = element_event(T0, seen, w)
    assert event is not None
    foreign = Element(T0 + 1, "excel.exe", "invoke", "button", event.selectors)
    assert decisions_of(e.handle(foreign)) == []


def test_file_rules_match_folder_type_and_size_threshold() -> None:
    e = engine()
    assert decisions_of(e.handle(FileSaved(T0, "desktop", "presentation", 0))) == []
    assert decisions_of(e.handle(FileSaved(T0 + 1, "documents", "presentation", 20_000_000))) == []
    [shown] = decisions_of(e.handle(FileSaved(T0 + 2, "downloads", "presentation", 20_000_000)))
    assert shown.rule == "big-deck"
    [adopted] = decisions_of(e.handle(FileSaved(T0 + 3, "synced", "document", 0)))
    assert adopted.habit == "big-deck"


def test_replay_lines_for_elements_and_files_go_through_the_same_matching() -> None:
    script = parse_script(
        "\n".join(
            [
                '{"header": {"start": "2026-11-30T09:00:00+01:00", "os": "windows"}}',
                '{"t": 1, "kind": "element", "app": "outlook.exe", "on": "invoke", "role": "button", "name": "Attach File"}',  # noqa: E501
                '{"t": 2, "kind": "file", "folder": "desktop", "name": "~$deck.pptx", "size": 30000000}',  # noqa: E501
                '{"t": 3, "kind": "file", "folder": "desktop", "name": "deck.pptx", "size": 30000000}',  # noqa: E501
                '{"t": 4, "kind": "element", "app": "outlook.exe", "on": "click", "role": "button"}',  # noqa: E501
            ]
        ),
        "day.jsonl",
        pack=pack(),
    )
    kinds = [type(item.event).__name__ for item in script.events]
    assert kinds == ["Element", "FileSaved"]  # the lock file line is skipped like the source
    element, saved = (item.event for item in script.events)
    assert isinstance(element, Element) and element.selectors
    assert "Attach" not in repr(element)
    assert saved == FileSaved(saved.t, "desktop", "presentation", 20_000_000)
    assert script.problems == [
        "day.jsonl:5: element needs 'on': one of focus, invoke, window_open, menu_open"
    ]
