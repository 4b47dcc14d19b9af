#!/usr/bin/env bash
# Runs every test: Swift unit tests (with the Swift client's tests against a real relay process),
# the route-file checks, the client type checks, the integration suite against a real relay over
# real sockets (with the Python and browser clients' tests), the out-of-tree plugin package's
# own tests, the benchmark smoke run, and each libFuzzer target for 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."

export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-ci-secret-0123456789abcdefghijklmnopqrstuvwxyz}"

echo "== build"
swift build --build-tests

echo "== route files (warnings fail too)"
for file in routes.yaml deploy/*.yaml; do
    [ -e "$file" ] || continue
    .build/debug/relay check --strict "$file"
done

echo "== client type checks (clients/python with mypy --strict, relay.js declarations with tsc --strict)"
python3 -m mypy --config-file clients/python/pyproject.toml clients/python/src
tsc -p tests/typescript

echo "== Python test, benchmark, example and client code (pyflakes: unused imports, undefined names)"
python3 -m pyflakes tests/*.py Benchmarks/tools/*.py examples/ml-service/*.py clients/python/src

echo "== example plugin package (plugins/chat-history)"
(cd plugins/chat-history && swift build --build-tests && swift test --skip-build)

echo "== the plugin tutorial's package (examples/presence-counter, docs/plugins/writing-a-plugin.md)"
(cd examples/presence-counter && swift build --build-tests && swift test --skip-build \
    && .build/debug/presence-relay check --strict presence.yaml)

echo "== PostgreSQL (a throwaway server for the cluster tests)"
# Both test suites get its admin URL (RELAY_TEST_DATABASE_URL; the integration tests create a
# database per test) and its directory (RELAY_TEST_PG_DIR, for scripts/postgres.sh stop/start).
# The directory is under /tmp: the server runs as user `postgres` when we are root.
RELAY_TEST_PG_DIR=$(mktemp -d /tmp/relay-test-pg.XXXXXX)
package_dir=$(mktemp -d /tmp/relay-package.XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/postgres.sh stop "$RELAY_TEST_PG_DIR" || true; rm -rf "$RELAY_TEST_PG_DIR" "$package_dir"' EXIT
RELAY_TEST_DATABASE_URL=$(scripts/postgres.sh start "$RELAY_TEST_PG_DIR" "$pg_port")
export RELAY_TEST_PG_DIR RELAY_TEST_DATABASE_URL
echo "$RELAY_TEST_DATABASE_URL"

echo "== unit tests"
swift test --skip-build

echo "== package (scripts/package.sh --debug: the release tarball's layout and linking, on the debug build)"
# A release build takes 10+ minutes on CI's two cores; relinking the debug build with the Swift
# runtime linked statically takes under a minute. tests/test_packaging.py unpacks this tarball.
package_started=$SECONDS
scripts/package.sh --debug --output "$package_dir"
RELAY_PACKAGE=$(ls "$package_dir"/relay-*.tar.gz)
export RELAY_PACKAGE
echo "packaged in $((SECONDS - package_started)) s"

echo "== integration tests"
RELAY_BIN="$PWD/.build/debug/relay" python3 -m pytest tests -q

echo "== benchmark smoke (every scenario for seconds, debug builds, no timing assertions)"
smoke_results=$(mktemp /tmp/relay-bench-smoke.XXXXXX.jsonl)
Benchmarks/run.sh --smoke --debug --results "$smoke_results"
rm -f "$smoke_results"
python3 Benchmarks/tools/polling-bench.py --smoke --relay .build/debug/relay

echo "== fuzzing (libFuzzer: each target 30 s; Fuzz/README.md)"
# Last: it rebuilds the kernel and plugins instrumented in .build (the dependencies are reused).
fuzz_started=$SECONDS
Fuzz/run.sh --seconds 30
echo "fuzzed in $((SECONDS - fuzz_started)) s"
