// serve_cost.test.mjs - what one API client may cost `sensorpipe serve` (issue 12, items 3 and 4):
// /api/readings answers capped at --api-max-bytes (413 with a reason, the query stopped), many
// concurrent limit-maximum requests within bounded memory, a slow query that does not stall
// /api/topics (the --db-pool of query connections keeps one for light queries), a client that
// leaves mid-query has its query cancelled on the server, pipelined requests answered 400 at once,
// a head that never ends (the `A:` header of libwebsockets 4.1.6) cut at --http-head-timeout-s,
// and a login body over 4 KB refused with 413.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { freePort, spawnSensorpipe, startPipeline, waitFor } from '../lib/harness.mjs';

const API_MAX_BYTES = 256 * 1024; // --api-max-bytes: ~2,500 raw rows of JSON
const POOL = 3; // --db-pool: heavy queries run on at most 2
const HEAD_TIMEOUT_S = 2; // --http-head-timeout-s
const HTTP_TIMEOUT_S = 10; // --http-timeout-s
const ROWS = 60000;

let pipe;

before(async () => {
  pipe = await startPipeline({ ingest: false, serve: false, dbPrefix: 'cost' });
  pipe.httpPort = await freePort();
  pipe.httpUrl = `http://127.0.0.1:${pipe.httpPort}`;
  // ASan keeps freed memory in a quarantine (256 MB by default), which would swamp the memory figures
  pipe.serve = spawnSensorpipe(['serve', '--db', pipe.dsn, '--listen', `127.0.0.1:${pipe.httpPort}`,
    '--db-pool', String(POOL), '--api-max-bytes', String(API_MAX_BYTES),
    '--http-head-timeout-s', String(HEAD_TIMEOUT_S), '--http-timeout-s', String(HTTP_TIMEOUT_S),
    // the 40 concurrent requests all come from 127.0.0.1: lift the per-address limits (serve_limits tests them)
    '--max-requests-per-addr', '64', '--max-conns-per-addr', '256'],
  { env: { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=1' } });
  pipe.procs.push(pipe.serve);
  await waitFor(async () => (await fetch(`${pipe.httpUrl}/healthz`)).status === 200, {
    timeout: 15000,
    message: `sensorpipe serve to answer /healthz on ${pipe.httpUrl}`,
  });
  // ROWS readings over the last two hours, 20 topics
  await pipe.psql(`INSERT INTO readings (topic, ts, value)
      SELECT 'cost/dev' || (i % 20) || '/temperature/s', now() - interval '2 hours' + i * interval '100 ms', i
      FROM generate_series(1, ${ROWS}) i`);
});

after(async () => {
  if (!pipe) return;
  const codes = await pipe.stop();
  assert.equal(codes.serve, 0, 'serve exits 0 on SIGTERM, without leaks (ASan)');
});

async function metrics() {
  const text = await (await fetch(`${pipe.httpUrl}/metrics`)).text();
  const values = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$/);
    if (m) values[m[1]] = Number(m[2]);
  }
  return values;
}

const refused = (reason) => `sensorpipe_http_refused_total{reason="${reason}"}`;
const FROM = encodeURIComponent(new Date(Date.now() - 3 * 3600e3).toISOString());

/** VmHWM and VmRSS of serve, in kB. */
function memory() {
  const status = fs.readFileSync(`/proc/${pipe.serve.child.pid}/status`, 'utf8');
  const kb = (k) => Number(status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))[1]);
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/** serve's queries now in pg_stat_activity that wait for a lock. */
async function serveLockWaiters() {
  return Number(await pipe.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
      AND application_name = 'sensorpipe-serve' AND state = 'active' AND wait_event_type = 'Lock'`));
}

/**
 * Raw bytes on a new TCP connection; what came back once the server closed (or timeout ms passed:
 * then the result says so instead of failing). Returns { status, body, ms, closed }.
 */
function raw(bytes, { timeout = 15000 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(pipe.httpPort, '127.0.0.1', () => sock.write(bytes));
    let data = Buffer.alloc(0);
    const done = (closed) => {
      clearTimeout(timer);
      sock.destroy();
      const text = data.toString('latin1');
      const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ status: m ? Number(m[1]) : null, body: text.slice(text.indexOf('\r\n\r\n') + 4), ms: Date.now() - t0, closed });
    };
    sock.on('data', (d) => (data = Buffer.concat([data, d])));
    sock.on('error', () => {}); // a reset is an answer too
    sock.on('close', () => done(true));
    const timer = setTimeout(() => done(false), timeout);
  });
}

test('an /api/readings answer over --api-max-bytes gets 413 with the reason; its query is stopped, counted', async () => {
  const before = await metrics();
  const res = await fetch(`${pipe.httpUrl}/api/readings?from=${FROM}&limit=100000`);
  assert.equal(res.status, 413);
  assert.match((await res.json()).error, new RegExp(`over ${API_MAX_BYTES} bytes.*narrow the time range or lower limit`));
  const csv = await fetch(`${pipe.httpUrl}/api/readings.csv?from=${FROM}&limit=100000`);
  assert.equal(csv.status, 413, 'CSV is capped the same way');
  await csv.text();
  // under the cap: the whole answer, valid JSON, in order
  const ok = await fetch(`${pipe.httpUrl}/api/readings?from=${FROM}&limit=1000`);
  assert.equal(ok.status, 200);
  const { rows } = await ok.json();
  assert.equal(rows.length, 1000);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].ts <= rows[i].ts, 'rows in time order');
  const buckets = await (await fetch(`${pipe.httpUrl}/api/readings?from=${FROM}&bucket=10m&limit=100000`)).json();
  assert.equal(buckets.rows.reduce((n, b) => n + b.count, 0), ROWS, 'every reading in some bucket');
  const after = await metrics();
  assert.equal(after[refused('too_large')] - before[refused('too_large')], 2);
  assert.ok(after.sensorpipe_db_cancelled_total - before.sensorpipe_db_cancelled_total >= 2, 'the stopped queries were cancelled');
  assert.equal(after.sensorpipe_db_pool_size, POOL);
  await waitFor(async () => (await metrics()).sensorpipe_api_held_bytes === 0, { message: 'API bodies to be let go' });
});

test('40 concurrent limit-maximum requests: bounded memory, /api/topics still answers promptly', { timeout: 240000 }, async () => {
  const m0 = memory();
  const codes = {};
  const t0 = Date.now();
  const all = Array.from({ length: 40 }, async () => {
    const res = await fetch(`${pipe.httpUrl}/api/readings?from=${FROM}&limit=100000`);
    await res.arrayBuffer();
    codes[res.status] = (codes[res.status] || 0) + 1;
  });
  await waitFor(async () => (await metrics()).sensorpipe_db_pool_busy >= POOL - 1, { message: 'the heavy queries to be running' });
  const t1 = Date.now();
  const topics = await fetch(`${pipe.httpUrl}/api/topics`);
  assert.equal(topics.status, 200);
  assert.equal((await topics.json()).topics.length, 20);
  const topicsMs = Date.now() - t1;
  await Promise.all(all);
  const m1 = memory();
  const grew = (m1.hwm - m0.hwm) / 1024;
  process.stderr.write(`40 x limit=100000: ${JSON.stringify(codes)} in ${Date.now() - t0} ms; /api/topics ${topicsMs} ms; ` +
    `serve VmHWM ${(m0.hwm / 1024).toFixed(1)} -> ${(m1.hwm / 1024).toFixed(1)} MB (ASan build)\n`);
  assert.equal((codes[413] || 0) + (codes[503] || 0), 40, `every one refused (413, or 503 over the budget): ${JSON.stringify(codes)}`);
  assert.ok(topicsMs < 5000, `/api/topics answered in ${topicsMs} ms while 40 large requests waited`);
  // all at once they would be ~15 MB of JSON and a ~10 MB result each (over 900 MB); capped, a few MB
  // (ASan's quarantine keeps freed memory for a while: the bound has room for it)
  assert.ok(grew < 48, `serve's peak memory grew by ${grew.toFixed(1)} MB`);
  await waitFor(async () => (await metrics()).sensorpipe_api_held_bytes === 0, { message: 'API bodies to be let go' });
});

test('a query stuck on a lock does not stall /api/topics; clients that leave get their queries cancelled on the server', { timeout: 60000 }, async () => {
  const locker = new pg.Client({ connectionString: undefined, ...dsnParts(pipe.dsn), application_name: 'cost-locker' });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE readings_hourly IN ACCESS EXCLUSIVE MODE');
    const before = await metrics();
    // whole-hour buckets read readings_hourly: these wait for the lock
    const hour = 3600e3;
    const to = new Date(Math.floor(Date.now() / hour) * hour).toISOString();
    const from = new Date(Math.floor(Date.now() / hour) * hour - 6 * hour).toISOString();
    const aborts = [];
    const pending = Array.from({ length: 4 }, () => {
      const ac = new AbortController();
      aborts.push(ac);
      return fetch(`${pipe.httpUrl}/api/readings?from=${from}&to=${to}&bucket=1h`, { signal: ac.signal }).catch((e) => e);
    });
    await waitFor(async () => (await serveLockWaiters()) === POOL - 1, {
      timeout: 10000,
      message: `${POOL - 1} heavy queries (of ${POOL} connections) to wait for the lock`,
    });
    // one connection is left for light queries: topics answer while the heavy ones are stuck
    const t0 = Date.now();
    const topics = await fetch(`${pipe.httpUrl}/api/topics`);
    assert.equal(topics.status, 200);
    await topics.json();
    assert.ok(Date.now() - t0 < 3000, `/api/topics took ${Date.now() - t0} ms beside stuck queries`);
    assert.equal(await serveLockWaiters(), POOL - 1, 'never more heavy queries than the pool less one');
    // the clients leave: their running queries are cancelled on the server, the waiting ones dropped
    for (const ac of aborts) ac.abort();
    await Promise.all(pending);
    await waitFor(async () => (await serveLockWaiters()) === 0, {
      timeout: 5000,
      message: 'the abandoned queries to be cancelled (gone from pg_stat_activity) while the lock is still held',
    });
    const after = await metrics();
    assert.ok(after.sensorpipe_db_cancelled_total - before.sensorpipe_db_cancelled_total >= POOL - 1);
    assert.equal(after.sensorpipe_db_query_errors_total, before.sensorpipe_db_query_errors_total, 'a cancel is no error');
  } finally {
    await locker.query('ROLLBACK').catch(() => {});
    await locker.end();
  }
  // the pool is whole again: a heavy query runs on every connection in turn
  for (let i = 0; i < POOL + 1; i++) {
    const res = await fetch(`${pipe.httpUrl}/api/readings?from=${FROM}&bucket=1h`);
    assert.equal(res.status, 200);
    assert.ok((await res.json()).rows.length > 0);
  }
});

test('pipelined requests get 400 at once (libwebsockets 4.1.6 would answer neither), counted', async () => {
  const before = (await metrics())[refused('pipelined')];
  const get = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${pipe.httpPort}\r\n\r\n`;
  const r = await raw(get + get);
  assert.equal(r.status, 400, JSON.stringify(r));
  assert.match(r.body, /pipelined requests are not supported/);
  assert.ok(r.closed && r.ms < 2000, `answered and closed in ${r.ms} ms`);
  assert.equal((await metrics())[refused('pipelined')], before + 1);
  // one request at a time on a kept-alive connection is still fine
  assert.equal((await fetch(`${pipe.httpUrl}/healthz`)).status, 200);
});

test('odd header names: `X-A:` inside the head is answered; a head ending in `A:` never completes and is cut at --http-head-timeout-s', async () => {
  const host = `Host: 127.0.0.1:${pipe.httpPort}`;
  const inside = await raw(`GET /healthz HTTP/1.1\r\nX-A: b\r\n${host}\r\n\r\n`, { timeout: 3000 });
  assert.equal(inside.status, 200, JSON.stringify(inside));
  const before = (await metrics())[refused('header_timeout')];
  // libwebsockets 4.1.6 loses the end of the head after a one-letter unknown header: no answer
  // is possible; the head deadline bounds what it holds (a header slot)
  const last = await raw(`GET /healthz HTTP/1.1\r\n${host}\r\nA: b\r\n\r\n`);
  assert.ok(last.closed, 'closed by the server');
  assert.ok(last.ms >= HEAD_TIMEOUT_S * 1000 - 300 && last.ms < (HEAD_TIMEOUT_S + 2) * 1000,
    `closed after ${last.ms} ms: the head deadline (${HEAD_TIMEOUT_S} s), not --http-timeout-s (${HTTP_TIMEOUT_S} s)`);
  await waitFor(async () => (await metrics())[refused('header_timeout')] === before + 1, { message: 'the cut head to be counted' });
});

test('a login body over 4 KB is refused with 413 before it is read', async () => {
  const body = 'name=a&password=' + 'x'.repeat(5000);
  const res = await fetch(`${pipe.httpUrl}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: pipe.httpUrl },
    body,
  }).catch((e) => e);
  // the refusal is sent before the body is read, so the client may see a reset while it still sends
  if (res instanceof Error) assert.match(String(res.cause || res), /ECONNRESET|EPIPE|socket|other side closed/);
  else assert.equal(res.status, 413);
  const r = await raw(`POST /login HTTP/1.1\r\nHost: 127.0.0.1:${pipe.httpPort}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n`);
  assert.equal(r.status, 413, JSON.stringify(r));
});

/** pg.Client options from a libpq keyword/value string (host=... port=... user=... dbname=...). */
function dsnParts(dsn) {
  const o = Object.fromEntries(dsn.split(/\s+/).map((kv) => kv.split('=')));
  return { host: o.host, port: Number(o.port), user: o.user, database: o.dbname };
}
