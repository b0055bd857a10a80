#!/usr/bin/env bash
# Installs the Debian packages that the tests and `make run` need: an X server
# (Xvfb) with a window manager (openbox), xdotool to drive it, the shared
# libraries PySide6 loads, PostgreSQL for the server tests, Chromium for the
# dashboard tests, GNOME Keyring for the device-secret test, and what builds and
# checks the installers on Linux (wixl/msitools, Wine, osslsigncode, mingw-w64,
# bsdtar, 7-Zip, cpio; shellcheck for actionlint; patchelf, binutils and
# lintian for the deb; icu-devtools to trim the bundle's ICU data;
# libsecret-tools for the admin guide's keyring wipe).
# Runs only as root on a Debian-like system; elsewhere it says what to install and returns
# success so that a developer machine still works.
set -euo pipefail

PACKAGES=(
  xvfb openbox xdotool x11-utils x11-apps xauth dbus-daemon dbus-x11
  libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  libxrender1 libxi6 libxtst6 libglib2.0-0 fonts-dejavu-core fonts-noto-core
  postgresql chromium chromium-driver gnome-keyring desktop-file-utils
  msitools wixl wine wine64 osslsigncode gcc-mingw-w64-x86-64 libarchive-tools 7zip cpio
  dash shellcheck lintian libsecret-tools patchelf binutils icu-devtools
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "waymark: these system packages are missing and must be installed by an administrator:" >&2
  echo "  ${missing[*]}" >&2
  exit 0
fi
echo "waymark: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
