# bench/seed.sh - stage "seed" of bench/run (sourced by it; uses its helpers and its broker and PostgreSQL):
# publish -> WebSocket latency of the talk's own stack (../shared/seed-stack, started with its
# seedctl.sh on free ports) beside sensorpipe's, with the same publisher and the same client:
#   latency_pub -f   payload = the send time as a plain number (ms since the epoch), which both
#                    ingests store as the row's value (the seed keeps no payload ts)
#   ws_client -V     reads the send time back from each row's value: the seed's /ws frames (a
#                    history frame, then each NOTIFY payload, a bare row) and serve's alike
#   count_sub -L     the MQTT hop alone: a plain subscriber of the same messages on the same broker,
#                    at the same time (each stack's own broker)
# One after the other: the seed at each rate of BENCH_SEED_RATES (then it is stopped), then
# sensorpipe (fresh database, its own ingest and serve) at each rate of BENCH_SEED_SP_RATES;
# BENCH_SEED_REPS rounds of the two (default 1). BENCH_SEED_BEFORE=<binary>: in each round, also an
# older sensorpipe build the same way, right after the current one (before/after from one run).
# Skipped with a note when the seed stack is absent.
# Its Python needs Debian's python3-* packages: installed here (apt-get) when an import fails.
#
# Environment: BENCH_SEED_DIR (default ../shared/seed-stack), BENCH_SEED_RATES ("20 1000"),
# BENCH_SEED_SP_RATES ("20 1000 10000"), BENCH_SEED_SECONDS (seconds per rate: "30 15 10"),
# BENCH_SEED_REPS, BENCH_SEED_BEFORE.

SEED_PY_PACKAGES=(python3-paho-mqtt python3-psycopg2 python3-fastapi python3-uvicorn python3-asyncpg python3-websockets)
SEED_CTL=

seed_deps() { # the seed's Python modules, from Debian, only when an import fails
    /usr/bin/python3 -c 'import paho.mqtt.client, psycopg2, fastapi, uvicorn, asyncpg, websockets' 2>/dev/null && return 0
    say "seed: installing ${SEED_PY_PACKAGES[*]} (Debian packages the seed stack runs with)"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${SEED_PY_PACKAGES[@]}" >/dev/null ||
        { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${SEED_PY_PACKAGES[@]}" >/dev/null; }
}

seed_stop() { # called by bench/run's cleanup too
    [ -n "$SEED_CTL" ] || return 0
    SEED_POINTER=$run_dir/seed.current "$SEED_CTL" stop --purge >/dev/null 2>&1 || true
    SEED_CTL=
}

# seed_lat stack rate seconds mqtt-port ws-port ws-path: one measurement; sets SL_P50 SL_P99 SL_M50 SL_M99
seed_lat() {
    local stack=$1 R=$2 S=$3 mport=$4 wport=$5 wpath=$6 n pre wp mp ws mq pub got ok
    n=$((R * S))
    pre=$run_dir/seed-$stack-$R
    "$BIN/ws_client" -V -p "$wport" -u "$wpath" -c 1 -n "$n" -T 5 -W $((S + 60)) >"$pre.ws" 2>"$pre.ws.err" &
    wp=$!
    "$BIN/count_sub" -p "$mport" -q 0 -t 'pico/#' -L -n "$n" -T 5 >"$pre.mq" &
    mp=$!
    wait_for 20 "grep -q '^ready' '$pre.ws' && grep -q '^ready' '$pre.mq'" ||
        { say "seed: $stack clients not ready"; cat "$pre.ws.err" >&2; }
    "$BIN/latency_pub" -p "$mport" -r "$R" -n "$n" -k 3 -P pico -f >"$pre.pub"
    wait "$wp" "$mp" || true
    ws=$(tail -n 1 "$pre.ws"); mq=$(tail -n 1 "$pre.mq"); pub=$(cat "$pre.pub")
    SL_P50=$(jget lat_p50_us "$ws"); SL_P99=$(jget lat_p99_us "$ws")
    SL_M50=$(jget lat_p50_us "$mq"); SL_M99=$(jget lat_p99_us "$mq")
    got=$(jget rows "$ws")
    line "seed stage, $stack at $R/s: publish->WebSocket p50 $(ms "$SL_P50") p90 $(ms "$(jget lat_p90_us "$ws")") p99 $(ms "$SL_P99") max $(ms "$(jget lat_max_us "$ws")") ms ($got/$n delivered); MQTT hop alone p50 $(ms "$SL_M50") p99 $(ms "$SL_M99") ms"
    rec "seed_${stack}_$R" group=seed stack="$stack" rate="$R" value="$SL_P99" unit=us p50="$SL_P50" \
        p90="$(jget lat_p90_us "$ws")" p99="$SL_P99" max="$(jget lat_max_us "$ws")" delivered="$got" sent="$(jget sent "$pub")" \
        mqtt_p50="$SL_M50" mqtt_p99="$SL_M99" reference="$SL_M99" ratio="$(calc "$SL_P99 / ($SL_M99 > 0 ? $SL_M99 : 1)")" \
        pub_late_max_us="$(jget late_max_us "$pub")" rep="${SEED_REP:-1}"
}

# seed_sp_round stack binary: one round of sensorpipe (that binary: its own schema, ingest and
# serve) at each rate; sets SR_P50[rate] SR_P99[rate] and the MQTT hop's SR_M50[rate] SR_M99[rate]
declare -A SR_P50 SR_P99 SR_M50 SR_M99
seed_sp_round() {
    local stack=$1 keep=$SP R
    SP=$2
    new_db seedcmp
    start_ingest seedcmp "bench-seedcmp-$stack-$SEED_REP"
    start_serve seedcmp "seedcmp-$stack"
    for R in $sp_rates; do
        seed_lat "$stack" "$R" "${secs_of[$R]}" "$MQ_PORT" "$HTTP_PORT" '/ws?history=0'
        SR_P50[$R]=$SL_P50; SR_P99[$R]=$SL_P99; SR_M50[$R]=$SL_M50; SR_M99[$R]=$SL_M99
    done
    stop_pid "$SERVE_PID"
    stop_pid "$INGEST_PID"
    forget_session "bench-seedcmp-$stack-$SEED_REP"
    dropdb seedcmp
    SP=$keep
}

seed_stage() {
    local dir=${BENCH_SEED_DIR:-$ROOT/../shared/seed-stack}
    local rates=${BENCH_SEED_RATES:-20 1000} sp_rates=${BENCH_SEED_SP_RATES:-20 1000 10000}
    local secs=${BENCH_SEED_SECONDS:-$LAT_SECONDS} reps=${BENCH_SEED_REPS:-1} before=${BENCH_SEED_BEFORE:-} R S rep
    declare -A secs_of seed50 seed99 sp50 sp99 bf50 bf99 spm50 spm99
    set -- $secs
    for R in 20 1000 10000; do secs_of[$R]=${1:-10}; [ $# -gt 1 ] && shift; done
    if [ ! -x "$dir/seedctl.sh" ]; then
        line "seed stage: $dir absent: skipped (the talk's stack is the reference of this stage)"
        rec seed_skipped group=seed value=null note="no $dir"
        return 0
    fi
    seed_deps || { line "seed stage: the seed's Python packages could not be installed: skipped"; return 0; }
    for rep in $(seq 1 "$reps"); do
        SEED_REP=$rep
        local spg smq shttp
        spg=$(free_port); smq=$(free_port); shttp=$(free_port)
        say "== seed stage (round $rep/$reps): the talk's stack from $dir (pg :$spg, mqtt :$smq, http :$shttp)"
        SEED_CTL=$dir/seedctl.sh
        SEED_POINTER=$run_dir/seed.current SEED_PG_PORT=$spg SEED_MQTT_PORT=$smq SEED_HTTP_PORT=$shttp \
            "$SEED_CTL" start >"$run_dir/seed-start.log" 2>&1 || { say "seed stack did not start"; cat "$run_dir/seed-start.log" >&2; seed_stop; return 1; }
        for R in $rates; do
            seed_lat seed "$R" "${secs_of[$R]}" "$smq" "$shttp" /ws
            seed50[$R]+="$SL_P50 "; seed99[$R]+="$SL_P99 "
        done
        seed_stop
        # sensorpipe on the bench's broker and PostgreSQL, a fresh database
        seed_sp_round sensorpipe "$SP"
        for R in $sp_rates; do
            sp50[$R]+="${SR_P50[$R]} "; sp99[$R]+="${SR_P99[$R]} "; spm50[$R]+="${SR_M50[$R]} "; spm99[$R]+="${SR_M99[$R]} "
        done
        if [ -n "$before" ]; then
            seed_sp_round sensorpipe_before "$before"
            for R in $sp_rates; do bf50[$R]+="${SR_P50[$R]} "; bf99[$R]+="${SR_P99[$R]} "; done
        fi
    done
    # the goals, on the median over the rounds
    med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
    for R in $sp_rates; do
        local s50 s99 p50 p99 ok target b50 b99 m50 m99
        p50=$(med "${sp50[$R]}"); p99=$(med "${sp99[$R]}")
        if [ -n "$before" ]; then
            b50=$(med "${bf50[$R]}"); b99=$(med "${bf99[$R]}")
            line "seed stage $R/s, before/after: $before p50 $(ms "$b50") p99 $(ms "$b99") ms -> $SP p50 $(ms "$p50") p99 $(ms "$p99") ms (median of $reps, alternating in each round)"
            rec "seed_before_$R" group=seed rate="$R" value="$b99" unit=us p50="$b50" p99="$b99" binary="$before" \
                after_p50="$p50" after_p99="$p99" reference="$p99" ratio="$(calc "$p99 / ($b99 > 0 ? $b99 : 1)")"
        fi
        m50=$(med "${spm50[$R]}"); m99=$(med "${spm99[$R]}")
        if [ -n "${seed50[$R]:-}" ]; then
            s50=$(med "${seed50[$R]}"); s99=$(med "${seed99[$R]}")
            ok=$(met "$p50 < $s50 && $p99 < $s99")
            line "seed stage $R/s: sensorpipe p50 $(ms "$p50") p99 $(ms "$p99") ms vs the seed p50 $(ms "$s50") p99 $(ms "$s99") ms (median of $reps) -> p50 $(fmt2 "$(calc "$p50 / $s50")")x p99 $(fmt2 "$(calc "$p99 / $s99")")x [target p50 and p99 below the seed's: $(word "$ok")]"
            rec "seed_goal_$R" group=seed rate="$R" value="$p99" unit=us p50="$p50" p99="$p99" seed_p50="$s50" \
                seed_p99="$s99" reference="$s99" ratio="$(calc "$p99 / $s99")" target="p50 and p99 below the seed's" met="$ok"
        fi
        case $R in
            1000) target="p50 <= 0.5 ms, p99 <= 1 ms"; ok=$(met "$p50 <= 500 && $p99 <= 1000") ;;
            10000) target="p99 <= 5 ms"; ok=$(met "$p99 <= 5000") ;;
            *) target= ;;
        esac
        if [ -n "$target" ]; then
            line "seed stage $R/s: sensorpipe p50 $(ms "$p50") p99 $(ms "$p99") ms beside the MQTT hop alone p50 $(ms "$m50") p99 $(ms "$m99") ms (medians of $reps) [target $target: $(word "$ok")]"
            rec "seed_abs_$R" group=seed rate="$R" value="$p99" unit=us p50="$p50" p99="$p99" mqtt_p50="$m50" mqtt_p99="$m99" \
                reference="$m99" ratio="$(calc "$p99 / ($m99 > 0 ? $m99 : 1)")" target="$target" met="$ok"
        fi
    done
}
