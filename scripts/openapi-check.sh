#!/bin/sh
# Checks docs/openapi.yaml against a running `meshchat serve`: every action described is
# called with generated valid and invalid input, and each reply must have a documented
# status, content type, headers and body shape, and never be a 5xx.
# schemathesis (PyPI, pinned in tests/api/requirements.txt) installs into build/venv-openapi.
# Usage: scripts/openapi-check.sh [BINARY]   (default target/release/meshchat)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${1:-$ROOT/target/release/meshchat}
VENV=$ROOT/build/venv-openapi
REQ=$ROOT/tests/api/requirements.txt

if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s "$REQ" "$VENV/requirements.txt"; then
    echo "openapi: installing schemathesis into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$VENV/requirements.txt"
fi

WORK=$(mktemp -d)
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" --node openapi-node \
    -o max_file_storage=200000 -o services_dir="$WORK/none" -o services_olsr="$WORK/none" \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
i=0
while ! grep -q '^listening on ' "$WORK/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$SERVE_PID" 2>/dev/null; then
        echo "openapi: serve did not start:" >&2
        cat "$WORK/serve.err" >&2
        exit 1
    fi
    sleep 0.1
done
URL=$(sed -n 's#^listening on \(http://[^/]*\)/$#\1#p' "$WORK/serve.out")

# Checks that hold for this API. Left out: negative_data_rejection and
# positive_data_acceptance (the legacy API ignores unknown and extra parameters, and reads
# fields leniently), unsupported_method (uhttpd, not meshchat, answers methods under CGI).
cd "$WORK"
"$VENV/bin/schemathesis" run "$ROOT/docs/openapi.yaml" --url "$URL" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-examples 25 --seed 1 \
    --suppress-health-check too_slow --no-color
