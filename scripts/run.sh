#!/usr/bin/env bash
# run.sh - the whole pipeline on this machine (`make run`): private PostgreSQL and mosquitto
# under var/, then sensorpipe migrate, ingest, serve and two simulated devices. Ctrl-C stops
# all it started; the data in var/ stays for the next run.
#
# Ports (override with the environment): PostgreSQL SENSORPIPE_PG_PORT (54320),
# MQTT over TLS SENSORPIPE_MQTTS_PORT (8883, on SENSORPIPE_MQTT_BIND, default 127.0.0.1),
# plain MQTT SENSORPIPE_MQTT_PORT (1883, loopback only), HTTPS SENSORPIPE_LISTEN (127.0.0.1:8000;
# serve's certificate is var/tls/server.crt, signed by the local CA var/tls/ca.crt: trust that CA in
# the browser, or give curl --cacert var/tls/ca.crt).
#
# The broker is always this script's own, with no anonymous access: the dynamic-security
# plugin holds the accounts (var/mosquitto/dynsec.json), `sensorpipe device` changes them
# while it runs. Passwords are files in var/mqtt/ (mode 0600), rotated at every start:
#   admin.password                  the plugin's admin (what `sensorpipe device` logs in as)
#   sensorpipe-ingest-run.password  the ingest (client id sensorpipe-ingest-run)
#   pico.password, greenhouse.password  the simulated devices pico and greenhouse
#   sim-load.password               sim's load mode: devices simload0001 ... simload0100
#   db-ingest.password, db-serve.password  PostgreSQL roles sensorpipe_ingest and sensorpipe_serve
#                                   (migrate runs as the owner, postgres, over the unix socket)
# var/sensorpipe.conf tells every subcommand where all this is:
#   SENSORPIPE_CONFIG=var/sensorpipe.conf build/sensorpipe device add kitchen --json
set -euo pipefail
cd "$(dirname "$0")/.."

pg_port=${SENSORPIPE_PG_PORT:-54320}
mqtt_port=${SENSORPIPE_MQTT_PORT:-1883}
mqtts_port=${SENSORPIPE_MQTTS_PORT:-8883}
listen=${SENSORPIPE_LISTEN:-127.0.0.1:8000}
mqtt_bind=${SENSORPIPE_MQTT_BIND:-}
# these are this script's inputs; the daemons read var/sensorpipe.conf (the environment would override it)
unset SENSORPIPE_PG_PORT SENSORPIPE_MQTT_PORT SENSORPIPE_MQTTS_PORT SENSORPIPE_LISTEN SENSORPIPE_MQTT_BIND
var=$PWD/var
bin=$PWD/build/sensorpipe
mqtt_dir=$var/mosquitto
secrets=$var/mqtt
conf=$var/sensorpipe.conf
dynsec=$mqtt_dir/dynsec.json
mkdir -p "$var" "$mqtt_dir" "$secrets"
chmod 755 "$var"
chmod 700 "$secrets"

pids=()
started_pg=0
started_mqtt=0
stop_all() {
    trap - EXIT INT TERM
    echo
    echo "run: stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ $started_mqtt = 1 ] && scripts/mosquitto.sh stop "$mqtt_dir"
    [ $started_pg = 1 ] && scripts/pg.sh stop "$var/pg"
    echo "run: stopped; data kept in var/"
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

# --- the broker: always our own (a leftover of an earlier run is restarted with this config)
scripts/mosquitto.sh stop "$mqtt_dir"
if (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; then
    echo "run: another program listens on MQTT port $mqtt_port; stop it or set SENSORPIPE_MQTT_PORT" >&2
    exit 1
fi
if [ ! -f "$dynsec" ]; then
    # a new broker: its admin account, the password only in a 0600 file (never on a command line)
    (
        umask 077
        head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$secrets/admin.password"
        { cat "$secrets/admin.password"; cat "$secrets/admin.password"; } |
            mosquitto_ctrl dynsec init "$dynsec" admin >/dev/null
    )
elif [ ! -s "$secrets/admin.password" ]; then
    echo "run: $dynsec exists but $secrets/admin.password does not; remove $dynsec to start the accounts afresh" >&2
    exit 1
fi
chmod 600 "$dynsec" "$secrets/admin.password"
# TLS: the local CA and the broker's certificate in var/tls/ (kept across runs; names this host and
# 127.0.0.1/localhost, plus SENSORPIPE_MQTT_BIND when it names an address a device dials); the TLS
# listener on SENSORPIPE_MQTTS_PORT binds loopback unless SENSORPIPE_MQTT_BIND says otherwise.
tls_names=()
case "$mqtt_bind" in '' | 127.0.0.1 | 0.0.0.0 | '::' | '*') ;; *) tls_names+=("$mqtt_bind") ;; esac
# serve's HTTPS uses the same certificate: the --listen host too when it names one
listen_host=${listen%:*}
listen_host=${listen_host#[}
listen_host=${listen_host%]}
case "$listen_host" in '' | 127.0.0.1 | localhost | ::1 | 0.0.0.0 | '::' | '*') ;; *) tls_names+=("$listen_host") ;; esac
scripts/tls.sh "$var/tls" "${tls_names[@]}"
if (exec 3<>"/dev/tcp/127.0.0.1/$mqtts_port") 2>/dev/null; then
    echo "run: another program listens on MQTT TLS port $mqtts_port; stop it or set SENSORPIPE_MQTTS_PORT" >&2
    exit 1
fi
SENSORPIPE_MQTT_DYNSEC=$dynsec SENSORPIPE_MQTT_BIND=${mqtt_bind:-127.0.0.1} \
    scripts/mosquitto.sh start "$mqtt_dir" "$mqtt_port" "$mqtts_port" "$var/tls"
started_mqtt=1

scripts/pg.sh start "$var/pg" "$pg_port"
started_pg=1

export PGHOST="$var/pg" PGPORT="$pg_port" PGUSER=postgres
if ! psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'sensorpipe'" | grep -q 1; then
    psql -X -q -d postgres -c "CREATE DATABASE sensorpipe"
fi
db="host=$var/pg port=$pg_port user=postgres dbname=sensorpipe"
# the daemons log in as their own roles (db/006) over TCP with scram-sha-256, passwords in 0600 files
db_ingest="host=127.0.0.1 port=$pg_port user=sensorpipe_ingest dbname=sensorpipe"
db_serve="host=127.0.0.1 port=$pg_port user=sensorpipe_serve dbname=sensorpipe"

# --- the settings of every subcommand (no secret in it: only the paths of the password files)
cat >"$conf.tmp" <<CONF
# var/sensorpipe.conf - written by scripts/run.sh (make run) at every start; edits are lost.
# Every subcommand reads it with --config var/sensorpipe.conf or SENSORPIPE_CONFIG=var/sensorpipe.conf.
db = $db
mqtt-host = 127.0.0.1
mqtt-port = $mqtt_port

[ingest]
mqtt-port = $mqtts_port
mqtt-tls = true
mqtt-cafile = $var/tls/ca.crt
db = $db_ingest
db-password-file = $secrets/db-ingest.password
mqtt-username = sensorpipe-ingest-run
mqtt-password-file = $secrets/sensorpipe-ingest-run.password
mqtt-client-id = sensorpipe-ingest-run
clean-session = false

[serve]
db = $db_serve
db-password-file = $secrets/db-serve.password
listen = $listen
tls-cert = $var/tls/server.crt
tls-key = $var/tls/server.key

[sim]
mqtt-port = $mqtts_port
mqtt-tls = true
mqtt-cafile = $var/tls/ca.crt
mqtt-username = pico
mqtt-password-file = $secrets/pico.password

[device]
mqtt-username = admin
mqtt-password-file = $secrets/admin.password
CONF
chmod 644 "$conf.tmp"
mv "$conf.tmp" "$conf"
export SENSORPIPE_CONFIG=$conf
# (no DATABASE_URL: the environment would beat each daemon's own db in the file)

# --- accounts: created, or given a new password, at every start
account() { # name [device add options...]
    local name=$1
    shift
    "$bin" device add "$name" --rotate --password-out "$secrets/$name.password" "$@" >/dev/null
}
account sensorpipe-ingest-run --ingest
account pico
account greenhouse
account sim-load --load-prefix simload --load-devices 100

"$bin" migrate # as the owner (postgres over the socket); creates the roles the daemons log in as
scripts/pg.sh role-password "$var/pg" sensorpipe_ingest "$secrets/db-ingest.password"
scripts/pg.sh role-password "$var/pg" sensorpipe_serve "$secrets/db-serve.password"

# --- the dashboard's first user: admin, made on the first run; its password in var/admin.password (0600),
# printed that once; later runs keep it (`build/sensorpipe user add NAME` makes more, `token add` tokens)
admin_file=$var/admin.password
admin_new=
if [ ! -s "$admin_file" ]; then
    (umask 077 && openssl rand -base64 24 | tr -d '\n/+=' >"$admin_file.tmp")
    if ! "$bin" user add admin <"$admin_file.tmp" >/dev/null; then
        rm -f "$admin_file.tmp"
        echo "run: the user admin exists but $admin_file is gone; add another user with" \
            "'SENSORPIPE_CONFIG=var/sensorpipe.conf build/sensorpipe user add NAME' or remove var/ to start afresh" >&2
        exit 1
    fi
    mv "$admin_file.tmp" "$admin_file"
    admin_new=1
fi
chmod 600 "$admin_file"
"$bin" ingest > >(sed -u 's/^/[ingest] /') 2>&1 &
pids+=($!)
"$bin" serve > >(sed -u 's/^/[serve]  /') 2>&1 &
pids+=($!)
"$bin" sim --interval 5 > >(sed -u 's/^/[sim]    /') 2>&1 &
pids+=($!)
"$bin" sim --interval 5 --mqtt-username greenhouse --mqtt-password-file "$secrets/greenhouse.password" \
    > >(sed -u 's/^/[sim]    /') 2>&1 &
pids+=($!)

cat <<MSG

  sensorpipe is running.
    dashboard   https://$listen/  (trust the local CA var/tls/ca.crt in the browser once)
    login       admin, password in $admin_file${admin_new:+ (first run: $(cat "$admin_file"))}
    a token     SENSORPIPE_CONFIG=var/sensorpipe.conf build/sensorpipe token add my-script
                curl --cacert var/tls/ca.crt -H 'Authorization: Bearer <token>' https://$listen/api/topics
    MQTT        TLS ${mqtt_bind:-127.0.0.1}:$mqtts_port (CA: var/tls/ca.crt), plain 127.0.0.1:$mqtt_port; no anonymous access;
                devices pico and greenhouse simulated
    settings    $conf (SENSORPIPE_CONFIG=var/sensorpipe.conf build/sensorpipe <command> ...)
    a device    SENSORPIPE_CONFIG=var/sensorpipe.conf build/sensorpipe device add kitchen --json
                mosquitto_pub -h 127.0.0.1 -p $mqtts_port --cafile var/tls/ca.crt -u kitchen -P '<password>' -i kitchen -t kitchen/temperature/dht22 -m 21.5
    PostgreSQL  psql "$db"
  Ctrl-C stops everything; data stays in var/.

MSG
# if any component exits on its own, say so and stop the rest
set +e
wait -n "${pids[@]}"
status=$?
echo "run: a component exited (status $status); stopping the others" >&2
exit $status
