#!/usr/bin/env bash
# pg.sh - a private PostgreSQL cluster in a directory: start | stop | status.
#   scripts/pg.sh start <dir> <port>   initdb if needed, start on 127.0.0.1:<port> and a unix socket in <dir>
#   scripts/pg.sh stop <dir>
# As root, the cluster runs as the 'postgres' user (PostgreSQL refuses root).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop <dir> [port]}
dir=$(realpath -m "${2:?data dir}")
port=${3:-5432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg.sh: PostgreSQL server binaries not found (install postgresql)" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
        # postgres must be able to reach the directory
        d=$(dirname "$dir"); while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "pg.sh: already running in $dir"; exit 0
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=${PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=128MB" >/dev/null \
        || { tail -n 30 "$dir/postgres.log" >&2; exit 1; }
    ;;
stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
