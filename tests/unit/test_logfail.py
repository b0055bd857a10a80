"""The strict harness: an undeclared WARNING fails the test, a declared one does not."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

BODY = """
import logging, threading
import pytest

def test_undeclared_warning_from_another_thread():
    t = threading.Thread(target=lambda: logging.getLogger("agent.x").warning("canary-7"))
    t.start(); t.join()

@pytest.mark.allow_log("canary-8")
def test_declared_error():
    logging.getLogger("agent.y").error("canary-8 seen")

def test_info_is_fine():
    logging.getLogger("agent.z").info("nothing to see")
"""


def test_the_harness_fails_a_test_on_an_undeclared_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest("from tests.helpers.logfail import log_fail  # noqa: F401\n")
    pytester.makeini("[pytest]\nmarkers =\n    allow_log(*patterns): expected log records\n")
    pytester.makepyfile(test_sample=BODY)
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("PYTHONPATH", str(root))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*agent.x: canary-7*"])


@pytest.mark.allow_log("engine failed on Focus")
def test_a_declared_record_passes() -> None:
    worker = threading.Thread(
        target=lambda: logging.getLogger("agent.rules.runtime").error("engine failed on Focus")
    )
    worker.start()
    worker.join()
