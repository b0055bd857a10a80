"""The frozen builds' lock file (installers/requirements-frozen.txt, `make lock`) and its SBOM.

Every dependency of the agent in pyproject.toml is pinned there with hashes, for every
OS the release pipeline builds on, and cyclonedx-py turns it into a CycloneDX SBOM that
names each pinned package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "installers" / "requirements-frozen.txt"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    """``{name: version}`` of the lock (several lines for one name differ only by markers)."""
    text = LOCK.read_text(encoding="utf-8")
    requirements = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    out = {}
    for req in requirements:
        if not req.strip() or req.lstrip().startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9_.-]+)==([^ ;\\]+)", req)
        assert match, f"not pinned with ==: {req.splitlines()[0]}"
        assert "--hash=sha256:" in req, f"no hash for {match.group(1)}"
        out[_norm(match.group(1))] = match.group(2)
    return out


def test_every_agent_dependency_and_build_tool_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = pinned()
    for requirement in project["dependencies"]:
        name = _norm(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])
        assert name in locked, f"{name} (pyproject.toml) is not in the lock: run make lock"
    for tool in ("pyinstaller", "setuptools", "wheel"):
        assert tool in locked
    # The backends pynput needs on macOS and keyring's on Windows come with their markers.
    text = LOCK.read_text(encoding="utf-8")
    assert re.search(r"^pyobjc-framework-quartz==\S+ ; sys_platform == 'darwin'", text, re.M)
    assert re.search(r"^pywin32-ctypes==\S+ ; sys_platform == 'win32'", text, re.M)


def test_the_sbom_names_every_locked_package(tmp_path: Path) -> None:
    tool = shutil.which("cyclonedx-py") or str(Path(sys.executable).with_name("cyclonedx-py"))
    out = tmp_path / "sbom.cdx.json"
    done = subprocess.run([tool, "requirements", str(LOCK), "--of", "JSON", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    sbom = json.loads(out.read_text(encoding="utf-8"))
    assert sbom["bomFormat"] == "CycloneDX"
    components = {_norm(c["name"]): c["version"] for c in sbom["components"]}
    assert components == pinned()
