// goals.mjs - the hostile-client suite's goals, judged from one run's measurements (suite.mjs).
//   evaluate(r, cfg) -> [{ goal, measured, pass, ci, ciPass }]
// pass: the goal of issue 12 (true/false), or null for a row that only reports.
// ci / ciPass: the bound the short run in `make test` asserts instead, when the row is one that
// holds on a loaded 2-core CI machine (delivery, recovery, a generous memory and /healthz bound);
// null when CI only reports the row.
export const GOALS = { rssMb: 64, healthP99Ms: 50, dashP99Ms: 100, recoverRssMb: 16, freshMs: 5000 };
// the short run's bounds (CI): generous on purpose, they catch a server that sinks, not a slow host
export const CI = { rssMb: Number(process.env.HOSTILE_CI_RSS_MB || 256), healthP50Ms: 500, healthP99Ms: 2000, freshMs: 10000 };

export function pct(xs, p) {
  if (!xs?.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
const ms = (x) => (x === null || x === undefined ? '?' : x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
const maxOf = (o, phases) => Math.max(0, ...phases.map((p) => o?.[p]?.max ?? 0));
const lat = (xs) => `p50 ${ms(pct(xs, 50))}, p99 ${ms(pct(xs, 99))}, max ${ms(pct(xs, 100))} (${xs?.length ?? 0} samples)`;
const counts = (o) => Object.entries(o || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';

export function evaluate(r, cfg) {
  const rows = [];
  const row = (goal, measured, pass, ci = null, ciPass = null) => rows.push({ goal, measured, pass, ci, ciPass });
  const live = ['baseline', 'attack', 'recovery', 'after'];

  const rssMax = Math.max(maxOf(r.rss, live), r.hwmKb ?? 0);
  row(`serve RSS ≤ ${GOALS.rssMb} MB throughout`,
    `max ${mb(rssMax)} (VmRSS every 100 ms and VmHWM; idle ${mb(r.idleRssKb)}, at 1,000 readings/s ${mb(r.baselineRssKb)}, end of attack ${mb(r.attackRssNowKb)})`,
    rssMax <= GOALS.rssMb * 1024, `≤ ${CI.rssMb} MB`, rssMax <= CI.rssMb * 1024);

  const tcpMax = maxOf(r.tcp, live);
  row('host TCP memory below the kernel\'s pressure threshold',
    `max ${tcpMax} pages (${mb(tcpMax * 4)}) against tcp_mem pressure ${r.pressure} pages (${mb(r.pressure * 4)}); baseline ${r.tcp?.baseline?.max ?? '?'} pages`,
    tcpMax < r.pressure);

  const hA = r.health?.attack;
  const failA = r.healthFailed?.attack ?? 0;
  const hP99 = pct(hA, 99);
  row(`/healthz p99 ≤ ${GOALS.healthP99Ms} ms under attack (from 127.0.0.1, a new connection every 20 ms)`,
    `${lat(hA)}; ${failA} failed or unanswered in 10 s; baseline p99 ${ms(pct(r.health?.baseline, 99))}`,
    hP99 !== null && hP99 <= GOALS.healthP99Ms, `every probe answered 200, p50 ≤ ${CI.healthP50Ms} ms`,
    failA === 0 && pct(hA, 50) !== null && pct(hA, 50) <= CI.healthP50Ms);

  const every = r.published !== null && r.delivered === r.published;
  row('the dashboard receives every reading',
    `${r.delivered} of ${r.published} published (${r.landed} in the table); ${r.gaps} gap(s), ${r.reconnects} reconnect(s), ${r.duplicates} duplicate(s)`,
    every, 'every reading', every);

  const dA = r.lat?.attack;
  const dP99 = pct(dA, 99);
  row(`dashboard latency p99 ≤ ${GOALS.dashP99Ms} ms under attack (publish → WebSocket receipt)`,
    `${lat(dA)}; baseline p99 ${ms(pct(r.lat?.baseline, 99))}`, dP99 !== null && dP99 <= GOALS.dashP99Ms);

  const down = r.recoveredMs !== null;
  row(`recovery: connections back down within ${cfg.recoveryS} s of the attackers leaving`,
    down ? `in ${(r.recoveredMs / 1000).toFixed(1)} s: ${r.recoveryWs} WebSocket client(s), ${r.recoveryConns} TCP connection(s) to serve (baseline ${r.baselineConns})`
      : `not within ${cfg.recoveryS} s: still ${r.recoveryWs} WebSocket client(s), ${r.recoveryConns} TCP connection(s) (baseline ${r.baselineConns})`,
    down, 'back down', down);

  const hR = r.health?.after;
  const hRp99 = pct(hR, 99);
  row(`recovery: /healthz p99 ≤ ${GOALS.healthP99Ms} ms`, `${lat(hR)}; ${r.healthFailed?.after ?? 0} failed`,
    hRp99 !== null && hRp99 <= GOALS.healthP99Ms, `p99 ≤ ${CI.healthP99Ms} ms`, hRp99 !== null && hRp99 <= CI.healthP99Ms);

  const rssBack = r.afterRssKb <= r.baselineRssKb + GOALS.recoverRssMb * 1024;
  row(`recovery: serve RSS back to ≤ its baseline + ${GOALS.recoverRssMb} MB`,
    `${mb(r.afterRssKb)} at the end (baseline ${mb(r.baselineRssKb)})`, rssBack);

  const f = r.fresh || {};
  const freshOk = !f.error && f.liveMs <= GOALS.freshMs;
  row('recovery: a new dashboard connects (history=100, then a live reading, ≤ 5 s)',
    f.error ? `failed: ${f.error}` : `history in ${ms(f.historyMs)}, first live reading in ${ms(f.liveMs)}`,
    freshOk, `≤ ${CI.freshMs / 1000} s`, !f.error && f.liveMs <= CI.freshMs);

  const dR = r.lat?.after;
  const dRp99 = pct(dR, 99);
  row(`recovery: dashboard latency p99 ≤ ${GOALS.dashP99Ms} ms`, lat(dR), dRp99 !== null && dRp99 <= GOALS.dashP99Ms);

  // what the attackers got: reported, no goal
  const a = r.attackers || {};
  row('(attack) WebSockets that never read: upgrade answers',
    `${cfg.ws} opened, half with history=${cfg.wsHistory}; upgrade answers ${counts(a.ws_status)}; every attacker open after ${ms(a.ramp_ms)}; ` +
    `serve's /metrics, asked once a second, unanswered in 5 s ${r.metricsUnanswered ?? 0} times`, null);
  row('(attack) API requests /api/readings?limit=' + cfg.apiLimit,
    `${cfg.api} at a time: ${a.api_done ?? 0} answered (${counts(a.api_status)}), ${a.api_failed ?? 0} failed (${counts(a.api_errors)}), ` +
    `${mb((a.api_bytes ?? 0) / 1024)} read, mean ${ms(a.api_done ? a.api_ms_sum / a.api_done : null)}, max ${ms(a.api_ms_max)}`, null);
  row('(attack) slowloris sockets',
    `${cfg.slow} kept open (a byte every ${cfg.slowByteMs} ms): ${a.slow_opened ?? 0} opened, ${a.slow_closed_by_server ?? 0} closed by serve, ` +
    `${a.slow_answered ?? 0} answered, ${a.slow_failed ?? 0} failed to connect; peak ${r.peakConns} TCP connections to serve`, null);
  const ref = r.reference;
  row('(reference) the MQTT hop alone, whole run (bench/count_sub -L on the same readings)',
    ref ? `${ref.received} received; p50 ${ms(ref.lat_p50_us / 1000)}, p99 ${ms(ref.lat_p99_us / 1000)}, max ${ms(ref.lat_max_us / 1000)}: ` +
      'what the loaded host adds before serve is involved' : 'not measured', null);
  row('(diagnosis) landing lag: now() - ts of the newest row in the table, once a second',
    `under attack ${lat(r.side?.landing?.attack)}; baseline ${lat(r.side?.landing?.baseline)}: the ingest's and PostgreSQL's share of the dashboard's latency`, null);
  const lp = (o, ph) => (o?.[ph] ? `p99 ${ms(o[ph].p99)}, max ${ms(o[ph].max)}` : '?');
  row('(diagnosis) the measurers\' own event-loop delay: the dashboard\'s process, and the probes\'',
    `dashboard: under attack ${lp(r.dashLoop, 'attack')}, baseline ${lp(r.dashLoop, 'baseline')}; probes: under attack ${lp(r.loop, 'attack')}, ` +
    `baseline ${lp(r.loop, 'baseline')}. A latency above is serve's only where these stay small`, null);
  const cpuPct = (ph) => (r.cpu?.[ph] !== undefined && r.wall?.[ph] ? `${Math.round((100 * r.cpu[ph]) / r.wall[ph])}%` : '?');
  row('(attack) serve CPU (of one core)', `baseline ${cpuPct('baseline')}, attack ${cpuPct('attack')}, recovery ${cpuPct('recovery')}, after ${cpuPct('after')}`, null);
  const rq = (ph) => {
    const o = r.runq?.[ph];
    if (!o || !r.wall?.[ph]) return '?';
    return `${ph} ${Math.round((1000 * o.s) / r.wall[ph])} ms/s, ${o.slices ? ms((1000 * o.s) / o.slices) : '?'} a wake-up`;
  };
  row('(diagnosis) serve waiting for a CPU (run queue, /proc/<pid>/schedstat): per second, and on average each time it woke',
    ['baseline', 'attack', 'recovery'].map(rq).join('; ') + ': the host\'s share of every loop pass of serve', null);
  const m = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text || '')?.[1] ?? NaN);
  const d = (name) => m(r.metricsAfter, name) - m(r.metricsBaseline, name);
  row('(attack) serve\'s own counters, baseline to the end (/metrics)',
    `hub holds ${d('sensorpipe_hub_holds_total')} (${d('sensorpipe_hub_held_milliseconds_total')} ms held), ` +
    `WebSocket gaps ${d('sensorpipe_ws_gaps_total')}, connections taken from the listen queue after a refusal ` +
    `${d('sensorpipe_accept_drained_total')}, header timeouts ${d('sensorpipe_http_refused_total{reason="header_timeout"}')}, ` +
    `queries refused ${d('sensorpipe_db_queue_refused_total')}, credentials refused as unavailable (503) ` +
    `${d('sensorpipe_auth_refused_total{reason="unavailable"}')}, 503 answers ${d('sensorpipe_http_requests_total{code="503"}')}`, null);
  row('(attack) /api/topics from 127.0.0.1, once a second', `under attack ${lat(r.side?.topics?.attack)}; baseline ${lat(r.side?.topics?.baseline)}`, null);
  return rows;
}
