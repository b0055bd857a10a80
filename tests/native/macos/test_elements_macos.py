"""The macOS element source against the real desktop (run by the release pipeline and ci.yml).

Without the Accessibility permission (a CI runner has none) the source refuses to start
and says what is missing, as doctor and the UI show it.  With it, an app no rule names
(Finder) is dropped before any read.
"""

from __future__ import annotations

import subprocess

import pytest

from agent.hooks.a11y_macos import MacElementSource
from agent.rules.loader import load_pack_text
from agent.rules.watchlist import Watchlist
from devtools.waiting import wait_for
from tests.native.conftest import Recorder

PACK = """\
waymark: 1
id: native
version: 1
title: Native
apps:
  textedit: {macos: [com.apple.TextEdit]}
rules:
  - id: any-button
    when: {event: element, app: textedit, on: focus, element: {role: edit}}
    toast: {title: {en: a}}
"""


def _trusted() -> bool:
    import ApplicationServices

    return bool(ApplicationServices.AXIsProcessTrusted())


def test_the_source_says_what_is_missing_or_drops_an_app_no_rule_names() -> None:
    source = MacElementSource(Watchlist(load_pack_text(PACK), "macos"))
    if not _trusted():  # a CI runner: the permission cannot be granted without a person
        with pytest.raises(RuntimeError, match="missing permission: Accessibility"):
            source.start(Recorder().emit)
        return
    source.start(Recorder().emit)
    try:
        subprocess.run(["open", "-a", "Finder"], check=True, timeout=60)
        wait_for(lambda: source.dropped > 0, 30, "Finder to be dropped")
        assert source.app_reads == 0
    finally:
        source.stop()
