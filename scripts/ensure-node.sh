#!/usr/bin/env bash
# Makes sure Node.js and npm are installed, as the check of Kill Bill's JavaScript client
# (scripts/js-client.sh) needs them. Installs Debian's `nodejs` and `npm` packages when run as
# root on Debian or Ubuntu; anywhere else it stops with one line saying what to install.
# Prints nothing when both are already there.
set -euo pipefail

have_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

if have_node; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Node.js or npm not found: installing Debian's nodejs and npm packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Only the packages missing: a Node.js from elsewhere (NodeSource's, which bundles npm)
    # must not be replaced by Debian's.
    packages=()
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    have_node && exit 0
    echo "apt-get installed ${packages[*]} but node or npm is still not on PATH" >&2
    exit 1
fi

. "$(dirname "$0")/install-hint.sh"
hint=$(install_hint node "nodejs npm" "nodejs npm" "nodejs npm" "nodejs npm" "Node.js 18 or newer with npm")
echo "Node.js or npm not found: install them with '$hint'" >&2
exit 1
