// stack.mjs - the private pipeline the hostile-client suite attacks: its own PostgreSQL
// (scripts/pg.sh) and mosquitto (scripts/mosquitto.sh) on free ports under a temp dir, a database
// pre-loaded with `preloadRows` readings spread over the last 50 minutes (so that ?history=10000
// and /api/readings?limit=100000 are real work), `sensorpipe ingest`, a token, and
// `sensorpipe serve` on 127.0.0.1 with its file limit raised to the hard limit.
//   const st = await startStack({ dir, bin, preloadRows, serveArgs, log });  ...  await st.stop();
// Each process's output goes to <dir>/<name>.log.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openSync, closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Poll fn every `every` ms until truthy; throws `what` after timeoutMs. */
export async function waitUntil(fn, timeoutMs, what, every = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try { v = await fn(); } catch { v = false; }
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`hostile: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** sh: the soft file limit up to the hard one (or 65536 when the hard one is "unlimited"), quietly. */
export const RAISE_NOFILE = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true';

const script = (name, args) => execFileP(path.join(ROOT, 'scripts', name), args, { cwd: ROOT, env: { ...process.env, PG_FSYNC: 'off' } });

/**
 * Spawn a long-running process with its output in <dir>/<name>.log; nofile: raise the soft file limit
 * to the hard one first (through sh's ulimit). Returns { child, name, log, exited, stop() }.
 */
export function spawnLogged(dir, name, cmd, args, { nofile = false, env = {} } = {}) {
  const log = path.join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const [file, argv] = nofile ? ['sh', ['-c', `${RAISE_NOFILE}; exec "$@"`, 'sh', cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
  return {
    child, name, log, exited,
    output: () => { try { return readFileSync(log, 'utf8'); } catch { return ''; } },
    async stop(signal = 'SIGTERM', timeoutMs = 15000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export async function startStack({ dir, bin, preloadRows, serveArgs = [], log = () => {} }) {
  const st = { dir, procs: [] };
  st.pgDir = path.join(dir, 'pg');
  st.mqDir = path.join(dir, 'mq');
  st.pgPort = await freePort();
  st.mqttPort = await freePort();
  log(`PostgreSQL on 127.0.0.1:${st.pgPort}, mosquitto on 127.0.0.1:${st.mqttPort}, under ${dir}`);
  await script('pg.sh', ['start', st.pgDir, String(st.pgPort)]);
  st.pgStarted = true;
  await script('mosquitto.sh', ['start', st.mqDir, String(st.mqttPort)]);
  st.mqStarted = true;
  st.stop = async () => {
    for (const p of st.procs.reverse()) await p.stop();
    if (st.mqStarted) await script('mosquitto.sh', ['stop', st.mqDir]).catch(() => {});
    if (st.pgStarted) await script('pg.sh', ['stop', st.pgDir]).catch(() => {});
  };
  try {
    st.dsn = `host=${st.pgDir} port=${st.pgPort} user=postgres dbname=hostile connect_timeout=5`;
    const psql = (db, sql) => execFileP('psql', ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-h', st.pgDir, '-p', String(st.pgPort),
      '-U', 'postgres', '-d', db, '-c', sql], { maxBuffer: 1 << 24 }).then((r) => r.stdout.trim());
    st.psql = (sql) => psql('hostile', sql);
    await psql('postgres', 'CREATE DATABASE hostile');
    await execFileP(bin, ['migrate', '--db', st.dsn, '--log-level', 'warn'], { cwd: ROOT });
    // as the owner, in one statement: 100 topics, the rows spread evenly over the last 50 minutes
    const t0 = Date.now();
    await st.psql(`INSERT INTO readings (ts, topic, value)
      SELECT now() - interval '50 minutes' + i * (interval '50 minutes' / ${preloadRows}),
             'preload/t' || (i % 100) || '/x', i % 1000
      FROM generate_series(1, ${preloadRows}) AS i; ANALYZE readings`);
    log(`pre-loaded ${preloadRows} readings in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    st.ingest = spawnLogged(dir, 'ingest', bin, ['ingest', '--db', st.dsn, '--mqtt-port', String(st.mqttPort),
      '--mqtt-client-id', 'hostile-ingest', '--clean-session', '--no-migrate']);
    st.procs.push(st.ingest);
    await waitUntil(() => /subscribed/.test(st.ingest.output()) && /database connected/.test(st.ingest.output()), 20000, 'the ingest to subscribe');

    const tok = await execFileP(bin, ['token', 'add', 'hostile', '--json', '--db', st.dsn], { cwd: ROOT });
    st.token = JSON.parse(tok.stdout).token;

    st.httpPort = await freePort();
    st.base = `http://127.0.0.1:${st.httpPort}`;
    st.serveArgs = ['serve', '--db', st.dsn, '--listen', `127.0.0.1:${st.httpPort}`, '--no-migrate', ...serveArgs];
    st.serve = spawnLogged(dir, 'serve', bin, st.serveArgs, { nofile: true });
    st.procs.push(st.serve);
    await waitUntil(async () => (await fetch(`${st.base}/healthz`)).status === 200 && /hub: live from/.test(st.serve.output()),
      20000, `serve to answer /healthz on ${st.base}`);
    await waitUntil(async () => (await fetch(`${st.base}/api/topics`, { method: 'HEAD', headers: { Authorization: `Bearer ${st.token}` } })).status === 200,
      10000, 'serve to accept the token');
    // serve runs under sh -c ... exec: the same pid
    st.servePid = st.serve.child.pid;
    log(`serve on ${st.base} (pid ${st.servePid}, file limit ${nofileOf(st.servePid)}): ${st.serveArgs.slice(1).join(' ')}`);
    return st;
  } catch (e) {
    await st.stop();
    throw e;
  }
}

/** The soft RLIMIT_NOFILE of a process (from /proc/<pid>/limits). */
export function nofileOf(pid) {
  try {
    return /Max open files\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))[1];
  } catch {
    return '?';
  }
}
