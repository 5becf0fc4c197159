#!/usr/bin/env bash
# Makes sure a headless Chromium is installed, as the browser tests of the dashboard and of the
# load suite's HTML report need it. Installs Debian's `chromium` package when run as root on
# Debian or Ubuntu; anywhere else it stops with one line saying what to install. Prints
# nothing when Chromium is already there.
set -euo pipefail

have_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || { [ -n "${FERROBILL_CHROMIUM:-}" ] && [ -x "$FERROBILL_CHROMIUM" ]; }
}

if have_chromium; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found: installing Debian's chromium package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    have_chromium && exit 0
    echo "apt-get installed chromium but no chromium command is on PATH" >&2
    exit 1
fi

. "$(dirname "$0")/install-hint.sh"
hint=$(install_hint "--cask chromium" chromium chromium chromium chromium "your platform's Chromium package")
echo "Chromium not found: install it with '$hint', or set FERROBILL_CHROMIUM to a Chromium or Chrome binary" >&2
exit 1
