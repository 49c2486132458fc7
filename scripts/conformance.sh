#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (../shared/autobahn) against hurtle serving the
# suite's echo app. `scripts/conformance.sh` runs the default case set (about
# 250 cases, seconds); `scripts/conformance.sh --full` runs all 517 cases,
# compression (12.*, 13.*) and limits (9.*) included.
# Exit status: run.sh's (0 when no case failed).
set -euo pipefail
cd "$(dirname "$0")/.."
autobahn="${AUTOBAHN_DIR:-../shared/autobahn}"
if [ ! -x "$autobahn/run.sh" ] && [ ! -f "$autobahn/run.sh" ]; then
    echo "conformance: $autobahn/run.sh not found (set AUTOBAHN_DIR)" >&2
    exit 2
fi
python=".venv/bin/python"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$python" -m hurtle echo_app:app --app-dir "$autobahn" --host 127.0.0.1 --port "$port" \
    --log-level warning --no-access-log >"$log" 2>&1 &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"' EXIT
status=0
bash "$autobahn/run.sh" "ws://127.0.0.1:$port/" "$@" || status=$?
if [ -s "$log" ]; then
    echo "conformance: hurtle's log:" >&2
    cat "$log" >&2
fi
exit "$status"
