"""A throwaway Wine prefix (64-bit) for installing MSIs with Wine's own msiexec.

Everything Wine writes stays under the prefix's folder: ``HOME`` and the XDG
folders point inside it and winemenubuilder is disabled, so no menu entry or
file association leaks onto this machine. :meth:`WinePrefix.close` stops the
prefix's wineserver (and with it every Wine process of that prefix).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath

from devtools.waiting import stop_process, wait_for

__all__ = ["WinePrefix", "wine_prefix"]


def _find(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (
            name if os.path.isabs(name) and os.access(name, os.X_OK) else None
        )
        if found:
            return found
    raise AssertionError(
        f"Wine is not installed (looked for {', '.join(names)}): apt-get install wine wine64 "
        "(scripts/bootstrap-debian.sh installs it when run as root)"
    )


class WinePrefix:
    """One WINEPREFIX, with helpers for msiexec, reg and its C: drive."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.prefix = folder / "prefix"
        home = folder / "home"
        home.mkdir(parents=True)
        self.wine = _find("/usr/lib/wine/wine64", "wine64", "wine")
        self.wineserver = _find("/usr/lib/wine/wineserver64", "wineserver")
        base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        self._logs = 0
        self._keeper: subprocess.Popen[bytes] | None = None
        self.env = {
            **base,
            "WINEPREFIX": str(self.prefix),
            "WINEARCH": "win64",
            "WINEDEBUG": "-all",
            # No menu entries on this machine; no Mono/Gecko download prompts.
            "WINEDLLOVERRIDES": "winemenubuilder.exe=d;mscoree=d;mshtml=d",
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
        }

    @property
    def drive_c(self) -> Path:
        return self.prefix / "drive_c"

    def host_path(self, windows_path: str) -> Path:
        r"""``C:\Program Files\Waymark`` → the folder inside the prefix."""
        parts = PureWindowsPath(windows_path).parts
        assert parts and parts[0].upper() == "C:\\", windows_path
        return self.drive_c.joinpath(*parts[1:])

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        # Output goes to files, not pipes: a wine command that starts the wineserver hands it
        # (and the prefix's services) its stdout, and a pipe would then never reach EOF.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            done = subprocess.run([self.wine, *args], env=self.env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=err, timeout=timeout)  # fmt: skip
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                done.args, done.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"),
            )  # fmt: skip

    def boot(self) -> None:
        done = self.run("wineboot", "--init", timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        wait_for(lambda: (self.prefix / "system.reg").exists(), 60, "the prefix's registry")
        # The wineserver ends with its last client and each later wine command would start it
        # (and the prefix's services) again, ~1.5 s each: a console waiting on its stdin
        # keeps one wineserver up until close().
        self._keeper = subprocess.Popen(
            [self.wine, "cmd", "/c", "pause"], env=self.env, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.set_windows_version("win10")  # Debian's Wine starts a prefix as Windows 7

    def set_windows_version(self, version: str) -> None:
        """The Windows version the prefix reports (winecfg's setting: win7, win10 …)."""
        done = self.run("reg", "add", r"HKCU\Software\Wine", "/v", "Version", "/t", "REG_SZ",
                        "/d", version, "/f")  # fmt: skip
        assert done.returncode == 0, done.stderr

    def windows_path(self, path: Path) -> str:
        """A host path as Wine's Z: drive sees it."""
        return "Z:" + str(path.resolve()).replace("/", "\\")

    def msiexec(self, action: str, msi: Path, *args: str) -> tuple[int, str]:
        """``msiexec ACTION MSI /qn ARGS…`` with a verbose log; (Windows exit code, log text).

        Wine hands back only the low 8 bits of the exit code: 0 is success, 67 is
        1603 (a fatal error during installation).
        """
        self._logs += 1
        log = self.folder / f"msiexec-{self._logs}.log"
        done = self.run("msiexec", action, self.windows_path(msi), "/qn", "/l*v",
                        self.windows_path(log), *args)  # fmt: skip
        raw = log.read_bytes() if log.exists() else b""
        text = raw.decode("utf-16" if raw.startswith(b"\xff\xfe") else "utf-8", errors="replace")
        return done.returncode, text + done.stdout + done.stderr

    def reg_values(self, key: str) -> dict[str, tuple[str, str]] | None:
        """``{name: (type, data)}`` of ``key`` (64-bit view), None if the key does not exist."""
        done = self.run("reg", "query", key)
        if done.returncode != 0:
            return None
        values: dict[str, tuple[str, str]] = {}
        for line in done.stdout.splitlines():
            fields = line.strip().split(None, 2)
            if len(fields) >= 2 and fields[1].startswith("REG_"):
                values[fields[0]] = (fields[1], fields[2] if len(fields) > 2 else "")
        return values

    def subkeys(self, key: str) -> list[str]:
        done = self.run("reg", "query", key)
        assert done.returncode == 0, done.stderr
        full = key.replace("HKLM\\", "HKEY_LOCAL_MACHINE\\", 1).replace(
            "HKCU\\", "HKEY_CURRENT_USER\\", 1
        )
        keys = [line.strip() for line in done.stdout.splitlines() if line.startswith("HKEY_")]
        return [k for k in keys if k.lower() != full.lower()]

    def stop_server(self) -> None:
        """Stop the prefix's wineserver and wait until it has written the registry files."""
        subprocess.run([self.wineserver, "-k"], env=self.env, capture_output=True, timeout=60)
        subprocess.run([self.wineserver, "-w"], env=self.env, capture_output=True, timeout=60)

    def registry_text(self) -> str:
        """The prefix's registry files as text (stop the server first, so they are current)."""
        return "".join(
            (self.prefix / name).read_text(encoding="utf-8", errors="replace")
            for name in ("system.reg", "user.reg", "userdef.reg")
        )

    def close(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper.stdin is not None:
            keeper.stdin.close()  # "press a key": the console ends
            try:
                keeper.wait(30)
            except subprocess.TimeoutExpired:
                stop_process(keeper)
        self.stop_server()


@contextmanager
def wine_prefix(folder: Path) -> Iterator[WinePrefix]:
    """A booted prefix in ``folder``, stopped afterwards."""
    prefix = WinePrefix(folder)
    try:
        prefix.boot()
        yield prefix
    finally:
        prefix.close()
