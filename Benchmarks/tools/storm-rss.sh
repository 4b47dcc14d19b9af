#!/usr/bin/env bash
# Relay RSS after each of three connect storms (5 s each, 32 connections in flight, token
# auth), to catch memory that connections leave behind.
#
#   Benchmarks/tools/storm-rss.sh RELAY_BINARY
#
# Needs Benchmarks/.build/release/relay-bench. Sessions of connections that did not close
# cleanly stay for `resumeGrace` (30 s in deploy/ml-alerts.yaml), so some growth between
# storms 5 s apart is expected.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$1"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/relay-storm.XXXXXX")
cp "$HERE/../deploy/ml-alerts.yaml" "$WORK/"
export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-relay-bench-secret-0123456789abcdef0123456789}"
(cd "$WORK" && RELAY_SERVER_HOST=127.0.0.1 RELAY_STORE_PATH="$WORK/a.sqlite" RELAY_LIMITS_CONNECTIONS_PER_USER=0 \
    exec "$BIN" serve --config "$WORK/ml-alerts.yaml" --port "$PORT" > "$WORK/relay.log" 2>&1) &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 2
for storm in 1 2 3; do
    "$HERE/.build/release/relay-bench" connect-storm --concurrency 32 --duration 5 --port "$PORT" --server-pid "$PID" --label relay > /dev/null
    sleep 2
    echo "RSS KiB after storm $storm: $(awk '/VmRSS/ {print $2}' "/proc/$PID/status")"
done
