#!/usr/bin/env bash
# faults.sh - the fault-injection suite (tests/faults/) and its table in docs/RELIABILITY.md (`make faults`).
#   scripts/faults.sh                        every fault; PostgreSQL outage 20 s (about 2 minutes in all)
#   FAULTS_LONG=1 scripts/faults.sh          the documented figure: a 60 s PostgreSQL outage
#   FAULTS_ONLY=a,e scripts/faults.sh        only some faults (keys 0, a..g)
#   FAULTS_INGEST_ARGS='--qos 0' ...         extra ingest flags (see tests/faults/faults.test.mjs for all knobs)
#   FAULTS_TLS=1 scripts/faults.sh           every fault over MQTT over TLS (scripts/tls.sh certificates per fault,
#                                            the broker's TLS listener, ingest and sim with --mqtt-tls)
# The test starts and stops its own PostgreSQL and mosquitto (scripts/pg.sh, scripts/mosquitto.sh) on
# free ports under a temp dir; this script starts nothing itself. Results: build/faults/results.json
# and process logs under build/faults/<fault>/. The "Fault-injection results" section of
# docs/RELIABILITY.md is rewritten from a run of every fault with the default ingest flags (or always
# with FAULTS_RENDER=1), whether the faults passed or not; a FAULTS_TLS=1 run writes its subsection
# "Fault-injection results over TLS" instead, never the plain table. Exit status is the suite's.
set -euo pipefail
cd "$(dirname "$0")/.."

for b in build/asan/sensorpipe build/sensorpipe; do
    [ -x "$b" ] || { echo "faults.sh: $b is missing (make faults builds it)" >&2; exit 2; }
done

cmd="make faults"
for v in FAULTS_LONG FAULTS_COUNT FAULTS_RATE FAULTS_KILLS FAULTS_KILL_COUNT FAULTS_ONLY FAULTS_INGEST_ARGS FAULTS_TLS; do
    [ -n "${!v:-}" ] && cmd="$v=${!v} $cmd"
done
export FAULTS_COMMAND="$cmd"

rm -f build/faults/results.json
status=0
node --test --test-concurrency=1 --test-timeout=900000 tests/faults/ || status=$?

if [ ! -f build/faults/results.json ]; then
    echo "faults.sh: no build/faults/results.json written" >&2
    exit $(( status ? status : 1 ))
fi
if [ "${FAULTS_RENDER:-}" = 1 ] || { [ -z "${FAULTS_ONLY:-}" ] && [ -z "${FAULTS_INGEST_ARGS:-}" ]; }; then
    # the section follows the run's transport (results.json "tls"): plain, or the subsection over TLS
    node tests/faults/render.mjs build/faults/results.json docs/RELIABILITY.md
else
    echo "faults.sh: partial or non-default run: docs/RELIABILITY.md left as it is (FAULTS_RENDER=1 writes it)"
fi
[ $status -eq 0 ] && echo "faults.sh: every fault passed" || echo "faults.sh: FAILED (see the table above and build/faults/)" >&2
exit $status
