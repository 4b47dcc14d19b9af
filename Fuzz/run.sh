#!/usr/bin/env bash
# Builds the libFuzzer targets once (RELAY_FUZZ=1: the kernel and plugins instrumented for
# libFuzzer and AddressSanitizer) and runs each for a while on its seed corpus in Fuzz/Corpus.
# Exits 1 when a target crashes; the input that crashed it is kept in the artifacts directory.
#
#   Fuzz/run.sh [--seconds N] [--scratch-path DIR] [--grow-corpus] [TARGET…]
#
#   --seconds N       how long each target runs (default 30, what CI runs)
#   --scratch-path    SwiftPM build directory (default .build: only the kernel, the plugins and
#                     the targets are rebuilt; a plain `swift build` rebuilds them back)
#   --grow-corpus     add the inputs that reach new code to Fuzz/Corpus/TARGET (otherwise they go
#                     to a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
scratch=.build
grow=false
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --scratch-path) scratch="$2"; shift 2 ;;
        --grow-corpus) grow=true; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(FuzzJSONParser FuzzSocketIOPacket FuzzBinaryFrame FuzzRouteFile FuzzTokenVerifier)

# Largest input per target: a text frame, a packet, a media header, a route file, a token.
max_len() {
    case "$1" in
        FuzzRouteFile) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

export RELAY_FUZZ=1
build_started=$SECONDS
build_log=$(mktemp /tmp/relay-fuzz-build.XXXXXX)
for target in "${targets[@]}"; do
    if ! swift build --scratch-path "$scratch" --product "$target" >"$build_log" 2>&1; then
        tail -n 60 "$build_log"
        exit 1
    fi
done
rm -f "$build_log"
echo "built in $((SECONDS - build_started)) s"
bin="$scratch/debug"
artifacts=$(mktemp -d /tmp/relay-fuzz-artifacts.XXXXXX)
# Swift's runtime keeps metadata for the life of the process: leak reports would be noise.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
status=0
for target in "${targets[@]}"; do
    if $grow; then
        corpus=(Fuzz/Corpus/"$target")
    else
        scratch_corpus=$(mktemp -d /tmp/relay-fuzz-corpus.XXXXXX)
        corpus=("$scratch_corpus" Fuzz/Corpus/"$target")
    fi
    echo "== $target ($seconds s)"
    if ! "$bin/$target" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${corpus[@]}" 2>"$artifacts/$target.log"; then
        status=1
        tail -n 40 "$artifacts/$target.log"
        echo "$target crashed: inputs in $artifacts" >&2
    else
        # The last status line (coverage, features, corpus), then the totals.
        grep -E "^#[0-9]+.*cov: " "$artifacts/$target.log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/' || true
        grep -E "^(Done [0-9]+ runs|stat::(new_units_added|peak_rss_mb))" "$artifacts/$target.log" || true
    fi
    $grow || rm -rf "$scratch_corpus"
done
[ $status -ne 0 ] || rm -rf "$artifacts"
exit $status
