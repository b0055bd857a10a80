"""`waymark inspect` on a real AT-SPI session: selectors printed, private ones not, no files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devtools.waiting import stop_process
from tests.a11y_session import a11y_session
from tests.xserver import XServer, wait_for, xdotool

pytestmark = pytest.mark.x11


def test_inspect_prints_selectors_to_paste_and_nothing_private(
    xserver: XServer, tmp_path: Path
) -> None:
    canary = "Okapi-canary-2207"
    home = tmp_path / "home"
    home.mkdir()
    with a11y_session(xserver) as session:
        env = {**session.env, "HOME": str(home), "WAYMARK_DATA_DIR": str(tmp_path / "data")}
        inspect = subprocess.Popen(
            [sys.executable, "-m", "agent", "inspect", "--app", "mailapp", "--seconds", "60"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert inspect.stdout is not None and inspect.stderr is not None
        try:
            assert inspect.stdout.readline().startswith("Inspecting mailapp")
            mail = session.app("mailapp", "Inbox - Mail")
            mail.activate()
            mail.click("subject")
            xdotool(xserver, "type", "--delay", "5", canary)
            mail.click("attach")
            lines: list[str] = []

            def printed(text: str) -> bool:
                line = inspect.stdout.readline() if inspect.stdout else ""
                lines.append(line.rstrip("\n"))
                return any(text in seen for seen in lines)

            wait_for(lambda: printed("invoke"), 20, "the invoke line")
        finally:
            inspect.send_signal(2)  # Ctrl+C
            rest, err = inspect.communicate(timeout=15)
            stop_process(inspect, 5)
    lines += rest.splitlines()
    assert inspect.returncode == 0, err
    assert (
        "mailapp  invoke      {role: button, name: Attach File, "
        "automation_id: QApplication.QWidget.attachButton}   window: {role: window, "
        "title: Inbox - Mail}"
    ) in lines
    assert not [line for line in lines if "role: edit" in line or canary.lower() in line.lower()]
    assert canary.lower() not in err.lower()
    assert not (tmp_path / "data").exists()
    assert [p for p in home.rglob("*") if p.is_file()] == []
