#!/usr/bin/env bash
# Fuzzes the running API against its own description (GET /swagger.json) with schemathesis:
# builds ferrobill, starts it on loopback on a fresh embedded PostgreSQL under
# $TARGET/schemathesis, creates a tenant, runs schemathesis with Basic auth and the tenant
# headers, and stops the server. Fails on any 5xx that is not documented as a retryable 503
# (not_a_server_error) and on any status the description does not list
# (status_code_conformance). Bounded: a few examples per operation, a fixed seed, a timeout.
#
# Needs python3 (with venv) and cargo; schemathesis comes from PyPI into a venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
SCHEMATHESIS_VERSION=4.32.5
TARGET=${CARGO_TARGET_DIR:-target}
VENV="$TARGET/schemathesis-venv"
WORK="$TARGET/schemathesis"
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-10}
TIME_LIMIT=${SCHEMATHESIS_TIME_LIMIT:-900}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION"
fi

$CARGO build --bin ferrobill
BINARY="$TARGET/debug/ferrobill"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
source scripts/start-ferrobill.sh
start_ferrobill "$BINARY" "$WORK" "$PORT" "$WORK/server.log"

# Waits for the server (the embedded cluster's first start takes a few seconds), then creates
# the tenant the run uses and one of each object (account, card payment method, payment, tag
# definition), whose ids the run's parameters then use so that generated requests reach the
# handlers' logic rather than 404.
python3 - "$BASE" "$WORK/schemathesis.toml" <<'EOF'
import base64, json, sys, time, urllib.request, urllib.error
base, config = sys.argv[1], sys.argv[2]
deadline = time.time() + 120
while True:
    try:
        urllib.request.urlopen(base + "/1.0/healthcheck", timeout=5)
        break
    except (urllib.error.URLError, ConnectionError, OSError):
        if time.time() > deadline:
            sys.exit("ferrobill did not answer /1.0/healthcheck within 120 s")
        time.sleep(0.5)
HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"admin:password").decode(),
    "Content-Type": "application/json",
    "X-Killbill-CreatedBy": "schemathesis",
    "X-Killbill-ApiKey": "schemathesis",
    "X-Killbill-ApiSecret": "schemathesis-secret",
}
def post(path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=HEADERS, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
tenant = post("/1.0/kb/tenants", {"apiKey": "schemathesis", "apiSecret": "schemathesis-secret"})
account = post("/1.0/kb/accounts",
               {"externalKey": "st-account", "currency": "USD", "name": "Schemathesis"})
method = post(f"/1.0/kb/accounts/{account}/paymentMethods?isDefault=true", {
    "externalKey": "st-card", "pluginName": "killbill-stripe",
    "pluginInfo": {"properties": [
        {"key": "ccNumber", "value": "4242424242424242"},
        {"key": "ccExpirationMonth", "value": 12},
        {"key": "ccExpirationYear", "value": 2030}]}})
payment = post(f"/1.0/kb/accounts/{account}/payments", {
    "transactionType": "AUTHORIZE", "amount": 100, "currency": "USD",
    "paymentExternalKey": "st-payment", "transactionExternalKey": "st-auth"})
tag = post("/1.0/kb/tagDefinitions", {
    "name": "st_tag", "description": "schemathesis", "applicableObjectTypes": ["ACCOUNT"]})
with open(config, "w") as out:
    out.write(f"""[parameters]
"path.tenantId" = "{tenant}"
"path.accountId" = "{account}"
"path.paymentMethodId" = "{method}"
"path.paymentId" = "{payment}"
"path.tagDefinitionId" = "{tag}"
""")
EOF

# One worker: with two, hypothesis parsed its sources on two threads at once and CPython 3.11's
# parser failed with "AST constructor recursion depth mismatch" (a runtime error, not a finding).
status=0
timeout --signal=INT "$TIME_LIMIT" "$VENV/bin/schemathesis" \
    --config-file "$WORK/schemathesis.toml" run "$BASE/swagger.json" \
    --url "$BASE" \
    --auth admin:password \
    -H "X-Killbill-ApiKey: schemathesis" \
    -H "X-Killbill-ApiSecret: schemathesis-secret" \
    -H "X-Killbill-CreatedBy: schemathesis" \
    --checks not_a_server_error,status_code_conformance \
    --generation-with-security-parameters false \
    --generation-database none \
    --max-examples "$MAX_EXAMPLES" \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --workers 1 \
    --request-timeout 30 \
    --no-color \
    --report junit --report-dir "$WORK/report" || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis failed (exit $status); server log: $WORK/server.log" >&2
fi
exit "$status"
