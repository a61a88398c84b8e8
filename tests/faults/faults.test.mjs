// faults.test.mjs - fault injection: does every reading get from the broker to the table and to a
// WebSocket client, exactly once to the client, when a part of the pipeline fails mid-stream?
//
// The suite owns its servers: one private PostgreSQL cluster (scripts/pg.sh) for the whole file and
// one mosquitto (scripts/mosquitto.sh) per fault, both on free ports under a temp dir, so it can stop
// and restart them. Per fault:
//   1. a fresh database; `sensorpipe ingest` (QoS 1, fixed client id, persistent session) and
//      `sensorpipe serve`; one WebSocket client that records every id and, like the dashboard,
//      reconnects with ?after=<last id> whenever its connection closes;
//   2. `build/sensorpipe sim --numbered --qos 1 --rate R --count K`: readings 1..K on <device>/seq/n;
//   3. the fault, injected once the table holds ~K/2 of the run's rows (watched, not slept for);
//   4. a bounded wait for all K numbers in the table, then for all the run's ids at the client;
//   5. counts: sent and confirmed by the sim, stored, lost, duplicated (table); delivered, lost,
//      duplicated (WebSocket, against the table's ids).
// A lost reading (table or WebSocket) or a WebSocket duplicate fails the fault's test; table
// duplicates are reported only (the delivery promise is at-least-once). Every fault's row goes to
// build/faults/results.json, which scripts/faults.sh renders into docs/RELIABILITY.md; each
// process's output goes to build/faults/<fault>/.
//
// Environment:
//   FAULTS_LONG=1          PostgreSQL outage of 60 s instead of 20 s (the documented figure); the sim
//                          publishes through the outage (fault c sends K + RATE x outage readings)
//   FAULTS_COUNT, FAULTS_RATE   readings per fault (3000) and readings/s (1000)
//   FAULTS_KILLS           SIGKILLs of the ingest in fault e (3); that fault sends FAULTS_KILL_COUNT
//                          readings (8000: long enough for every kill to fall inside the run)
//   FAULTS_ONLY=a,e        run only these faults (keys below)
//   FAULTS_INGEST_ARGS     extra ingest flags, e.g. '--qos 0' to see what holding each PUBACK until commit prevents
//   FAULTS_TLS=1           every fault over MQTT over TLS: scripts/tls.sh makes a CA and the broker's certificate
//                          in the fault's temp dir, the broker gets its TLS listener (also after fault a's
//                          restart) and the ingest and the sim connect to it with --mqtt-tls --mqtt-cafile
//                          <ca.crt>; the table goes to its own section (tests/faults/render.mjs)
//   SENSORPIPE_BIN         ingest/serve binary (build/asan/sensorpipe); SENSORPIPE_SIM_BIN (build/sensorpipe)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT, BIN, authHeaders, freePort, waitFor, psql, spawnSensorpipe } from '../lib/harness.mjs';

const K = Number(process.env.FAULTS_COUNT || 3000);
const RATE = Number(process.env.FAULTS_RATE || 1000);
const LONG = process.env.FAULTS_LONG === '1';
const OUTAGE_S = LONG ? 60 : 20;
const KILLS = Number(process.env.FAULTS_KILLS || 3);
const KILL_COUNT = Number(process.env.FAULTS_KILL_COUNT || 8000);
const ONLY = (process.env.FAULTS_ONLY || '').split(',').filter(Boolean);
const TLS = process.env.FAULTS_TLS === '1';
const INGEST_EXTRA = (process.env.FAULTS_INGEST_ARGS || '').split(/\s+/).filter(Boolean);
const SIM_BIN = process.env.SENSORPIPE_SIM_BIN || path.join(ROOT, 'build/sensorpipe');
const OUT_DIR = path.join(ROOT, 'build/faults');
const RESULTS = path.join(OUT_DIR, 'results.json');
// after the fault is over and the sim has finished: how long the table may take to hold all K,
// and how long without a single new row before the rest is taken as lost
const COMPLETE_TIMEOUT_MS = 60000;
const SETTLE_MS = 15000;
const WS_TIMEOUT_MS = 30000;
const WS_SETTLE_MS = 10000;

const suiteStart = Date.now();
const report = {
  date: new Date().toISOString(),
  command: process.env.FAULTS_COMMAND || 'node --test tests/faults/',
  count: K,
  kill_count: KILL_COUNT,
  kills: KILLS,
  rate: RATE,
  qos: 1,
  outage_s: OUTAGE_S,
  long: LONG,
  tls: TLS,
  ingest_args: INGEST_EXTRA,
  bin: path.relative(ROOT, BIN),
  sim_bin: path.relative(ROOT, SIM_BIN),
  commit: gitDescribe(),
  host: `${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  seconds: 0,
  results: [],
};

let tmp; // temp dir of the servers
let pg; // { dir, port }
let failed = false;

function gitDescribe() {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Run scripts/<name> with args; resolves when it exits 0, rejects with its stderr otherwise. */
function script(name, args, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(ROOT, 'scripts', name), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`scripts/${name} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

const pgStart = () => script('pg.sh', ['start', pg.dir, String(pg.port)]);
const pgStop = () => script('pg.sh', ['stop', pg.dir]);
// the unix socket, as scripts/test.sh: serve's asynchronous connect does not complete over TCP with
// libwebsockets 4.1 (a writable request made inside the raw-file writable callback is cleared after it)
const dsnFor = (db) => `host=${pg.dir} port=${pg.port} user=postgres dbname=${db} connect_timeout=5`;

/** A process of another binary than the harness's (the release sim), with the same handle shape. */
function spawnBin(bin, args, name) {
  const child = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code === null ? `signal ${signal}` : code)));
  return {
    child,
    name,
    exited,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** "1-3, 7, 9-12" from a sorted list of integers; at most `max` ranges. */
function ranges(nums, max = 12) {
  const out = [];
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    out.push(i === j ? `${nums[i]}` : `${nums[i]}-${nums[j]}`);
    i = j + 1;
  }
  return out.length > max ? `${out.slice(0, max).join(', ')}, ... (${out.length} ranges)` : out.join(', ');
}

/**
 * The WebSocket client of a run: connects with ?history=0, records every row it gets, and after
 * any close reconnects with ?after=<last id received> (backoff 100 ms doubling to 1 s), as the
 * dashboard does, until stop().
 */
class Follower {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.ids = []; // every id received, in order (duplicates kept)
    this.lastId = null;
    this.opens = 0;
    this.gaps = 0;
    this.outOfOrder = 0;
    this.stopped = false;
    this.delay = 100;
  }

  async start() {
    const opened = new Promise((resolve) => (this.onFirstOpen = resolve));
    this.authHeaders = await authHeaders(this.baseUrl.replace(/^ws/, 'http'));
    this.connect();
    return opened;
  }

  connect() {
    const q = this.lastId === null && this.opens === 0 ? 'history=0' : `after=${this.lastId ?? 0}`;
    // serve lets no one in without credentials: the harness's token for this serve (made on first use)
    const ws = new WebSocket(`${this.baseUrl}/ws?${q}`, { headers: this.authHeaders || {} });
    this.ws = ws;
    ws.on('open', () => {
      this.opens++;
      this.delay = 100;
      if (this.onFirstOpen) this.onFirstOpen(), (this.onFirstOpen = null);
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      let rows = [];
      if (msg.type === 'history' || msg.type === 'readings') rows = msg.data;
      else if (msg.type === 'reading') rows = [msg.data];
      else if (msg.type === 'gap') this.gaps++;
      for (const row of rows) {
        if (this.lastId !== null && row.id <= this.lastId) this.outOfOrder++;
        this.ids.push(row.id);
        this.lastId = row.id;
      }
    });
    ws.on('error', () => {}); // refused or dropped: 'close' follows
    ws.on('close', () => {
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 1000);
    });
  }

  stop() {
    this.stopped = true;
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', resolve);
      this.ws.terminate();
    });
  }
}

/** One fault's pipeline: its broker, database, ingest(s), serve(s), WebSocket client and sim. */
class Rig {
  constructor(key, count) {
    this.key = key;
    this.count = count;
    this.dir = path.join(tmp, key);
    this.logDir = path.join(OUT_DIR, key);
    this.device = `fault-${key}-0001`;
    this.topic = `${this.device}/seq/n`;
    this.procs = []; // every process started, for the logs
    this.notes = [];
  }

  async start() {
    mkdirSync(this.dir, { recursive: true });
    rmSync(this.logDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
    this.mqttPort = await freePort();
    if (TLS) {
      // the CA and the broker's certificate of this fault (scripts/tls.sh), its TLS listener's port
      this.tlsDir = path.join(this.dir, 'tls');
      await script('tls.sh', [this.tlsDir]);
      this.tlsPort = await freePort();
    }
    await this.brokerStart();
    this.db = `faults_${this.key}_${process.pid}`;
    await psql(dsnFor('postgres'), `DROP DATABASE IF EXISTS ${this.db}`);
    await psql(dsnFor('postgres'), `CREATE DATABASE ${this.db}`);
    this.dsn = dsnFor(this.db);
    const migrate = this.track(spawnSensorpipe(['migrate', '--db', this.dsn], { name: 'migrate' }));
    const code = await migrate.exited;
    if (code !== 0) throw new Error(`sensorpipe migrate exited ${code}:\n${migrate.output()}`);
    await this.startIngest();
    this.httpPort = await freePort();
    await this.startServe();
    this.ws = new Follower(`ws://127.0.0.1:${this.httpPort}`);
    await withTimeout(this.ws.start(), 10000, 'the WebSocket client to connect');
  }

  track(proc) {
    this.procs.push(proc);
    return proc;
  }

  brokerStart() {
    const tls = TLS ? [String(this.tlsPort), this.tlsDir] : []; // the TLS listener, again after a restart
    return script('mosquitto.sh', ['start', path.join(this.dir, 'mosquitto'), String(this.mqttPort), ...tls]);
  }

  /** How the ingest and the sim reach the broker: the plain listener, or with FAULTS_TLS=1 the TLS one. */
  mqttArgs() {
    return TLS
      ? ['--mqtt-port', String(this.tlsPort), '--mqtt-tls', '--mqtt-cafile', path.join(this.tlsDir, 'ca.crt')]
      : ['--mqtt-port', String(this.mqttPort)];
  }

  brokerStop() {
    return script('mosquitto.sh', ['stop', path.join(this.dir, 'mosquitto')]);
  }

  async startIngest() {
    const n = this.procs.filter((p) => p.name.startsWith('ingest')).length + 1;
    this.ingest = this.track(spawnSensorpipe(['ingest', '--db', this.dsn, ...this.mqttArgs(),
      '--mqtt-client-id', `faults-ingest-${this.key}`, '--no-clean-session', '--qos', '1', '--stats-interval', '5',
      ...INGEST_EXTRA], { name: `ingest-${n}` }));
    await this.ingest.waitForOutput(/subscribed/i, { timeout: 20000 });
  }

  async startServe() {
    const n = this.procs.filter((p) => p.name.startsWith('serve')).length + 1;
    this.serve = this.track(spawnSensorpipe(['serve', '--db', this.dsn, '--listen', `127.0.0.1:${this.httpPort}`],
      { name: `serve-${n}` }));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${this.httpPort}/healthz`)).status === 200, {
      timeout: 20000,
      message: `sensorpipe serve to answer /healthz on port ${this.httpPort}`,
    }).catch((e) => {
      throw new Error(`${e.message}\n${this.serve.output()}`);
    });
  }

  startSim() {
    this.sim = this.track(spawnBin(SIM_BIN, ['sim', '--numbered', '--qos', '1', '--rate', String(RATE), '--count', String(this.count),
      ...this.mqttArgs(), '--device-prefix', `fault-${this.key}-`], 'sim'));
  }

  /** Rows of this run in the table (any number, duplicates counted). Throws while the database is away. */
  async rows() {
    return Number(await psql(this.dsn, `SELECT count(*) FROM readings WHERE topic = '${this.topic}'`));
  }

  /** Wait until the table holds at least n rows of this run (the pipeline's progress, watched). */
  waitRows(n, what) {
    return waitFor(async () => (await this.rows()) >= n, {
      timeout: 60000,
      every: 50,
      message: `${n} of ${this.count} readings in the table (${what})`,
    });
  }

  /**
   * Wait until the table holds every number 1..K, or until no new row came for SETTLE_MS, or the
   * deadline. Returns a note when it gave up.
   */
  async waitComplete() {
    const t0 = Date.now();
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      let distinct = -1;
      let rows = -1;
      try {
        const r = await psql(this.dsn, `SELECT count(DISTINCT value), count(*) FROM readings WHERE topic = '${this.topic}'`);
        [distinct, rows] = r.split('|').map(Number);
      } catch {
        // database not reachable yet
      }
      if (distinct === this.count) return null;
      if (rows !== last) {
        last = rows;
        lastChange = Date.now();
      }
      if (Date.now() - lastChange > SETTLE_MS)
        return `table stopped at ${distinct} of ${this.count} numbers: no new row for ${SETTLE_MS / 1000} s`;
      if (Date.now() - t0 > COMPLETE_TIMEOUT_MS) return `table held ${distinct} of ${this.count} numbers after ${COMPLETE_TIMEOUT_MS / 1000} s`;
      await sleep(200);
    }
  }

  /** Wait until the WebSocket client has every id in dbIds, or it stops moving, or the deadline. */
  async waitWs(dbIds) {
    const t0 = Date.now();
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const got = new Set(this.ws.ids);
      if (dbIds.every((id) => got.has(id))) return null;
      if (this.ws.ids.length !== last) {
        last = this.ws.ids.length;
        lastChange = Date.now();
      }
      if (Date.now() - lastChange > WS_SETTLE_MS) return `WebSocket client stopped receiving (${got.size} ids)`;
      if (Date.now() - t0 > WS_TIMEOUT_MS) return `WebSocket client incomplete after ${WS_TIMEOUT_MS / 1000} s`;
      await sleep(100);
    }
  }

  /** The counts of the run, from the sim's summary, the table and the WebSocket client. */
  async measure() {
    const out = this.sim.output();
    const m = out.match(/sim: sent=(\d+) .* unconfirmed=(\d+) .* confirmed=(\d+)/);
    const sent = m ? Number(m[1]) : null;
    const confirmed = m ? Number(m[3]) : null;
    const [rows, distinct, outside] = (await psql(this.dsn,
      `SELECT count(*), count(DISTINCT value) FILTER (WHERE value BETWEEN 1 AND ${this.count} AND value = trunc(value)),
              count(*) FILTER (WHERE NOT (value BETWEEN 1 AND ${this.count} AND value = trunc(value)))
         FROM readings WHERE topic = '${this.topic}'`)).split('|').map(Number);
    const missing = (await psql(this.dsn,
      `SELECT n FROM generate_series(1, ${this.count}) n
        WHERE NOT EXISTS (SELECT 1 FROM readings WHERE topic = '${this.topic}' AND value = n) ORDER BY n`))
      .split('\n').filter(Boolean).map(Number);
    const dbIds = (await psql(this.dsn, `SELECT id FROM readings WHERE topic = '${this.topic}' ORDER BY id`))
      .split('\n').filter(Boolean).map(Number);
    const wsNote = await this.waitWs(dbIds);
    if (wsNote) this.notes.push(wsNote);
    const wsIds = this.ws.ids;
    const wsSet = new Set(wsIds);
    const dbSet = new Set(dbIds);
    const wsMissing = dbIds.filter((id) => !wsSet.has(id));
    const wsForeign = [...wsSet].filter((id) => !dbSet.has(id));
    return {
      sent,
      confirmed,
      stored: distinct,
      rows,
      lost: this.count - distinct,
      duplicated: rows - distinct - outside,
      outside,
      missing: ranges(missing),
      ws_delivered: [...wsSet].filter((id) => dbSet.has(id)).length,
      ws_lost: wsMissing.length,
      ws_duplicated: wsIds.length - wsSet.size,
      ws_foreign: wsForeign.length,
      ws_missing_ids: ranges(wsMissing),
      ws_connects: this.ws.opens,
      ws_gaps: this.ws.gaps,
      ws_out_of_order: this.ws.outOfOrder,
    };
  }

  /** Stop everything of this fault, keep every process's output in build/faults/<key>/. */
  async stop() {
    if (this.ws) await this.ws.stop();
    const codes = {};
    for (const p of [this.sim, this.serve, this.ingest]) {
      if (!p) continue;
      const live = p.child.exitCode === null && p.child.signalCode === null;
      codes[p.name] = live ? await p.stop('SIGTERM') : await p.exited;
    }
    await this.brokerStop().catch(() => {});
    for (const p of this.procs) writeFileSync(path.join(this.logDir, `${p.name}.log`), p.output());
    const mlog = path.join(this.dir, 'mosquitto', 'mosquitto.log');
    if (existsSync(mlog)) writeFileSync(path.join(this.logDir, 'mosquitto.log'), readFileSync(mlog));
    return codes;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** Sanitizer reports in a process's output (the ingest and serve run under ASan+UBSan). */
function sanitizerErrors(proc) {
  const m = proc.output().match(/ERROR: AddressSanitizer[^\n]*|ERROR: LeakSanitizer[^\n]*|runtime error:[^\n]*/);
  return m ? `${proc.name}: ${m[0]}` : null;
}

const COLUMNS = ['fault', 'sent', 'stored', 'lost', 'duplicated', 'ws delivered', 'ws lost', 'ws duplicated', 'notes'];
function tableLine(r) {
  return [r.fault, `${r.sent ?? '?'}/${r.confirmed ?? '?'}`, r.stored, r.lost, r.duplicated, r.ws_delivered, r.ws_lost,
    r.ws_duplicated, r.notes].join(' | ');
}

function writeResults() {
  report.seconds = Math.round((Date.now() - suiteStart) / 1000);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(report, null, 2) + '\n');
}

/**
 * Run one fault: start the pipeline, publish K numbered readings, call inject(rig) once half of them
 * are in the table, wait, measure, record, and fail on loss or WebSocket duplicates.
 */
async function runFault(key, label, inject, count) {
  const rig = new Rig(key, count);
  const t0 = Date.now();
  let result;
  try {
    await rig.start();
    rig.startSim();
    const note = await inject(rig);
    if (note) rig.notes.push(note);
    const simCode = await withTimeout(rig.sim.exited, 60000 + OUTAGE_S * 1000, 'the sim to finish');
    if (simCode !== 0) rig.notes.push(`sim exited ${simCode}`);
    const gaveUp = await rig.waitComplete();
    if (gaveUp) rig.notes.push(gaveUp);
    result = { key, fault: label, count, ...(await rig.measure()) };
  } catch (e) {
    result = { key, fault: label, count, error: e.message };
    rig.notes.push(`error: ${e.message.split('\n')[0]}`);
  } finally {
    const codes = await rig.stop();
    for (const [name, code] of Object.entries(codes)) if (code !== 0) rig.notes.push(`${name} exited ${code} at the end`);
    for (const p of rig.procs) {
      const err = sanitizerErrors(p);
      if (err) rig.notes.push(err);
    }
  }
  if (result.sent !== null && result.sent !== undefined && result.confirmed !== result.sent)
    rig.notes.push(`sim: ${result.sent - result.confirmed} readings not confirmed by the broker`);
  if (result.ws_foreign) rig.notes.push(`${result.ws_foreign} ids at the client that are not the run's rows`);
  if (result.ws_gaps) rig.notes.push(`${result.ws_gaps} gap frames`);
  if (result.ws_connects > 1) rig.notes.push(`WebSocket client connected ${result.ws_connects} times`);
  const unacked = [...(rig.sim?.output() || '').matchAll(/(\d+) readings not acknowledged yet/g)].map((m) => m[1]);
  if (unacked.length) rig.notes.push(`sim resent ${unacked.join(' + ')} unacknowledged after reconnecting`);
  // over TLS the ingest logs its handshake ("TLSv1.3 (...), certificate verified for 127.0.0.1")
  if (TLS && rig.ingest && !/TLSv1\.[23] \([^)]+\), certificate verified/.test(rig.ingest.output()))
    rig.notes.push('ingest: no verified TLS handshake in its output');
  if (result.ws_out_of_order) rig.notes.push(`${result.ws_out_of_order} ids out of order at the client`);
  if (result.lost > 0) rig.notes.push(`lost numbers: ${result.missing}`);
  if (result.ws_lost > 0) rig.notes.push(`ids missing at the client: ${result.ws_missing_ids}`);
  result.seconds = Math.round((Date.now() - t0) / 100) / 10;
  result.notes = rig.notes.join('; ');
  result.pass = !result.error && result.lost === 0 && result.ws_lost === 0 && result.ws_duplicated === 0 &&
    !result.ws_foreign && !rig.notes.some((n) => /Sanitizer|runtime error/.test(n));
  report.results.push(result);
  writeResults();
  console.log(`faults: ${tableLine(result)} (${result.seconds} s, logs in ${path.relative(ROOT, rig.logDir)}/)`);
  if (!result.pass) {
    failed = true;
    for (const p of rig.procs.filter((x) => x.name !== 'migrate'))
      process.stderr.write(`--- ${p.name}, last lines:\n${p.output().trimEnd().split('\n').slice(-12).join('\n')}\n`);
  }

  assert.ok(!result.error, `${label}: ${result.error}`);
  const lines = [];
  if (result.lost) lines.push(`${result.lost} of ${count} readings never reached the table (${result.missing})`);
  if (result.ws_lost) lines.push(`${result.ws_lost} stored rows never reached the WebSocket client (ids ${result.ws_missing_ids})`);
  if (result.ws_duplicated) lines.push(`${result.ws_duplicated} rows reached the WebSocket client twice`);
  if (result.ws_foreign) lines.push(`${result.ws_foreign} ids at the WebSocket client are not rows of the run`);
  const san = rig.notes.filter((n) => /Sanitizer|runtime error/.test(n));
  lines.push(...san);
  assert.equal(lines.length, 0, `${label}: ${lines.join('; ')}\n(notes: ${result.notes}; logs in ${rig.logDir})`);
}

/** Register a fault; FAULTS_ONLY picks a subset by key. */
function fault(key, label, inject, { count = K } = {}) {
  test(`${key}. ${label}`, { skip: ONLY.length > 0 && !ONLY.includes(key) }, () => runFault(key, label, inject, count));
}

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'sensorpipe-faults.'));
  chmodSync(tmp, 0o755);
  pg = { dir: path.join(tmp, 'pg'), port: await freePort() };
  await pgStart();
  console.log(`faults: PostgreSQL on 127.0.0.1:${pg.port}, servers under ${tmp}; ${K} readings at ${RATE}/s per fault` +
    (TLS ? '; MQTT over TLS' : '') + (INGEST_EXTRA.length ? `; ingest ${INGEST_EXTRA.join(' ')}` : ''));
});

after(async () => {
  if (pg) await pgStop().catch(() => {});
  const pglog = pg && path.join(pg.dir, 'postgres.log');
  if (pglog && existsSync(pglog)) writeFileSync(path.join(OUT_DIR, 'postgres.log'), readFileSync(pglog));
  writeResults();
  console.log(`faults: ${COLUMNS.join(' | ')}`);
  for (const r of report.results) console.log(`faults: ${tableLine(r)}`);
  console.log(`faults: ${report.seconds} s; results in ${path.relative(ROOT, RESULTS)}`);
  if (tmp && !failed) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`faults: servers' files kept in ${tmp}`);
});

fault('0', 'none (baseline)', async () => null);

fault('a', 'broker restart', async (rig) => {
  await rig.waitRows(rig.count / 2, 'before stopping the broker');
  const t = Date.now();
  await rig.brokerStop();
  await rig.brokerStart();
  return `broker down ${((Date.now() - t) / 1000).toFixed(1)} s`;
});

fault('b', 'PostgreSQL restart (fast stop, start)', async (rig) => {
  await rig.waitRows(rig.count / 2, 'before restarting PostgreSQL');
  const t = Date.now();
  await pgStop();
  await pgStart();
  return `PostgreSQL down ${((Date.now() - t) / 1000).toFixed(1)} s`;
});

// the sim goes on publishing for the whole outage, as devices do: K + RATE x OUTAGE_S readings
fault('c', `PostgreSQL unreachable ${OUTAGE_S} s`, async (rig) => {
  await rig.waitRows(K / 2, 'before stopping PostgreSQL');
  await pgStop();
  await sleep(OUTAGE_S * 1000); // the outage itself, not a synchronisation
  const simDone = rig.sim.child.exitCode !== null;
  await pgStart();
  return `sim ${simDone ? 'had finished' : 'still publishing'} when PostgreSQL came back`;
}, { count: K + RATE * OUTAGE_S });

fault('d', 'ingest SIGTERM, restart', async (rig) => {
  await rig.waitRows(rig.count / 2, 'before stopping the ingest');
  const code = await rig.ingest.stop('SIGTERM');
  await rig.startIngest();
  return code === 0 ? null : `ingest exited ${code} on SIGTERM`;
});

fault('e', `ingest SIGKILL x${KILLS}, restart`, async (rig) => {
  // kill i falls at a random share of the run within the i-th of KILLS equal slices of 10..90 %,
  // so the kills spread over the run; the ingest is restarted at once each time
  const at = Array.from({ length: KILLS }, (_, i) => 0.1 + (0.8 * (i + Math.random())) / KILLS);
  const killedAt = [];
  let afterSim = 0;
  for (const share of at) {
    const n = Math.floor(share * rig.count);
    await rig.waitRows(n, `before SIGKILL of the ingest at ${n}`);
    killedAt.push(await rig.rows().catch(() => n));
    if (rig.sim.child.exitCode !== null) afterSim++;
    await rig.ingest.stop('SIGKILL');
    await rig.startIngest();
  }
  return `killed at ${killedAt.join(', ')} rows` + (afterSim ? ` (${afterSim} after the sim had finished)` : '');
}, { count: KILL_COUNT });

fault('f', 'serve restart', async (rig) => {
  await rig.waitRows(rig.count / 2, 'before stopping serve');
  const code = await rig.serve.stop('SIGTERM');
  await rig.startServe();
  return code === 0 ? null : `serve exited ${code} on SIGTERM`;
});

fault('g', "serve's database connections terminated", async (rig) => {
  await rig.waitRows(rig.count / 2, "before terminating serve's connections");
  const n = Number(await psql(rig.dsn, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name LIKE 'sensorpipe-serve%'`));
  assert.ok(n >= 1, "no connection of serve's to terminate (application_name sensorpipe-serve*)");
  return `${n} connections terminated`;
});
