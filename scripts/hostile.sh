#!/usr/bin/env bash
# hostile.sh - the hostile-client suite (`make hostile`; docs/SECURITY.md, "Hostile clients").
#   scripts/hostile.sh            the full run: 1,000 WebSockets that never read (half history=10000),
#                                 40 concurrent /api/readings?limit=100000, 2,000 slowloris sockets,
#                                 against 1,000 readings/s and a dashboard (about 2.5 minutes)
#   scripts/hostile.sh --short    the short run that `make test` runs (fewer sockets, about 40 s)
# Starts its own PostgreSQL, mosquitto, ingest and serve (build/sensorpipe) on free loopback ports
# under a temp dir; the attackers use the source addresses 127.0.0.2-127.0.0.9. Prints the table
# and writes build/hostile/results[-short].{json,md}. Exit status: 0 every goal met, 1 one missed,
# 2 the run failed.
# Environment:
#   HOSTILE_SAVE=1            also write the table into docs/SECURITY.md (between its hostile-table markers)
#   HOSTILE_SERVE_ARGS='...'  more serve flags, e.g. per-address limits
#   HOSTILE_BIN=path          the sensorpipe binary (default build/sensorpipe)
#   HOSTILE_WS, HOSTILE_WS_HISTORY, HOSTILE_API, HOSTILE_API_LIMIT, HOSTILE_SLOW, HOSTILE_SLOW_BYTE_MS,
#   HOSTILE_PRELOAD, HOSTILE_RATE, HOSTILE_BASELINE_S, HOSTILE_ATTACK_S, HOSTILE_RECOVERY_S: sizes
#   HOSTILE_KEEP=1            keep the temp dir (every process's log)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "${HOSTILE_BIN:-build/sensorpipe}" ] || { echo "hostile.sh: ${HOSTILE_BIN:-build/sensorpipe} missing (make build/sensorpipe)" >&2; exit 2; }
make -s -C bench OUT="$PWD/build/bench/bin" >/dev/null
# thousands of sockets: the attackers' node and serve need more than the usual 1024 descriptors
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
[ "$(ulimit -n)" -ge 8192 ] || echo "hostile.sh: warning: file limit $(ulimit -n); the full run needs about 3,100 in serve and the attackers" >&2
exec node tests/hostile/run.mjs "$@"
