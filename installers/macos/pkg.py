"""The macOS flat pkg of Waymark.app, built on Linux: ``make pkg``.

    python -m installers.macos.pkg --app path/to/Waymark.app [--version 0.1.0] [--out dist]

A flat product archive is a xar archive (written here with ``bsdtar --format
xar``, Debian ``libarchive-tools``) holding:

- ``Distribution``: the product (title, ``hostArchitectures="x86_64,arm64"``,
  the minimum macOS, one choice with one package);
- ``waymark.pkg/PackageInfo``: identifier ``org.waymark.agent.pkg``, version,
  install location ``/``, the payload's size, the postinstall script, and
  the app bundle (not relocatable: it always goes to /Applications);
- ``waymark.pkg/Bom``: every payload path with mode, owner and checksum
  (:mod:`installers.macos.bom`);
- ``waymark.pkg/Payload``: a gzip'd cpio archive (odc) of
  ``./Applications/Waymark.app`` and
  ``./Library/LaunchAgents/org.waymark.agent.plist``, every entry owned by
  0:80 (root:admin) as Apple's packages are;
- ``waymark.pkg/Scripts``: a gzip'd cpio archive of ``postinstall``, which
  starts the agent in the logged-in console user's ``gui/<uid>`` domain now
  (launchd starts it at every later login), and does nothing when the target
  is not the boot volume or nobody is logged in.

The pkg is unsigned: the release pipeline's macOS job signs it with
``productsign`` and notarises it (``xcrun notarytool``), which need macOS.
"""

from __future__ import annotations

import argparse
import gzip
import os
import plistlib
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from installers.macos.app_bundle import BUNDLE_ID, MIN_MACOS
from installers.macos.bom import BomEntry, bom_bytes, entries_from_tree

__all__ = [
    "PACKAGE_ID",
    "build_pkg",
    "distribution_xml",
    "odc_cpio",
    "package_info_xml",
    "trim_xar",
]

PACKAGE_ID: Final = "org.waymark.agent.pkg"
HERE: Final = Path(__file__).resolve().parent
LAUNCH_AGENT: Final = HERE / "org.waymark.agent.plist"
POSTINSTALL: Final = HERE / "scripts" / "postinstall"
ROOT_UID, ADMIN_GID = 0, 80


def _odc_header(entry: BomEntry, ino: int, name: bytes, size: int) -> bytes:
    fields = (
        b"070707",
        b"%06o" % 0,  # dev
        b"%06o" % (ino & 0o777777),
        b"%06o" % entry.st_mode,
        b"%06o" % entry.uid,
        b"%06o" % entry.gid,
        b"%06o" % (2 if entry.kind == "dir" else 1),  # nlink
        b"%06o" % 0,  # rdev
        b"%011o" % entry.mtime,
        b"%06o" % (len(name) + 1),
        b"%011o" % size,
    )
    return b"".join(fields) + name + b"\0"


def odc_cpio(root: Path, entries: Iterable[BomEntry]) -> bytes:
    """A cpio archive in the portable "odc" format of ``entries`` (paths relative to ``root``)."""
    out = bytearray()
    for ino, e in enumerate(entries, start=1):
        name = e.path.encode("utf-8")
        if e.kind == "file":
            data = (root / e.path).read_bytes()
        elif e.kind == "link":
            data = e.link_target.encode("utf-8")
        else:
            data = b""
        out += _odc_header(e, ino, name, len(data)) + data
    trailer = BomEntry("TRAILER!!!", "file", 0, 0, 0, 0)
    out += _odc_header(trailer, 0, b"TRAILER!!!", 0)
    return bytes(out)


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same input gives the same bytes.
    return gzip.compress(data, compresslevel=9, mtime=0)


def package_info_xml(version: str, entries: Sequence[BomEntry]) -> str:
    """The component package's ``PackageInfo``."""
    files = sum(1 for e in entries if e.kind != "dir")
    kbytes = (sum(e.size for e in entries) + 1023) // 1024
    app = "./Applications/Waymark.app"
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<pkg-info format-version="2" identifier={quoteattr(PACKAGE_ID)} '
            f'version={quoteattr(version)} install-location="/" auth="root" '
            'overwrite-permissions="false" relocatable="false">',
            f'    <payload installKBytes="{kbytes}" numberOfFiles="{files}"/>',
            "    <scripts>",
            '        <postinstall file="./postinstall"/>',
            "    </scripts>",
            "    <bundle-version>",
            f"        <bundle id={quoteattr(BUNDLE_ID)} CFBundleIdentifier={quoteattr(BUNDLE_ID)} "
            f"path={quoteattr(app)} CFBundleShortVersionString={quoteattr(version)} "
            f"CFBundleVersion={quoteattr(version)}/>",
            "    </bundle-version>",
            "</pkg-info>",
            "",
        ]
    )


def distribution_xml(version: str, install_kbytes: int) -> str:
    """The product's ``Distribution`` (one choice, one package, both architectures)."""
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<installer-gui-script minSpecVersion="2">',
            f"    <title>{escape('Waymark')}</title>",
            "    <organization>org.waymark</organization>",
            '    <options customize="never" require-scripts="false" '
            'hostArchitectures="x86_64,arm64"/>',
            '    <domains enable_anywhere="false" enable_currentUserHome="false" '
            'enable_localSystem="true"/>',
            "    <volume-check>",
            "        <allowed-os-versions>",
            f'            <os-version min="{MIN_MACOS}"/>',
            "        </allowed-os-versions>",
            "    </volume-check>",
            "    <choices-outline>",
            '        <line choice="default">',
            f"            <line choice={quoteattr(PACKAGE_ID)}/>",
            "        </line>",
            "    </choices-outline>",
            '    <choice id="default"/>',
            f'    <choice id={quoteattr(PACKAGE_ID)} visible="false">',
            f"        <pkg-ref id={quoteattr(PACKAGE_ID)}/>",
            "    </choice>",
            f"    <pkg-ref id={quoteattr(PACKAGE_ID)} version={quoteattr(version)} "
            f'onConclusion="none" installKBytes="{install_kbytes}">#waymark.pkg</pkg-ref>',
            f'    <product id="{BUNDLE_ID}" version={quoteattr(version)}/>',
            "</installer-gui-script>",
            "",
        ]
    )


def trim_xar(path: Path) -> None:
    """Cut what follows the last file's data in a xar archive.

    libarchive 3.6's xar writer appends 20 stray bytes after the heap (7-Zip
    then warns "There are data after the end of archive"); the archive's real
    end is the header, the compressed TOC and the heap extents it lists.
    """
    data = path.read_bytes()
    magic, header_size, _, toc_compressed, _, _ = struct.unpack(">4sHHQQI", data[:28])
    if magic != b"xar!":
        raise ValueError(f"{path} is not a xar archive")
    toc = zlib.decompress(data[header_size : header_size + toc_compressed]).decode("utf-8")
    import xml.etree.ElementTree as ET

    tree = ET.fromstring(toc)
    ends = [
        int(el.findtext("offset", "0")) + int(el.findtext("length") or el.findtext("size") or 0)
        for el in tree.iter()
        if el.tag in ("data", "checksum") and el.find("offset") is not None
    ]
    end = header_size + toc_compressed + max(ends, default=0)
    if end < len(data):
        path.write_bytes(data[:end])


def _bsdtar() -> str:
    found = shutil.which("bsdtar")
    tar = shutil.which("tar")
    if found is None and tar is not None:  # macOS: tar is bsdtar
        version = subprocess.run([tar, "--version"], capture_output=True, text=True).stdout
        found = tar if "bsdtar" in version else None
    if found is None:
        raise RuntimeError(
            "bsdtar is not installed: apt-get install libarchive-tools "
            "(scripts/bootstrap-debian.sh installs it when run as root)"
        )
    return found


def build_pkg(app: Path, out: Path, version: str, *, mtime: int | None = None) -> Path:
    """Build the flat pkg of ``app`` (a Waymark.app folder) as ``out``."""
    info = app / "Contents" / "Info.plist"
    if not info.is_file():
        raise ValueError(f"{app} has no Contents/Info.plist: not a macOS app bundle")
    bundle_id = plistlib.loads(info.read_bytes()).get("CFBundleIdentifier")
    if bundle_id != BUNDLE_ID:
        raise ValueError(f"{app} is {bundle_id!r}, not the Waymark bundle {BUNDLE_ID!r}")
    if mtime is None and os.environ.get("SOURCE_DATE_EPOCH"):
        mtime = int(os.environ["SOURCE_DATE_EPOCH"])
    bsdtar = _bsdtar()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="waymark-pkg-") as tmp:
        work = Path(tmp)
        root = work / "root"
        (root / "Applications").mkdir(parents=True)
        (root / "Library" / "LaunchAgents").mkdir(parents=True)
        shutil.copytree(app, root / "Applications" / "Waymark.app", symlinks=True)
        agent = root / "Library" / "LaunchAgents" / LAUNCH_AGENT.name
        shutil.copyfile(LAUNCH_AGENT, agent)
        agent.chmod(0o644)  # launchd refuses a group- or world-writable job
        for folder in (root, root / "Library", root / "Library" / "LaunchAgents"):
            folder.chmod(0o755)
        (root / "Applications").chmod(0o775)  # as on macOS: root:admin 775

        entries = entries_from_tree(root, uid=ROOT_UID, gid=ADMIN_GID, mtime=mtime)
        scripts = work / "scripts"
        scripts.mkdir()
        shutil.copyfile(POSTINSTALL, scripts / "postinstall")
        (scripts / "postinstall").chmod(0o755)
        script_entries = entries_from_tree(scripts, uid=ROOT_UID, gid=ADMIN_GID, mtime=mtime)

        flat = work / "flat"
        component = flat / "waymark.pkg"
        component.mkdir(parents=True)
        (component / "Payload").write_bytes(_gzip(odc_cpio(root, entries)))
        (component / "Scripts").write_bytes(_gzip(odc_cpio(scripts, script_entries)))
        (component / "Bom").write_bytes(bom_bytes(entries))
        (component / "PackageInfo").write_text(package_info_xml(version, entries), encoding="utf-8")
        kbytes = (sum(e.size for e in entries) + 1023) // 1024
        (flat / "Distribution").write_text(distribution_xml(version, kbytes), encoding="utf-8")

        built = work / out.name
        args = [bsdtar, "--format", "xar", "--options", "xar:compression=none",
                "--uid", "0", "--gid", "0", "--uname", "root", "--gname", "wheel",
                "-cf", str(built), "-C", str(flat), "Distribution", "waymark.pkg"]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"bsdtar could not write the xar archive: {done.stderr}")
        trim_xar(built)
        shutil.move(built, out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from agent import __version__

    parser = argparse.ArgumentParser(
        prog="python -m installers.macos.pkg",
        description="Build the Waymark flat pkg from Waymark.app (Bom, cpio Payload, xar).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--app", type=Path, help="Waymark.app, as PyInstaller built it on macOS")
    source.add_argument(
        "--standin", action="store_true", help="build a stand-in Waymark.app here and wrap it"
    )
    parser.add_argument("--version", default=__version__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    args = parser.parse_args(argv)
    name = f"waymark-{args.version}.pkg"
    with tempfile.TemporaryDirectory(prefix="waymark-standin-") as tmp:
        if args.standin:
            from installers.standin import macos_app

            app = macos_app(Path(tmp), args.version)
            name = f"waymark-{args.version}-standin.pkg"
            print("pkg: STAND-IN payload (not the frozen agent): " + str(app), file=sys.stderr)
        else:
            app = args.app
        try:
            pkg = build_pkg(app, args.out / name, args.version)
        except (RuntimeError, ValueError) as exc:
            print(f"pkg: {exc}", file=sys.stderr)
            return 1
    print(pkg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
