"""A writer of macOS Bill of Materials files (the ``Bom`` of a pkg), since Debian has no mkbom.

The format, as bomutils documents it (``bom.h``): a ``BOMStore`` header, then
named variables pointing at blocks, the blocks themselves, and a block table
of (offset, length) pairs, all big-endian. The ``Paths`` variable is a B-tree
whose leaves list ``(PathInfo1, File)`` block pairs in (parent id, name) order:
``File`` holds the parent's id and the base name, ``PathInfo1`` the path's id
and its ``PathInfo2`` block (type, mode, uid, gid, mtime, size, checksum, link
target). Leaves hold at most 256 pairs, chained forward and backward; with
more than one, a branch node lists each leaf with its last ``File`` as key.
``HLIndex``, ``VIndex`` and ``Size64`` are empty trees, as mkbom writes them.
The checksum is POSIX ``cksum`` (CRC-32, polynomial 0x04C11DB7, with the
length appended). tests/packaging/test_bom.py reads what this writes back with
an independent reader.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = ["BomEntry", "bom_bytes", "cksum", "entries_from_tree"]

LEAF_SIZE: Final = 256  # pairs per leaf, as mkbom
TREE_BLOCK_SIZE: Final = 4096
HEADER_SIZE: Final = 512
TYPE_FILE, TYPE_DIR, TYPE_LINK = 1, 2, 3


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


_CRC: Final = _crc_table()


def cksum(data: bytes) -> int:
    """The POSIX ``cksum`` of ``data`` (what mkbom records per file)."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ b]
    n = len(data)
    while n:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ (n & 0xFF)]
        n >>= 8
    return ~crc & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BomEntry:
    """One path of the payload: ``.`` or ``./Applications/Waymark.app/…``."""

    path: str
    kind: Literal["file", "dir", "link"]
    mode: int  # permission bits (0o755 …); the type bits are added from ``kind``
    uid: int
    gid: int
    mtime: int
    size: int = 0
    checksum: int = 0
    link_target: str = ""

    @property
    def st_mode(self) -> int:
        kind = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "link": stat.S_IFLNK}[self.kind]
        return kind | (self.mode & 0o7777)


def entries_from_tree(
    root: Path, *, uid: int = 0, gid: int = 80, mtime: int | None = None
) -> list[BomEntry]:
    """Every path under ``root`` (``root`` itself as ``.``), owned by ``uid:gid``.

    Files, folders and symbolic links only; ``mtime`` (e.g. SOURCE_DATE_EPOCH)
    replaces the files' own times when given. Parents come before children.
    """

    def entry(path: Path, rel: str) -> BomEntry:
        st = path.lstat()
        when = int(st.st_mtime) if mtime is None else mtime
        perms = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            data = target.encode("utf-8")
            return BomEntry(rel, "link", perms, uid, gid, when, len(data), cksum(data), target)
        if stat.S_ISDIR(st.st_mode):
            return BomEntry(rel, "dir", perms, uid, gid, when)
        if stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
            return BomEntry(rel, "file", perms, uid, gid, when, len(data), cksum(data))
        raise ValueError(f"{path}: only files, folders and symbolic links can go into a pkg")

    out = [entry(root, ".")]

    def walk(folder: Path, rel: str) -> None:
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            child_rel = f"{rel}/{child.name}"
            out.append(entry(child, child_rel))
            if child.is_dir() and not child.is_symlink():
                walk(child, child_rel)

    walk(root, ".")
    return out


class _Store:
    def __init__(self) -> None:
        self.blocks: list[bytes] = [b""]  # block 0 is the null block

    def add(self, data: bytes) -> int:
        self.blocks.append(data)
        return len(self.blocks) - 1

    def set(self, index: int, data: bytes) -> None:
        self.blocks[index] = data


def _tree(child: int, path_count: int, block_size: int = TREE_BLOCK_SIZE) -> bytes:
    return b"tree" + struct.pack(">IIIIB", 1, child, block_size, path_count, 0)


def _paths_node(
    is_leaf: bool, pairs: Sequence[tuple[int, int]], fwd: int = 0, back: int = 0
) -> bytes:
    head = struct.pack(">HHII", 1 if is_leaf else 0, len(pairs), fwd, back)
    return head + b"".join(struct.pack(">II", a, b) for a, b in pairs)


def bom_bytes(entries: Iterable[BomEntry]) -> bytes:
    """The Bom file describing ``entries`` (as :func:`entries_from_tree` returns them)."""
    given = list(entries)
    if not given or given[0].path != ".":
        raise ValueError('the first entry must be the payload root "."')
    by_path = {e.path: e for e in given}
    children: dict[str, list[BomEntry]] = {}
    for e in given[1:]:
        parent_path = e.path.rsplit("/", 1)[0]
        if parent_path not in by_path:
            raise ValueError(f"{e.path}: its folder {parent_path} is not in the Bom")
        children.setdefault(parent_path, []).append(e)
    # Ids in breadth-first order, children by name, as mkbom numbers them: the Paths
    # leaves, keyed by (parent id, name), then list the paths in id order.
    items = [given[0]]
    for e in items:  # the list grows while it is walked: a queue
        items += sorted(children.get(e.path, []), key=lambda c: c.path.encode("utf-8"))
    ids = {e.path: i + 1 for i, e in enumerate(items)}
    store = _Store()
    keyed: list[tuple[int, str, int, int]] = []  # (parent id, name, PathInfo1, File)
    for e in items:
        if e.path == ".":
            parent, name = 0, "."
        else:
            parent_path, name = e.path.rsplit("/", 1)
            parent = ids[parent_path]
        link = e.link_target.encode("utf-8") + b"\0" if e.kind == "link" else b""
        kind = {"file": TYPE_FILE, "dir": TYPE_DIR, "link": TYPE_LINK}[e.kind]
        info2 = struct.pack(
            ">BBHHIIIIBII", kind, 1, 3, e.st_mode, e.uid, e.gid, e.mtime, e.size, 1,
            e.checksum, len(link),
        ) + link  # fmt: skip
        info2_block = store.add(info2)
        info1_block = store.add(struct.pack(">II", ids[e.path], info2_block))
        file_block = store.add(struct.pack(">I", parent) + name.encode("utf-8") + b"\0")
        keyed.append((parent, name, info1_block, file_block))
    keyed.sort(key=lambda k: (k[0], k[1].encode("utf-8")))
    pairs = [(info1, file) for _, _, info1, file in keyed]

    chunks = [pairs[i : i + LEAF_SIZE] for i in range(0, len(pairs), LEAF_SIZE)]
    leaves = [store.add(b"") for _ in chunks]
    for n, (leaf, chunk) in enumerate(zip(leaves, chunks, strict=True)):
        fwd = leaves[n + 1] if n + 1 < len(leaves) else 0
        back = leaves[n - 1] if n > 0 else 0
        store.set(leaf, _paths_node(True, chunk, fwd, back))
    if len(leaves) == 1:
        root_node = leaves[0]
    else:
        branch = [(leaf, chunk[-1][1]) for leaf, chunk in zip(leaves, chunks, strict=True)]
        root_node = store.add(_paths_node(False, branch))

    info = struct.pack(">III", 1, len(items) + 1, 1) + struct.pack(">IIII", 0, 0, 0, 0)
    variables = [
        ("BomInfo", store.add(info)),
        ("Paths", store.add(_tree(root_node, len(items)))),
        ("HLIndex", store.add(_tree(store.add(_paths_node(True, [])), 0))),
    ]
    vtree = store.add(_tree(store.add(_paths_node(True, [])), 0, 128))
    variables.append(("VIndex", store.add(struct.pack(">IIIB", 1, vtree, 0, 0))))
    variables.append(("Size64", store.add(_tree(store.add(_paths_node(True, [])), 0))))

    var_bytes = struct.pack(">I", len(variables)) + b"".join(
        struct.pack(">IB", index, len(name)) + name.encode("ascii") for name, index in variables
    )
    offset = HEADER_SIZE + len(var_bytes)
    table = [struct.pack(">II", 0, 0)]
    for block in store.blocks[1:]:
        table.append(struct.pack(">II", offset, len(block)))
        offset += len(block)
    free_list = struct.pack(">I", 0) + struct.pack(">IIII", 0, 0, 0, 0)
    index = struct.pack(">I", len(store.blocks)) + b"".join(table) + free_list
    header = b"BOMStore" + struct.pack(
        ">IIIIII", 1, len(store.blocks) - 1, offset, len(index), HEADER_SIZE, len(var_bytes)
    )
    return header.ljust(HEADER_SIZE, b"\0") + var_bytes + b"".join(store.blocks) + index
