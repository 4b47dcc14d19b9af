#!/usr/bin/env bash
# Cross-node delivery in cluster mode (issue 7): messages/s and p50/p99 latency of pubsub
# `direct` (1:1) and room fan-out, across two relay nodes sharing one PostgreSQL, compared with
# every client on ONE node of the same cluster and with a standalone relay (no cluster).
#
#   Benchmarks/cluster.sh            full run (about 15 minutes on 2 cores, after the builds)
#   Benchmarks/cluster.sh --smoke    seconds per scenario, tiny counts (checks the set-up)
#
# Options: --skip-build (use the binaries already built; RELAY_BIN=path picks another relay
# binary), --relay-commit REV (build and run the relay from a `git archive` snapshot of REV),
# --only "direct room direct-search room-search", --results FILE (JSON lines; default
# Benchmarks/results/cluster-<UTC time>.jsonl), --no-standalone (skip the standalone relay),
# --bound-ms N (p99 bound of the throughput searches; default 100), --profile DIR (where the
# CPU goes, per fixed-rate 2-node run: `perf record -g` of both nodes, PostgreSQL with
# pg_stat_statements, and the CPU seconds of each PostgreSQL backend by connection, from
# /proc; reports in DIR), --no-exact-resume (the nodes run with `cluster.exactResume: false`:
# frames to a client do not wait for its journal record; what exactness costs is the difference).
#
# Builds like run.sh: this package with `swift build -c release --product relay-bench`, the
# relay with `swift build -c release --product relay --scratch-path .build-release`; both
# binaries are copied to a private directory before use. Starts a throwaway PostgreSQL
# (scripts/postgres.sh, its own directory and free port, a fresh database), two `relay serve`
# nodes (cluster: backend postgres, nodeId a / b) and a standalone relay, all on free ports of
# 127.0.0.1, with one route file: the pubsub plugin on /ws (auth none, presence off, no
# per-connection message rate). Every run is bounded (relay-bench --timeout, and `timeout`
# around it); everything started is stopped on exit.
#
# Placements: "2 nodes" = senders on node A, receivers on node B (direct), or the publisher on
# A and the subscribers half on A, half on B (room); "1 node" = every client on node A of the
# same running cluster; "standalone" = a relay without cluster. Latency is end to end: each
# message carries its intended send time (monotonic ns of the load generator) in its `data`,
# and the receiving client in the same process subtracts.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SMOKE=0
SKIP_BUILD=0
ONLY=""
RESULTS=""
RELAY_COMMIT=""
STANDALONE=1
BOUND_MS=100
PROFILE=""
EXACT_RESUME=true
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --skip-build) SKIP_BUILD=1 ;;
        --only) ONLY="$2"; shift ;;
        --results) RESULTS="$2"; shift ;;
        --relay-commit) RELAY_COMMIT="$2"; shift ;;
        --no-standalone) STANDALONE=0 ;;
        --bound-ms) BOUND_MS="$2"; shift ;;
        --profile) PROFILE="$2"; shift ;;
        --no-exact-resume) EXACT_RESUME=false ;;
        -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
        *) echo "cluster.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

log() { echo "cluster.sh: $*" >&2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "load: $(uptime)"

for tool in psql curl python3; do
    command -v "$tool" >/dev/null || { log "needs $tool (apt-get install postgresql curl python3)"; exit 1; }
done

RELAY_SRC="$ROOT"
if [ -n "$RELAY_COMMIT" ]; then
    RELAY_SRC="${TMPDIR:-/tmp}/relay-src-$(git -C "$ROOT" rev-parse --short "$RELAY_COMMIT")"
    FULL_REV="$(git -C "$ROOT" rev-parse "$RELAY_COMMIT^{commit}")"
    # The same snapshot as last time is kept (its files keep their times: the build is incremental).
    if [ "$(cat "$RELAY_SRC/.relay-bench-commit" 2>/dev/null)" != "$FULL_REV" ]; then
        rm -rf "$RELAY_SRC" && mkdir -p "$RELAY_SRC"
        git -C "$ROOT" archive "$RELAY_COMMIT" | tar -x -C "$RELAY_SRC"
        echo "$FULL_REV" > "$RELAY_SRC/.relay-bench-commit"
    fi
    log "relay sources: commit $(git -C "$ROOT" rev-parse --short "$RELAY_COMMIT") in $RELAY_SRC"
fi

if [ "$SKIP_BUILD" = 0 ]; then
    log "building relay-bench (release)"
    (cd "$HERE" && swift build -c release --product relay-bench 2>&1 | tail -n 3) >&2
    log "building the relay (release, scratch path .build-release)"
    (cd "$RELAY_SRC" && swift build -c release --product relay --scratch-path "$ROOT/.build-release" 2>&1 | tail -n 3) >&2
fi

PIDS=()
PG_STARTED=0
WORK=""
PGDIR=""
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$PG_STARTED" = 1 ]; then
        timeout 60 bash "$ROOT/scripts/postgres.sh" stop "$PGDIR" >/dev/null 2>&1 || true
    fi
    [ -n "$PGDIR" ] && rm -rf "$PGDIR"
    [ -n "$WORK" ] && rm -rf "$WORK/bin" && log "logs: $WORK"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORK="$(mktemp -d "${TMPDIR:-/tmp}/relay-cluster-bench.XXXXXX")"
# PostgreSQL runs as user `postgres` when we are root: its directory sits right under /tmp.
PGDIR="$(mktemp -d /tmp/relay-cluster-bench-pg.XXXXXX)"
mkdir -p "$WORK/bin"
# Private copies: a rebuild by someone else cannot change (or lock) them during the run.
cp "$HERE/.build/release/relay-bench" "$WORK/bin/relay-bench" || { log "missing relay-bench (build first)"; exit 1; }
cp "${RELAY_BIN:-$ROOT/.build-release/release/relay}" "$WORK/bin/relay" || { log "missing relay (build first)"; exit 1; }
BENCH="$WORK/bin/relay-bench"
RELAY="$WORK/bin/relay"

mkdir -p "$HERE/results"
RESULTS="${RESULTS:-$HERE/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)$([ "$SMOKE" = 1 ] && echo -smoke || true).jsonl}"
: > "$RESULTS"
export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-relay-bench-secret-0123456789abcdef0123456789}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }


# --- PostgreSQL ------------------------------------------------------------------------------
PGPORT="$(free_port)"
ADMIN_URL="$(timeout 120 bash "$ROOT/scripts/postgres.sh" start "$PGDIR" "$PGPORT")"
PG_STARTED=1
if [ -n "$PROFILE" ]; then
    # pg_stat_statements needs a restart to load.
    psql -X -q -d "$ADMIN_URL" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
    timeout 60 bash "$ROOT/scripts/postgres.sh" stop "$PGDIR" >/dev/null
    timeout 120 bash "$ROOT/scripts/postgres.sh" start "$PGDIR" "$PGPORT" >/dev/null
    # (Statements inside relay_write too.)
    psql -X -q -d "$ADMIN_URL" -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
    mkdir -p "$PROFILE"
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_URL" -c 'CREATE DATABASE relay_bench' >/dev/null
[ -n "$PROFILE" ] && psql -X -q -d "${ADMIN_URL%/postgres}/relay_bench" -c 'CREATE EXTENSION pg_stat_statements' >/dev/null
DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/relay_bench"
PG_VERSION="$(psql -X -A -t -d "$ADMIN_URL" -c 'SHOW server_version')"
log "PostgreSQL $PG_VERSION on 127.0.0.1:$PGPORT (directory $PGDIR)"
PG_PID="$(head -n 1 "$PGDIR/data/postmaster.pid")"

# CPU seconds of the PostgreSQL server: the postmaster and its children (the backends). Used for
# the idle figure; relay-bench measures each trial itself (--pg-pid).
pg_cpu() {
    python3 - "$PG_PID" <<'EOF'
import os, sys
root = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
total = 0.0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if pid == root or fields[1] == root:  # fields[1] is the parent pid
        total += (int(fields[11]) + int(fields[12])) / tick
print(f"{total:.3f}")
EOF
}

# --- The route file --------------------------------------------------------------------------
write_config() { # file [node id]
    cat > "$1" <<EOF
# Benchmarks/cluster.sh: the pubsub plugin on /ws (the route shape of tests/relay_helpers.py)
server: {host: 127.0.0.1, heartbeatInterval: 30, resumeGrace: 3, drainTimeout: 3}
limits: {maxMessageBytes: 4096, messagesPerSecond: 0}
endpoints:
  - {path: /ws, codec: json, auth: none}
plugins:
  chat: {plugin: pubsub, config: {presence: false}}
routes:
  - {endpoint: /ws, type: subscribe, plugin: chat}
  - {endpoint: /ws, type: unsubscribe, plugin: chat}
  - {endpoint: /ws, type: publish, plugin: chat}
  - {endpoint: /ws, type: direct, plugin: chat}
EOF
    if [ -n "${2:-}" ]; then
        echo "cluster: {backend: postgres, nodeId: $2, heartbeatInterval: 1, nodeTimeout: 5, exactResume: $EXACT_RESUME}" >> "$1"
    fi
}

wait_ready() { # port pid name
    local i
    for i in $(seq 1 300); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { log "$3 exited during start-up:"; tail -n 20 "$WORK/$3.log" >&2; return 1; }
        sleep 0.2
    done
    log "$3 not ready on port $1"
    return 1
}

START_PORT=""
START_PID=""
start_relay() { # name [node id]
    local name="$1" node="${2:-}"
    START_PORT="$(free_port)"
    write_config "$WORK/$name.yaml" "$node"
    if [ -n "$node" ]; then
        RELAY_DATABASE_URL="$DATABASE_URL" "$RELAY" serve --config "$WORK/$name.yaml" --port "$START_PORT" >> "$WORK/$name.log" 2>&1 &
    else
        "$RELAY" serve --config "$WORK/$name.yaml" --port "$START_PORT" >> "$WORK/$name.log" 2>&1 &
    fi
    START_PID=$!
    PIDS+=("$START_PID")
    wait_ready "$START_PORT" "$START_PID" "$name"
    log "$name: pid $START_PID port $START_PORT"
}

start_relay node-a a; A_PORT="$START_PORT"; A_PID="$START_PID"
start_relay node-b b; B_PORT="$START_PORT"; B_PID="$START_PID"
if [ "$STANDALONE" = 1 ]; then
    start_relay standalone; S_PORT="$START_PORT"; S_PID="$START_PID"
fi
sleep 2  # both nodes' heartbeats and directories settle

# PostgreSQL's own CPU with the cluster idle (heartbeats, nothing else): the background that
# every run's PG CPU figure includes.
IDLE_PG0="$(pg_cpu)"
sleep 5
IDLE_PG_PCT="$(python3 -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) / 5 * 100, 2))' "$IDLE_PG0" "$(pg_cpu)")"
log "PostgreSQL CPU with the cluster idle: $IDLE_PG_PCT % of one core"

# Which relay: the commit built (with --relay-commit), else the work tree's HEAD (+dirty when
# Sources/ has changes; with RELAY_BIN the binary's origin is yours to record).
RELAY_REV="$(git -C "$ROOT" rev-parse --short "${RELAY_COMMIT:-HEAD}")"
if [ -z "$RELAY_COMMIT" ] && [ -n "$(git -C "$ROOT" status --porcelain -- Sources Package.swift Package.resolved)" ]; then
    RELAY_REV="$RELAY_REV+dirty"
fi
[ -n "${RELAY_BIN:-}" ] && RELAY_REV="RELAY_BIN=$RELAY_BIN"
echo "{\"case\":\"_machine\",\"uptime_before\":\"$(uptime)\",\"nproc\":$(nproc),\"smoke\":$SMOKE,\"postgres\":\"$PG_VERSION\",\"relay\":\"$RELAY_REV\",\"exact_resume\":$EXACT_RESUME,\"pg_idle_cpu_pct\":$IDLE_PG_PCT}" >> "$RESULTS"
log "relay: $RELAY_REV"

selected() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
SMOKE_FLAG=()
[ "$SMOKE" = 1 ] && SMOKE_FLAG=(--smoke)
FAILURES=0

# CPU seconds of each PostgreSQL backend of the bench database, by application_name: "name seconds" lines.
pg_backends_cpu() {
    psql -X -A -t -F ' ' -d "$DATABASE_URL" -c "SELECT pid, replace(coalesce(nullif(application_name, ''), 'pool'), ' ', '.') FROM pg_stat_activity WHERE datname = 'relay_bench' AND pid <> pg_backend_pid()" |
    while read -r pid name; do
        [ -r "/proc/$pid/stat" ] || continue
        echo "$name $(awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$pid/stat")"
    done | awk '{ sum[$1] += $2 } END { for (n in sum) print n, sum[n] }' | sort
}

# profile_window NAME SECONDS: for SECONDS, perf of both nodes and the PostgreSQL breakdown
# (statements, CPU of each backend by connection); reports in $PROFILE/NAME.*.
profile_window() {
    local name="$1" seconds="$2" node perf_a perf_b
    psql -X -q -d "$DATABASE_URL" -c 'SELECT pg_stat_statements_reset()' >/dev/null
    pg_backends_cpu > "$PROFILE/$name.pg-before"
    perf record -q -F 499 -g -p "$A_PID" -o "$PROFILE/$name.node-a.perf" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_a=$!
    perf record -q -F 499 -g -p "$B_PID" -o "$PROFILE/$name.node-b.perf" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_b=$!
    wait "$perf_a" "$perf_b" || true
    pg_backends_cpu > "$PROFILE/$name.pg-after"
    join -a 2 "$PROFILE/$name.pg-before" "$PROFILE/$name.pg-after" |
        awk 'NF == 3 { printf "%-40s %8.3f s\n", $1, $3 - $2 } NF == 2 { printf "%-40s %8.3f s\n", $1, $2 }' > "$PROFILE/$name.pg-backends.txt"
    psql -X -d "$DATABASE_URL" -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, rows,
        round((total_exec_time / greatest(calls, 1) * 1000)::numeric, 1) AS us_per_call, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'relay_bench') ORDER BY total_exec_time DESC LIMIT 25" > "$PROFILE/$name.pg-statements.txt"
    for node in a b; do
        perf report -i "$PROFILE/$name.node-$node.perf" --stdio --no-children --percent-limit 0.7 -g none --sort dso,symbol 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -60 > "$PROFILE/$name.node-$node.top.txt"
    done
    log "profile of $name: $PROFILE/$name.*"
}

# run_case CASE PLACEMENT SUBCOMMAND ARGS… — one relay-bench run, one JSON line.
run_case() {
    local name="$1" placement="$2" && shift 2
    local targets
    case "$placement" in
        2-nodes) targets=(--port "$A_PORT" --server-pid "$A_PID" --port-b "$B_PORT" --server-pid-b "$B_PID") ;;
        1-node) targets=(--port "$A_PORT" --server-pid "$A_PID") ;;
        standalone) [ "$STANDALONE" = 1 ] || return 0; targets=(--port "$S_PORT" --server-pid "$S_PID") ;;
    esac
    local load_before out profiling=0
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    log "$name [$placement] (load $load_before)"
    # Profiled: the fixed-rate 2-node runs (the perf window skips the warm-up).
    if [ -n "$PROFILE" ] && [ "$placement" = 2-nodes ] && [[ "$name" != *-search ]]; then
        profiling=1
        ( sleep 3; profile_window "$name" 6 ) &
        PROFILER=$!
    fi
    if out="$(timeout 900 "$BENCH" "$@" "${targets[@]}" --pg-pid "$PG_PID" --path /ws --auth none --label "$placement" \
            --timeout 860 --verbose --json "${SMOKE_FLAG[@]}" 2> "$WORK/$name-$placement.err")"; then
        echo "$out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
d["case"], d["placement"], d["load_before"], d["load_after"] = sys.argv[1], sys.argv[2], sys.argv[3], " ".join(open("/proc/loadavg").read().split()[:3])
print(json.dumps(d))' "$name" "$placement" "$load_before" >> "$RESULTS"
        echo "  $out" >&2
    else
        FAILURES=$((FAILURES + 1))
        log "$name [$placement] failed: $(tail -n 3 "$WORK/$name-$placement.err" | tr '\n' ' ')"
        python3 -c 'import json,sys; print(json.dumps({"case": sys.argv[1], "placement": sys.argv[2], "error": sys.argv[3]}))' \
            "$name" "$placement" "$(tail -n 3 "$WORK/$name-$placement.err")" >> "$RESULTS"
    fi
    if [ "$profiling" = 1 ]; then wait "$PROFILER" || true; fi
    sleep 1
}

# Fixed rates (latency at a load the cluster carries), then the throughput searches: the
# highest rate per sender whose p99 < BOUND_MS with loss <= 0.1 %, no `error`, no connection
# closed; a failing trial is run once more (other work on the machine can spoil one). The
# placements follow each other within each scenario so drift in the machine's load falls on all alike.
DIRECT=(pubsub-direct --pairs 10 --message-bytes 256)
ROOM=(pubsub-room --subscribers 100 --message-bytes 256)
for placement in 2-nodes 1-node standalone; do
    selected direct && run_case direct "$placement" "${DIRECT[@]}" --rate 50 --duration 10
done
for placement in 2-nodes 1-node standalone; do
    selected room && run_case room "$placement" "${ROOM[@]}" --rate 20 --duration 10
done
for placement in 2-nodes 1-node standalone; do
    selected direct-search && run_case direct-search "$placement" "${DIRECT[@]}" --rate 50 --search --bound-ms "$BOUND_MS"
done
for placement in 2-nodes 1-node standalone; do
    selected room-search && run_case room-search "$placement" "${ROOM[@]}" --rate 20 --search --bound-ms "$BOUND_MS"
done

echo "{\"case\":\"_machine_after\",\"uptime_after\":\"$(uptime)\"}" >> "$RESULTS"
log "load after: $(uptime)"

python3 "$HERE/cluster_table.py" "$RESULTS"
log "results: $RESULTS"
if [ "$FAILURES" -gt 0 ]; then
    log "$FAILURES scenario run(s) failed"
    exit 1
fi
