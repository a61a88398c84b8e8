// suite.mjs - the hostile-client suite (docs/SECURITY.md, "Hostile clients"): a private pipeline
// (stack.mjs) carries 1,000 readings/s (bench/latency_pub, QoS 1) to a real dashboard on 127.0.0.1
// (dashboard.mjs) while attackers on 127.0.0.2-127.0.0.9 (attackers.mjs, a process of their own)
// open WebSockets that never read, ask for the largest API answers and trickle request heads; then
// the attackers leave and recovery is watched. Phases: baseline, attack, recovery (until the
// connection counts are back down), after (the rest of the recovery window).
//   const r = await runHostile(config(short), log);   r.rows: [{ goal, measured, pass, ci }]
// config() reads the sizes from the environment (HOSTILE_*, see scripts/hostile.sh).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ROOT, RAISE_NOFILE, startStack, waitUntil, spawnLogged } from './stack.mjs';
import { startProbes, timedGet, metric, establishedTo, tcpPressure, hwmKb, rssKb, HEALTH_TIMEOUT_MS } from './probes.mjs';
import { freshDashboard } from './dashboard.mjs';
import { remoteDashboard } from './dashboard_proc.mjs';
import { evaluate } from './goals.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const num = (name, dflt) => (process.env[name] ? Number(process.env[name]) : dflt);

/** The run's sizes: the full suite, or the short one CI runs (short = true). */
export function config(short) {
  const d = short
    ? { ws: 100, api: 4, slow: 200, preload: 50000, baselineS: 4, attackS: 15, recoveryS: 12 }
    : { ws: 1000, api: 40, slow: 2000, preload: 200000, baselineS: 10, attackS: 60, recoveryS: 20 };
  return {
    short,
    ws: num('HOSTILE_WS', d.ws),
    wsHistory: num('HOSTILE_WS_HISTORY', 10000),
    api: num('HOSTILE_API', d.api),
    apiLimit: num('HOSTILE_API_LIMIT', 100000),
    slow: num('HOSTILE_SLOW', d.slow),
    slowByteMs: num('HOSTILE_SLOW_BYTE_MS', 1000),
    preload: num('HOSTILE_PRELOAD', d.preload),
    rate: num('HOSTILE_RATE', 1000),
    baselineS: num('HOSTILE_BASELINE_S', d.baselineS),
    attackS: num('HOSTILE_ATTACK_S', d.attackS),
    recoveryS: num('HOSTILE_RECOVERY_S', d.recoveryS),
    bin: process.env.HOSTILE_BIN || path.join(ROOT, 'build/sensorpipe'),
    serveArgs: (process.env.HOSTILE_SERVE_ARGS || '').split(/\s+/).filter(Boolean),
    addrs: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'],
    keep: process.env.HOSTILE_KEEP === '1',
  };
}

/** serve's whole /metrics text (kept in results.json beside the table), or the reason there is none. */
const metricsText = (base, token) =>
  fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) })
    .then((res) => res.text(), (e) => `unanswered: ${e.message}`);

export async function runHostile(cfg, log = (m) => process.stderr.write(`hostile: ${m}\n`)) {
  const pub = path.join(ROOT, 'build/bench/bin/latency_pub');
  const ref = path.join(ROOT, 'build/bench/bin/count_sub');
  if (!existsSync(pub)) throw new Error(`${pub} missing (make -C bench OUT=$PWD/build/bench/bin)`);
  if (!existsSync(cfg.bin)) throw new Error(`${cfg.bin} missing (make build/sensorpipe)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sensorpipe-hostile-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as postgres and must reach its directory inside
  const r = { cfg: { ...cfg, bin: path.relative(ROOT, cfg.bin) }, started: new Date().toISOString(), pressure: tcpPressure(),
    loadStart: os.loadavg(), nice: os.getPriority() };
  let stack, probes, dash, pubProc, refProc, attackers, ok = false;
  try {
    stack = await startStack({ dir, bin: cfg.bin, preloadRows: cfg.preload, serveArgs: cfg.serveArgs, log });
    const { base, token, servePid, httpPort } = stack;
    r.serveArgs = stack.serveArgs.slice(1).map((a, i, all) => (all[i - 1] === '--db' ? '<dsn>' : a)).join(' ');
    probes = startProbes({ pid: servePid, base });
    dash = await remoteDashboard({ base, token, prefix: 'hostile', history: 0 });
    r.idleRssKb = rssKb(servePid);

    // the publisher runs through every phase, and a little longer
    const count = cfg.rate * (cfg.baselineS + cfg.attackS + cfg.recoveryS + 3);
    // the reference: the same readings straight from the broker (bench/count_sub -L), the latency the
    // host gives the MQTT hop alone in the same seconds
    refProc = spawnLogged(dir, 'count_sub', ref, ['-p', String(stack.mqttPort), '-q', '1', '-t', 'hostile/latency/+', '-n', String(count),
      '-L', '-T', '15', '-W', '60', '-i', 'hostile-ref']);
    await waitUntil(() => /ready/.test(refProc.output()), 10000, 'the reference subscriber (count_sub) to subscribe');
    pubProc = spawnLogged(dir, 'latency_pub', pub, ['-p', String(stack.mqttPort), '-r', String(cfg.rate), '-n', String(count),
      '-q', '1', '-k', '10', '-P', 'hostile', '-s', '1']);
    await waitUntil(() => dash.count() > 0, 15000, 'the dashboard to receive the first reading');

    // side measurements once a second (a slow one may overlap the next): connection counts,
    // /api/topics latency, landing lag
    const side = { conns: {}, topics: {}, landing: {} };
    let sidePhase = 'baseline';
    const sideTick = setInterval(async () => {
      const ph = sidePhase;
      const c = await establishedTo(httpPort);
      side.conns[ph] = Math.max(side.conns[ph] ?? 0, c);
      const t = await timedGet(base, '/api/topics', { headers: { Authorization: `Bearer ${token}` } });
      (side.topics[ph] ??= []).push(t.ms);
      // how late the newest row lands (now() - its publish time): the ingest's and PostgreSQL's share
      // of the dashboard's latency; serve's share is the rest
      const lag = await stack.psql('SELECT extract(epoch FROM now() - ts) * 1000 FROM readings ORDER BY id DESC LIMIT 1').catch(() => null);
      if (lag !== null && lag !== '') (side.landing[ph] ??= []).push(Number(lag));
    }, 1000);
    const phase = (name) => { probes.setPhase(name); dash.setPhase(name); sidePhase = name; log(`phase ${name}`); };

    phase('baseline');
    await sleep(cfg.baselineS * 1000);
    r.baselineConns = await establishedTo(httpPort);
    r.metricsBaseline = await metricsText(base, token);
    r.baselineRssKb = rssKb(servePid);

    phase('attack');
    const acfg = { port: httpPort, token, ws: cfg.ws, wsHistory: cfg.wsHistory, api: cfg.api, apiLimit: cfg.apiLimit,
      slow: cfg.slow, slowByteMs: cfg.slowByteMs, addrs: cfg.addrs };
    attackers = spawn('sh', ['-c', `${RAISE_NOFILE}; exec "$@"`, 'sh', process.execPath,
      path.join(ROOT, 'tests/hostile/attackers.mjs'), JSON.stringify(acfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const attackExit = new Promise((res) => attackers.on('exit', res));
    let lastStats = null;
    readline.createInterface({ input: attackers.stdout }).on('line', (l) => {
      try { lastStats = JSON.parse(l); } catch { /* not ours */ }
    });
    // attackS long, give or take one /metrics read (at most 5 s)
    const attackEnd = Date.now() + cfg.attackS * 1000;
    let peakWs = null;
    r.metricsUnanswered = 0;
    while (Date.now() < attackEnd) {
      await sleep(1000);
      const w = await metric(base, token, 'sensorpipe_ws_clients').catch(() => null);
      if (w === null) r.metricsUnanswered++;
      else peakWs = Math.max(peakWs ?? 0, w);
      if (stack.serve.child.exitCode !== null || stack.serve.child.signalCode !== null) throw new Error(`serve died under attack:\n${stack.serve.output().slice(-2000)}`);
    }
    r.attackRssNowKb = rssKb(servePid);
    attackers.kill('SIGTERM');
    await attackExit;
    r.attackers = lastStats;
    r.peakWsClients = peakWs;
    r.peakConns = side.conns.attack ?? null;

    phase('recovery');
    const recStart = Date.now();
    const recEnd = recStart + cfg.recoveryS * 1000;
    r.recoveredMs = null;
    while (Date.now() < recEnd) {
      const wsNow = await metric(base, token, 'sensorpipe_ws_clients').catch(() => null);
      const conns = await establishedTo(httpPort);
      r.recoveryWs = wsNow; r.recoveryConns = conns;
      if (wsNow !== null && wsNow <= 1 && conns <= r.baselineConns + 2) { r.recoveredMs = Date.now() - recStart; break; }
      await sleep(200);
    }
    phase('after');
    try {
      r.fresh = await freshDashboard({ base, token, timeoutMs: 10000 });
    } catch (e) {
      r.fresh = { error: e.message };
    }
    if (Date.now() < recEnd) await sleep(recEnd - Date.now());
    r.afterRssKb = rssKb(servePid);
    r.afterConns = await establishedTo(httpPort);
    r.afterWs = await metric(base, token, 'sensorpipe_ws_clients').catch(() => null);
    r.hwmKb = hwmKb(servePid);
    r.load = os.loadavg();
    r.cpus = os.cpus().length;
    r.metricsAfter = await metricsText(base, token);
    clearInterval(sideTick);

    // every reading the publisher sent must reach the dashboard
    const pubCode = await Promise.race([pubProc.exited, sleep(30000).then(() => 'timeout')]);
    const pubLine = pubProc.output().split('\n').find((l) => l.startsWith('{"sent"'));
    r.published = pubLine ? JSON.parse(pubLine).sent : null;
    if (pubCode !== 0 || r.published === null) throw new Error(`latency_pub exited ${pubCode}: ${pubProc.output().slice(-500)}`);
    let last = -1, still = 0;
    while (dash.count() < r.published && still < 100) { // 10 s without progress: the rest is lost
      still = dash.count() === last ? still + 1 : 0;
      last = dash.count();
      await sleep(100);
    }
    await Promise.race([refProc.exited, sleep(20000)]);
    const refLine = refProc.output().split('\n').find((l) => l.startsWith('{"received"'));
    r.reference = refLine ? JSON.parse(refLine) : null;
    r.landed = Number(await stack.psql("SELECT count(*) FROM readings WHERE topic LIKE 'hostile/latency/%'"));
    const fin = await dash.close();
    if (!fin) throw new Error('the dashboard process ended without its figures');
    r.delivered = fin.values;
    r.gaps = fin.gaps; r.reconnects = fin.reconnects; r.duplicates = fin.duplicates; r.closes = fin.closes;
    r.dashLoop = fin.loop;
    await probes.stop();
    r.rss = probes.rss; r.tcp = probes.tcp; r.cpu = probes.cpu; r.runq = probes.runq; r.wall = probes.wall; r.loop = probes.loop; r.health = probes.health; r.healthFailed = probes.healthFailed;
    r.lat = fin.lat; r.side = side;
    r.serveLogTail = stack.serve.output().split('\n').slice(-15).join('\n');
    r.rows = evaluate(r, cfg);
    ok = true;
    return r;
  } finally {
    if (attackers && attackers.exitCode === null) attackers.kill('SIGKILL');
    if (dash) dash.kill();
    if (probes) await probes.stop().catch(() => {});
    if (pubProc) await pubProc.stop('SIGTERM', 3000).catch(() => {});
    if (refProc) await refProc.stop('SIGTERM', 3000).catch(() => {});
    if (stack) await stack.stop().catch(() => {});
    if (ok && !cfg.keep) rmSync(dir, { recursive: true, force: true });
    else log(`logs kept in ${dir}`);
  }
}

export { HEALTH_TIMEOUT_MS };
