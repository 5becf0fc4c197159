#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, postgres) are installed, as ferrobill's
# embedded default and its tests need them. Installs Debian's `postgresql` package when run as
# root on Debian or Ubuntu; anywhere else it stops with one line saying what to install.
set -euo pipefail

have_server_binaries() {
    if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
        return 0
    fi
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if have_server_binaries; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
    # ferrobill runs its own cluster; the package's default system cluster would only take
    # memory and port 5432, so ask postgresql-common not to create it (unless configured).
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    have_server_binaries && exit 0
    echo "apt-get installed postgresql but initdb is still missing" >&2
    exit 1
fi

. "$(dirname "$0")/install-hint.sh"
hint=$(install_hint postgresql postgresql postgresql-server postgresql postgresql "your platform's PostgreSQL server package")
echo "PostgreSQL server binaries (initdb, postgres) not found: install them with '$hint', or set DATABASE_URL to an existing PostgreSQL" >&2
exit 1
