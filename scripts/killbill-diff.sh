#!/usr/bin/env bash
# The differential test: starts ferrobill (release build, its embedded default database on a
# fresh directory under $TARGET/killbill-diff, loopback, a free port), runs ferrobill-diff
# against it and the Kill Bill at KILL_BILL_URL, and stops ferrobill. Exits with the tool's
# status: 0 when every difference is documented in docs/compatibility.md, 1 when one is not,
# 2 when the run itself failed. The report is $TARGET/killbill-diff/report.md (and .json).
#
# Usage: scripts/killbill-diff.sh KILL_BILL_URL
# Env:   PLUGIN_TIMEOUT (default 2s): ferrobill's org.killbill.payment.plugin.timeout; give the
#        Kill Bill the same (-Dorg.killbill.payment.plugin.timeout) to keep the timeout step short.
#        KILL_BILL_USER, KILL_BILL_PASSWORD (default admin/password) on both servers.
set -euo pipefail
cd "$(dirname "$0")/.."

KILL_BILL_URL=${1:?usage: scripts/killbill-diff.sh KILL_BILL_URL}
CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-target}
WORK="$TARGET/killbill-diff"
PLUGIN_TIMEOUT=${PLUGIN_TIMEOUT:-2s}

$CARGO build --release -p ferrobill -p loadtests --bin ferrobill --bin ferrobill-diff

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FERROBILL_URL="http://127.0.0.1:$PORT"
source scripts/start-ferrobill.sh
start_ferrobill "$TARGET/release/ferrobill" "$WORK" "$PORT" "$WORK/ferrobill.log" \
    KB_org_killbill_payment_plugin_timeout="$PLUGIN_TIMEOUT"

for _ in $(seq 1 240); do
    curl -s -o /dev/null "$FERROBILL_URL/1.0/healthcheck" && break
    kill -0 "$SERVER" 2>/dev/null || { echo "ferrobill exited; see $WORK/ferrobill.log" >&2; exit 2; }
    sleep 0.5
done

status=0
"$TARGET/release/ferrobill-diff" \
    --kill-bill "$KILL_BILL_URL" --ferrobill "$FERROBILL_URL" \
    --user "${KILL_BILL_USER:-admin}" --password "${KILL_BILL_PASSWORD:-password}" \
    --report "$WORK/report.md" --json "$WORK/report.json" || status=$?
if [ "$status" != 0 ]; then
    # The undocumented differences, so the CI log says what failed.
    sed -n '/^## Undocumented differences/,/^## Documented differences/p' "$WORK/report.md" | head -200 >&2 || true
fi
exit "$status"
