// harness.mjs - integration-test harness: real PostgreSQL, real mosquitto, real sensorpipe processes.
//
// scripts/test.sh starts one private PostgreSQL and one mosquitto for the whole run and
// exports where they are (PGHOST, PGPORT, PGUSER, SENSORPIPE_MQTT_PORT). Each test file
// gets its own fresh database (createDatabase), its own sensorpipe processes on free ports,
// and bounded waits that fail with a clear message. Logs of every process are printed
// when it exits badly, so a failing test shows why.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.SENSORPIPE_BIN || path.join(ROOT, 'build/asan/sensorpipe');
export const MQTT_PORT = Number(process.env.SENSORPIPE_MQTT_PORT || 1883);
const PG = { host: process.env.PGHOST || '127.0.0.1', port: process.env.PGPORT || '5432', user: process.env.PGUSER || 'postgres' };
/** The superuser's password file that scripts/pg.sh keeps in the cluster directory (PGHOST), for TCP logins. */
export const PG_PASSWORD_FILE = process.env.SENSORPIPE_PG_PASSWORD_FILE || path.join(PG.host, 'postgres.password');

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Wait until fn() returns a truthy value (checked every `every` ms), or throw `message` after `timeout` ms. */
export async function waitFor(fn, { timeout = 10000, every = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}` + (last instanceof Error ? `: ${last.message}` : ''));
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/*
 * Credentials (docs/SECURITY.md, "People"): every serve answers /api, /ws and /metrics only to a
 * session or a token. spawnSensorpipe(['serve', ...]) notes the serve's database for its
 * host:port; the first fetch() or wsConnect() of this module to that host:port makes a token there
 * (as the database's owner, `sensorpipe token add`), waits until the serve accepts it, and from
 * then on sends it by itself. fetchNoAuth() and wsConnect(url, { auth: false }) send none (for the
 * tests of refusals); tokenFor(url) / authHeaders(url) give it to other clients.
 */
const SERVES = new Map(); // "127.0.0.1:port" -> { dbname, token: Promise<string|null> }
export const fetchNoAuth = globalThis.fetch.bind(globalThis);

/** Make a token (`sensorpipe token add`) in dbname (or dsn) as the owner. Resolves with the token, or null. */
export async function makeToken(dbname, { label = 'harness', readOnly = false, user = null, dsn = null, passwordFile = null } = {}) {
  const args = ['token', 'add', label, '--json', '--db', dsn || dsnFor(dbname)];
  if (passwordFile) args.push('--db-password-file', passwordFile);
  if (readOnly) args.push('--read-only');
  if (user) args.push('--user', user);
  try {
    const { stdout } = await execFileP(BIN, args, { cwd: ROOT, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    return JSON.parse(stdout).token;
  } catch (e) {
    if (process.env.SENSORPIPE_TEST_DEBUG) process.stderr.write(`makeToken ${dbname}: ${e.message}\n`);
    return null;
  }
}

/** Wait until the serve at base (http://host:port) accepts token (it reloads credentials every 0.5 s). */
export async function waitForToken(base, token, { timeout = 5000 } = {}) {
  await waitFor(async () => (await fetchNoAuth(`${base}/api/topics`, { method: 'HEAD', headers: { Authorization: `Bearer ${token}` } })).status !== 401,
    { timeout, message: `serve at ${base} to accept a new token` });
}

/** The token for url's serve (made on first use), or undefined when the url is no serve of ours. */
export async function tokenFor(url) {
  let u;
  try {
    u = new URL(String(url).replace(/^ws/, 'http'));
  } catch {
    return undefined;
  }
  const s = SERVES.get(u.host);
  if (!s) return undefined;
  if (!s.token) {
    s.token = (async () => {
      const t = await makeToken(s.dbname, s.owner);
      if (t) await waitForToken(`http://${u.host}`, t).catch(() => {});
      return t;
    })();
  }
  return (await s.token) ?? undefined;
}

/** `Authorization: Bearer` headers for url's serve ({} when none). */
export async function authHeaders(url) {
  const t = await tokenFor(url);
  return t ? { Authorization: `Bearer ${t}` } : {};
}

globalThis.fetch = async (input, init = {}) => {
  const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
  if (!SERVES.size || /\/healthz(\?|$)/.test(url)) return fetchNoAuth(input, init);
  const tok = await tokenFor(url);
  if (!tok) return fetchNoAuth(input, init);
  const headers = new Headers(init.headers || {});
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${tok}`);
  return fetchNoAuth(input, { ...init, headers });
};

/** Note a serve started by other means than spawnSensorpipe (another binary), so its clients get a token. */
export function registerServe(args) {
  const i = args.indexOf('--db'), j = args.indexOf('--listen'), k = args.indexOf('--db-password-file');
  const db = i >= 0 ? args[i + 1] || '' : '';
  const m = /(?:^|\s)dbname=(\S+)/.exec(db);
  if (!m || j < 0) return;
  // the owner makes tokens: serve's own DSN unless it logs in as a daemon role (then the test cluster's owner)
  const owner = /(?:^|\s)user=sensorpipe_/.test(db)
    ? { dsn: dsnFor(m[1]) }
    : { dsn: db, passwordFile: k >= 0 ? args[k + 1] : null };
  SERVES.set(args[j + 1], { dbname: m[1], owner, token: null });
}

/** libpq keyword/value string for a database of the test cluster. */
export function dsnFor(dbname) {
  return `host=${PG.host} port=${PG.port} user=${PG.user} dbname=${dbname}`;
}

/** Run SQL with psql; returns stdout (tuples only, unaligned, '|' separated). Throws on SQL errors. */
export async function psql(dsn, sql) {
  const { stdout } = await execFileP('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-c', sql], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim();
}

let dbCounter = 0;
/** A fresh database, migrated with `sensorpipe migrate`. Returns { name, dsn }. */
export async function createDatabase(prefix = 'test') {
  const name = `${prefix}_${process.pid}_${Date.now()}_${dbCounter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
  const dsn = dsnFor(name);
  const proc = spawnSensorpipe(['migrate', '--db', dsn], { name: 'migrate' });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`sensorpipe migrate exited ${code}:\n${proc.output()}`);
  return { name, dsn };
}

/**
 * Start `sensorpipe <args...>`. Returns a handle:
 *   output()                 everything it printed so far
 *   waitForOutput(re, opts)  resolves with the match when stdout/stderr matches re
 *   stop(signal='SIGTERM')   signals it and resolves with the exit code (logs printed if not 0)
 *   exited                   promise of the exit code
 */
export function spawnSensorpipe(args, { env = {}, name = args[0], echo = false } = {}) {
  if (args[0] === 'serve') registerServe(args);
  const child = spawn(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set();
  const onData = (d) => {
    out += d.toString();
    if (echo) process.stderr.write(`[${name}] ${d}`);
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const c = code === null ? `signal ${signal}` : code;
      for (const w of waiters) w();
      resolve(c);
    });
  });
  const handle = {
    child,
    name,
    exited,
    output: () => out,
    waitForOutput(re, { timeout = 15000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) return done(null, m);
          if (child.exitCode !== null || child.signalCode !== null)
            return done(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${re}:\n${out}`));
        };
        const timer = setTimeout(() => done(new Error(`timed out after ${timeout} ms waiting for ${name} to print ${re}:\n${out}`)), timeout);
        function done(err, m) {
          clearTimeout(timer);
          waiters.delete(check);
          err ? reject(err) : resolve(m);
        }
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', { timeout = 20000 } = {}) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0 && signal !== 'SIGKILL') process.stderr.write(`--- ${name} exited ${code}; its output:\n${out}\n---\n`);
      return code;
    },
  };
  return handle;
}

/** mosquitto_pub one message. payload: string or Buffer. */
export function publish(topic, payload, { qos = 0, retain = false, port = MQTT_PORT } = {}) {
  return new Promise((resolve, reject) => {
    const args = ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', String(qos), '-s'];
    if (retain) args.push('-r');
    const p = spawn('mosquitto_pub', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub ${topic} exited ${code}: ${err}`))));
    p.stdin.end(payload);
  });
}

/** mosquitto_pub many lines (one message per line) on one topic, over one connection. */
export function publishLines(topic, lines, { qos = 0, port = MQTT_PORT } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', String(qos), '-l'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub -l exited ${code}: ${err}`))));
    p.stdin.end(lines.join('\n') + '\n');
  });
}

/** Retained messages and live messages on `filter`, via mosquitto_sub -v. Returns { messages, stop() }. */
export function subscribe(filter, { port = MQTT_PORT } = {}) {
  const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', filter, '-v', '-q', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const sp = line.indexOf(' ');
      messages.push(sp < 0 ? { topic: line, payload: '' } : { topic: line.slice(0, sp), payload: line.slice(sp + 1) });
    }
  });
  return {
    messages,
    stop: () => new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); }),
  };
}

/**
 * Start ingest and/or serve against a fresh database. Returns
 * { db, dsn, mqttPort, httpPort, httpUrl, ingest, serve, publish, psql(sql), stop() }.
 */
export async function startPipeline({ ingest = true, serve = true, ingestArgs = [], serveArgs = [], dbPrefix = 'pipe' } = {}) {
  const db = await createDatabase(dbPrefix);
  const p = { db, dsn: db.dsn, mqttPort: MQTT_PORT, procs: [] };
  p.psql = (sql) => psql(db.dsn, sql);
  p.publish = (topic, payload, opts = {}) => publish(topic, payload, { port: MQTT_PORT, ...opts });
  if (ingest) {
    p.ingest = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', String(MQTT_PORT),
      '--mqtt-client-id', `test-ingest-${db.name}`, '--clean-session', ...ingestArgs], { name: 'ingest' });
    p.procs.push(p.ingest);
    await p.ingest.waitForOutput(/subscribed/i);
  }
  if (serve) {
    p.httpPort = await freePort();
    p.httpUrl = `http://127.0.0.1:${p.httpPort}`;
    p.serve = spawnSensorpipe(['serve', '--db', db.dsn, '--listen', `127.0.0.1:${p.httpPort}`, ...serveArgs], { name: 'serve' });
    p.procs.push(p.serve);
    await waitFor(async () => (await fetch(`${p.httpUrl}/healthz`)).status === 200, {
      timeout: 15000,
      message: `sensorpipe serve to answer /healthz on ${p.httpUrl}`,
    }).catch((e) => {
      throw new Error(`${e.message}\n${p.serve.output()}`);
    });
  }
  /** Stop every process; resolves with { name: exitCode }. */
  p.stop = async () => {
    const codes = {};
    for (const proc of p.procs.reverse()) codes[proc.name] = await proc.stop();
    return codes;
  };
  return p;
}

/**
 * A WebSocket client that queues every JSON message it receives.
 *   next(pred, {timeout, message})  resolves with the first queued/arriving message matching pred (and removes it)
 *   rows()                          every row received so far (history, reading, readings), in order
 */
export async function wsConnect(url, { origin, headers = {}, auth = true } = {}) {
  const { default: WebSocket } = await import('ws');
  if (auth) headers = { ...(await authHeaders(url)), ...headers };
  const ws = new WebSocket(url, { headers: origin ? { Origin: origin, ...headers } : headers });
  const queue = [];
  const allRows = [];
  const waiters = new Set();
  let closed = null;
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type === 'history' || msg.type === 'readings') allRows.push(...msg.data);
    if (msg.type === 'reading') allRows.push(msg.data);
    queue.push(msg);
    for (const w of waiters) w();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    for (const w of waiters) w();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`websocket upgrade refused: HTTP ${res.statusCode}`)));
  });
  return {
    ws,
    queue,
    rows: () => allRows,
    closed: () => closed,
    next(pred = () => true, { timeout = 10000, message = 'a websocket message' } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = queue.findIndex(pred);
          if (i >= 0) return done(null, queue.splice(i, 1)[0]);
          if (closed) return done(new Error(`websocket closed (${closed.code} ${closed.reason}) while waiting for ${message}`));
        };
        const timer = setTimeout(() => done(new Error(`timed out after ${timeout} ms waiting for ${message}; got ${JSON.stringify(queue).slice(0, 500)}`)), timeout);
        function done(err, m) {
          clearTimeout(timer);
          waiters.delete(check);
          err ? reject(err) : resolve(m);
        }
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        if (closed) return resolve();
        ws.once('close', resolve);
        ws.close();
      });
    },
  };
}

/**
 * A private mosquitto of the test's own on a free loopback port, with no anonymous access:
 * users = { name: password } go into a password file (mosquitto_passwd). Returns
 * { port, dir, stop() }. The shared broker of the run stays anonymous for the other tests.
 * tls: a directory made by scripts/tls.sh (ca.crt, server.crt, server.key): a second listener,
 * MQTT over TLS 1.2+ on another free loopback port, returned as tlsPort. conf: more config lines.
 */
export async function startPrivateBroker(users, { tls = null, conf: extra = [] } = {}) {
  const fs = await import('node:fs/promises');
  const os = await import('node:os');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-broker-'));
  const port = await freePort();
  const pwfile = path.join(dir, 'passwords');
  await fs.writeFile(pwfile, '');
  for (const [user, pass] of Object.entries(users))
    await execFileP('mosquitto_passwd', ['-b', pwfile, user, pass]);
  const conf = path.join(dir, 'mosquitto.conf');
  await fs.writeFile(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${pwfile}`, 'persistence false',
    'set_tcp_nodelay true', `log_dest file ${path.join(dir, 'mosquitto.log')}`, 'log_type all', ...extra, '',
  ].join('\n'));
  const tlsPort = tls ? await freePort() : null;
  if (tls) {
    await fs.appendFile(conf, [`listener ${tlsPort} 127.0.0.1`, `cafile ${path.join(tls, 'ca.crt')}`,
      `certfile ${path.join(tls, 'server.crt')}`, `keyfile ${path.join(tls, 'server.key')}`, 'tls_version tlsv1.2', ''].join('\n'));
  }
  // mosquitto drops root privileges to "mosquitto" unless told the user it runs as
  if (process.getuid && process.getuid() === 0) await fs.appendFile(conf, 'user root\n');
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeout: 10000, message: `private mosquitto on port ${port}: ${err}` });
  if (tls) {
    await waitFor(() => new Promise((resolve) => {
      const s = net.connect(tlsPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    }), { timeout: 10000, message: `private mosquitto's TLS listener on port ${tlsPort}: ${err}` });
  }
  return {
    port,
    tlsPort,
    dir,
    log: () => fs.readFile(path.join(dir, 'mosquitto.log'), 'utf8').catch(() => ''),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => fs.rm(dir, { recursive: true, force: true }).then(resolve, resolve));
      child.kill('SIGTERM');
    }),
  };
}

/**
 * A private mosquitto with accounts kept by the dynamic-security plugin, as `make run` starts it
 * (scripts/mosquitto.sh with SENSORPIPE_MQTT_DYNSEC): no anonymous client, an admin account whose
 * password is in a 0600 file, and a config file (`conf`) with which `sensorpipe device` reaches it.
 * Returns { port, dir, conf, device(args) -> { code, stdout, stderr }, addDevice(name, args) -> the
 * --json object, log(), stop() }.
 */
export async function startDynsecBroker() {
  const fs = await import('node:fs/promises');
  const os = await import('node:os');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-dynsec-'));
  const port = await freePort();
  const adminFile = path.join(dir, 'admin.password');
  const admin = (await import('node:crypto')).randomBytes(18).toString('base64url');
  await fs.writeFile(adminFile, `${admin}\n`, { mode: 0o600 });
  const dynsec = path.join(dir, 'dynsec.json');
  await new Promise((resolve, reject) => {
    const p = spawn('mosquitto_ctrl', ['dynsec', 'init', dynsec, 'admin'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let e = '';
    p.stderr.on('data', (d) => (e += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_ctrl dynsec init: ${e}`))));
    p.stdin.end(`${admin}\n${admin}\n`); // the password on stdin, never on a command line
  });
  const mdir = path.join(dir, 'mosquitto');
  await execFileP(path.join(ROOT, 'scripts/mosquitto.sh'), ['start', mdir, String(port)], {
    env: { ...process.env, SENSORPIPE_MQTT_DYNSEC: dynsec },
  });
  const conf = path.join(dir, 'sensorpipe.conf');
  await fs.writeFile(conf, `mqtt-host = 127.0.0.1\nmqtt-port = ${port}\n[device]\nmqtt-username = admin\n` +
    `mqtt-password-file = ${adminFile}\n`);
  const b = {
    port, dir, conf,
    /** `sensorpipe device <args>` with SENSORPIPE_CONFIG = conf. */
    device: (args) => new Promise((resolve) => {
      // the run's SENSORPIPE_MQTT_PORT (the shared broker) would override the file: this broker's port instead
      execFile(BIN, ['device', ...args], { env: { ...process.env, SENSORPIPE_CONFIG: conf, SENSORPIPE_MQTT_PORT: String(port) } }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    }),
    async addDevice(name, args = []) {
      const r = await b.device(['add', name, '--json', ...args]);
      if (r.code !== 0) throw new Error(`device add ${name} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    log: () => fs.readFile(path.join(mdir, 'mosquitto.log'), 'utf8').catch(() => ''),
    async stop() {
      await execFileP(path.join(ROOT, 'scripts/mosquitto.sh'), ['stop', mdir]).catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return b;
}

/**
 * A device that stays connected: `mosquitto_pub -l` (one message per line written with send()).
 * Returns { send(line), exited (promise of the exit code), output(), stop() }.
 */
export function connectAs(user, pass, topic, { port = MQTT_PORT, clientId, qos = 1, will } = {}) {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', pass, '-t', topic, '-q', String(qos), '-l'];
  if (clientId) args.push('-i', clientId);
  if (will) args.push('--will-topic', will.topic, '--will-payload', will.payload, '--will-qos', '1', '--will-retain');
  const p = spawn('mosquitto_pub', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let out = '';
  p.stderr.on('data', (d) => (out += d));
  p.stdin.on('error', () => {});
  const exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve(code ?? sig)));
  return {
    child: p,
    send: (line) => p.stdin.write(`${line}\n`),
    exited,
    output: () => out,
    stop: (signal = 'SIGTERM') => { if (p.exitCode === null && p.signalCode === null) p.kill(signal); return exited; },
  };
}

/**
 * mosquitto_pub with a user name and password (and a client id: accounts bound to one need it;
 * cafile: over TLS, the broker verified against it).
 */
export function publishAs(user, pass, topic, payload, { qos = 0, port = MQTT_PORT, clientId, retain = false, cafile = null } = {}) {
  return new Promise((resolve, reject) => {
    const args = ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', pass, '-t', topic, '-q', String(qos), '-s'];
    if (clientId) args.push('-i', clientId);
    if (retain) args.push('-r');
    if (cafile) args.push('--cafile', cafile);
    const p = spawn('mosquitto_pub', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let e = '';
    p.stderr.on('data', (d) => (e += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub ${topic} exited ${code}: ${e}`))));
    p.stdin.end(payload);
  });
}

/** The numbers of every stats line an ingest printed (`stats received=.. written=..`), oldest first. */
export function allStats(proc) {
  return proc.output().split('\n').filter((l) => l.includes(' stats received=')).map((l) => {
    const s = {};
    for (const m of l.matchAll(/(\w+)=(\d+)/g)) s[m[1]] = Number(m[2]);
    return s;
  });
}

/** The numbers of an ingest's last stats line; throws when it printed none. */
export function lastStats(proc) {
  const all = allStats(proc);
  if (!all.length) throw new Error(`no stats line in the ingest output:\n${proc.output()}`);
  return all.at(-1);
}
