"""The Bom writer (installers/macos/bom.py), read back by an independent reader.

The reader is pyapplebom (a dev dependency): Python bindings of the Rust
``apple-bom`` crate from apple-platform-rs, written by other people from
Apple's format, not from our writer. ``cksum`` is checked against coreutils'.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pyapplebom
import pytest

from installers.macos.bom import LEAF_SIZE, BomEntry, bom_bytes, cksum, entries_from_tree


def read_back(data: bytes) -> dict[str, dict[str, Any]]:
    parsed = pyapplebom.parse_bom(data, include_blocks=False)
    assert not parsed["parse_errors"], parsed["parse_errors"]
    return {p["path"]: p for p in parsed["paths"]}


def test_cksum_matches_coreutils(tmp_path: Path) -> None:
    tool = shutil.which("cksum")
    assert tool, "coreutils' cksum is missing"
    for i, data in enumerate([b"", b"a", b"hello world\n", bytes(range(256)) * 300]):
        f = tmp_path / f"f{i}"
        f.write_bytes(data)
        out = subprocess.run([tool, str(f)], capture_output=True, text=True, check=True).stdout
        assert cksum(data) == int(out.split()[0]), data[:20]


def test_every_path_reads_back_with_its_type_mode_owner_size_and_checksum(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "Applications" / "Waymark.app" / "Contents" / "MacOS").mkdir(parents=True)
    exe = root / "Applications" / "Waymark.app" / "Contents" / "MacOS" / "waymark"
    exe.write_bytes(b"#!/bin/sh\necho hi\n")
    exe.chmod(0o755)
    info = root / "Applications" / "Waymark.app" / "Contents" / "Info.plist"
    info.write_bytes(b"<plist/>")
    info.chmod(0o644)
    (root / "Applications" / "Waymark.app" / "Contents" / "Resources").symlink_to("MacOS")
    entries = entries_from_tree(root, uid=0, gid=80, mtime=1_700_000_000)
    paths = read_back(bom_bytes(entries))
    assert set(paths) == {e.path for e in entries}
    assert paths["."]["path_type"] == "directory"
    waymark = paths["./Applications/Waymark.app/Contents/MacOS/waymark"]
    assert waymark["path_type"] == "file"
    assert waymark["file_mode"] == stat.S_IFREG | 0o755
    assert (waymark["user_id"], waymark["group_id"]) == (0, 80)
    assert waymark["size"] == len(exe.read_bytes())
    assert waymark["crc32"] == cksum(exe.read_bytes())
    assert waymark["mtime"] == 1_700_000_000
    link = paths["./Applications/Waymark.app/Contents/Resources"]
    assert link["path_type"] == "link"
    assert link["link_name"] == "MacOS"


def test_a_bom_larger_than_one_leaf_lists_every_path_once(tmp_path: Path) -> None:
    entries = [BomEntry(".", "dir", 0o755, 0, 80, 0)]
    entries += [BomEntry("./lib", "dir", 0o755, 0, 80, 0)]
    entries += [
        BomEntry(f"./lib/f{i:04d}.dylib", "file", 0o644, 0, 80, 0, i, i * 7)
        for i in range(3 * LEAF_SIZE + 17)
    ]
    paths = read_back(bom_bytes(entries))
    assert len(paths) == len(entries)
    assert paths["./lib/f0700.dylib"]["size"] == 700
    assert paths["./lib/f0700.dylib"]["crc32"] == 4900


def test_paths_are_numbered_breadth_first_and_listed_by_parent_then_name(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel in ("b/z", "b/a", "a/y/deep"):
        (root / rel).mkdir(parents=True)
    (root / "a" / "file").write_bytes(b"x")
    parsed = pyapplebom.parse_bom(bom_bytes(entries_from_tree(root)), include_blocks=False)
    assert [p["path"] for p in parsed["paths"]] == [
        ".", "./a", "./b", "./a/file", "./a/y", "./b/a", "./b/z", "./a/y/deep",
    ]  # fmt: skip


def test_a_path_without_its_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the Bom"):
        bom_bytes(
            [BomEntry(".", "dir", 0o755, 0, 80, 0), BomEntry("./a/b", "file", 0o644, 0, 80, 0)]
        )
