"""The Debian package of the frozen agent (installers/linux/build-deb.sh).

Built once from the session's frozen bundle, then checked by lintian (only
the tags of installers/linux/lintian-allowed.txt may remain), and installed
for real with dpkg into separate roots (their own dpkg database, so this
machine is untouched), with the maintainer scripts running
(``--force-script-chrootless``, so they see the root as ``$DPKG_ROOT``):
an upgrade from the 0.1.0 package, which had no scripts, an upgrade between
two versions that have them, a removal and a purge, each while a real agent
started from the installed files runs, which the scripts must stop.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from configparser import ConfigParser
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.waiting import stop_process, wait_for
from tests.fakes import FakeJournal

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "installers" / "linux"
BUILD = LINUX / "build-deb.sh"
AUTOSTART = "etc/xdg/autostart/waymark.desktop"
AGENT = "opt/waymark/waymark"
#: Seconds to build and lintian accepts it; releases use xz.
FAST = "-Zgzip -z1"


def dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dpkg", f"--instdir={root}", f"--admindir={root / 'var/lib/dpkg'}",
         "--force-not-root", "--force-script-chrootless", "--force-depends", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def new_root(path: Path) -> Path:
    (path / "var/lib/dpkg/updates").mkdir(parents=True)
    (path / "var/lib/dpkg/info").mkdir()
    (path / "var/lib/dpkg/status").touch()
    return path


def status(root: Path) -> str:
    return dpkg(root, "-s", "waymark").stdout


@pytest.fixture(scope="module")
def deb(frozen: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (not a Debian system)")
    out = tmp_path_factory.mktemp("deb")
    built = subprocess.run(
        ["bash", str(BUILD), str(frozen.parent), str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "DEB_COMPRESS": FAST},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip().splitlines()[-1])


def repack(deb: Path, folder: Path, version: str, *, scripts: bool = True) -> Path:
    """The same package as another version; ``scripts=False``: as 0.1.0 was built (no
    maintainer scripts, no conffiles)."""
    tree = folder / f"tree-{version}"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, timeout=300)
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
    if not scripts:
        for name in ("preinst", "prerm", "conffiles"):
            (tree / "DEBIAN" / name).unlink()
    out = folder / f"waymark_{version}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", *FAST.split(), "-b", str(tree), str(out)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    shutil.rmtree(tree)
    return out


@contextmanager
def running_agent(exe: Path, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The agent ``exe``, headless, until something stops it (it is ready once it
    printed its first decision: its signal handlers are in place by then)."""
    folder.mkdir()
    out = folder / "stdout"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(folder), WAYMARK_POLICY_FILE=str(folder / "no-policy.json"))
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [str(exe), "run", "--headless", "--no-hooks", "--json",
             "--data-dir", str(folder / "data")],
            stdout=stdout, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or out.read_bytes().strip(), 60,
                 "the installed agent's first decision")  # fmt: skip
        assert proc.poll() is None, "the installed agent ended at once"
        yield proc
    finally:
        stop_process(proc, 10)


def assert_asked_to_quit(done: subprocess.CompletedProcess[str], agent: subprocess.Popen[bytes],
                         script: str) -> None:  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"waymark: asking the running agents to quit (pid {agent.pid})" in done.stdout, (
        f"{script} did not stop the agent:\n{done.stdout}{done.stderr}")  # fmt: skip
    # The script waited for it: it is gone by the time dpkg returns, and it quit
    # cleanly (SIGTERM is Quit; a kill would be -9).
    assert agent.poll() == 0


def test_the_deb_carries_docs_conffile_scripts_and_its_libc_dependency(deb: Path) -> None:
    info = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True).stdout
    assert "Package: waymark" in info and "Version: 0.1.0-1" in info
    assert re.search(r"Depends: libc6 \(>= 2\.\d+\), ", info), info
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    for path in ("./opt/waymark/waymark", "./usr/bin/waymark -> /opt/waymark/waymark",
                 f"./{AUTOSTART}", "./usr/share/applications/waymark-settings.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/waymark.png",
                 "./usr/lib/systemd/user/waymark.service", "./usr/share/man/man1/waymark.1.gz",
                 "./usr/lib/systemd/system/waymark-enroll-broker.service",
                 "./usr/share/doc/waymark/policy.example.json",
                 "./usr/share/doc/waymark/admin-guide.md", "./usr/share/doc/waymark/privacy.md",
                 "./usr/share/doc/waymark/replay-format.md", "./usr/share/doc/waymark/copyright",
                 "./usr/share/doc/waymark/changelog.Debian.gz",
                 "./usr/share/doc/waymark/licenses/Python-LICENSE.txt"):  # fmt: skip
        assert path in contents, path
    assert contents.splitlines()[0].startswith("drwxr-xr-x")  # the package's / stays 0755
    libs = [line for line in contents.splitlines()
            if re.search(r"\.so(\.[\d.]+)?$", line) and not line.startswith("l")]  # fmt: skip
    assert libs and all(line.startswith("-rw-r--r--") for line in libs)  # no executable .so
    control = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True,
                             text=True)  # fmt: skip
    assert control.stdout.split() == [f"/{AUTOSTART}"]
    for script in ("preinst", "prerm"):
        text = subprocess.run(["dpkg-deb", "-I", str(deb), script], capture_output=True,
                              text=True).stdout  # fmt: skip
        assert text.startswith("#!/bin/sh") and "stop_waymark_agents()" in text, script
        if shutil.which("shellcheck"):
            checked = subprocess.run(["shellcheck", "-s", "sh", "-"], input=text,
                                     capture_output=True, text=True)  # fmt: skip
            assert checked.returncode == 0, checked.stdout


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's files (dpkg-deb -x), read-only for the tests that look at them."""
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=300)
    return root


def test_the_docs_in_usr_share_doc_are_the_repositorys(unpacked: Path) -> None:
    doc = unpacked / "usr/share/doc/waymark"
    for shipped, source in (("policy.example.json", LINUX / "policy.example.json"),
                            ("admin-guide.md", ROOT / "docs/admin-guide.md"),
                            ("privacy.md", ROOT / "docs/privacy.md"),
                            ("replay-format.md", ROOT / "docs/replay-format.md")):  # fmt: skip
        assert (doc / shipped).read_bytes() == source.read_bytes(), shipped
    example = json.loads((doc / "policy.example.json").read_text())
    assert example["enroll_token"] and example["publisher_keys"]
    assert "teams-for-linux" in example["never_interrupt"]  # Linux app ids (WM_CLASS)


def test_the_copyright_file_is_dep5_and_names_every_bundled_library(unpacked: Path) -> None:
    tmp_path = unpacked
    text = (tmp_path / "usr/share/doc/waymark/copyright").read_text("utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    assert paragraphs[0].startswith(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    )
    files: list[tuple[list[str], str]] = []
    standalone: set[str] = set()
    needed: set[str] = set()
    for para in paragraphs[1:]:
        fields = dict(re.findall(r"(?ms)^([A-Z][\w-]*): (.*?)(?=^[A-Z][\w-]*: |\Z)", para))
        name, *license_text = fields["License"].rstrip().splitlines()
        if "Files" not in fields:
            assert license_text, f"License: {name} without its text"
            standalone.add(name)
            continue
        assert "Copyright" in fields, para[:200]
        files.append((fields["Files"].split(), name))
        if not license_text:  # no text here: each licence it names needs its own paragraph
            needed |= set(re.split(r" and | or ", name))
    assert needed <= standalone, needed - standalone
    assert {"Apache-2.0", "LGPL-3", "PSF-2.0"} <= standalone  # Waymark, Qt/PySide6, Python
    assert files[0] == (["*"], "Apache-2.0")  # Waymark's own
    # The last paragraph a file matches is its licence; no shared object of the bundle
    # may fall through to Waymark's own "*".
    bundle = tmp_path / "opt/waymark"
    for path in bundle.rglob("*"):
        rel = path.relative_to(tmp_path).as_posix()
        if path.is_file() and (".so" in path.name or path.name == "waymark"):
            matched = [lic for patterns, lic in files
                       if any(fnmatch.fnmatchcase(rel, p) for p in patterns)]  # fmt: skip
            assert len(matched) > 1 or rel.endswith("/waymark"), f"{rel} has no paragraph"
    changelog = gzip.decompress((tmp_path / "usr/share/doc/waymark/changelog.Debian.gz")
                                .read_bytes()).decode()  # fmt: skip
    assert changelog.startswith("waymark (0.1.0-1) ")
    assert "\n -- Waymark <support@waymark.example>  " in changelog


def test_lintian_reports_only_the_documented_tags(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.skip("lintian is not installed (scripts/bootstrap-debian.sh)")
    allowed = {}
    for line in (LINUX / "lintian-allowed.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            tag, _, why = line.partition(": ")
            assert why.strip(), f"{tag}: no reason given"
            allowed[tag] = why
    done = subprocess.run(["lintian", "--tag-display-limit", "0", str(deb)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    reported = re.findall(r"(?m)^[EWX]: waymark(?: \w+)?: ([a-z0-9-]+)", done.stdout)
    assert reported, done.stdout + done.stderr  # lintian ran and said something
    unexplained = sorted(set(reported) - set(allowed))
    assert not unexplained, (
        f"lintian tags not in installers/linux/lintian-allowed.txt: {unexplained}\n"
        + "\n".join(line for line in done.stdout.splitlines()
                    if any(t in line for t in unexplained))[:5000]
    )  # fmt: skip
    assert not set(allowed) - set(reported), "no longer reported: delete from the allow-list"
    readme = (ROOT / "installers" / "README.md").read_text()
    assert all(f"`{tag}`" in readme for tag in allowed), "installers/README.md explains each tag"


def unpacked_unit(deb: Path, tmp_path: Path, unit: str) -> tuple[Path, Path, ConfigParser]:
    """The package unpacked into ``tmp_path/root``, one systemd unit in it, and that unit
    parsed."""
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=300)
    parsed = ConfigParser(interpolation=None)
    parsed.read_string((root / unit).read_text())
    return root, root / unit, parsed


def test_the_systemd_user_unit_starts_the_installed_agent_with_the_journal(
    deb: Path, tmp_path: Path
) -> None:
    root, unit, parsed = unpacked_unit(deb, tmp_path, "usr/lib/systemd/user/waymark.service")
    command = parsed["Service"]["ExecStart"].split()
    assert command == ["/usr/bin/waymark", "run", "--log-journal"]
    assert (root / command[0].lstrip("/")).is_symlink()
    assert parsed["Install"]["WantedBy"] == "graphical-session.target"
    assert parsed["Unit"]["PartOf"] == "graphical-session.target"
    # The unit's command, run from the package: its log reaches the journal.
    journal = FakeJournal(tmp_path / "journal.sock")
    script = tmp_path / "events.jsonl"
    script.write_text('{"t": 0.0, "kind": "focus", "app": "outlook.exe", "title": "Inbox"}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(WAYMARK_JOURNAL_SOCKET=str(journal.path), HOME=str(tmp_path),
               WAYMARK_POLICY_FILE=str(tmp_path / "no-policy.json"))  # fmt: skip
    try:
        ran = subprocess.run(
            [str(root / AGENT), *command[1:], "--headless", "--no-hooks", "--script", str(script),
             "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        record = journal.receive()
    finally:
        journal.close()
    assert record["MESSAGE"].startswith("waymark 0.1.0 started")
    assert record["SYSLOG_IDENTIFIER"] == "waymark"
    if shutil.which("systemd-analyze") is None:
        return
    # systemd's own check, with the one absolute path moved into this install root.
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    moved = runtime / "waymark.service"
    moved.write_text(unit.read_text().replace("ExecStart=/usr/bin/waymark",
                                              f"ExecStart={root}/opt/waymark/waymark"))  # fmt: skip
    verified = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(moved)], capture_output=True, text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "MANPATH": str(root / "usr/share/man")},
        timeout=120,
    )  # fmt: skip
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr


def test_the_enrollment_broker_unit_runs_the_broker_as_root_once_there_is_a_token(
    deb: Path, tmp_path: Path
) -> None:
    root, unit, parsed = unpacked_unit(
        deb, tmp_path, "usr/lib/systemd/system/waymark-enroll-broker.service"
    )
    assert parsed["Service"]["ExecStart"] == "/usr/bin/waymark broker"
    assert "User" not in parsed["Service"]  # root: it alone reads the token file
    assert parsed["Unit"]["ConditionPathExists"] == "/etc/waymark/enroll-token"
    assert parsed["Service"]["RuntimeDirectory"] == "waymark"
    assert parsed["Service"]["StateDirectoryMode"] == "0700"
    # The frozen agent has the command (its --help answers without a token or root).
    helped = subprocess.run([str(root / AGENT), "broker", "--help"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert helped.returncode == 0 and "/run/waymark/enroll.sock" in helped.stdout
    if shutil.which("systemd-analyze") is None:
        return
    moved = tmp_path / "waymark-enroll-broker.service"
    moved.write_text(unit.read_text().replace("ExecStart=/usr/bin/waymark",
                                              f"ExecStart={root}/opt/waymark/waymark"))  # fmt: skip
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(moved)], capture_output=True, text=True,
        env={**os.environ, "MANPATH": str(root / "usr/share/man")}, timeout=120,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def test_upgrades_and_removal_stop_running_agents_and_keep_the_admins_conffile(
    deb: Path, tmp_path: Path
) -> None:
    old = repack(deb, tmp_path, "0.1.0", scripts=False)  # the released 0.1.0: no scripts
    newer = repack(deb, tmp_path, "0.1.0-2")
    root = new_root(tmp_path / "root")

    installed = dpkg(root, "-i", str(old))
    assert installed.returncode == 0, installed.stderr
    assert "install ok installed" in status(root) and "Version: 0.1.0\n" in status(root)

    # 1. From 0.1.0, which has no prerm: the new package's preinst stops the agent.
    with running_agent(root / AGENT, tmp_path / "agent-1") as agent:
        done = dpkg(root, "-i", str(deb))
        assert_asked_to_quit(done, agent, "preinst upgrade")
    assert "Version: 0.1.0-1\n" in status(root)
    version = subprocess.run([str(root / "opt/waymark/waymark"), "--version"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.stdout.strip() == "waymark 0.1.0"
    if shutil.which("desktop-file-validate"):
        for entry in (AUTOSTART, "usr/share/applications/waymark-settings.desktop"):
            checked = subprocess.run(["desktop-file-validate", str(root / entry)],
                                     capture_output=True, text=True)  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr

    # 2. Between versions that have scripts: the old prerm stops it. The admin turned
    # the autostart entry off; an upgrade keeps that (a conffile).
    autostart = root / AUTOSTART
    autostart.write_text(autostart.read_text() + "Hidden=true\n")
    with running_agent(root / AGENT, tmp_path / "agent-2") as agent:
        done = dpkg(root, "--force-confold", "-i", str(newer))
        assert_asked_to_quit(done, agent, "prerm upgrade")
    assert "Version: 0.1.0-2\n" in status(root)
    assert autostart.read_text().endswith("Hidden=true\n")

    # 3. Removal: prerm stops it; the files go, the conffile stays until purge.
    with running_agent(root / AGENT, tmp_path / "agent-3") as agent:
        done = dpkg(root, "-r", "waymark")
        assert_asked_to_quit(done, agent, "prerm remove")
    assert not (root / "opt/waymark").exists()
    assert "deinstall ok config-files" in status(root)
    assert autostart.exists()  # and harmless: TryExec=waymark no longer finds the agent
    assert "TryExec=waymark" in autostart.read_text()
    purged = dpkg(root, "-P", "waymark")
    assert purged.returncode == 0, purged.stderr
    assert not autostart.exists()
    assert "waymark" not in (root / "var/lib/dpkg/status").read_text()


def test_the_scripts_leave_other_programs_called_waymark_alone(deb: Path, tmp_path: Path) -> None:
    root = new_root(tmp_path / "root")
    assert dpkg(root, "-i", str(deb)).returncode == 0
    # The same executable copied elsewhere: named waymark, but not this package's file.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(root / "opt/waymark", elsewhere, symlinks=True)
    with running_agent(elsewhere / "waymark", tmp_path / "agent") as other:
        done = dpkg(root, "-r", "waymark")
        assert done.returncode == 0, done.stderr
        assert "asking the running agents to quit" not in done.stdout
        assert other.poll() is None
