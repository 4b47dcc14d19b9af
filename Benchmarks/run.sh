#!/usr/bin/env bash
# Runs every benchmark scenario against Relay and the baseline in one go and prints
# scenario × Relay × baseline × ratio.
#
#   Benchmarks/run.sh            full run (about 10–15 minutes on 2 cores, after the builds)
#   Benchmarks/run.sh --smoke    seconds per scenario, tiny counts, no timing assertions
#   Benchmarks/run.sh --smoke --debug    the same on debug builds (what scripts/test.sh and CI run)
#
# Options: --skip-build (use the binaries already built; RELAY_BIN=path picks another relay
# binary), --only "pingpong fanout-100 …"
# (scenario names as in the table), --results FILE (JSON lines; default
# Benchmarks/results/<UTC time>.jsonl), --relay-commit REV (build and run the relay from a
# `git archive` snapshot of REV instead of the working tree: reproducible while others edit).
#
# Builds both in release: this package with `swift build -c release`, and the relay with
# `swift build -c release --product relay --scratch-path .build-release` (so the debug .build
# others use is untouched); with --debug, both in debug (the relay in the usual .build), which
# is only good for checking that every scenario still runs. Starts Relay on deploy/ml-alerts.yaml (a temporary copy; the
# overrides below lift the per-user connection cap and the per-connection message rate, which
# a load generator from one user would trip, the 10,000 connection cap for the 15,000
# connection run, and the 256-message consumer queue: at 10,000+ messages/s it holds under
# 25 ms, so drop-oldest would shed load before the 50 ms latency bound the capacity search
# judges by, while the baseline queues without bound; 4,096 holds more than the bound) and
# baseline-relay, each on a free port on 127.0.0.1, and stops both at the
# end. Connections only ever go to 127.0.0.1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SMOKE=0
SKIP_BUILD=0
CONFIGURATION=release
ONLY=""
RESULTS=""
RELAY_COMMIT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --skip-build) SKIP_BUILD=1 ;;
        --debug) CONFIGURATION=debug ;;
        --only) ONLY="$2"; shift ;;
        --results) RESULTS="$2"; shift ;;
        --relay-commit) RELAY_COMMIT="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

log() { echo "run.sh: $*" >&2; }

# 15,000 connections need as many descriptors in the relay and in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "file descriptor limit $(ulimit -n); load: $(uptime)"

# The relay's sources: the working tree, or a snapshot of one commit.
RELAY_SRC="$ROOT"
if [ -n "$RELAY_COMMIT" ]; then
    RELAY_SRC="${TMPDIR:-/tmp}/relay-src-$(git -C "$ROOT" rev-parse --short "$RELAY_COMMIT")"
    rm -rf "$RELAY_SRC" && mkdir -p "$RELAY_SRC"
    git -C "$ROOT" archive "$RELAY_COMMIT" | tar -x -C "$RELAY_SRC"
    log "relay sources: commit $(git -C "$ROOT" rev-parse --short "$RELAY_COMMIT") in $RELAY_SRC"
fi

RELAY_SCRATCH="$ROOT/.build-release"
[ "$CONFIGURATION" = debug ] && RELAY_SCRATCH="$ROOT/.build"
if [ "$SKIP_BUILD" = 0 ]; then
    log "building the benchmark package ($CONFIGURATION)"
    (cd "$HERE" && swift build -c "$CONFIGURATION" 2>&1 | tail -n 3) >&2
    log "building the relay ($CONFIGURATION, scratch path $RELAY_SCRATCH)"
    (cd "$RELAY_SRC" && swift build -c "$CONFIGURATION" --product relay --scratch-path "$RELAY_SCRATCH" 2>&1 | tail -n 3) >&2
fi
BENCH="$HERE/.build/$CONFIGURATION/relay-bench"
BASELINE="$HERE/.build/$CONFIGURATION/baseline-relay"
RELAY="${RELAY_BIN:-$RELAY_SCRATCH/$CONFIGURATION/relay}"
for binary in "$BENCH" "$BASELINE" "$RELAY"; do
    [ -x "$binary" ] || { echo "run.sh: missing $binary (build first)" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX")"
mkdir -p "$HERE/results"
RESULTS="${RESULTS:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)$([ "$SMOKE" = 1 ] && echo -smoke || true).jsonl}"
: > "$RESULTS"
export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-relay-bench-secret-0123456789abcdef0123456789}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

RELAY_PID=""
BASELINE_PID=""
RELAY_PORT=""
BASELINE_PORT=""

wait_ready() { # port pid name
    local i
    for i in $(seq 1 150); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { log "$3 exited during start-up"; return 1; }
        sleep 0.2
    done
    log "$3 not ready on port $1"
    return 1
}

start_relay() {
    RELAY_PORT="$(free_port)"
    rm -rf "$WORK/relay" && mkdir -p "$WORK/relay"
    cp "$RELAY_SRC/deploy/ml-alerts.yaml" "$WORK/relay/ml-alerts.yaml"
    (
        cd "$WORK/relay"
        exec env \
            RELAY_SERVER_HOST=127.0.0.1 \
            RELAY_STORE_PATH="$WORK/relay/ml-alerts.sqlite" \
            RELAY_SERVER_MAX_CONNECTIONS=20000 \
            RELAY_LIMITS_CONNECTIONS_PER_USER=0 \
            RELAY_ENDPOINTS_0_LIMITS_MESSAGES_PER_SECOND=0 \
            RELAY_ENDPOINTS_0_LIMITS_QUEUE_MESSAGES=4096 \
            "$RELAY" serve --config "$WORK/relay/ml-alerts.yaml" --port "$RELAY_PORT"
    ) >> "$WORK/relay.log" 2>&1 &
    RELAY_PID=$!
    wait_ready "$RELAY_PORT" "$RELAY_PID" relay
}

start_baseline() {
    BASELINE_PORT="$(free_port)"
    "$BASELINE" --port "$BASELINE_PORT" >> "$WORK/baseline.log" 2>&1 &
    BASELINE_PID=$!
    wait_ready "$BASELINE_PORT" "$BASELINE_PID" baseline-relay
}

stop_servers() {
    local pid
    for pid in "$RELAY_PID" "$BASELINE_PID"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$RELAY_PID" "$BASELINE_PID"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    RELAY_PID=""
    BASELINE_PID=""
}

cleanup() {
    stop_servers
    log "logs: $WORK"
}
trap cleanup EXIT

selected() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

SMOKE_FLAG=()
[ "$SMOKE" = 1 ] && SMOKE_FLAG=(--smoke)
FAILURES=0

# run_case NAME SUBCOMMAND ARGS… — the same scenario against Relay, then the baseline.
run_case() {
    local name="$1" && shift
    selected "$name" || return 0
    local target port pid out
    for target in relay baseline; do
        if [ "$target" = relay ]; then port="$RELAY_PORT"; pid="$RELAY_PID"; else port="$BASELINE_PORT"; pid="$BASELINE_PID"; fi
        log "$name → $target"
        if out="$("$BENCH" "$@" --port "$port" --server-pid "$pid" --label "$target" --json "${SMOKE_FLAG[@]}" 2> "$WORK/$name-$target.err")"; then
            echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["case"]=sys.argv[1]; print(json.dumps(d))' "$name" >> "$RESULTS"
            echo "  $out" >&2
        else
            FAILURES=$((FAILURES + 1))
            log "$name against $target failed: $(tail -n 3 "$WORK/$name-$target.err" | tr '\n' ' ')"
            python3 -c 'import json,sys; print(json.dumps({"case": sys.argv[1], "scenario": sys.argv[1], "target": sys.argv[2], "error": sys.argv[3]}))' \
                "$name" "$target" "$(tail -n 3 "$WORK/$name-$target.err")" >> "$RESULTS"
        fi
    done
}

start_relay
start_baseline
log "relay pid $RELAY_PID port $RELAY_PORT; baseline pid $BASELINE_PID port $BASELINE_PORT"
echo "{\"case\":\"_machine\",\"uptime_before\":\"$(uptime)\",\"nproc\":$(nproc),\"smoke\":$SMOKE}" >> "$RESULTS"

run_case pingpong            pingpong --connections 100 --rate 5000 --duration 10
run_case fanout-100          fanout --subscribers 100 --frame-bytes 1024 --rate 200 --duration 10
run_case fanout-100-search   fanout --subscribers 100 --frame-bytes 1024 --rate 200 --search
run_case fanout-1000         fanout --subscribers 1000 --frame-bytes 256 --rate 20 --duration 10
run_case fanout-1000-search  fanout --subscribers 1000 --frame-bytes 256 --rate 20 --search
run_case many-streams        many-streams --producers 100 --subscribers 10 --frame-bytes 1024 --rate 20 --duration 10
run_case binary-fanout       binary-fanout --subscribers 100 --frame-bytes 16384 --rate 50 --duration 10
run_case slow-consumer       slow-consumer --subscribers 50 --frame-bytes 4096 --rate 200 --duration 5 --rounds 3
run_case connect-storm       connect-storm --concurrency 32 --duration 5
# The same with a token per connection (a user each): no connection finds its token verified.
if [ "$SMOKE" = 1 ]; then STORM_USERS=200; else STORM_USERS=40000; fi
run_case connect-storm-users connect-storm --concurrency 32 --duration 5 --users "$STORM_USERS"

# Idle memory on fresh servers: memory freed by earlier scenarios would hide new allocations.
if [ "$SMOKE" = 1 ]; then IDLE_SIZES="100"; else IDLE_SIZES="5000 10000 15000"; fi
for n in $IDLE_SIZES; do
    selected "idle-$n" || continue
    stop_servers
    start_relay
    start_baseline
    sleep 1
    # One user per connection: each holds its own identity and claims, as in production.
    run_case "idle-$n" idle --connections "$n" --settle 3 --users "$n"
done

echo "{\"case\":\"_machine_after\",\"uptime_after\":\"$(uptime)\"}" >> "$RESULTS"
log "load after: $(uptime)"
stop_servers

python3 "$HERE/table.py" "$RESULTS"
log "results: $RESULTS"
if [ "$FAILURES" -gt 0 ]; then
    log "$FAILURES scenario run(s) failed"
    exit 1
fi
