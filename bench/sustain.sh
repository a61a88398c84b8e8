# bench/sustain.sh - stage "sustain" of bench/run (sourced by it; uses its helpers and its
# PostgreSQL, which has track_commit_timestamp on): sustained ingest throughput, timed to
# the commit of the last row, against the broker-only ceiling measured in the same run.
#
#   full speed  SUSTAIN_N readings (1,000,000) at QoS 0 from one publisher (bench/latency_pub,
#               one connection) round-robin into three topics, as fast as it can publish
#   fixed rate  SUSTAIN_SECONDS (60) at a fixed rate near the limit: SUSTAIN_RATE, by default
#               SUSTAIN_RATE_FRAC (0.8) of the full-speed ceiling just measured, so meeting
#               the goal (>= 0.8x the ceiling) means the ingest keeps that pace for the whole run
#
# Each is run twice as the reference (count_sub: publisher -> broker -> a subscriber that only
# counts; rate = received / (first publish -> last receipt)) and as the ingest (fresh database,
# rate = rows / (first publish -> pg_xact_commit_timestamp of the last row)), alternating
# SUSTAIN_REPS times; the best of each is compared. Lost = numbers published - distinct
# numbers stored. Per ingest run also: CPU % of ingest, mosquitto and PostgreSQL, PostgreSQL
# CPU µs per row, WAL bytes per row (pg_current_wal_lsn before and after), the checkpoints
# that ran and the buffers backends wrote out themselves (pg_stat_bgwriter), the load average,
# and how many of the lost never reached the ingest (its own count of messages received).
#
# PostgreSQL runs the stage with shared_buffers = SUSTAIN_SHARED_BUFFERS (1GB; the other stages
# keep scripts/pg.sh's 128MB): restarted for the stage and back after it. With 128MB a run of
# 1,000,000 rows (about 180 MB of heap and indexes) makes the writing backend evict and write
# about 20 dirty buffers per 1,000 rows itself (docs/BENCHMARKS.md, "Sustained throughput").
#
# Environment (besides bench/run's): BENCH_SUSTAIN_CASES ("full fixed"), BENCH_SUSTAIN_N,
# BENCH_SUSTAIN_SECONDS, BENCH_SUSTAIN_RATE, BENCH_SUSTAIN_REPS, BENCH_SUSTAIN_SHARED_BUFFERS;
# BENCH_SUSTAIN_SQL=file: SQL run in each fresh database after the
# migration (an A/B experiment on the schema, e.g. a candidate migration; noted in the output).

SUSTAIN_N=${BENCH_SUSTAIN_N:-$([ "$QUICK" = 1 ] && echo 200000 || echo 1000000)}
SUSTAIN_SECONDS=${BENCH_SUSTAIN_SECONDS:-$([ "$QUICK" = 1 ] && echo 10 || echo 60)}
SUSTAIN_REPS=${BENCH_SUSTAIN_REPS:-$REPS}
SUSTAIN_RATE_FRAC=0.8
SUSTAIN_SQL=${BENCH_SUSTAIN_SQL:-}
SUSTAIN_TOPICS=3
SUSTAIN_CASES=${BENCH_SUSTAIN_CASES:-full fixed}
SUSTAIN_SHARED_BUFFERS=${BENCH_SUSTAIN_SHARED_BUFFERS:-1GB}

# pg_restart_with shared_buffers: restart the bench's PostgreSQL with that setting
pg_restart_with() {
    scripts/pg.sh stop "$run_dir/pg"
    PG_SHARED_BUFFERS=$1 PG_FSYNC=on scripts/pg.sh start "$run_dir/pg" "$PG_PORT" >/dev/null
}

# pub_run rate count log: latency_pub into three topics; sets PUB_FIRST_US (first publish) PUB_LINE
# PUB_CPU_US (the publisher's CPU µs per reading)
pub_run() {
    local r=$1 n=$2 log=$3
    /usr/bin/time -f 'cpu %U %S' -o "$log.time" \
        "$BIN/latency_pub" -p "$MQ_PORT" -r "$r" -n "$n" -q 0 -k "$SUSTAIN_TOPICS" -P sustain >"$log.out" 2>"$log"
    PUB_LINE=$(tail -n 1 "$log.out")
    PUB_FIRST_US=$(jget first_us "$PUB_LINE")
    PUB_CPU_US=$(awk -v n="$n" '/^cpu / { printf "%.2f", ($2 + $3) / n * 1e6 }' "$log.time")
}

# sustain_ref rate count: the broker-only ceiling; sets SREF_RATE SREF_LOST
sustain_ref() {
    local r=$1 n=$2 id=sustain-ref-$RANDOM cp out got last cm0
    out=$run_dir/$id.out
    cm0=$(cpu_s "$MQ_PID")
    "$BIN/count_sub" -p "$MQ_PORT" -q 0 -n "$n" -T 8 -W 180 -i "$id" -t 'sustain/+/+' >"$out" &
    cp=$!
    wait_for 10 "grep -q ready '$out'" || { say "count_sub did not subscribe"; exit 1; }
    pub_run "$r" "$n" "$run_dir/$id-pub.log"
    wait "$cp" || true
    out=$(tail -n 1 "$out")
    got=$(jget received "$out"); last=$(jget last_us "$out")
    SREF_RATE=$(calc "$got / (($last - $PUB_FIRST_US) / 1e6)")
    SREF_MQ_US=$(calc "($(cpu_s "$MQ_PID") - $cm0) / $n * 1e6")
    SREF_PUB_US=$PUB_CPU_US
    SREF_LOST=$((n - got))
}

# wal_lsn db: the current WAL position as a byte count
wal_lsn() { psql_db "$1" -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }
checkpoints() { psql_db postgres -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"; }
# buffers written out by backends themselves (no clean buffer to reuse: shared_buffers too small for the run)
backend_writes() { psql_db postgres -c "SELECT buffers_backend FROM pg_stat_bgwriter"; }

# sustain_ingest rate count name: the ingest on a fresh database; sets SING_* (rate, lost, dups,
# secs, cpu text, pg µs/row, ingest µs/row, WAL bytes/row, checkpoints)
sustain_ingest() {
    local r=$1 n=$2 name=$3 db=sustain b0 b1 ci0 cm0 cp0 t0 ci1 cm1 cp1 t1 w0 w1 k0 k1 wall
    new_db "$db"
    [ -n "$SUSTAIN_SQL" ] && psql_db "$db" -f "$SUSTAIN_SQL" >/dev/null
    psql_db "$db" -c "CHECKPOINT" >/dev/null # every run starts from the same WAL state
    start_ingest "$db" "bench-$name"
    [ -n "${PERF_NAME:-}" ] && perf_start "$INGEST_PID" "$PERF_NAME"
    w0=$(wal_lsn "$db"); k0=$(checkpoints); b0=$(backend_writes)
    ci0=$(cpu_s "$INGEST_PID"); cm0=$(cpu_s "$MQ_PID"); cp0=$(pg_cpu_s); t0=$(date +%s.%N)
    pub_run "$r" "$n" "$run_dir/pub-$name.log"
    wait_rows "$db" "$n"
    ci1=$(cpu_s "$INGEST_PID"); cm1=$(cpu_s "$MQ_PID"); cp1=$(pg_cpu_s); t1=$(date +%s.%N)
    [ -n "${PERF_NAME:-}" ] && perf_stop "$PERF_NAME"
    w1=$(wal_lsn "$db"); k1=$(checkpoints); b1=$(backend_writes)
    landed "$db"
    SING_SECS=$(calc "($LAND_END_US - $PUB_FIRST_US) / 1e6")
    SING_RATE=$(calc "$LAND_N / $SING_SECS")
    SING_LOST=$((n - LAND_DISTINCT)); SING_DUPS=$((LAND_N - LAND_DISTINCT))
    wall=$(calc "$t1 - $t0")
    SING_CPU="ingest $(fmt0 "$(calc "($ci1 - $ci0) / $wall * 100")") mosquitto $(fmt0 "$(calc "($cm1 - $cm0) / $wall * 100")") postgres $(fmt0 "$(calc "($cp1 - $cp0) / $wall * 100")")"
    SING_PG_US=$(calc "($cp1 - $cp0) / $n * 1e6")
    SING_ING_US=$(calc "($ci1 - $ci0) / $n * 1e6")
    SING_MQ_US=$(calc "($cm1 - $cm0) / $n * 1e6")
    SING_PUB_US=$PUB_CPU_US
    SING_WAL=$(calc "($w1 - $w0) / $n")
    SING_CKPT=$((k1 - k0))
    SING_BWRITES=$((b1 - b0))
    stop_pid "$INGEST_PID"
    # where the lost ones went: never reached the ingest (the broker dropped them: QoS 0 past its
    # max_queued_messages queue, when the ingest falls that far behind), or received and not stored
    local st
    st=$(grep 'stats received=' "$run_dir/ingest-bench-$name.log" | tail -n 1)
    SING_RECEIVED=$(sed -n 's/.* received=\([0-9]*\).*/\1/p' <<<"$st")
    SING_NOT_RECEIVED=$((n - ${SING_RECEIVED:-0}))
    forget_session "bench-$name"
    dropdb "$db"
}

# sustain_case label rate count: reference and ingest alternating; one line and one record
sustain_case() {
    local label=$1 r=$2 n=$3 load0 load1 refs=() ings=() rb=0 rl=0 ib=0 il=0 id=0 isecs=0 icpu= ipg=0 iing=0 iwal=0 ick=0 ibw=0 imq=0 ipub=0 rmq=0 rpub=0 rep ratio ok idrop=0
    load0=$(cut -d' ' -f1 /proc/loadavg)
    for rep in $(seq 1 "$SUSTAIN_REPS"); do
        sustain_ref "$r" "$n"
        refs+=("$SREF_RATE")
        if [ "$(best "$SREF_RATE" "$rb")" = "$SREF_RATE" ]; then rb=$SREF_RATE; rl=$SREF_LOST; rmq=$SREF_MQ_US; rpub=$SREF_PUB_US; fi
        PERF_NAME=
        [ "$rep" = 1 ] && PERF_NAME=ingest-sustain-$label
        sustain_ingest "$r" "$n" "sustain-$label-$rep"
        ings+=("$SING_RATE")
        idrop=$((idrop > SING_NOT_RECEIVED ? idrop : SING_NOT_RECEIVED))
        if [ "$(best "$SING_RATE" "$ib")" = "$SING_RATE" ]; then
            ib=$SING_RATE; isecs=$SING_SECS; icpu=$SING_CPU; ipg=$SING_PG_US; iing=$SING_ING_US; iwal=$SING_WAL; ick=$SING_CKPT; ibw=$SING_BWRITES; imq=$SING_MQ_US; ipub=$SING_PUB_US
        fi
        il=$((il > SING_LOST ? il : SING_LOST)); id=$((id > SING_DUPS ? id : SING_DUPS))
    done
    SUSTAIN_REF=$rb
    load1=$(cut -d' ' -f1 /proc/loadavg)
    ratio=$(calc "$ib / $rb")
    ok=$(met "$il == 0 && $ratio >= 0.8")
    line "sustained $label broker-only ceiling: $(fmt0 "$rb") readings/s, $rl lost; per message: mosquitto $(fmt1 "$rmq") µs cpu, publisher $(fmt1 "$rpub") µs cpu (runs: ${refs[*]})"
    line "sustained $label ingest: $(fmt0 "$ib") readings/s landed (first publish -> last commit $(fmt2 "$isecs") s), $il lost, $id duplicated (worst run)$([ $idrop = 0 ] || echo "; $idrop of them never reached the ingest (worst run: the broker dropped them)"); $(fmt2 "$ratio")x broker-only [target >= 0.8x, 0 lost: $(word "$ok")]; cpu% $icpu; per row: postgres $(fmt1 "$ipg") µs cpu, ingest $(fmt2 "$iing") µs cpu, mosquitto $(fmt1 "$imq") µs cpu, publisher $(fmt1 "$ipub") µs cpu, $(fmt0 "$iwal") B WAL; $ick checkpoints, $ibw buffers written by backends (shared_buffers $SUSTAIN_SHARED_BUFFERS); load average $load0 -> $load1${SUSTAIN_SQL:+; schema + $(basename "$SUSTAIN_SQL")} (runs: ${ings[*]})"
    rec "sustain_$label" group=sustain qos=0 readings="$n" offered="$r" value="$ib" unit=readings/s lost="$il" dups="$id" \
        seconds="$isecs" reference="$rb" reference_lost="$rl" ratio="$ratio" target=">= 0.8x broker-only, 0 lost" met="$ok" \
        cpu_pct="$icpu" pg_cpu_us_per_row="$ipg" ingest_cpu_us_per_row="$iing" mosquitto_cpu_us_per_row="$imq" publisher_cpu_us_per_row="$ipub" reference_mosquitto_cpu_us_per_row="$rmq" reference_publisher_cpu_us_per_row="$rpub" wal_bytes_per_row="$iwal" checkpoints="$ick" backend_buffer_writes="$ibw" shared_buffers="$SUSTAIN_SHARED_BUFFERS" \
        not_received="$idrop" load_before="$load0" load_after="$load1" schema_extra="${SUSTAIN_SQL:+$(basename "$SUSTAIN_SQL")}" runs="$(IFS=,; echo "${ings[*]}")" \
        reference_runs="$(IFS=,; echo "${refs[*]}")"
}

say "== sustained throughput: $SUSTAIN_N readings at QoS 0 from one publisher into $SUSTAIN_TOPICS topics, then $SUSTAIN_SECONDS s at a fixed rate; best of $SUSTAIN_REPS"
SUSTAIN_REF=${BENCH_SUSTAIN_RATE:-0}
pg_restart_with "$SUSTAIN_SHARED_BUFFERS"
say "PostgreSQL for this stage: shared_buffers $(psql_db postgres -c 'SHOW shared_buffers')"
if [[ " $SUSTAIN_CASES " == *" full "* ]]; then
    sustain_case full 1000000000 "$SUSTAIN_N"
fi
if [[ " $SUSTAIN_CASES " == *" fixed "* ]]; then
    SUSTAIN_RATE=${BENCH_SUSTAIN_RATE:-$(fmt0 "$(calc "$SUSTAIN_REF * $SUSTAIN_RATE_FRAC")")}
    [ "$SUSTAIN_RATE" -gt 0 ] || { say "sustain: the fixed case needs the full case first, or BENCH_SUSTAIN_RATE"; exit 1; }
    say "fixed rate: $SUSTAIN_RATE readings/s for $SUSTAIN_SECONDS s"
    sustain_case fixed "$SUSTAIN_RATE" $((SUSTAIN_RATE * SUSTAIN_SECONDS))
fi
pg_restart_with 128MB
