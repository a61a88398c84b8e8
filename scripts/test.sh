#!/usr/bin/env bash
# test.sh - run every test suite against a private PostgreSQL and mosquitto started here.
#   scripts/test.sh              unit, integration and browser tests
#   scripts/test.sh integration  only tests/integration
#   scripts/test.sh e2e          only tests/e2e (headless Chromium)
#   scripts/test.sh faults       only tests/faults (its own PostgreSQL and mosquitto; `make faults` also renders the table)
#   scripts/test.sh hostile      only tests/hostile, the short hostile-client run (its own stack; `make hostile`: the full run)
# Expects the builds from `make test` (build/asan/sensorpipe, build/asan/tests/*, web/vendor).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

run_dir=$(mktemp -d /tmp/sensorpipe-test.XXXXXX)
chmod 755 "$run_dir"
pg_port=$(scripts/free-port.sh)
mqtt_port=$(scripts/free-port.sh)

cleanup() {
    status=$?
    scripts/mosquitto.sh stop "$run_dir/mosquitto" || true
    scripts/pg.sh stop "$run_dir/pg" || true
    if [ $status -ne 0 ]; then
        echo "test.sh: FAILED (logs kept in $run_dir)" >&2
        tail -n 20 "$run_dir/pg/postgres.log" "$run_dir/mosquitto/mosquitto.log" 2>/dev/null >&2 || true
    else
        rm -rf "$run_dir"
    fi
    exit $status
}
trap cleanup EXIT INT TERM

if [ "$what" = all ]; then
    echo "== unit tests (ASan+UBSan)"
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        echo "-- $t"
        "$t"
    done
fi

echo "== starting PostgreSQL on 127.0.0.1:$pg_port and mosquitto on 127.0.0.1:$mqtt_port"
PG_FSYNC=off scripts/pg.sh start "$run_dir/pg" "$pg_port"
scripts/mosquitto.sh start "$run_dir/mosquitto" "$mqtt_port"

export PGHOST="$run_dir/pg" PGPORT="$pg_port" PGUSER=postgres
export SENSORPIPE_MQTT_PORT="$mqtt_port"
export SENSORPIPE_BIN="$PWD/build/asan/sensorpipe"

suites=()
case "$what" in
    all) suites=(tests/integration tests/e2e tests/faults tests/hostile) ;;
    integration) suites=(tests/integration) ;;
    e2e) suites=(tests/e2e) ;;
    faults) suites=(tests/faults) ;;
    hostile) suites=(tests/hostile) ;;
    *) echo "test.sh: unknown suite $what" >&2; exit 2 ;;
esac
files=()
for s in "${suites[@]}"; do
    for f in "$s"/*.test.mjs; do [ -f "$f" ] && files+=("$f"); done
done
if [ ${#files[@]} -gt 0 ]; then
    echo "== ${files[*]}"
    # one file at a time: the files share one broker
    node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
fi
echo "== all tests passed"
