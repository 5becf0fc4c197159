# Sourced (not run) by the scripts that check a running ferrobill: schemathesis.sh,
# js-client.sh, killbill-diff.sh.
#
# start_ferrobill BINARY WORK PORT LOG [NAME=VALUE ...] empties WORK, starts BINARY on
# 127.0.0.1:PORT on a fresh embedded PostgreSQL under WORK/data with its output in LOG and
# any further settings in its environment, sets SERVER to its pid, and stops it (SIGTERM, then
# waits for it) when the calling script exits. It does not wait for the server to answer.

start_ferrobill() {
    local binary=$1 work=${2:?start_ferrobill: no work directory} port=$3 log=$4
    rm -rf "$work"
    mkdir -p "$work"
    env KB_ferrobill_server_bindAddress=127.0.0.1 \
        KB_ferrobill_server_port="$port" \
        KB_ferrobill_embedded_dataDir="$work/data" \
        "${@:5}" \
        "$binary" >"$log" 2>&1 &
    SERVER=$!
    trap stop_ferrobill EXIT
}

stop_ferrobill() {
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
}
