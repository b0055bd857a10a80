#!/usr/bin/env bash
# Builds waymark_<version>_<arch>.deb from the frozen agent (make dist).
#   installers/linux/build-deb.sh [BUNDLE_DIR] [OUT_DIR]
# BUNDLE_DIR defaults to dist/waymark, OUT_DIR to dist. Needs dpkg-deb.
# The package installs the bundle in /opt/waymark, `waymark` on the PATH, an
# autostart entry (every user's session starts `waymark run` at login), a
# "Waymark settings" launcher, the icon, and the policy example in
# /usr/share/doc/waymark; IT writes /etc/waymark/policy.json.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUNDLE="${1:-$ROOT/dist/waymark}"
OUT="${2:-$ROOT/dist}"
test -x "$BUNDLE/waymark" || { echo "build-deb: no frozen agent in $BUNDLE (run make dist)" >&2; exit 2; }

VERSION="$("$BUNDLE/waymark" --version | awk '{print $2}')"
ARCH="$(dpkg --print-architecture)"
STAGE="$(mktemp -d)"
chmod 0755 "$STAGE"  # the package root becomes /: never 0700
trap 'rm -rf "$STAGE"' EXIT

install -d "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/etc/xdg/autostart" \
  "$STAGE/usr/share/applications" "$STAGE/usr/share/icons/hicolor/256x256/apps" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/doc/waymark" "$STAGE/DEBIAN"
cp -a "$BUNDLE" "$STAGE/opt/waymark"
ln -s /opt/waymark/waymark "$STAGE/usr/bin/waymark"
install -m 0644 "$HERE/deb/waymark.desktop" "$STAGE/etc/xdg/autostart/waymark.desktop"
install -m 0644 "$HERE/deb/waymark-settings.desktop" "$STAGE/usr/share/applications/waymark-settings.desktop"
install -m 0644 "$ROOT/assets/icons/waymark-256.png" "$STAGE/usr/share/icons/hicolor/256x256/apps/waymark.png"
install -m 0644 "$ROOT/assets/icons/waymark.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/waymark.svg"
install -m 0644 "$HERE/policy.example.json" "$STAGE/usr/share/doc/waymark/policy.example.json"
install -m 0644 "$ROOT/docs/admin-guide.md" "$STAGE/usr/share/doc/waymark/admin-guide.md"

SIZE="$(du -sk "$STAGE" | cut -f1)"
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: waymark
Version: $VERSION
Architecture: $ARCH
Maintainer: Waymark <support@waymark.example>
Installed-Size: $SIZE
Section: utils
Priority: optional
Depends: libxcb-cursor0, libxkbcommon-x11-0, libegl1, libfontconfig1, libdbus-1-3, libxtst6
Recommends: gnome-keyring | kwalletmanager
Homepage: https://waymark.example
Description: desktop coach for new technology habits
 Watches which application is in front and a few content-free actions (key
 chords, clicks, idle, lock) and shows a short tip when a coaching rule
 matches. Statistics are sent only with the person's consent or under an
 organisation-notice policy; managed settings live in /etc/waymark/policy.json.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/waymark_${VERSION}_${ARCH}.deb"
# xz: the smallest file (the 45 MB installer budget, bench/sizes.py) and every dpkg
# reads it; about 30 s on 2 cores. DEB_COMPRESS=-Zzstd builds in a second (dpkg
# 1.21.18+, Debian 12, Ubuntu 21.10+): the tests use that.
# shellcheck disable=SC2086
dpkg-deb --root-owner-group ${DEB_COMPRESS:--Zxz} --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
