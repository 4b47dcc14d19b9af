#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests (Debian package `postgresql`).
#
#   scripts/postgres.sh start <dir> [<port>]   initdb (first time), start, wait until ready;
#                                              prints postgres://postgres@127.0.0.1:<port>/postgres
#   scripts/postgres.sh stop <dir>             fast shutdown (no-op when not running)
#   scripts/postgres.sh status <dir>           exit 0 when running
#   scripts/postgres.sh url <dir>              prints the admin URL
#
# <dir> holds everything: the data directory (<dir>/data), the Unix socket, the server log
# (<dir>/postgres.log) and the port (<dir>/port, so a later `start <dir>` reuses it). Stop and
# start again on the same <dir> to simulate a database outage. The server listens on
# 127.0.0.1 only, with trust authentication (tests only!) and durability switched off.
# As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root), so
# <dir>'s parent directories must be traversable by that user (e.g. a directory under /tmp).
set -euo pipefail

usage() {
    echo "usage: $0 start <dir> [<port>] | stop <dir> | status <dir> | url <dir>" >&2
    exit 2
}

find_bindir() {
    local candidate
    if [ -n "${PG_BINDIR:-}" ]; then
        echo "$PG_BINDIR"
        return
    fi
    # the newest installed major version (Debian: /usr/lib/postgresql/<ver>/bin)
    candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n | tail -n 1 || true)
    if [ -n "$candidate" ] && [ -x "$candidate/pg_ctl" ]; then
        echo "$candidate"
        return
    fi
    if command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    echo "postgres.sh: no PostgreSQL found (apt-get install postgresql, or set PG_BINDIR)" >&2
    exit 1
}

# Runs a command as the server's OS user: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
bindir=$(find_bindir)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
log="$dir/postgres.log"

url_of() { echo "postgres://postgres@127.0.0.1:$1/postgres"; }

running() {
    [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "$command" in
start)
    port=${3:-}
    if [ -z "$port" ] && [ -f "$dir/port" ]; then port=$(cat "$dir/port"); fi
    [ -n "$port" ] || usage
    case "$port" in *[!0-9]*) echo "postgres.sh: bad port $port" >&2; exit 2 ;; esac
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        chmod 700 "$dir"
        if ! runuser -u postgres -- test -x "$dir"; then
            echo "postgres.sh: user postgres cannot reach $dir (a parent directory is not traversable)" >&2
            exit 1
        fi
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
            --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >>"$data/postgresql.conf" <<EOF

# scripts/postgres.sh: a throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
    fi
    echo "$port" >"$dir/port"
    if running; then
        echo "postgres.sh: already running in $dir" >&2
    else
        if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
                -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null; then
            echo "postgres.sh: the server did not start; end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
    fi
    for _ in $(seq 1 300); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
            url_of "$port"
            exit 0
        fi
        sleep 0.1
    done
    echo "postgres.sh: not accepting connections on 127.0.0.1:$port after 30 s" >&2
    exit 1
    ;;
stop)
    if running; then
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
status)
    running
    ;;
url)
    [ -f "$dir/port" ] || { echo "postgres.sh: no server in $dir" >&2; exit 1; }
    url_of "$(cat "$dir/port")"
    ;;
*)
    usage
    ;;
esac
