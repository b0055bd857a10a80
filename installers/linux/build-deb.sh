#!/usr/bin/env bash
# Builds waymark_<version>-<revision>_<arch>.deb from the frozen agent (make dist).
#   installers/linux/build-deb.sh [BUNDLE_DIR] [OUT_DIR]
# BUNDLE_DIR defaults to dist/waymark, OUT_DIR to dist. Needs dpkg-deb, patchelf and
# readelf (binutils). DEB_REVISION (default 1) is the Debian revision: a rebuild of
# the same agent version gets a higher one, and a changelog entry (deb/changelog).
# The package installs the bundle in /opt/waymark, `waymark` on the PATH, an
# autostart entry (a conffile: every user's session starts `waymark run` at
# login), a "Waymark settings" launcher, the icon, a manual page, a systemd user
# unit (not enabled), the enrollment broker's system unit (not enabled), and in
# /usr/share/doc/waymark the admin guide, the privacy notice, the replay format,
# the policy example, the copyright file and the changelog. Its preinst and prerm
# stop running agents before an upgrade or a removal (deb/stop-agents.sh says how
# and why). IT writes /etc/waymark/policy.json.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUNDLE="${1:-$ROOT/dist/waymark}"
OUT="${2:-$ROOT/dist}"
test -x "$BUNDLE/waymark" || { echo "build-deb: no frozen agent in $BUNDLE (run make dist)" >&2; exit 2; }
for tool in dpkg-deb patchelf readelf; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (scripts/bootstrap-debian.sh)" >&2; exit 2; }
done

VERSION="$("$BUNDLE/waymark" --version | awk '{print $2}')"
DEB_VERSION="$VERSION-${DEB_REVISION:-1}"
ARCH="$(dpkg --print-architecture)"
if ! head -n1 "$HERE/deb/changelog" | grep -qF "waymark ($DEB_VERSION) "; then
  echo "build-deb: installers/linux/deb/changelog has no entry for $DEB_VERSION on top; add one" >&2
  exit 2
fi
# The Python licence travels with the runtime the bundle carries (the PSF licence asks for it).
PYTHON="${PYTHON:-$(command -v "$ROOT/.venv/bin/python" python3.11 python3 | head -n1 || true)}"
PYTHON_LICENSE="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"] + "/LICENSE.txt")')"
test -f "$PYTHON_LICENSE" || { echo "build-deb: no Python licence at $PYTHON_LICENSE" >&2; exit 2; }

STAGE="$(mktemp -d)"
chmod 0755 "$STAGE"  # the package root becomes /: never 0700
trap 'rm -rf "$STAGE"' EXIT
DOC="$STAGE/usr/share/doc/waymark"

install -d "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/etc/xdg/autostart" \
  "$STAGE/usr/share/applications" "$STAGE/usr/share/icons/hicolor/256x256/apps" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps" "$DOC/licenses" \
  "$STAGE/usr/share/man/man1" "$STAGE/usr/lib/systemd/user" "$STAGE/usr/lib/systemd/system" \
  "$STAGE/DEBIAN"
cp -a "$BUNDLE" "$STAGE/opt/waymark"

# Shared objects need no execute bit. The build machine's Python leaves its own lib
# folder as RUNPATH in libpython and the extension modules: a path that may exist,
# with other files, on the machines the package goes to. Only $ORIGIN entries stay.
# The executable itself is never patched: its archive is appended to the ELF file.
find "$STAGE/opt/waymark/_internal" -type f -name '*.so*' -exec chmod 0644 {} +
while IFS= read -r -d '' lib; do
  rpath="$(patchelf --print-rpath "$lib" 2>/dev/null)" || continue
  [ -n "$rpath" ] || continue
  # shellcheck disable=SC2016 # a literal $ORIGIN
  kept="$(tr ':' '\n' <<<"$rpath" | grep '^\$ORIGIN' | paste -sd: -)" || true
  [ "$kept" = "$rpath" ] && continue
  if [ -n "$kept" ]; then patchelf --set-rpath "$kept" "$lib"; else patchelf --remove-rpath "$lib"; fi
done < <(find "$STAGE/opt/waymark/_internal" -type f -name '*.so*' -print0)

# The oldest glibc that every ELF file in the bundle accepts (symbol versions it needs).
LIBC="$(find "$STAGE/opt/waymark" -type f \( -name '*.so*' -o -name waymark \) -exec readelf -V --wide {} + 2>/dev/null \
  | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: GLIBC_//' | sort -uV | tail -n1)"
test -n "$LIBC" || { echo "build-deb: cannot tell which glibc the bundle needs" >&2; exit 2; }

ln -s /opt/waymark/waymark "$STAGE/usr/bin/waymark"
install -m 0644 "$HERE/deb/waymark.desktop" "$STAGE/etc/xdg/autostart/waymark.desktop"
install -m 0644 "$HERE/deb/waymark-settings.desktop" "$STAGE/usr/share/applications/waymark-settings.desktop"
install -m 0644 "$ROOT/assets/icons/waymark-256.png" "$STAGE/usr/share/icons/hicolor/256x256/apps/waymark.png"
install -m 0644 "$ROOT/assets/icons/waymark.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/waymark.svg"
install -m 0644 "$HERE/waymark.service" "$STAGE/usr/lib/systemd/user/waymark.service"
# The enrollment broker, a system service (not enabled: the unit's comment says how).
install -m 0644 "$HERE/waymark-enroll-broker.service" \
  "$STAGE/usr/lib/systemd/system/waymark-enroll-broker.service"
gzip -9n <"$HERE/deb/waymark.1" >"$STAGE/usr/share/man/man1/waymark.1.gz"
install -m 0644 "$HERE/policy.example.json" "$DOC/policy.example.json"
for doc in admin-guide.md privacy.md replay-format.md; do
  install -m 0644 "$ROOT/docs/$doc" "$DOC/$doc"
done
install -m 0644 "$HERE/deb/copyright" "$DOC/copyright"
install -m 0644 "$PYTHON_LICENSE" "$DOC/licenses/Python-LICENSE.txt"
gzip -9n <"$HERE/deb/changelog" >"$DOC/changelog.Debian.gz"
chmod 0644 "$STAGE/usr/share/man/man1/waymark.1.gz" "$DOC/changelog.Debian.gz"

# Maintainer scripts: preinst and prerm share stop_waymark_agents (deb/stop-agents.sh).
for script in preinst prerm; do
  awk -v lib="$HERE/deb/stop-agents.sh" \
    '$0 == "#STOP_AGENTS#" { while ((getline line < lib) > 0) print line; next } { print }' \
    "$HERE/deb/$script" >"$STAGE/DEBIAN/$script"
  chmod 0755 "$STAGE/DEBIAN/$script"
done
install -m 0644 "$HERE/deb/conffiles" "$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"

SIZE="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: waymark
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: Waymark <support@waymark.example>
Installed-Size: $SIZE
Section: utils
Priority: optional
Depends: libc6 (>= $LIBC), libxcb-cursor0, libxkbcommon-x11-0, libegl1, libfontconfig1, libdbus-1-3, libxtst6
Recommends: gnome-keyring | kwalletmanager
Homepage: https://waymark.example
Description: desktop coach for new technology habits
 Watches which application is in front and a few content-free actions (key
 chords, clicks, idle, lock) and shows a short tip when a coaching rule
 matches. Statistics are sent only with the person's consent or under an
 organisation-notice policy; managed settings live in /etc/waymark/policy.json.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/waymark_${DEB_VERSION}_${ARCH}.deb"
# xz: the smallest file (the 45 MB installer budget, bench/sizes.py) and every dpkg
# reads it; about 30 s on 2 cores. DEB_COMPRESS="-Zgzip -z1" builds in seconds and
# lintian accepts it (the tests use that); -Zzstd too, but lintian calls zstd malformed.
# shellcheck disable=SC2086
dpkg-deb --root-owner-group ${DEB_COMPRESS:--Zxz} --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
