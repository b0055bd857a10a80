"""The agent's reading of ``Waymark-Pack-Withheld`` (docs/api.md): said, never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.sync.client import withheld_notice
from agent.sync.packs import SyncedPacks, stored_withheld


@pytest.mark.parametrize(
    ("header", "notice"),
    [
        ("m365-habits 7 rollout", "this device is not in the rollout of m365-habits v7"),
        ("m365-habits 8 groups",
         "this device is in none of the groups m365-habits v8 is limited to"),
        ("m365-habits 9 paused", "the server withholds m365-habits v9 from this device (paused)"),
        (None, None), ("", None), ("m365-habits seven rollout", None), ("a b", None),
        ("a 1 rollout extra", None), ("x" * 300 + " 1 rollout", None),
    ],
)  # fmt: skip
def test_the_withheld_header_is_said_for_a_person(header: str | None, notice: str | None) -> None:
    assert withheld_notice(header) == notice


def test_the_last_notice_is_kept_for_doctor_and_cleared_when_the_server_says_nothing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "sync"
    packs = SyncedPacks(folder)
    assert stored_withheld(folder) is None
    packs.remember_withheld("this device is not in the rollout of m365-habits v7")
    assert stored_withheld(folder) == "this device is not in the rollout of m365-habits v7"
    assert SyncedPacks(folder).withheld == stored_withheld(folder)
    packs.remember_withheld(None)
    assert stored_withheld(folder) is None
    # A state file of the wrong shape: doctor reads nothing, the store sets it aside.
    (folder / "state.json").write_text(json.dumps({"withheld": 7}))
    assert stored_withheld(folder) is None
