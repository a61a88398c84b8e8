# bench/history.sh - stage `history` of bench/run ("History at size", docs/BENCHMARKS.md):
# sourced by bench/run, which provides the helpers (rec, line, say, calc, start_serve,
# time_api, stop_pid, ...) and runs history_stage.
#
# 1. The dataset (bench/history_load.sql): 300 series (100 devices x 3 topics) over 30 days,
#    one reading per H_STEP seconds per series (36 s: 21.6M rows; quick: 360 s, 2.16M), made
#    inside PostgreSQL with triggers off and the rollups rebuilt after. Kept across runs in its
#    own cluster under BENCH_HISTORY_CACHE (default build/bench/history-cache/<key>, key = hash
#    of db/*.sql, the loader, the sizes and the PostgreSQL version); a cached dataset is topped
#    up to now (rows from its end, rollups rebuilt for those hours), rebuilt when older than
#    2 days. BENCH_HISTORY_CACHE=off: built in the run's temp dir, thrown away.
# 2. Checks: the rollups' counts equal the raw rows; sampled hours and minutes of both rollups
#    equal the raw aggregate (exactly: the values are multiples of 1/4).
# 3. Cost: rows, bytes on disk per row (partitions + indexes, each rollup), and the model for
#    30 days at one reading per 5 s per series.
# 4. What each view reads: one serve with auto_explain on, one request per view; raw rows,
#    sequential scans of partitions, rollup rows, and the rows examined to find them (the
#    filters' removed rows too) (bench/explain_rows.mjs).
# 5. API time per view (bench/http.mjs, one kept-alive connection): median and p99 over up to
#    H_RUNS requests.
# 6. Time to the drawn chart in headless Chromium (bench/chart_drawn.mjs), skipped with a note
#    when the dashboard has no "chart drawn" marker yet.

HIST_PG= # the history cluster's directory while it runs (bench/run's cleanup stops it)

# The views (at most ~1,000 points per series): name range_s bucket topic. The dashboard's own
# widths (web/range.js bucketFor) are 2 min for 24 h and 1 h for 7 d and 30 d; 10 min for 7 d
# is the finest whole-minute width under 1,000 points (the minute rollup's worst case). "all"
# is every topic (300 series: more rows than the API's limit of 100,000 for the finer widths,
# so the answer is the first 100,000); "dev" one device's three topics (a device page,
# topic=<device>/#); "topic" one topic (the overview asks one request per drawn topic when a
# site has more than 16).
HIST_VIEWS=(
    "24h/2m/all 86400 2m -"
    "24h/2m/dev 86400 2m dev042/#"
    "24h/2m/topic 86400 2m dev042/temperature/dht22"
    "7d/10m/all 604800 10m -"
    "7d/10m/dev 604800 10m dev042/#"
    "7d/1h/all 604800 1h -"
    "7d/1h/dev 604800 1h dev042/#"
    "30d/1h/all 2592000 1h -"
    "30d/1h/dev 2592000 1h dev042/#"
    "30d/1h/topic 2592000 1h dev042/temperature/dht22"
)

hist_psql() { psql -X -qAt -v ON_ERROR_STOP=1 -d hist "$@"; }

# hist_load from to anchor fresh: run bench/history_load.sql
hist_load() {
    local base
    base=$(hist_psql -c "SELECT coalesce(max(id), 0) FROM readings" 2>/dev/null || echo 0)
    hist_psql -v from_epoch="$1" -v to_epoch="$2" -v step="$H_STEP" -v anchor_epoch="$3" -v id_base="$base" \
        -v fresh="$4" -f bench/history_load.sql >"$OUT/logs/history-load.txt"
}

# Start the history cluster and make, top up or reuse the dataset: sets H_BUILD (what was done)
# and H_BUILD_S (its seconds).
hist_dataset() {
    local root=${BENCH_HISTORY_CACHE:-$OUT/history-cache} key dir now_end t0 END=0 ANCHOR=0
    key=$( (cat db/*.sql bench/history_load.sql; echo "$H_STEP $H_DAYS $PG_VERSION") | sha256sum | cut -c1-12)
    if [ "$root" = off ]; then
        dir=$run_dir/history
    else
        dir=$root/$key
        mkdir -p "$root"
        # datasets of other keys (an older schema or size) are not used again
        for old in "$root"/*; do
            [[ -d $old && $(basename "$old") =~ ^[0-9a-f]{12}$ && $old != "$dir" ]] && rm -rf "$old"
        done
    fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    H_PORT=$(free_port)
    HIST_PG=$dir/pg
    PG_FSYNC=on scripts/pg.sh start "$HIST_PG" "$H_PORT" >/dev/null
    export PGHOST=$HIST_PG PGPORT=$H_PORT
    psql -X -qAt -d postgres -c "ALTER SYSTEM SET max_wal_size = '4GB'" -c "SELECT pg_reload_conf()" >/dev/null
    H_LOG=$HIST_PG/postgres.log
    now_end=$(( $(date +%s) / H_STEP * H_STEP ))
    # shellcheck disable=SC1091
    [ -f "$dir/dataset.sh" ] && . "$dir/dataset.sh"
    t0=$(date +%s.%N)
    if [ "$END" -gt 0 ] && [ $((now_end - END)) -le $((2 * 86400)) ] &&
        [ "$(hist_psql -c "SELECT count(*) FROM readings_hourly" 2>/dev/null || echo 0)" -gt 0 ]; then
        # the key covers db/*.sql, so this applies nothing unless the binary measured differs
        "$SP" migrate --db "dbname=hist" --log-level warn
        if [ "$now_end" -gt "$END" ]; then
            H_BUILD="cached (built $(date -u -d "@$ANCHOR" +%FT%TZ)), topped up with $((now_end - END)) s"
            hist_load "$END" "$now_end" "$ANCHOR" false
        else
            H_BUILD="cached, up to date"
        fi
    else
        H_BUILD="built"
        ANCHOR=$now_end
        dropdb --if-exists hist >/dev/null 2>&1
        createdb hist
        "$SP" migrate --db "dbname=hist" --log-level warn
        hist_load $((now_end - H_DAYS * 86400)) "$now_end" "$ANCHOR" true
    fi
    END=$now_end
    printf 'END=%s\nANCHOR=%s\n' "$END" "$ANCHOR" >"$dir/dataset.sh"
    H_BUILD_S=$(calc "$(date +%s.%N) - $t0")
    H_DIR=$dir
}

# The rollups against the raw rows: totals, and sampled buckets of each level exactly.
hist_check() {
    local totals sample
    totals=$(hist_psql -F ' ' -c "SELECT (SELECT count(*) FROM readings), (SELECT sum(n) FROM readings_minutely),
        (SELECT sum(n) FROM readings_hourly)")
    read -r H_ROWS H_MIN_N H_HOUR_N <<<"$totals"
    sample=$(hist_psql -F ' ' <<'SQL'
WITH h AS (SELECT *, interval '1 hour' AS w FROM readings_hourly ORDER BY random() LIMIT 200),
     m AS (SELECT *, interval '1 minute' AS w FROM readings_minutely TABLESAMPLE SYSTEM (0.5) ORDER BY random() LIMIT 200),
     b AS (SELECT * FROM h UNION ALL SELECT * FROM m)
SELECT count(*), count(*) FILTER (WHERE (r.n, r.s, r.lo, r.hi) IS DISTINCT FROM (b.n, b.sum, b.min, b.max))
FROM b CROSS JOIN LATERAL (SELECT count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi FROM readings
                           WHERE topic = b.topic AND ts >= b.bucket AND ts < b.bucket + b.w) r
SQL
)
    read -r H_SAMPLED H_MISMATCH <<<"$sample"
}

# Rows and bytes: sets H_RAW_BYTES H_MIN_ROWS H_MIN_BYTES H_HOUR_ROWS H_HOUR_BYTES H_FIRST H_LAST
hist_cost() {
    local r
    r=$(hist_psql -F ' ' <<'SQL'
SELECT (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i WHERE i.inhparent = 'readings'::regclass),
       (SELECT count(*) FROM readings_minutely), pg_total_relation_size('readings_minutely'),
       (SELECT count(*) FROM readings_hourly), pg_total_relation_size('readings_hourly'),
       (SELECT extract(epoch FROM min(bucket))::bigint FROM readings_hourly),
       (SELECT extract(epoch FROM max(bucket))::bigint + 3600 FROM readings_hourly)
SQL
)
    read -r H_RAW_BYTES H_MIN_ROWS H_MIN_BYTES H_HOUR_ROWS H_HOUR_BYTES H_FIRST H_LAST <<<"$r"
}

hist_url() { # hist_url range_s bucket topic: the /api/readings URL of a view ending now
    local to from q
    to=$(date +%s)
    from=$((to - $1))
    q="bucket=$2&from=$from&to=$to&limit=100000"
    [ "$3" != - ] && q+="&topic=${3//#/%23}"
    printf 'http://127.0.0.1:%s/api/readings?%s' "$HTTP_PORT" "$q"
}

history_stage() {
    local H_STEP H_DAYS=30 H_RUNS H_BUDGET_S H_REPS Q_RUNS Q_BUDGET_S saved_host=${PGHOST:-} saved_port=${PGPORT:-}
    if [ "$QUICK" = 1 ]; then
        H_STEP=360; H_RUNS=30; H_BUDGET_S=15; H_REPS=5
    else
        H_STEP=36; H_RUNS=100; H_BUDGET_S=40; H_REPS=10
    fi
    H_STEP=${BENCH_HISTORY_STEP:-$H_STEP}
    H_RUNS=${BENCH_HISTORY_RUNS:-$H_RUNS}
    Q_RUNS=$H_RUNS; Q_BUDGET_S=$H_BUDGET_S # for time_api
    say "== 6. history at size: 300 series x $H_DAYS days, one reading per $H_STEP s per series"
    hist_dataset
    say "dataset: $H_BUILD in $(fmt1 "$H_BUILD_S") s ($H_DIR)"
    hist_check
    local ok_roll=false
    [ "$H_ROWS" = "$H_MIN_N" ] && [ "$H_ROWS" = "$H_HOUR_N" ] && [ "$H_MISMATCH" = 0 ] && [ "$H_SAMPLED" -gt 0 ] && ok_roll=true
    hist_cost
    local bpr mbpr hbpr span_d
    bpr=$(calc "$H_RAW_BYTES / $H_ROWS"); mbpr=$(calc "$H_MIN_BYTES / $H_MIN_ROWS"); hbpr=$(calc "$H_HOUR_BYTES / $H_HOUR_ROWS")
    span_d=$(calc "($H_LAST - $H_FIRST) / 86400")
    line "history dataset: $H_ROWS rows, 300 series over $(fmt1 "$span_d") days ($H_BUILD in $(fmt1 "$H_BUILD_S") s); raw $(fmt0 "$bpr") B/row on disk with indexes ($(calc "$H_RAW_BYTES / 1048576" | xargs printf '%.0f') MiB); readings_minutely $H_MIN_ROWS rows $(fmt0 "$mbpr") B/row; readings_hourly $H_HOUR_ROWS rows $(fmt0 "$hbpr") B/row; rollup totals = raw count: $([ "$H_ROWS" = "$H_MIN_N" ] && [ "$H_ROWS" = "$H_HOUR_N" ] && echo yes || echo "NO ($H_MIN_N, $H_HOUR_N)"); sampled buckets equal to raw: $((H_SAMPLED - H_MISMATCH))/$H_SAMPLED"
    rec history_dataset group=history rows="$H_ROWS" step_s="$H_STEP" days="$H_DAYS" span_days="$span_d" build="$H_BUILD" \
        build_s="$H_BUILD_S" raw_bytes="$H_RAW_BYTES" raw_bytes_per_row="$bpr" minutely_rows="$H_MIN_ROWS" \
        minutely_bytes="$H_MIN_BYTES" hourly_rows="$H_HOUR_ROWS" hourly_bytes="$H_HOUR_BYTES" sampled="$H_SAMPLED" \
        mismatched="$H_MISMATCH" met="$ok_roll"
    # the model: 30 days at one reading per 5 s per series; every minute of every series has data
    local m_rows=$((300 * 30 * 17280)) m_min=$((300 * 30 * 1440)) m_hour=$((300 * 30 * 24))
    local m_bytes
    m_bytes=$(calc "$m_rows * $bpr + $m_min * $mbpr + $m_hour * $hbpr")
    line "history cost model, 30 days at 1 reading/5 s x 300 series: $m_rows raw rows ($(calc "$m_rows * $bpr / 1073741824" | xargs printf '%.1f') GiB), $m_min minutely rows ($(calc "$m_min * $mbpr / 1073741824" | xargs printf '%.2f') GiB), $m_hour hourly rows ($(calc "$m_hour * $hbpr / 1048576" | xargs printf '%.0f') MiB); total $(calc "$m_bytes / 1073741824" | xargs printf '%.1f') GiB"
    rec history_model group=history rows="$m_rows" minutely_rows="$m_min" hourly_rows="$m_hour" bytes="$m_bytes" \
        raw_bytes="$(calc "$m_rows * $bpr")" minutely_bytes="$(calc "$m_min * $mbpr")" hourly_bytes="$(calc "$m_hour * $hbpr")"

    # what each view reads: auto_explain's plans of one request per view
    hist_psql -c "ALTER DATABASE hist SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE hist SET auto_explain.log_min_duration = 0" -c "ALTER DATABASE hist SET auto_explain.log_analyze = on" \
        -c "ALTER DATABASE hist SET auto_explain.log_timing = off"
    start_serve hist history-explain
    local off v name range bucket topic code n=0
    off=$(stat -c %s "$H_LOG")
    : >"$run_dir/history-reads.txt"
    for v in "${HIST_VIEWS[@]}"; do
        read -r name range bucket topic <<<"$v"
        code=$(node bench/http.mjs time "$(hist_url "$range" "$bucket" "$topic")" 1 | awk '{ print $1 }')
        if [ "$code" = 200 ]; then # its plan is the next one logged
            wait_for 20 "[ \$(node bench/explain_rows.mjs '$H_LOG' $off | wc -l) -gt $n ]" ||
                say "auto_explain: no plan of $name in $H_LOG"
            n=$((n + 1))
            node bench/explain_rows.mjs "$H_LOG" "$off" | sed -n "${n}p" >>"$run_dir/history-reads.txt"
        else # refused (e.g. 413 over --api-max-bytes): its query was cancelled, no plan
            echo "- - - - - - -" >>"$run_dir/history-reads.txt"
            n=$(node bench/explain_rows.mjs "$H_LOG" "$off" | wc -l)
        fi
    done
    tail -c +"$((off + 1))" "$H_LOG" >"$OUT/logs/history-explain.txt"
    stop_pid "$SERVE_PID"
    hist_psql -c "ALTER DATABASE hist RESET session_preload_libraries" -c "ALTER DATABASE hist RESET auto_explain.log_min_duration" \
        -c "ALTER DATABASE hist RESET auto_explain.log_analyze" -c "ALTER DATABASE hist RESET auto_explain.log_timing"

    # API time per view
    start_serve hist history
    local i=0 reads raw seq mrows hrows xraw xm xh runs med p99 pmax rows codes ok
    for v in "${HIST_VIEWS[@]}"; do
        read -r name range bucket topic <<<"$v"
        i=$((i + 1))
        reads=$(sed -n "${i}p" "$run_dir/history-reads.txt")
        read -r raw seq mrows hrows xraw xm xh <<<"${reads:-? ? ? ? ? ? ?}"
        read -r runs med p99 pmax < <(time_api "$(hist_url "$range" "$bucket" "$topic")" "hist-${name//\//-}")
        rows=$({ grep -o '"topic":' "$run_dir/api-hist-${name//\//-}.json" || true; } | wc -l)
        codes=$(awk '{ print $1 }' "$run_dir/codes-hist-${name//\//-}" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
        ok=$(met "$p99 <= 100")
        line "history /api/readings $name (bucket $bucket, topic ${topic/-/all}): median $med ms p99 $p99 ms max $pmax ms over $runs runs ($rows rows$([ "$rows" -ge 100000 ] && echo ', cut at the limit'); HTTP $codes); read: $raw raw rows ($seq seq scans), $mrows minutely rows, $hrows hourly rows (examined: $xraw, $xm, $xh) [target p99 <= 100 ms: $(word "$ok")]"
        rec "history_api_${name//\//_}" group=history view="$name" bucket="$bucket" topic="$topic" value="$p99" unit=ms \
            median="$med" p99="$p99" max="$pmax" runs="$runs" rows="$rows" raw_rows="$raw" raw_seq_scans="$seq" \
            minutely_rows="$mrows" hourly_rows="$hrows" raw_examined="$xraw" minutely_examined="$xm" hourly_examined="$xh" \
            target="<= 100 ms" met="$ok"
    done

    # time to the drawn chart in headless Chromium
    if ! grep -q chartDrawn web/*.js; then
        line "history chart drawn in Chromium: SKIPPED: the dashboard sets no data-chart-drawn marker yet (web/*.js; the range picker of issue 14 item 1)"
        rec history_chart group=history skipped=true note="no chart marker in web/*.js"
    else
        local pwf=$run_dir/history-user.password out crc=0 who=bench$(date +%s)
        printf 'bench-history-%s\n' "$RANDOM$RANDOM" >"$pwf"
        "$SP" user add "$who" --db "dbname=hist" <"$pwf" >/dev/null
        out=$(node bench/chart_drawn.mjs "http://127.0.0.1:$HTTP_PORT" "$who" "$pwf" "$H_REPS" 24h 7d 30d 24h/dev042 7d/dev042 30d/dev042 2>"$run_dir/chart.err") || crc=$?
        cp "$run_dir/chart.err" "$OUT/logs/history-chart.err"
        if [ -n "$out" ]; then
            while read -r j; do
                [ -n "$j" ] || continue
                local r c p50 cp99 cmax cn
                r=$(sed -n 's/.*"range":"\([^"]*\)".*/\1/p' <<<"$j")
                c=$(jget cold_ms "$j"); p50=$(jget p50_ms "$j"); cp99=$(jget p99_ms "$j"); cmax=$(jget max_ms "$j"); cn=$(jget n "$j")
                ok=$(met "$cp99 <= 500")
                line "history chart drawn in Chromium, range $r: first visit $c ms; again: median $p50 ms p99 $cp99 ms max $cmax ms over $cn loads [target <= 500 ms: $(word "$ok")]"
                rec "history_chart_${r//\//_}" group=history range="$r" value="$cp99" unit=ms cold="$c" median="$p50" p99="$cp99" \
                    max="$cmax" runs="$cn" target="<= 500 ms" met="$ok"
            done <<<"$out"
        fi
        if [ "$crc" = 3 ]; then
            line "history chart drawn in Chromium: SKIPPED: $(tail -n 1 "$run_dir/chart.err")"
            rec history_chart group=history skipped=true note="$(tail -n 1 "$run_dir/chart.err")"
        elif [ "$crc" != 0 ]; then
            line "history chart drawn in Chromium: FAILED (exit $crc): $(tail -n 1 "$run_dir/chart.err")"
            rec history_chart group=history failed=true note="$(tail -n 1 "$run_dir/chart.err")"
        fi
    fi
    stop_pid "$SERVE_PID"
    scripts/pg.sh stop "$HIST_PG" >/dev/null 2>&1 || true
    HIST_PG=
    export PGHOST=$saved_host PGPORT=$saved_port
}
