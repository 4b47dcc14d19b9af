#!/usr/bin/env bash
# Builds relay-VERSION-linux-ARCH.tar.gz: a stripped relay binary with the Swift runtime linked
# in (--static-swift-stdlib: it runs without the Swift toolchain), the web assets, the default
# route files, the systemd unit and the Grafana dashboard. Unpack it anywhere and run
# `bin/relay serve --config routes.yaml` from its directory (docs/deployment.md).
#
#   scripts/package.sh [--debug] [--skip-build] [--output DIR]
#
# --debug        package a debug build (in .build-package) instead of a release build
#                (.build-release): the same layout and linking, minutes faster; CI's packaging
#                test uses it
# --skip-build   package what the last build left
# --output DIR   where the tarball goes (default: dist/)
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=release
scratch=.build-release
build=1
output=dist
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) configuration=debug; scratch=.build-package ;;
        --skip-build) build=0 ;;
        --output) output="$2"; shift ;;
        *) echo "usage: $0 [--debug] [--skip-build] [--output DIR]" >&2; exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    # Never in the shared .build: objects compiled for --static-swift-stdlib name the static
    # Foundation libraries, and a later plain `swift build` there would fail to link them.
    swift build -c "$configuration" --product relay --static-swift-stdlib --scratch-path "$scratch"
fi
binary="$scratch/$configuration/relay"
version=$("$binary" --version | cut -d' ' -f1)
name="relay-$version-linux-$(uname -m)"
[ "$configuration" = release ] || name="$name-$configuration"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/bin" "$root/deploy"
strip -o "$root/bin/relay" "$binary"
cp -R web "$root/web"
cp routes.yaml LICENSE README.md CHANGELOG.md "$root/"
cp deploy/*.yaml deploy/relay.service "$root/deploy/"
cp -R deploy/grafana "$root/deploy/grafana"

if ldd "$root/bin/relay" | grep -i swift; then
    echo "package.sh: the binary still links a Swift library dynamically" >&2
    exit 1
fi

mkdir -p "$output"
tar -C "$stage" -czf "$output/$name.tar.gz" "$name"
echo "$output/$name.tar.gz: binary $(stat -c %s "$root/bin/relay") bytes, tarball $(stat -c %s "$output/$name.tar.gz") bytes"
