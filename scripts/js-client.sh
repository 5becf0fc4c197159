#!/usr/bin/env bash
# Kill Bill's official JavaScript client against ferrobill: builds ferrobill, starts it on
# loopback on a fresh embedded PostgreSQL under $TARGET/js-client, installs the client from
# the committed clients/js/package-lock.json (npm package `killbill` 0.24.0, with `npm ci`:
# the npm registry only, no install scripts) and runs clients/js/check.js, which calls the
# client's methods for accounts, payment methods, payments, custom fields, tags, tenant
# key-values, security, nodes, plugins and caches and checks each answer. Operations the
# server's /swagger.json does not list yet are skipped and named. Stops the server and exits
# with the check's status (1: the methods that failed are listed; 2: it could not run).
#
# Needs cargo, and Node.js with npm (scripts/ensure-node.sh installs Debian's as root).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-target}
WORK="$TARGET/js-client"
CLIENT=clients/js

scripts/ensure-node.sh
export NPM_CONFIG_UPDATE_NOTIFIER=false
(cd "$CLIENT" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

$CARGO build --bin ferrobill
BINARY="$TARGET/debug/ferrobill"

PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
BASE="http://127.0.0.1:$PORT"
source scripts/start-ferrobill.sh
start_ferrobill "$BINARY" "$WORK" "$PORT" "$WORK/server.log"

status=0
node "$CLIENT/check.js" --url "$BASE" --wait 120 || status=$?
if [ "$status" -ne 0 ]; then
    echo "Kill Bill's JavaScript client check failed (exit $status); server log: $WORK/server.log" >&2
fi
exit "$status"
