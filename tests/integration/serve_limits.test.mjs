// serve_limits.test.mjs - what one client address may cost serve: connections, WebSockets and API
// requests in flight per address (the N+1th refused while another address still gets in), the
// forwarded address counted behind --trusted-proxy, and WebSocket clients that stop reading:
// a history=10000 backfill is fed in pages, a client that takes none is closed within a bounded
// time, and serve's memory stays bounded while they sit there.
// Clients bind source addresses 127.0.0.2... (all of 127.0.0.0/8 is loopback on Linux).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, authHeaders, freePort, registerServe, spawnSensorpipe, startPipeline, waitFor } from '../lib/harness.mjs';

const CONNS = 8; // --max-conns-per-addr
const WS = 2; // --max-ws-per-addr
const REQS = 2; // --max-requests-per-addr
const PROXY = '127.0.0.5';
const STALL_MS = 1000; // --client-stall-ms
const CLOSE_MS = 500; // --client-close-ms
const SNDBUF = 32768; // --socket-sndbuf
const RING = 2048; // --ring-size: a history=10000 backfill is mostly database pages, not the ring

let pipe, port, host; // the serve the helpers below talk to

before(async () => {
  pipe = await startPipeline({
    ingest: false,
    dbPrefix: 'limits',
    serveArgs: ['--max-conns-per-addr', String(CONNS), '--max-ws-per-addr', String(WS), '--max-requests-per-addr', String(REQS),
      '--trusted-proxy', PROXY, '--client-stall-ms', String(STALL_MS), '--client-close-ms', String(CLOSE_MS),
      '--socket-sndbuf', String(SNDBUF), '--ring-size', String(RING)],
  });
  port = pipe.httpPort;
  host = `127.0.0.1:${port}`;
});

after(async () => {
  if (pipe) {
    if (process.env.SENSORPIPE_TEST_DEBUG) process.stderr.write(pipe.serve.output());
    assert.deepEqual(await pipe.stop(), { serve: 0 });
  }
});

async function metrics() {
  const res = await fetch(`http://${host}/metrics`);
  assert.equal(res.status, 200);
  const values = {};
  for (const line of (await res.text()).split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$/);
    if (m) values[m[1]] = Number(m[2]);
  }
  return values;
}

/** A raw TCP connection from localAddress; resolves once connected. */
function rawConnect(localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => {}); // an RST shows as 'close'
    let data = '';
    s.on('data', (d) => (data += d));
    s.received = () => data;
    s.once('connect', () => resolve(s));
    s.once('close', () => reject(new Error(`connection from ${localAddress} closed before it was made`)));
  });
}

/** Send a GET /healthz on an open raw connection; resolves with the status line's code (0 when it closed). */
async function healthzOn(s, headers = '') {
  const start = s.received().length;
  s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\n`);
  let code = 0;
  await waitFor(() => {
    const m = s.received().slice(start).match(/^HTTP\/1\.1 (\d{3})/);
    if (m) code = Number(m[1]);
    return code || s.destroyed;
  }, { timeout: 10000, message: 'an answer to GET /healthz on a raw connection' });
  return code;
}

/** GET path from localAddress with the test token (and extra headers). Resolves { status, body }. */
async function get(path, { localAddress, headers = {} } = {}) {
  const h = { ...(await authHeaders(`http://${host}`)), Connection: 'close', ...headers };
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, headers: h, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

/**
 * A WebSocket from localAddress. Resolves { ws, status: 101, messages, closed() } when it opens,
 * or { status, body } when the upgrade is refused.
 */
async function wsOpen(query, { localAddress, headers = {}, pause = false } = {}) {
  const { default: WebSocket } = await import('ws');
  const url = `ws://${host}/ws${query}`;
  const ws = new WebSocket(url, { localAddress, headers: { ...(await authHeaders(`http://${host}`)), ...headers } });
  const messages = [];
  let closed = null;
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  ws.on('close', (code) => (closed = { code }));
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (pause) ws._socket.pause(); // the client stops reading: kernel buffers fill, then serve's socket is full
      resolve({ ws, status: 101, messages, closed: () => closed });
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', reject);
  });
}

function close(c) {
  return new Promise((resolve) => {
    if (c.closed()) return resolve();
    c.ws.once('close', resolve);
    c.ws.close();
  });
}

/*
 * Memory is measured on the optimised build when it is there and up to date (as in
 * serve_delivery.test.mjs): under ASan the allocator's quarantine and redzones grow with every
 * allocation and say little about serve.
 */
function memoryBinary() {
  const release = path.join(ROOT, 'build/sensorpipe');
  try {
    const built = fs.statSync(release).mtimeMs;
    const sources = ['src/serve', 'src/core'].flatMap((d) => fs.readdirSync(path.join(ROOT, d)).map((f) => path.join(ROOT, d, f)));
    if (sources.every((f) => fs.statSync(f).mtimeMs <= built)) return { bin: release, asan: false };
  } catch {
    /* not built */
  }
  return { bin: BIN, asan: true };
}

/** spawnSensorpipe for the optimised binary. */
function spawnRelease(bin, args) {
  registerServe(args); // its clients need a token
  const child = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? `signal ${sig}`)));
  return {
    child,
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const rowsOf = (m) => (Array.isArray(m.data) ? m.data : m.type === 'reading' ? [m.data] : []);

function rssKb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

test('connections: the N+1th from one address is closed at accept, another address still gets in', async () => {
  const before = await metrics();
  const held = [];
  for (let i = 0; i < CONNS; i++) held.push(await rawConnect('127.0.0.2'));
  // an accepted socket's send buffer is --socket-sndbuf (the kernel doubles what it is given)
  const ss = execFileSync('ss', ['-tmnH', 'state', 'established', 'src', `127.0.0.1:${port}`, 'dst', '127.0.0.2'], { encoding: 'utf8' });
  const tb = [...ss.matchAll(/tb(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(tb.length >= CONNS, `ss shows serve's sockets: ${ss}`);
  for (const b of tb) assert.ok(b <= 2 * SNDBUF, `SO_SNDBUF of an accepted socket is ${b}, more than 2 x ${SNDBUF}:\n${ss}`);

  const over = await rawConnect('127.0.0.2');
  await waitFor(() => over.destroyed, { timeout: 5000, message: `connection ${CONNS + 1} from 127.0.0.2 to be closed` });
  assert.equal(over.received(), '', 'a connection over the limit is closed without a word');
  // the held ones still work, and other addresses are not affected
  assert.equal(await healthzOn(held[0]), 200);
  const other = await rawConnect('127.0.0.3');
  assert.equal(await healthzOn(other), 200);
  assert.equal((await get('/healthz', { localAddress: '127.0.0.4' })).status, 200);
  const after = await metrics();
  assert.ok(after['sensorpipe_addr_refused_total{limit="connections"}'] > before['sensorpipe_addr_refused_total{limit="connections"}'],
    'the refusal is counted');
  // one leaves: the address may connect again
  held.pop().destroy();
  await waitFor(async () => {
    const s = await rawConnect('127.0.0.2');
    const code = await healthzOn(s);
    s.destroy();
    return code === 200;
  }, { timeout: 5000, message: 'a new connection from 127.0.0.2 once one of its connections closed' });
  for (const s of [...held, other]) s.destroy();
});

test('connections: a queue of refused connections is taken at once, and the one behind it is served', async () => {
  // libwebsockets takes no more connections in a loop pass once one is refused at accept; serve
  // takes the rest of the listen queue itself (accept_drain.c). With serve stopped (SIGSTOP), the
  // kernel queues the connections; when it runs again, one pass must take them all.
  const QUEUED = 40;
  const before = await metrics();
  const held = [];
  for (let i = 0; i < CONNS; i++) held.push(await rawConnect('127.0.0.6'));
  const serve = pipe.serve.child;
  serve.kill('SIGSTOP');
  let over, last;
  try {
    over = [];
    for (let i = 0; i < QUEUED; i++) over.push(await rawConnect('127.0.0.6')); // handshakes done by the kernel
    last = await rawConnect('127.0.0.7');
  } finally {
    serve.kill('SIGCONT');
  }
  assert.equal(await healthzOn(last), 200, 'the connection queued behind the refused ones is served');
  await waitFor(() => over.every((s) => s.destroyed), { timeout: 5000, message: `the ${QUEUED} connections over the limit to be closed` });
  for (const s of over) assert.equal(s.received(), '', 'a connection over the limit is closed without a word');
  // one taken by serve itself got the same socket options as the ones lws takes
  const ss = execFileSync('ss', ['-tmnH', 'state', 'established', 'src', `127.0.0.1:${port}`, 'dst', '127.0.0.7'], { encoding: 'utf8' });
  const tb = [...ss.matchAll(/tb(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(tb.length, 1, `ss shows serve's socket to 127.0.0.7: ${ss}`);
  assert.ok(tb[0] <= 2 * SNDBUF, `SO_SNDBUF of a drained socket is ${tb[0]}, more than 2 x ${SNDBUF}:\n${ss}`);
  const after = await metrics();
  const drained = after.sensorpipe_accept_drained_total - before.sensorpipe_accept_drained_total;
  // lws refuses the first one over the limit; serve takes the other QUEUED - 1 and the last in the same pass
  assert.ok(drained >= QUEUED, `serve took ${drained} connections from the listen queue after a refusal, expected >= ${QUEUED}`);
  assert.equal(after.sensorpipe_accept_errors_total, before.sensorpipe_accept_errors_total, 'no accept errors');
  assert.ok(after['sensorpipe_addr_refused_total{limit="connections"}'] - before['sensorpipe_addr_refused_total{limit="connections"}'] >= QUEUED,
    'every connection over the limit is counted');
  for (const s of [...held, last]) s.destroy();
});

test('WebSockets: the N+1th from one address gets 429 with a reason, another address still gets in', async () => {
  const before = await metrics();
  const mine = [];
  for (let i = 0; i < WS; i++) {
    const c = await wsOpen('?history=0', { localAddress: '127.0.0.6' });
    assert.equal(c.status, 101);
    mine.push(c);
  }
  const over = await wsOpen('?history=0', { localAddress: '127.0.0.6' });
  assert.equal(over.status, 429);
  assert.match(JSON.parse(over.body).error, /too many WebSocket clients from this address.*--max-ws-per-addr/);
  const other = await wsOpen('?history=0', { localAddress: '127.0.0.7' });
  assert.equal(other.status, 101, 'another address still gets a WebSocket');
  const after = await metrics();
  assert.equal(after['sensorpipe_ws_rejected_total{reason="addr_limit"}'], before['sensorpipe_ws_rejected_total{reason="addr_limit"}'] + 1);
  assert.equal(after['sensorpipe_addr_refused_total{limit="websockets"}'], before['sensorpipe_addr_refused_total{limit="websockets"}'] + 1);
  await close(mine.pop());
  await waitFor(async () => {
    const c = await wsOpen('?history=0', { localAddress: '127.0.0.6' });
    if (c.status === 101) mine.push(c);
    return c.status === 101;
  }, { timeout: 5000, message: 'a WebSocket from 127.0.0.6 once one of its own closed' });
  for (const c of [...mine, other]) await close(c);
});

test('requests in flight: the N+1th from one address gets 429, another address is answered', async () => {
  // responses too large to fit in the socket buffers stay in flight while their clients do not read
  await pipe.psql(`INSERT INTO readings (topic, value) SELECT 'limits/req/${'x'.repeat(100)}', g FROM generate_series(1, 30000) g`);
  const auth = Object.entries(await authHeaders(`http://${host}`)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const stuck = [];
  for (let i = 0; i < REQS; i++) {
    const s = await rawConnect('127.0.0.8');
    s.pause();
    s.write(`GET /api/readings?limit=30000 HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`);
    stuck.push(s);
  }
  // once both are in flight, a third from the address is refused at once
  let refused;
  await waitFor(async () => {
    refused = await get('/healthz', { localAddress: '127.0.0.8' });
    return refused.status === 429;
  }, { timeout: 15000, message: `request ${REQS + 1} from 127.0.0.8 to get 429 while ${REQS} are in flight` });
  assert.match(JSON.parse(refused.body).error, /too many requests in flight from this address.*--max-requests-per-addr/);
  assert.equal((await get('/healthz', { localAddress: '127.0.0.9' })).status, 200, 'another address is answered');
  assert.equal((await get('/api/topics', { localAddress: '127.0.0.9' })).status, 200);
  const m = await metrics();
  assert.ok(m['sensorpipe_addr_refused_total{limit="requests"}'] >= 1);
  assert.ok(m['sensorpipe_http_requests_total{code="429"}'] >= 1);
  // the clients go: their requests end, and the address is served again
  for (const s of stuck) s.destroy();
  await waitFor(async () => (await get('/healthz', { localAddress: '127.0.0.8' })).status === 200, {
    timeout: 10000,
    message: '127.0.0.8 to be answered again once its requests ended',
  });
});

test('behind --trusted-proxy: the proxy is not limited in connections, the forwarded address is counted', async () => {
  // more connections from the proxy than --max-conns-per-addr: all served
  const conns = [];
  for (let i = 0; i < CONNS + 2; i++) conns.push(await rawConnect(PROXY));
  assert.equal(await healthzOn(conns.at(-1), 'X-Forwarded-For: 198.51.100.1\r\n'), 200);
  for (const s of conns) s.destroy();
  // WebSockets are counted by the rightmost X-Forwarded-For
  const a = [];
  for (let i = 0; i < WS; i++) {
    const c = await wsOpen('?history=0', { localAddress: PROXY, headers: { 'X-Forwarded-For': '10.1.1.1, 203.0.113.7' } });
    assert.equal(c.status, 101);
    a.push(c);
  }
  const over = await wsOpen('?history=0', { localAddress: PROXY, headers: { 'X-Forwarded-For': '203.0.113.7' } });
  assert.equal(over.status, 429, 'the forwarded address is at its limit');
  const b = await wsOpen('?history=0', { localAddress: PROXY, headers: { 'X-Forwarded-For': '203.0.113.7, 203.0.113.8' } });
  assert.equal(b.status, 101, 'another forwarded address gets in through the same proxy');
  // a client that is not the proxy cannot choose the address it is counted under
  const c1 = await wsOpen('?history=0', { localAddress: '127.0.0.10', headers: { 'X-Forwarded-For': '203.0.113.9' } });
  const c2 = await wsOpen('?history=0', { localAddress: '127.0.0.10', headers: { 'X-Forwarded-For': '203.0.113.10' } });
  const c3 = await wsOpen('?history=0', { localAddress: '127.0.0.10', headers: { 'X-Forwarded-For': '203.0.113.11' } });
  assert.deepEqual([c1.status, c2.status, c3.status], [101, 101, 429]);
  for (const c of [...a, b, c1, c2]) await close(c);
});

test('clients that never read, with history=10000: fed in pages, closed within a bounded time, serve memory bounded', async () => {
  const topic = `limits/bf/${'y'.repeat(100)}`;
  await pipe.psql(`INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, 20000) g`);
  // its own serve, with ASan's quarantine small (it would hold 256 MB of freed memory and say nothing about serve)
  const mainPort = port;
  port = await freePort();
  host = `127.0.0.1:${port}`;
  const { bin, asan } = memoryBinary();
  const args = ['serve', '--db', pipe.dsn, '--listen', host, '--no-migrate', '--max-ws-per-addr', String(WS),
    '--client-stall-ms', String(STALL_MS), '--client-close-ms', String(CLOSE_MS), '--ring-size', String(RING)];
  const own = asan
    ? spawnSensorpipe(args, { name: 'serve-rss', env: { ASAN_OPTIONS: 'detect_leaks=1:quarantine_size_mb=16' } })
    : spawnRelease(bin, args);
  await waitFor(async () => (await fetch(`http://${host}/healthz`).catch(() => ({}))).status === 200, { timeout: 15000, message: 'the second serve' });
  const pid = own.child.pid;
  const before = await metrics();
  const rss0 = rssKb(pid);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  const N = 40; // WS per address each from 127.0.0.20...
  const started = Date.now();
  const idle = [];
  let reader;
  try {
    for (let i = 0; i < N; i++) {
      const c = await wsOpen('?history=10000', { localAddress: `127.0.0.${20 + Math.floor(i / WS)}`, pause: true });
      assert.equal(c.status, 101);
      idle.push(c);
    }
    // a client that reads gets exactly the last 10000 rows, in pages: "history" first, then "readings"
    reader = await wsOpen('?history=10000', { localAddress: '127.0.0.11' });
    await waitFor(() => reader.messages.reduce((n, m) => n + rowsOf(m).length, 0) >= 10000, {
      timeout: 30000,
      message: 'the reading client to get its 10000 rows',
    });
    assert.equal(reader.messages[0].type, 'history');
    assert.ok(reader.messages.length >= 10000 / 256, `history in pages (${reader.messages.length} frames)`);
    for (const m of reader.messages.slice(1)) assert.ok(m.type === 'readings' || m.type === 'reading', `frame ${m.type}`);
    for (const m of reader.messages) assert.ok(rowsOf(m).length <= 256, `a frame of ${rowsOf(m).length} rows`);
    const got = reader.messages.flatMap((m) => rowsOf(m).map((r) => r.id));
    const want = (await pipe.psql('SELECT id FROM (SELECT id FROM readings ORDER BY id DESC LIMIT 10000) s ORDER BY id')).split('\n').map(Number);
    assert.deepEqual(got, want, 'the last 10000 ids, once each, in order');
    // the idle ones: each took no page for --client-stall-ms, got a gap, could not take it and was reset
    await waitFor(async () => (await metrics()).sensorpipe_ws_clients === 1, {
      timeout: 5 * (STALL_MS + CLOSE_MS) + 10000,
      message: `serve to close the ${N} clients that do not read`,
    }).catch(async (e) => {
      const m = await metrics();
      const ss = execFileSync('ss', ['-tnH', `( sport = :${port} )`], { encoding: 'utf8' });
      const keys = Object.keys(m).filter((k) => /^sensorpipe_ws_/.test(k));
      throw new Error(`${e.message}\n${keys.map((k) => `${k} ${m[k]}`).join('\n')}\n${ss.slice(0, 3000)}`);
    });
    const took = Date.now() - started;
    const m = await metrics();
    process.stderr.write(`# ${N} idle history=10000 clients (${asan ? 'ASan' : 'optimised'} build): all closed after ${took} ms; serve RSS ${(rss0 / 1024).toFixed(1)} -> peak ${(peak / 1024).toFixed(1)} MB\n`);
    assert.ok(m.sensorpipe_ws_backfill_stalled_total - before.sensorpipe_ws_backfill_stalled_total >= N, 'each stalled backfill counted');
    assert.ok(m.sensorpipe_ws_aborted_total - before.sensorpipe_ws_aborted_total >= N, 'each reset counted');
    const grew = (peak - rss0) / 1024;
    // before paging, each held a 10000-row frame (~1.9 MB) and lws a copy of what the socket did not take
    const bound = asan ? 32 : 12;
    assert.ok(grew < bound, `${asan ? 'ASan' : 'optimised'} build: serve RSS grew by ${grew.toFixed(1)} MB (from ${(rss0 / 1024).toFixed(1)} MB, bound ${bound}) with ${N} idle history=10000 clients`);
  } finally {
    clearInterval(sampler);
    for (const c of idle) c.ws.terminate();
    reader?.ws.terminate();
    port = mainPort;
    host = `127.0.0.1:${port}`;
    assert.equal(await own.stop(), 0);
  }
});

test('a live client that stops reading gets its gap and is closed promptly, not 30 s later', async () => {
  const before = await metrics();
  const slow = await wsOpen('?history=0', { localAddress: '127.0.0.12' });
  await waitFor(() => slow.messages.some((m) => m.type === 'history'), { message: 'the history frame' });
  slow.ws._socket.pause();
  const topic = `limits/live/${'z'.repeat(180)}`;
  let gapAt = 0;
  for (let i = 0; i < 20 && !gapAt; i++) {
    await pipe.psql(`INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, 10000) g`);
    if ((await metrics()).sensorpipe_ws_gaps_total > before.sensorpipe_ws_gaps_total) gapAt = Date.now();
  }
  if (!gapAt) {
    await waitFor(async () => (await metrics()).sensorpipe_ws_gaps_total > before.sensorpipe_ws_gaps_total, {
      timeout: 30000,
      message: 'the server to give the slow client a gap',
    });
    gapAt = Date.now();
  }
  await waitFor(async () => (await metrics()).sensorpipe_ws_clients === 0, {
    timeout: CLOSE_MS + 5000,
    message: `the slow client to be closed within ${CLOSE_MS} ms (+ slack) of its gap`,
  });
  const took = Date.now() - gapAt;
  // and the kernel holds nothing more for it: reset, or dropped by TCP_USER_TIMEOUT once orphaned
  const queued = () =>
    execFileSync('ss', ['-tnH', 'src', `127.0.0.1:${port}`, 'dst', '127.0.0.12'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && Number(l.trim().split(/\s+/)[2]) > 0);
  await waitFor(() => queued().length === 0, {
    timeout: CLOSE_MS + 5000,
    message: `serve's socket to the slow client to hold no data: ${queued().join('; ')}`,
  });
  process.stderr.write(`# slow live client closed ${took} ms after its gap was counted; its send queue gone ${Date.now() - gapAt} ms after\n`);
  slow.ws.terminate();
});

test('?history=n is served from the ring when it holds the last n rows (no query), from the database otherwise, exactly alike', async () => {
  const topic = `limits/ring/${'r'.repeat(20)}`;
  // rows that arrive while serve runs are in its ring (RING rows at most)
  await pipe.psql(`INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, ${RING + 600}) g`);
  const last = Number(await pipe.psql(`SELECT max(id) FROM readings`));
  await waitFor(async () => (await metrics()).sensorpipe_ring_last_id >= last, { message: 'the ring to hold the new rows' });
  for (const [n, fromRing] of [[300, true], [RING + 500, false]]) {
    const before = (await metrics()).sensorpipe_ws_ring_histories_total;
    const c = await wsOpen(`?history=${n}`, { localAddress: '127.0.0.13' });
    await waitFor(() => c.messages.reduce((k, m) => k + rowsOf(m).length, 0) >= n, { timeout: 20000, message: `history=${n}: ${n} rows` });
    assert.equal(c.messages[0].type, 'history');
    const got = c.messages.flatMap((m) => rowsOf(m).map((r) => r.id));
    const want = (await pipe.psql(`SELECT id FROM (SELECT id FROM readings ORDER BY id DESC LIMIT ${n}) s ORDER BY id`)).split('\n').map(Number);
    assert.deepEqual(got, want, `history=${n}: the last ${n} ids, once each, in order`);
    assert.equal((await metrics()).sensorpipe_ws_ring_histories_total - before, fromRing ? 1 : 0, `history=${n} from the ring: ${fromRing}`);
    await close(c);
  }
});
