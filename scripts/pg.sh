#!/usr/bin/env bash
# pg.sh - a private PostgreSQL cluster in a directory: start | stop | role-password.
#   scripts/pg.sh start <dir> <port>   initdb if needed, start on 127.0.0.1:<port> and a unix socket in <dir>
#   scripts/pg.sh stop <dir>
#   scripts/pg.sh role-password <dir> <role> <file>
#       set the role's password (the role must exist: `sensorpipe migrate` makes sensorpipe_ingest and
#       sensorpipe_serve) from the first line of <file>; a missing <file> is made first, random, mode 0600
# As root, the cluster runs as the 'postgres' user (PostgreSQL refuses root).
# Settings from the environment at start: PG_FSYNC (on), PG_SHARED_BUFFERS (128MB, PostgreSQL's
# default; a sustained ingest wants its day's index pages in it, docs/BENCHMARKS.md "Sustained
# throughput"). They are command-line options, so they win over ALTER SYSTEM.
#
# Authentication, written to data/pg_hba.conf and data/pg_ident.conf at every start (edits there are
# overwritten; a cluster made by an older pg.sh with trust is converted at its next start):
#   unix socket, user postgres   peer: the OS user who runs this script (and postgres) only
#   unix socket, other users     scram-sha-256
#   TCP (127.0.0.1, ::1)         scram-sha-256 for every user; never trust
# The superuser's password is in <dir>/postgres.password (mode 0600, owned by who runs this script),
# made at the first start, for what must log in as postgres over TCP (e.g. --db-password-file).
# Passwords reach psql on its standard input, never on a command line.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|role-password <dir> ...}
dir=$(realpath -m "${2:?data dir}")
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg.sh: PostgreSQL server binaries not found (install postgresql)" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_hba.conf and pg_ident.conf: see the header
write_auth() {
    cat >"$dir/data/pg_hba.conf" <<EOF
# written by scripts/pg.sh at every start: edits here are overwritten
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer map=sensorpipe
local   all       all                      scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
EOF
    cat >"$dir/data/pg_ident.conf" <<EOF
# written by scripts/pg.sh at every start: the OS users that may log in as postgres over the socket
# MAPNAME     SYSTEM-USERNAME   PG-USERNAME
sensorpipe    $USER_NAME    postgres
sensorpipe    postgres    postgres
EOF
}

# a random password into file $1 (mode 0600) unless it exists
make_password_file() {
    [ -s "$1" ] && return 0
    local pw
    pw=$(head -c 48 /dev/urandom | base64 -w 0 | tr -d '/+=')
    (umask 077 && printf '%s\n' "${pw:0:32}" >"$1")
}

# run SQL from stdin as postgres over the unix socket
psql_super() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "$@"
}

# set role $1's password from file $2, on psql's standard input; the statement is kept out of the server log
set_password() {
    local role=$1 file=$2 pw
    [[ $role =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "pg.sh: bad role name $role" >&2; exit 2; }
    if [ "$(psql_super -tAc "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
        echo "pg.sh: role $role does not exist (sensorpipe migrate makes sensorpipe_ingest and sensorpipe_serve)" >&2
        exit 1
    fi
    IFS= read -r pw <"$file" || [ -n "$pw" ]
    pw=${pw%$'\r'}
    [ -n "$pw" ] || { echo "pg.sh: $file is empty" >&2; exit 1; }
    printf "SET log_statement = 'none'; SET log_min_error_statement = panic; SET log_min_duration_statement = -1;\nALTER ROLE \"%s\" PASSWORD '%s';\n" \
        "$role" "${pw//\'/\'\'}" | psql_super
}

USER_NAME=$(id -un)
case "$cmd" in
start)
    port=${3:-5432}
    [[ ${PG_SHARED_BUFFERS:-128MB} =~ ^[0-9]+(kB|MB|GB)$ ]] ||
        { echo "pg.sh: PG_SHARED_BUFFERS must be a size such as 128MB or 1GB" >&2; exit 2; }
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
        # postgres must be able to reach the directory
        d=$(dirname "$dir"); while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    write_auth
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" reload >/dev/null
        port=$(sed -n 4p "$dir/data/postmaster.pid")
        echo "pg.sh: already running in $dir"
    else
        as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=${PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=${PG_SHARED_BUFFERS:-128MB} -c password_encryption=scram-sha-256" >/dev/null \
            || { tail -n 30 "$dir/postgres.log" >&2; exit 1; }
    fi
    make_password_file "$dir/postgres.password"
    set_password postgres "$dir/postgres.password"
    ;;
stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
role-password)
    role=${3:?role}
    file=${4:?password file}
    port=$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null) || true
    [ -n "$port" ] || { echo "pg.sh: no cluster running in $dir" >&2; exit 1; }
    make_password_file "$file"
    set_password "$role" "$file"
    ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
