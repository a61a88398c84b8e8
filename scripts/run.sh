#!/usr/bin/env bash
# run.sh - the whole pipeline on this machine (`make run`): private PostgreSQL and mosquitto
# under var/, then sensorpipe migrate, ingest, serve and sim. Ctrl-C stops all it started;
# the data in var/ stays for the next run.
#
# Ports (override with the environment): PostgreSQL SENSORPIPE_PG_PORT (54320),
# MQTT SENSORPIPE_MQTT_PORT (1883), HTTP SENSORPIPE_LISTEN (127.0.0.1:8000).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_port=${SENSORPIPE_PG_PORT:-54320}
mqtt_port=${SENSORPIPE_MQTT_PORT:-1883}
listen=${SENSORPIPE_LISTEN:-127.0.0.1:8000}
var=$PWD/var
bin=$PWD/build/sensorpipe
mkdir -p "$var"
chmod 755 "$var"

pids=()
started_pg=0
started_mqtt=0
stop_all() {
    trap - EXIT INT TERM
    echo
    echo "run: stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ $started_mqtt = 1 ] && scripts/mosquitto.sh stop "$var/mosquitto"
    [ $started_pg = 1 ] && scripts/pg.sh stop "$var/pg"
    echo "run: stopped; data kept in var/"
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

if ! (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; then
    scripts/mosquitto.sh start "$var/mosquitto" "$mqtt_port"
    started_mqtt=1
else
    echo "run: something already listens on MQTT port $mqtt_port; using it as the broker"
fi
scripts/pg.sh start "$var/pg" "$pg_port"
started_pg=1

export PGHOST="$var/pg" PGPORT="$pg_port" PGUSER=postgres
if ! psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'sensorpipe'" | grep -q 1; then
    psql -X -q -d postgres -c "CREATE DATABASE sensorpipe"
fi
export DATABASE_URL="host=$var/pg port=$pg_port user=postgres dbname=sensorpipe"
export SENSORPIPE_MQTT_PORT=$mqtt_port

"$bin" migrate
"$bin" ingest --mqtt-client-id sensorpipe-ingest-run --no-clean-session > >(sed -u 's/^/[ingest] /') 2>&1 &
pids+=($!)
"$bin" serve --listen "$listen" > >(sed -u 's/^/[serve]  /') 2>&1 &
pids+=($!)
"$bin" sim --devices 1 --interval 5 > >(sed -u 's/^/[sim]    /') 2>&1 &
pids+=($!)

cat <<MSG

  sensorpipe is running.
    dashboard   http://$listen/
    MQTT        127.0.0.1:$mqtt_port   (try: mosquitto_pub -p $mqtt_port -t pico/temperature/dht22 -m 21.5)
    PostgreSQL  psql "$DATABASE_URL"
  Ctrl-C stops everything; data stays in var/.

MSG
# if any component exits on its own, say so and stop the rest
set +e
wait -n "${pids[@]}"
status=$?
echo "run: a component exited (status $status); stopping the others" >&2
exit $status
