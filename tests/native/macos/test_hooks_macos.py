"""The macOS hook classes against the real desktop (run by the release pipeline and ci.yml).

An app activated with ``open -a`` is reported by NSWorkspace through the focus source with
its bundle id; Quartz's idle counter (CGEventSourceSecondsSinceLastEventType) crosses a
threshold and the idle source says so.
"""

from __future__ import annotations

import subprocess

from agent.events import Focus, Idle
from agent.hooks.focus_macos import MacFocusSource
from agent.hooks.idle import IdleSource
from agent.hooks.idle_macos import open_macos_idle, seconds_since_input
from tests.native.conftest import Recorder


def activate(app: str) -> None:
    subprocess.run(["open", "-a", app], check=True, timeout=60)


def test_nsworkspace_activation_reaches_the_focus_source_with_the_bundle_id() -> None:
    recorder = Recorder()
    source = MacFocusSource()
    source.start(recorder.emit)
    try:
        assert source.alive() and source.state().ok
        activate("TextEdit")
        recorder.wait_for(
            lambda e: isinstance(e, Focus) and e.app == "com.apple.textedit", 30, "TextEdit focus"
        )
        activate("Finder")
        recorder.wait_for(
            lambda e: isinstance(e, Focus) and e.app == "com.apple.finder", 30, "Finder focus"
        )
    finally:
        source.stop()
        subprocess.run(["osascript", "-e", 'quit app "TextEdit"'], timeout=60)
    assert not source.alive()


def test_quartz_idle_time_crosses_a_threshold() -> None:
    first = seconds_since_input()
    assert first is not None and first >= 0
    recorder = Recorder()
    threshold = first + 1.5  # a CI Mac has no one at the keyboard: idle only grows
    source = IdleSource(open_macos_idle, thresholds=[threshold], how="Quartz")
    source.start(recorder.emit)
    try:
        idle = recorder.wait_for(lambda e: isinstance(e, Idle), 15, "an Idle event")
        assert idle.seconds >= threshold
    finally:
        source.stop()
