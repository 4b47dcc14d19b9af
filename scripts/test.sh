#!/usr/bin/env bash
# Runs every test: Swift unit tests, the route-file checks, the integration suite against a
# real relay over real sockets, and the out-of-tree plugin package's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export RELAY_JWT_SECRET="${RELAY_JWT_SECRET:-ci-secret-0123456789abcdefghijklmnopqrstuvwxyz}"

echo "== build"
swift build --build-tests

echo "== route files"
for file in routes.yaml deploy/*.yaml; do
    [ -e "$file" ] || continue
    .build/debug/relay check "$file"
done

echo "== example plugin package (plugins/chat-history)"
(cd plugins/chat-history && swift build --build-tests && swift test --skip-build)

echo "== unit tests"
swift test --skip-build

echo "== integration tests"
RELAY_BIN="$PWD/.build/debug/relay" python3 -m pytest tests -q
