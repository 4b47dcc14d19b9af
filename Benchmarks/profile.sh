#!/usr/bin/env bash
# Instructions per delivered message on the fan-out path, from valgrind's callgrind, for the
# release relay and the baseline (instruction counts are repeatable whatever the machine's
# load, unlike seconds).
#
#   Benchmarks/profile.sh [--subscribers 100] [--frame-bytes 1024] [--low 5] [--high 15] [--seconds 10]
#   Benchmarks/profile.sh --scenario pingpong [--low 50] [--high 150]     (pings per second, 100 connections)
#   Benchmarks/profile.sh --scenario connect-storm [--low 100] [--high 300] (connections opened, auth'd, closed)
#
# Each server runs twice under callgrind with the same set-up, warm-up and duration, fanning
# out `low` and then `high` frames per second to N subscribers. The difference of the two
# totals divided by the difference of deliveries is the marginal cost of one delivery:
# start-up, set-up, shutdown and everything that costs per second (timers, heartbeats,
# watchdogs) cancel out. The per-function differences name the hot spots.
# Needs the release binaries (run.sh builds them) and valgrind.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SUBSCRIBERS=100
FRAME_BYTES=1024
LOW=5
HIGH=15
SECONDS_=10
TARGETS="relay baseline"
SCENARIO=fanout
while [ $# -gt 0 ]; do
    case "$1" in
        --subscribers) SUBSCRIBERS="$2"; shift ;;
        --frame-bytes) FRAME_BYTES="$2"; shift ;;
        --low) LOW="$2"; shift ;;
        --high) HIGH="$2"; shift ;;
        --seconds) SECONDS_="$2"; shift ;;
        --targets) TARGETS="$2"; shift ;;
        --scenario) SCENARIO="$2"; shift ;;
        *) echo "profile.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

BENCH="$HERE/.build/release/relay-bench"
BASELINE="$HERE/.build/release/baseline-relay"
RELAY="$ROOT/.build-release/release/relay"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/relay-profile.XXXXXX")"
export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-relay-bench-secret-0123456789abcdef0123456789}"
# valgrind 3.19 cannot read the DWARF 5 the Swift toolchain emits ("unhandled dwarf2 abbrev
# form"): profile copies without debug sections. The symbol table stays, so functions keep
# their names.
objcopy --strip-debug "$RELAY" "$WORK/relay"
objcopy --strip-debug "$BASELINE" "$WORK/baseline-relay"
RELAY="$WORK/relay"
BASELINE="$WORK/baseline-relay"
# …and dispatch_main() crashes valgrind 3.19 in sigsuspend: tools/vgshim.c parks it in sleep.
gcc -shared -fPIC -O2 -o "$WORK/vgshim.so" "$HERE/tools/vgshim.c"
export LD_PRELOAD="$WORK/vgshim.so"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log() { echo "profile.sh: $*" >&2; }

# profile TARGET RATE → callgrind output file path on stdout
profile() {
    local target="$1" rate="$2" seconds="$SECONDS_" port pid out
    port="$(free_port)"
    out="$WORK/$target-$rate.callgrind"
    if [ "$target" = relay ]; then
        mkdir -p "$WORK/relay-$rate"
        cp "$ROOT/deploy/ml-alerts.yaml" "$WORK/relay-$rate/ml-alerts.yaml"
        (
            cd "$WORK/relay-$rate"
            exec env RELAY_SERVER_HOST=127.0.0.1 RELAY_STORE_PATH="$WORK/relay-$rate/ml.sqlite" \
                RELAY_LIMITS_CONNECTIONS_PER_USER=0 RELAY_ENDPOINTS_0_LIMITS_MESSAGES_PER_SECOND=0 \
                RELAY_SERVER_LOG_LEVEL=warning \
                valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$RELAY" serve --config "$WORK/relay-$rate/ml-alerts.yaml" --port "$port"
        ) > "$WORK/$target-$rate.log" 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BASELINE" --port "$port" > "$WORK/$target-$rate.log" 2>&1 &
    fi
    pid=$!
    local ready=0
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then ready=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$ready" = 0 ]; then
        log "$target did not start under valgrind; see $WORK/$target-$rate.log"
        kill -TERM "$pid" 2>/dev/null || true
        exit 1
    fi
    if [ "$SCENARIO" = connect-storm ]; then
        log "$target under callgrind (pid $pid): $rate connections (connect, upgrade, auth, close), 4 at a time"
        LD_PRELOAD= "$BENCH" connect-storm --port "$port" --concurrency 4 --max-connections "$rate" --duration 600 \
            --connect-timeout 120 --threads 1 --json --label "$target" > "$WORK/$target-$rate.json"
    elif [ "$SCENARIO" = pingpong ]; then
        log "$target under callgrind (pid $pid): 100 connections, $rate pings/s for $seconds s"
        LD_PRELOAD= "$BENCH" pingpong --port "$port" --connections 100 --rate "$rate" \
            --duration "$seconds" --connect-timeout 120 --threads 1 --json --label "$target" > "$WORK/$target-$rate.json"
    else
        log "$target under callgrind (pid $pid): $SUBSCRIBERS subscribers, $rate frames/s for $seconds s"
        LD_PRELOAD= "$BENCH" fanout --port "$port" --subscribers "$SUBSCRIBERS" --frame-bytes "$FRAME_BYTES" --rate "$rate" \
            --duration "$seconds" --connect-timeout 120 --threads 1 --json --label "$target" > "$WORK/$target-$rate.json"
    fi
    cat "$WORK/$target-$rate.json" >&2
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$out"
}

for target in $TARGETS; do
    low="$(profile "$target" "$LOW")"
    high="$(profile "$target" "$HIGH")"
    python3 "$HERE/callgrind_diff.py" "$target" "$low" "$high" "$WORK/$target-$LOW.json" "$WORK/$target-$HIGH.json"
done
log "callgrind files: $WORK"
