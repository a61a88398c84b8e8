// bench/report.mjs - turn bench/run's measurements into results.json, results.md and the plot's data files.
//
//   node bench/report.mjs <results.jsonl> <meta.json> <out-dir> <plot-data-dir>
//
// results.jsonl: one JSON object per measurement (bench/run's `rec`); meta.json: the run
// (command, machine, versions, sizes). Writes <out-dir>/results.json, <out-dir>/results.md
// and <plot-data-dir>/{ingest,latency,fanout,query}.dat for gnuplot (a file only when
// its stage was measured).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [jsonl, metaFile, outDir, plotDir] = process.argv.slice(2);
if (!plotDir) {
  console.error('usage: node bench/report.mjs <results.jsonl> <meta.json> <out-dir> <plot-data-dir>');
  process.exit(2);
}
const measurements = readFileSync(jsonl, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
writeFileSync(join(outDir, 'results.json'), JSON.stringify({ meta, measurements }, null, 2) + '\n');

const by = (id) => measurements.find((m) => m.id === id);
const n0 = (x) => (x == null || Number.isNaN(+x) ? '?' : Math.round(+x).toLocaleString('en-US'));
const ms = (us) => (us == null || us < 0 ? '?' : `${(+us / 1000).toFixed(2)} ms`);
const mbk = (kb) => `${(+kb / 1024).toFixed(1)} MB`;
const x2 = (r) => (r == null ? '' : `${(+r).toFixed(2)}×`);
const met = (m) => (m.met === true ? '✅' : m.met === false ? '❌' : '');
const tgt = (m) => (!m.target || m.target === 'none' ? '' : m.target);

// "best of a, b" when a measurement was repeated
const best = (m) => {
  const runs = String(m.runs ?? '').split(',').filter(Boolean);
  return runs.length > 1 ? ` (best of ${runs.map(n0).join(', ')})` : '';
};
const rows = [];
const row = (...cells) => rows.push(`| ${cells.join(' | ')} |`);
for (const m of measurements) {
  const id = m.id;
  if (id.startsWith('publisher_alone')) {
    row(`publisher alone, QoS ${m.qos} (nobody subscribed)`, `${n0(m.value)} readings/s`, '', '', 'above the ceiling', '');
  } else if (id.startsWith('broker_ceiling')) {
    row(`broker-only ceiling, QoS ${m.qos} (subscriber that only counts)`, `${n0(m.value)} readings/s${best(m)}, ${m.lost} lost`, '', '', '', '');
  } else if (id.startsWith('ingest_q')) {
    row(`ingest throughput, QoS ${m.qos}`, `${n0(m.value)} readings/s landed${best(m)}, ${m.lost} lost, ${m.dups} duplicated`, `broker-only ${n0(m.reference)}/s`, x2(m.ratio), tgt(m), met(m));
  } else if (id.startsWith('tls_broker_ceiling')) {
    row(`TLS broker-only ceiling, QoS ${m.qos} (subscriber that only counts, over TLS)`, `${n0(m.value)} readings/s${best(m)}, ${m.lost} lost`, '', '', '', '');
  } else if (id.startsWith('tls_ingest_q')) {
    row(`ingest throughput over TLS, QoS ${m.qos}`, `${n0(m.value)} readings/s landed${best(m)}, ${m.lost} lost, ${m.dups} duplicated; ${(+m.cpu_us_per_reading).toFixed(2)} µs ingest CPU per reading${m.plain ? `; ${x2(m.value / m.plain)} the plain-MQTT ingest` : ''}`, `TLS broker-only ${n0(m.reference)}/s`, x2(m.ratio), tgt(m), met(m));
  } else if (m.group === 'sustain') {
    const what = m.id === 'sustain_full'
      ? `sustained ingest, ${n0(m.readings)} readings at full speed, QoS 0, one publisher, 3 topics`
      : `sustained ingest, ${n0(m.offered)}/s for ${n0(m.readings / m.offered)} s, QoS 0, one publisher, 3 topics`;
    row(what, `${n0(m.value)} readings/s to the last commit${best(m)}, ${m.lost} lost, ${m.dups} duplicated; PostgreSQL ${(+m.pg_cpu_us_per_row).toFixed(1)} µs CPU and ${n0(m.wal_bytes_per_row)} B WAL per row; shared_buffers ${m.shared_buffers}`, `broker-only ${n0(m.reference)}/s`, x2(m.ratio), tgt(m), met(m));
  } else if (id === 'pipeline_load1') {
    row('load 1 through the pipeline (ingest + serve + 1 WS client), QoS 0', `${n0(m.value)} readings/s landed${best(m)}, ${m.lost} lost; ${n0(m.ws_rows)} delivered over WebSocket`, m.reference ? `broker-only ${n0(m.reference)}/s` : '', x2(m.ratio), '', '');
  } else if (m.group === 'latency') {
    const variant = m.id.startsWith('latency_durable')
      ? ', ingest --qos0-async-commit=false (reference: every commit waits for the WAL flush)'
      : '';
    const what = `latency publish→WebSocket at ${n0(m.rate)}/s${variant}`;
    row(what, `p50 ${ms(m.p50)}, p90 ${ms(m.p90)}, p99 ${ms(m.p99)}, max ${ms(m.max)} (${m.delivered}/${m.sent}); publish→commit p50 ${ms(m.commit_p50)} p99 ${ms(m.commit_p99)}; commit→WS p50 ${ms(m.serve_p50)} p99 ${ms(m.serve_p99)}`, `MQTT hop alone p50 ${ms(m.mqtt_p50)}, p99 ${ms(m.mqtt_p99)}`, x2(m.ratio), tgt(m), met(m));
  } else if (m.group === 'seed' && id === 'seed_skipped') {
    row('beside the seed stack', `skipped: ${m.note}`, '', '', '', '');
  } else if (m.group === 'seed' && id.startsWith('seed_before_')) {
    row(`sensorpipe before (${m.binary}) at ${n0(m.rate)}/s, same rounds (median)`, `p50 ${ms(m.p50)}, p99 ${ms(m.p99)}`, `after: p50 ${ms(m.after_p50)}, p99 ${ms(m.after_p99)}`, x2(m.ratio), '', '');
  } else if (m.group === 'seed' && id.startsWith('seed_abs_')) {
    row(`sensorpipe publish→WebSocket at ${n0(m.rate)}/s, seed stage (median of the rounds)`, `p50 ${ms(m.p50)}, p99 ${ms(m.p99)}`, `MQTT hop alone p50 ${ms(m.mqtt_p50)}, p99 ${ms(m.mqtt_p99)}`, x2(m.ratio), tgt(m), met(m));
  } else if (m.group === 'seed' && id.startsWith('seed_goal_')) {
    const ref = m.seed_p50 != null ? `the seed p50 ${ms(m.seed_p50)}, p99 ${ms(m.seed_p99)}` : '';
    row(`sensorpipe beside the seed at ${n0(m.rate)}/s (median of the rounds)`, `p50 ${ms(m.p50)}, p99 ${ms(m.p99)}`, ref, x2(m.ratio), tgt(m), met(m));
  } else if (m.group === 'seed') {
    row(`${{ seed: 'the seed stack (talk, Python)', sensorpipe_before: 'sensorpipe before (BENCH_SEED_BEFORE)' }[m.stack] ?? m.stack} publish→WebSocket at ${n0(m.rate)}/s, same publisher and client, round ${m.rep}`, `p50 ${ms(m.p50)}, p90 ${ms(m.p90)}, p99 ${ms(m.p99)}, max ${ms(m.max)} (${m.delivered}/${m.sent})`, `MQTT hop alone p50 ${ms(m.mqtt_p50)}, p99 ${ms(m.mqtt_p99)}`, x2(m.ratio), '', '');
  } else if (m.group === 'fanout') {
    row(`fan-out ${n0(m.clients)} WS clients at 10/s${m.loop ? `, serve's ${m.loop} loop` : ''}`, `${n0(m.connected)} connected, ${(m.delivery_ratio * 100).toFixed(2)}% delivered, p50 ${ms(m.p50)}, p99 ${ms(m.p99)}, max ${ms(m.max)}; serve CPU ${Math.round(m.serve_cpu_pct)}%, RSS ${mbk(m.serve_rss_kb)}; client CPU ${Math.round(m.client_cpu_pct)}%`, `1 client p99 ${ms(m.reference)}`, x2(m.ratio), tgt(m), met(m));
  } else if (m.group === 'idle') {
    row(`serve CPU per reading, 1 live client + ${n0(m.idle)} idle WebSockets at 100/s, serve's ${m.loop} loop`, `${n0(m.value)} µs a reading; live client ${m.delivered}/${m.expected} delivered, p99 ${ms(m.p99)}`, `none idle ${n0(m.reference)} µs`, x2(m.ratio), tgt(m), met(m));
  } else if (id === 'footprint_idle') {
    row('RSS idle, ingest + serve', `${mbk(m.value)} (${mbk(m.ingest_kb)} + ${mbk(m.serve_kb)}); own memory ${mbk(m.ingest_anon_kb + m.serve_anon_kb)}, PSS ${mbk(m.ingest_pss_kb + m.serve_pss_kb)}`, `mosquitto ${mbk(m.reference)}`, x2(m.ratio), tgt(m), met(m));
  } else if (id === 'footprint_load1') {
    row('peak RSS under load 1, ingest + serve', `${mbk(m.value)} (${mbk(m.ingest_kb)} + ${mbk(m.serve_kb)}); after the load own memory ${mbk(m.ingest_anon_kb + m.serve_anon_kb)}`, `mosquitto peak ${mbk(m.reference)}`, x2(m.ratio), tgt(m), met(m));
  } else if (id === 'query_sql_24h') {
    row(`24 h hourly buckets, SQL (date_bin), ${n0(m.rows)} rows`, `median ${m.median} ms, p99 ${m.p99} ms (${m.runs} runs)`, `hourly rollup median ${m.reference} ms`, `${Math.round(m.ratio)}× slower`, tgt(m), met(m));
  } else if (id === 'query_rollup_24h') {
    row('24 h hourly buckets from the rollup (readings_hourly, SQL)', `median ${m.median} ms, p99 ${m.p99} ms (${m.runs} runs)`, '', '', '≤ 50 ms', m.p99 <= 50 ? '✅' : '❌');
  } else if (id === 'query_api_24h') {
    row('`/api/readings?bucket=1h` over 24 h', `median ${m.median} ms, p99 ${m.p99} ms (${m.runs} runs, ${m.rows} rows; ${m.edge_minute_rows ?? m.edge_rows ?? '?'} raw rows read, the partial first minute)`, `SQL median ${m.reference} ms`, x2(m.ratio), tgt(m), met(m));
  } else if (id === 'history_dataset') {
    row(`history dataset: ${n0(m.rows)} rows, 300 series, ${(+m.span_days).toFixed(1)} days, one reading per ${m.step_s} s a series`, `${m.build} in ${(+m.build_s).toFixed(0)} s; ${n0(m.raw_bytes_per_row)} B/row on disk with indexes; readings_minutely ${n0(m.minutely_rows)} rows, readings_hourly ${n0(m.hourly_rows)} rows`, `rollups = raw: ${m.sampled - m.mismatched}/${m.sampled} sampled buckets`, '', '', m.met ? '✅' : '❌');
  } else if (id === 'history_model') {
    row('cost model: 30 days at 1 reading/5 s × 300 series', `${n0(m.rows)} raw rows, ${(m.raw_bytes / 2 ** 30).toFixed(1)} GiB; ${n0(m.minutely_rows)} minutely rows, ${(m.minutely_bytes / 2 ** 30).toFixed(2)} GiB; ${n0(m.hourly_rows)} hourly rows, ${(m.hourly_bytes / 2 ** 20).toFixed(0)} MiB`, '', '', '', '');
  } else if (id.startsWith('history_api_')) {
    row(`\`/api/readings\` ${m.view} (bucket ${m.bucket}, ${m.topic === '-' ? 'all topics' : m.topic})`, `median ${m.median} ms, p99 ${m.p99} ms (${m.runs} runs, ${n0(m.rows)} rows); read ${n0(m.raw_rows)} raw rows (${m.raw_seq_scans} seq scans), ${n0(m.minutely_rows)} minutely, ${n0(m.hourly_rows)} hourly${m.minutely_examined != null ? ` (examined ${n0(m.raw_examined)}, ${n0(m.minutely_examined)}, ${n0(m.hourly_examined)})` : ''}`, '', '', tgt(m), met(m));
  } else if (id.startsWith('history_chart')) {
    if (m.skipped || m.failed) row('chart drawn in headless Chromium', `${m.skipped ? 'skipped' : 'failed'}: ${m.note}`, '', '', '≤ 500 ms', '');
    else row(`chart drawn in headless Chromium, range ${m.range}`, `first visit ${m.cold} ms; again median ${m.median} ms, p99 ${m.p99} ms (${m.runs} loads)`, '', '', tgt(m), met(m));
  } else if (id === 'query_api_24h_hours') {
    row('`/api/readings?bucket=1h` over 24 whole hours', `median ${m.median} ms, p99 ${m.p99} ms (${m.runs} runs, ${m.rows} rows)`, `SQL median ${m.reference} ms`, x2(m.ratio), '', '');
  }
}
const mc = meta.machine || {};
const dirty = meta.uncommitted_files > 0 ? ` + ${meta.uncommitted_files} uncommitted files` : '';
const md = [
  `Run: \`${meta.command}\` on ${String(meta.date).slice(0, 10)}: ${mc.nproc} × ${mc.cpu}, load average ${mc.loadavg_before} before; ` +
    `runtime ${meta.runtime_s} s; commit ${meta.commit}${dirty}.`,
  '',
  '| measurement | result | reference (same run) | ratio | target | met |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
writeFileSync(join(outDir, 'results.md'), md);

// gnuplot data
const put = (name, lines) => {
  if (lines.length) writeFileSync(join(plotDir, `${name}.dat`), lines.join('\n') + '\n');
};
const k = (x) => (x == null ? 0 : x / 1000);
put(
  'ingest',
  [0, 1]
    .filter((q) => by(`ingest_q${q}`) || by(`broker_ceiling_q${q}`))
    .map((q) => `"QoS ${q}" ${k(by(`broker_ceiling_q${q}`)?.value)} ${k(by(`ingest_q${q}`)?.value)}`)
);
put(
  'latency',
  measurements
    .filter((m) => m.group === 'latency' && !m.proposal)
    .map((m) => [m.rate, m.p50, m.p90, m.p99, m.max, m.mqtt_p99, m.commit_p99, m.serve_p99].map((v, i) => (i ? v / 1000 : v)).join(' '))
);
// the fan-out plot draws the loop measured first (serve's default) only: the other loop's 10,000-client run is in the table
const fanLoop = measurements.find((m) => m.group === 'fanout')?.loop;
put(
  'fanout',
  measurements
    .filter((m) => m.group === 'fanout' && m.loop === fanLoop)
    .map((m) => `${m.clients} ${m.p50 / 1000} ${m.p99 / 1000} ${m.serve_cpu_pct} ${m.serve_rss_kb / 1024} ${m.delivery_ratio * 100}`)
);
put(
  'query',
  measurements
    .filter((m) => m.group === 'query')
    .map((m) => `"${{ query_sql_24h: 'raw SQL', query_api_24h: 'API', query_api_24h_hours: 'API, whole hours' }[m.id] ?? 'rollup SQL'}" ${m.median} ${m.p99}`)
);
