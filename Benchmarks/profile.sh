#!/usr/bin/env bash
# Instructions per delivered message on the fan-out path, from valgrind's callgrind, for the
# release relay and the baseline (instruction counts are repeatable whatever the machine's
# load, unlike seconds).
#
#   Benchmarks/profile.sh [--subscribers 100] [--frame-bytes 1024] [--rate 10] [--short 5] [--long 15]
#
# Each server runs twice under callgrind with the same set-up and warm-up, then a fan-out of
# `rate × short` and of `rate × long` frames to N subscribers. The difference of the two totals
# divided by the difference of deliveries is the marginal cost of one delivery (set-up,
# start-up and shutdown cancel out). The per-function differences name the hot spots.
# Needs the release binaries (run.sh builds them) and valgrind.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SUBSCRIBERS=100
FRAME_BYTES=1024
RATE=10
SHORT=5
LONG=15
TARGETS="relay baseline"
while [ $# -gt 0 ]; do
    case "$1" in
        --subscribers) SUBSCRIBERS="$2"; shift ;;
        --frame-bytes) FRAME_BYTES="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --short) SHORT="$2"; shift ;;
        --long) LONG="$2"; shift ;;
        --targets) TARGETS="$2"; shift ;;
        *) echo "profile.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

BENCH="$HERE/.build/release/relay-bench"
BASELINE="$HERE/.build/release/baseline-relay"
RELAY="$ROOT/.build-release/release/relay"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/relay-profile.XXXXXX")"
export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-relay-bench-secret-0123456789abcdef0123456789}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log() { echo "profile.sh: $*" >&2; }

# profile TARGET SECONDS → callgrind output file path on stdout
profile() {
    local target="$1" seconds="$2" port pid out
    port="$(free_port)"
    out="$WORK/$target-$seconds.callgrind"
    if [ "$target" = relay ]; then
        mkdir -p "$WORK/relay-$seconds"
        cp "$ROOT/deploy/ml-alerts.yaml" "$WORK/relay-$seconds/ml-alerts.yaml"
        (
            cd "$WORK/relay-$seconds"
            exec env RELAY_SERVER_HOST=127.0.0.1 RELAY_STORE_PATH="$WORK/relay-$seconds/ml.sqlite" \
                RELAY_LIMITS_CONNECTIONS_PER_USER=0 RELAY_ENDPOINTS_0_LIMITS_MESSAGES_PER_SECOND=0 \
                RELAY_SERVER_LOG_LEVEL=warning \
                valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$RELAY" serve --config "$WORK/relay-$seconds/ml-alerts.yaml" --port "$port"
        ) > "$WORK/$target-$seconds.log" 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BASELINE" --port "$port" > "$WORK/$target-$seconds.log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
        sleep 0.2
    done
    log "$target under callgrind (pid $pid): $SUBSCRIBERS subscribers, $RATE frames/s for $seconds s"
    "$BENCH" fanout --port "$port" --subscribers "$SUBSCRIBERS" --frame-bytes "$FRAME_BYTES" --rate "$RATE" \
        --duration "$seconds" --connect-timeout 120 --threads 1 --json --label "$target" > "$WORK/$target-$seconds.json"
    cat "$WORK/$target-$seconds.json" >&2
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$out"
}

for target in $TARGETS; do
    short="$(profile "$target" "$SHORT")"
    long="$(profile "$target" "$LONG")"
    python3 "$HERE/callgrind_diff.py" "$target" "$short" "$long" \
        "$WORK/$target-$SHORT.json" "$WORK/$target-$LONG.json" "$RATE" "$SUBSCRIBERS"
done
log "callgrind files: $WORK"
