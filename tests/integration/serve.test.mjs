// serve.test.mjs - `sensorpipe serve` against a real PostgreSQL: WebSocket live tail, history,
// ?after= resume, backfill racing concurrent inserts, ?topic=, slow clients, Origin, REST API,
// /healthz, /metrics, static files and path traversal, clean SIGTERM exit (ASan checks leaks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { dsnFor, fetchNoAuth, freePort, psql, spawnSensorpipe, startPipeline, waitFor, wsConnect } from '../lib/harness.mjs';

const RING = 2000;
const MAX_LAG = 500;

let pipe;
let wsBase;
const clients = new Set();

before(async () => {
  pipe = await startPipeline({
    ingest: false,
    dbPrefix: 'serve',
    // --client-close-ms: the slow client of the gap test takes its gap and close frame once it reads
    // again, after this test saw the gap counted; serve_limits.test.mjs covers the default reset
    serveArgs: ['--ring-size', String(RING), '--client-max-lag', String(MAX_LAG), '--client-close-ms', '20000'],
  });
  wsBase = pipe.httpUrl.replace(/^http/, 'ws');
});

after(async () => {
  for (const c of clients) await c.close();
  if (!pipe) return;
  const codes = await pipe.stop();
  assert.equal(codes.serve, 0, 'serve exits 0 on SIGTERM, without leaks (ASan)');
});

/** Connect and remember the client so it is closed after the tests. */
async function connect(query = '', opts = {}) {
  const c = await wsConnect(`${wsBase}/ws${query}`, opts);
  clients.add(c);
  return c;
}

async function disconnect(c) {
  await c.close();
  clients.delete(c);
}

/** Run an INSERT ... RETURNING id; returns the ids as numbers. */
async function insertIds(sql) {
  const out = await pipe.psql(sql);
  return out ? out.split('\n').map(Number) : [];
}

function insertRows(topic, n, { ts = 'now()' } = {}) {
  return insertIds(
    `INSERT INTO readings (ts, topic, value) SELECT ${ts}, '${topic}', g FROM generate_series(1, ${n}) g RETURNING id`,
  );
}

async function dbIds(where) {
  const out = await pipe.psql(`SELECT id FROM readings WHERE ${where} ORDER BY id`);
  return out ? out.split('\n').map(Number) : [];
}

function ids(c) {
  return c.rows().map((r) => r.id);
}

/** Wait until the client has received the row with this id (or a later one). */
function waitForId(c, id, what, timeout = 15000) {
  return waitFor(() => c.rows().some((r) => r.id >= id), {
    timeout,
    message: `${what} to receive id ${id} (last seen ${c.rows().at(-1)?.id})\n${pipe.serve.output().slice(-2000)}`,
  });
}

function assertNoGapNoDup(got, expected, what) {
  assert.deepEqual(got, expected, `${what}: ids differ from the database (lost, doubled or out of order)`);
}

async function metrics() {
  const res = await fetch(`${pipe.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const values = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$/);
    if (m) values[m[1]] = Number(m[2]);
  }
  return { text, values };
}

/** One raw HTTP/1.1 request (fetch() would normalise the path). Returns { status, headers, body }. */
function rawGet(path, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(pipe.httpPort, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${method} ${path}`));
    }, 10000);
    sock.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${pipe.httpPort}\r\n${extra}Connection: close\r\n\r\n`);
    });
    sock.on('data', (d) => (data += d));
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      const [head, ...rest] = data.split('\r\n\r\n');
      const status = Number(head.split(' ')[1]);
      resolve({ status, head, body: rest.join('\r\n\r\n') });
    });
  });
}

const ROW_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;

test('a psql INSERT reaches a WebSocket client', async () => {
  const c = await connect('?history=0');
  const history = await c.next((m) => m.type === 'history', { message: 'the history frame' });
  assert.deepEqual(history.data, []);
  const [id] = await insertIds(`INSERT INTO readings (topic, value) VALUES ('first/temperature/dht22', 21.5) RETURNING id`);
  const msg = await c.next((m) => m.type === 'reading' || m.type === 'readings', { message: 'the live reading' });
  const row = msg.type === 'reading' ? msg.data : msg.data[0];
  assert.equal(row.id, id);
  assert.equal(row.topic, 'first/temperature/dht22');
  assert.equal(row.value, 21.5);
  assert.match(row.ts, ROW_TS);
  await disconnect(c);
});

// a topic with a quote, a backslash, accents, CJK and an emoji (4-byte UTF-8)
const WEIRD = 'odd/"q\\x"/é温🌡';

test('odd rows any writer can store (infinite ts, NaN, quotes and unicode in topics) flow through', async () => {
  const c = await connect('?history=0');
  await c.next((m) => m.type === 'history');
  // NaN is refused by db/005's CHECK; a database whose bound was dropped by hand can still hold one
  await pipe.psql('ALTER TABLE readings DROP CONSTRAINT IF EXISTS readings_value_bounded');
  const odd = await insertIds(`INSERT INTO readings (ts, topic, value) VALUES
      ('infinity', 'odd/ts/inf', 1), ('-infinity', 'odd/ts/neginf', 2), (now(), 'odd/value/nan', 'NaN'),
      (now(), '${WEIRD}', 3) RETURNING id`);
  const [normal] = await insertRows('odd/after/x', 1);
  await waitForId(c, normal, 'the client after the odd rows');
  const rows = c.rows();
  assert.deepEqual(rows.map((r) => r.id), [...odd, normal]);
  assert.equal(rows[0].ts, '9999-12-31T23:59:59.999999+00:00');
  assert.equal(rows[1].ts, '0001-01-01T00:00:00.000000+00:00');
  assert.equal(rows[2].value, null, 'NaN is sent as null');
  assert.equal(rows[3].topic, WEIRD);
  const topics = await fetch(`${pipe.httpUrl}/api/topics`);
  assert.equal(topics.status, 200, 'an infinite ts does not break /api/topics');
  const inf = (await topics.json()).topics.find((t) => t.topic === 'odd/ts/inf');
  assert.equal(inf.ts, '9999-12-31T23:59:59.999999+00:00');
  await disconnect(c);
});

/** Wait until the server's live feed has read up to this id (its NOTIFY can trail the INSERT). */
async function serverSaw(id) {
  await waitFor(async () => (await metrics()).values.sensorpipe_ring_last_id >= id, { message: `the server to read id ${id}` });
}

test('history comes first, oldest first, then the live tail', async () => {
  const old = await insertRows('hist/temperature/a', 5);
  // ?history=n is as of the server's newest row; a row it has not read yet comes live instead
  await serverSaw(old.at(-1));
  const c = await connect('?history=3&topic=hist/temperature/a');
  await waitFor(() => c.queue.length > 0, { message: 'a first frame' });
  assert.equal(c.queue[0].type, 'history', 'the first frame is the history');
  assert.deepEqual(c.queue[0].data.map((r) => r.id), old.slice(2));
  const fresh = await insertRows('hist/temperature/a', 2);
  await waitForId(c, fresh.at(-1), 'the history client');
  assertNoGapNoDup(ids(c), [...old.slice(2), ...fresh], 'history + live');
  await disconnect(c);
});

test('?after= yields exactly the rows missed while away, across backfill pages', async () => {
  const topic = 'after/temperature/x';
  const c1 = await connect(`?history=0&topic=${topic}`);
  await c1.next((m) => m.type === 'history');
  const seen = await insertRows(topic, 3);
  await waitForId(c1, seen.at(-1), 'the first connection');
  const lastSeen = ids(c1).at(-1);
  await disconnect(c1);

  // missed while disconnected: more than one backfill page (256), more than the ring (RING)
  await insertRows(topic, 2500);
  await insertRows('after/other/y', 10);
  const c2 = await connect(`?after=${lastSeen}&topic=${topic}`);
  const history = await c2.next((m) => m.type === 'history');
  assert.equal(history.data.length, 256, 'the first page comes as the history frame');
  const live = await insertRows(topic, 2);
  await waitForId(c2, live.at(-1), 'the resumed connection', 30000);
  assertNoGapNoDup(ids(c2), await dbIds(`topic = '${topic}' AND id > ${lastSeen}`), '?after= resume');
  await disconnect(c2);

  // resuming from the newest id gives an empty history and the live tail
  const [newest] = await dbIds(`id = (SELECT max(id) FROM readings)`);
  const c3 = await connect(`?after=${newest}`);
  const h3 = await c3.next((m) => m.type === 'history');
  assert.deepEqual(h3.data, []);
  await disconnect(c3);
});

test('concurrent inserts during backfill are neither lost nor doubled', { timeout: 120000 }, async () => {
  const topic = 'race/temperature/x';
  const start = await insertRows(topic, 200);
  const writer = new pg.Client({
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres',
    database: pipe.db.name,
  });
  await writer.connect();
  // the writer runs its statements while the clients connect one after another, at points
  // spread over its run, so every backfill overlaps inserts
  const STATEMENTS = 360;
  let done = 0;
  const writes = (async () => {
    // many small statements, as the ingest does under load
    for (let i = 0; i < STATEMENTS; i++, done++) {
      await writer.query(`INSERT INTO readings (topic, value) SELECT $1, g FROM generate_series(1, $2::int) g`, [
        i % 3 ? topic : 'race/other/y',
        1 + (i % 7),
      ]);
    }
  })();
  const racers = [];
  try {
    for (let i = 0; i < 24; i++) {
      await waitFor(() => done >= i * (STATEMENTS / 30), { every: 2, message: `the writer to reach statement ${i * 12}` });
      const query =
        i % 3 === 0 ? `?after=${start[i * 5]}&topic=${topic}` : i % 3 === 1 ? `?history=50&topic=${topic}` : '?history=1000';
      racers.push({ query, client: await connect(query) });
    }
    assert.ok(done < STATEMENTS, 'the clients connected while the writer was still writing');
  } finally {
    await writes;
    await writer.end();
  }
  const all = await dbIds('true');
  const mine = await dbIds(`topic = '${topic}'`);
  for (const { query, client } of racers) {
    const expectAll = !query.includes('topic=');
    await waitForId(client, (expectAll ? all : mine).at(-1), `client ${query}`, 30000);
    const got = ids(client);
    const pool = expectAll ? all : mine;
    const from = query.includes('after=') ? pool.findIndex((id) => id > Number(query.match(/after=(\d+)/)[1])) : pool.indexOf(got[0]);
    assert.ok(from >= 0, `client ${query}: first id ${got[0]} is not a database id`);
    if (query.includes('after=')) assert.equal(got[0], pool[from], `client ${query} starts right after its id`);
    assertNoGapNoDup(got, pool.slice(from), `client ${query}`);
  }
  for (const { client } of racers) await disconnect(client);
});

test('?topic= narrows what is sent (+ and # wildcards, encoded or not)', async () => {
  const plus = await connect('?history=0&topic=%2B/humidity/%2B');
  const rawPlus = await connect('?history=0&topic=+/humidity/+');
  const hash = await connect('?history=0&topic=filt/%23');
  for (const c of [plus, rawPlus, hash]) await c.next((m) => m.type === 'history');
  const hum = await insertRows('filt/humidity/dht22', 2);
  const tmp = await insertRows('filt/temperature/dht22', 2);
  const other = await insertRows('else/humidity/x', 1);
  const deep = await insertRows('filt/a/b/c', 1);
  await waitForId(plus, other[0], '+/humidity/+');
  await waitForId(rawPlus, other[0], '+/humidity/+ (raw)');
  await waitForId(hash, deep[0], 'filt/#');
  assert.deepEqual(ids(plus), [...hum, ...other]);
  assert.deepEqual(ids(rawPlus), [...hum, ...other]);
  assert.deepEqual(ids(hash), [...hum, ...tmp, ...deep]);
  for (const c of [plus, rawPlus, hash]) await disconnect(c);
});

test('live frames shared by unfiltered clients: each client, at its own cursor or filter, gets exactly its rows', async () => {
  const topic = 'share/temperature/a';
  const start = await insertRows(topic, 3);
  await serverSaw(start.at(-1));
  // unfiltered clients at the newest row (they share one frame), one resuming from older rows
  // (another cursor until it catches up), and a filtered one (its own frame)
  const same = [];
  for (let i = 0; i < 5; i++) same.push(await connect('?history=0'));
  const behind = await connect(`?after=${start[0]}`);
  const filtered = await connect('?history=0&topic=share/+/b');
  for (const c of [...same, behind, filtered]) await c.next((m) => m.type === 'history');
  const rows = [];
  for (let batch = 0; batch < 5; batch++) {
    rows.push(...(await insertRows(topic, batch + 1)), ...(await insertRows('share/humidity/b', 1)));
  }
  const last = rows.reduce((a, b) => Math.max(a, b));
  for (const c of [...same, behind]) await waitForId(c, last, 'an unfiltered client');
  await waitForId(filtered, last, 'the filtered client');
  const all = await dbIds(`id > ${start.at(-1)}`);
  for (const [i, c] of same.entries()) assertNoGapNoDup(ids(c).filter((id) => id > start.at(-1)), all, `client ${i}`);
  assertNoGapNoDup(ids(behind), await dbIds(`id > ${start[0]}`), 'the resumed client');
  assertNoGapNoDup(ids(filtered), await dbIds(`id > ${start.at(-1)} AND topic = 'share/humidity/b'`), 'the filtered client');
  for (const c of [...same, behind, filtered]) await disconnect(c);
});

test('live frames shared per filter: clients of one filter, and more filters than the shared slots, each get exactly their rows', async () => {
  const start = await insertRows('slot/a/x', 1);
  await serverSaw(start.at(-1));
  // 3 clients of one filter (one frame for them), 10 other filters (more than serve's 8 slots: a
  // filter that lost its slot builds its frame again), one filter that takes nothing (an idle one)
  const filters = ['slot/a/+', 'slot/a/+', 'slot/a/+', 'slot/#', '+/a/x', 'slot/b/+', 'idle/none/none'];
  for (let i = 0; i < 7; i++) filters.push(`slot/n${i}/#`);
  const cs = [];
  for (const f of filters) cs.push(await connect(`?history=0&topic=${encodeURIComponent(f)}`));
  for (const c of cs) await c.next((m) => m.type === 'history');
  const rows = [];
  for (let batch = 0; batch < 4; batch++) {
    rows.push(...(await insertRows('slot/a/x', batch + 1)), ...(await insertRows('slot/b/y', 1)),
      ...(await insertRows(`slot/n${batch}/z`, 2)));
  }
  const last = rows.reduce((a, b) => Math.max(a, b));
  const after = `id > ${start.at(-1)}`;
  const expect = {
    'slot/a/+': `${after} AND topic = 'slot/a/x'`, 'slot/#': after, '+/a/x': `${after} AND topic = 'slot/a/x'`,
    'slot/b/+': `${after} AND topic = 'slot/b/y'`, 'idle/none/none': 'false',
  };
  for (let i = 0; i < 7; i++) expect[`slot/n${i}/#`] = `${after} AND topic = 'slot/n${i}/z'`;
  // every client has what the database says its filter takes, and the idle one nothing, once all
  // rows reached the widest client (the rows of one batch are written to every client in one pass)
  await waitForId(cs[3], last, 'the slot/# client');
  for (const [i, c] of cs.entries()) {
    const want = await dbIds(expect[filters[i]]);
    if (want.length) await waitForId(c, want.at(-1), `client ${i} (${filters[i]})`);
    assertNoGapNoDup(ids(c), want, `client ${i} (${filters[i]})`);
  }
  for (const c of cs) await disconnect(c);
});

test('a quiet filter: its clients are skipped while the ring turns over, get no gap, then exactly the row they take', async () => {
  const start = await insertRows('busy/a/x', 1);
  await serverSaw(start.at(-1));
  const gaps = (await metrics()).values.sensorpipe_ws_gaps_total;
  const quiet = await connect('?history=0&topic=quiet/%2B/x');
  await quiet.next((m) => m.type === 'history');
  const busy = await connect('?history=0&topic=busy/%23');
  await busy.next((m) => m.type === 'history');
  // more rows than the ring holds (RING), none of them the quiet client's, in several statements
  let last = 0;
  for (let i = 0; i < 6; i++) last = (await insertRows('busy/a/x', RING / 4)).at(-1);
  await waitForId(busy, last, 'the busy client', 30000);
  // serve's client clock (every 250 ms here) must look at the quiet clients past the ring's
  // turnover: it would gap a client whose cursor fell behind the ring's floor
  await new Promise((r) => setTimeout(r, 1000));
  // a second quiet client joins the group late, at another cursor
  const late = await connect('?history=0&topic=quiet/%2B/x');
  await late.next((m) => m.type === 'history');
  const [mine] = await insertRows('quiet/t/x', 1);
  await waitForId(quiet, mine, 'the quiet client');
  await waitForId(late, mine, 'the late quiet client');
  assert.deepEqual(ids(quiet), [mine], 'the quiet client got exactly its row');
  assert.deepEqual(ids(late), [mine]);
  assert.equal((await metrics()).values.sensorpipe_ws_gaps_total, gaps, 'no client was given a gap');
  for (const c of [quiet, busy, late]) await disconnect(c);
});

test('--event-loop poll serves the same live tail as the default uv loop; an unknown loop is refused', async () => {
  const bad = spawnSensorpipe(['serve', '--db', pipe.dsn, '--listen', '127.0.0.1:1', '--event-loop', 'epoll'], { name: 'serve-bad-loop' });
  assert.equal(await bad.exited, 2, bad.output());
  assert.match(bad.output(), /--event-loop must be uv or poll, got 'epoll'/);
  const port = await freePort();
  const proc = spawnSensorpipe(['serve', '--db', pipe.dsn, '--listen', `127.0.0.1:${port}`, '--no-migrate', '--event-loop', 'poll'],
    { name: 'serve-poll' });
  try {
    await proc.waitForOutput(/poll event loop/);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200,
      { message: `serve --event-loop poll to answer /healthz\n${proc.output()}` });
    const c = await wsConnect(`ws://127.0.0.1:${port}/ws?history=0&topic=poll/%2B/x`);
    await c.next((m) => m.type === 'history');
    const got = await insertRows('poll/t/x', 3);
    await waitForId(c, got.at(-1), 'a client of the poll loop');
    assert.deepEqual(ids(c), got);
    await c.close();
  } finally {
    assert.equal(await proc.stop(), 0, `serve --event-loop poll exits 0 on SIGTERM\n${proc.output()}`);
  }
});

test('a client that stops reading gets a gap and is closed; the others keep receiving', { timeout: 180000 }, async () => {
  const before = (await metrics()).values.sensorpipe_ws_gaps_total;
  const fast = await connect('?history=0');
  const slow = await connect('?history=0');
  await fast.next((m) => m.type === 'history');
  await slow.next((m) => m.type === 'history');
  slow.ws._socket.pause(); // the kernel buffers fill, then the server's socket for it is full
  const topic = `slow/${'x'.repeat(180)}/s`; // ~300-byte rows: megabytes quickly
  let last = 0;
  for (let i = 0; i < 8; i++) last = (await insertRows(topic, 10000)).at(-1);
  await waitForId(fast, last, 'the fast client', 120000);
  assertNoGapNoDup(ids(fast), await dbIds(`topic = '${topic}'`), 'the fast client');
  await waitFor(async () => (await metrics()).values.sensorpipe_ws_gaps_total > before, {
    timeout: 30000,
    message: 'the server to count a gap',
  });
  slow.ws._socket.resume();
  await waitFor(() => slow.closed(), { timeout: 30000, message: 'the slow client to be closed' });
  const gap = slow.queue.find((m) => m.type === 'gap');
  assert.ok(gap, `the slow client got a gap frame before the close ${JSON.stringify(slow.closed())}`);
  // the gap says where to resume: right after the last row it got
  assert.equal(gap.after, ids(slow).at(-1));
  assert.equal(slow.closed().code, 1008);
  assert.ok(ids(slow).length < ids(fast).length, 'the slow client did not get everything');
  clients.delete(slow);
  // and it may resume where it stopped, with nothing lost
  const resumeFrom = gap.after;
  const again = await connect(`?after=${resumeFrom}&topic=${encodeURIComponent(topic)}`);
  await waitForId(again, last, 'the resumed slow client', 120000);
  assertNoGapNoDup(ids(again), await dbIds(`topic = '${topic}' AND id > ${resumeFrom}`), 'resumed slow client');
  await disconnect(again);
  await disconnect(fast);
});

test('device presence changes reach live clients as presence frames', async () => {
  const c = await connect('?history=0&topic=nothing/matches/this');
  await c.next((m) => m.type === 'history');
  await pipe.psql(`INSERT INTO devices (device, online) VALUES ('pres', true)
      ON CONFLICT (device) DO UPDATE SET online = EXCLUDED.online, updated_at = now()`);
  await pipe.psql(`UPDATE devices SET online = false, updated_at = now() WHERE device = 'pres'`);
  const on = await c.next((m) => m.type === 'presence', { message: 'the online presence frame' });
  const off = await c.next((m) => m.type === 'presence', { message: 'the offline presence frame' });
  assert.equal(on.data.device, 'pres');
  assert.equal(on.data.online, true);
  assert.equal(off.data.online, false);
  assert.match(off.data.ts, ROW_TS);
  // a payload that is not a JSON object is dropped and counted, never forwarded
  const before = (await metrics()).values.sensorpipe_notifies_bad_total;
  await pipe.psql(`SELECT pg_notify('device_presence', 'not json')`);
  await pipe.psql(`UPDATE devices SET online = true, updated_at = now() WHERE device = 'pres'`);
  const again = await c.next((m) => m.type === 'presence', { message: 'the next valid presence frame' });
  assert.equal(again.data.online, true);
  assert.equal((await metrics()).values.sensorpipe_notifies_bad_total, before + 1);
  await disconnect(c);
});

test('database connections lost: serve reconnects and live clients miss nothing', async () => {
  const topic = 'reconnect/temperature/x';
  const c = await connect(`?history=0&topic=${topic}`);
  await c.next((m) => m.type === 'history');
  const first = await insertRows(topic, 3);
  await waitForId(c, first.at(-1), 'the client before the reconnect');
  const before = (await metrics()).values;
  const pool = before.sensorpipe_db_pool_size; // the query connections (--db-pool), besides the listen one
  assert.ok(pool >= 1, 'the pool size is reported');
  const killed = await pipe.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'sensorpipe-serve%'`);
  assert.equal(killed, String(1 + pool), 'every serve connection was found (listen + the query pool)');
  const during = await insertRows(topic, 5); // committed while serve may still be reconnecting
  await waitFor(async () => (await fetch(`${pipe.httpUrl}/healthz`)).status === 200, { message: 'serve to reconnect' });
  const after = await insertRows(topic, 2);
  await waitForId(c, after.at(-1), 'the client after the reconnect');
  assertNoGapNoDup(ids(c), [...first, ...during, ...after], 'across the reconnect');
  for (const [conn, n] of [['listen', 1], ['query', pool]]) {
    const key = `sensorpipe_db_reconnects_total{conn="${conn}"}`;
    await waitFor(async () => (await metrics()).values[key] === before[key] + n, { message: `${key} to count the reconnects` });
  }
  await disconnect(c);
});

test('WebSocket Origin: a foreign origin is refused, the same host:port allowed', async () => {
  const before = (await metrics()).values['sensorpipe_ws_rejected_total{reason="origin"}'];
  await assert.rejects(connect('', { origin: 'http://evil.example' }), /HTTP 403/);
  await assert.rejects(connect('', { origin: `http://127.0.0.1:${pipe.httpPort + 1}` }), /HTTP 403/);
  const ok = await connect('?history=0', { origin: `http://127.0.0.1:${pipe.httpPort}` });
  await ok.next((m) => m.type === 'history');
  await disconnect(ok);
  assert.equal((await metrics()).values['sensorpipe_ws_rejected_total{reason="origin"}'], before + 2);
});

test('WebSocket refusals: bad parameters 400, other paths 404, oversized messages closed', async () => {
  await assert.rejects(connect('?history=abc'), /HTTP 400/);
  await assert.rejects(connect('?history=20000'), /HTTP 400/);
  await assert.rejects(connect('?after=-1'), /HTTP 400/);
  await assert.rejects(connect('?topic=a/%23/b'), /HTTP 400/);
  await assert.rejects(connect('?bogus=1'), /HTTP 400/);
  await assert.rejects(wsConnect(`${wsBase}/elsewhere`), /HTTP 404/);
  const c = await connect('?history=0');
  await c.next((m) => m.type === 'history');
  c.ws.send('x'.repeat(100)); // small messages are ignored
  c.ws.send('y'.repeat(64 * 1024));
  await waitFor(() => c.closed(), { message: 'the oversized sender to be closed' });
  assert.equal(c.closed().code, 1009);
  clients.delete(c);
  const { values } = await metrics();
  assert.ok(values['sensorpipe_ws_rx_refused_total{reason="too_large"}'] >= 1);
  assert.ok(values['sensorpipe_ws_rejected_total{reason="bad_request"}'] >= 5);
});

test('GET /api/topics: last value per topic and device presence', async () => {
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
      ('2026-01-01T00:00:00Z', 'api/temperature/t1', 1), ('2026-01-01T00:01:00Z', 'api/temperature/t1', 2),
      ('2026-01-01T00:00:30Z', 'api/humidity/h1', 55.5)`);
  await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('api', true, '2026-01-01T00:00:00Z')
      ON CONFLICT (device) DO UPDATE SET online = EXCLUDED.online, updated_at = EXCLUDED.updated_at`);
  const res = await fetch(`${pipe.httpUrl}/api/topics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const body = await res.json();
  const t1 = body.topics.find((t) => t.topic === 'api/temperature/t1');
  assert.deepEqual(
    { ...t1, id: undefined },
    { topic: 'api/temperature/t1', device: 'api', metric: 'temperature', sensor: 't1', value: 2, ts: '2026-01-01T00:01:00.000000+00:00', id: undefined },
  );
  assert.equal(typeof t1.id, 'number');
  assert.ok(body.topics.some((t) => t.topic === 'api/humidity/h1' && t.value === 55.5));
  const topics = body.topics.map((t) => t.topic);
  assert.deepEqual(topics, [...topics].sort(), 'topics come sorted');
  assert.deepEqual(body.devices.find((d) => d.device === 'api'), { device: 'api', online: true, ts: '2026-01-01T00:00:00.000000+00:00' });
});

test('GET /api/readings: raw rows, buckets, CSV, and 400 with a reason for bad parameters', async () => {
  const topic = 'rd/temperature/x';
  // 12 readings 10 s apart from 2026-02-01T00:00:00Z, values 1..12
  await pipe.psql(`INSERT INTO readings (ts, topic, value)
      SELECT timestamptz '2026-02-01T00:00:00Z' + (g - 1) * interval '10 seconds', '${topic}', g FROM generate_series(1, 12) g`);
  const range = `topic=${topic}&from=2026-02-01T00:00:00Z&to=2026-02-01T00:02:00Z`;

  let res = await fetch(`${pipe.httpUrl}/api/readings?${range}`);
  assert.equal(res.status, 200);
  let body = await res.json();
  assert.equal(body.rows.length, 12);
  assert.deepEqual(Object.keys(body.rows[0]), ['id', 'ts', 'topic', 'value']);
  assert.equal(body.rows[0].ts, '2026-02-01T00:00:00.000000+00:00');
  assert.deepEqual(body.rows.map((r) => r.value), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

  res = await fetch(`${pipe.httpUrl}/api/readings?${range}&limit=5`);
  assert.equal((await res.json()).rows.length, 5);

  // epoch seconds work as well as RFC 3339; to is exclusive
  const from = Date.parse('2026-02-01T00:00:00Z') / 1000;
  res = await fetch(`${pipe.httpUrl}/api/readings?topic=${topic}&from=${from}&to=${from + 60}`);
  assert.equal((await res.json()).rows.length, 6);

  res = await fetch(`${pipe.httpUrl}/api/readings?${range}&bucket=1m`);
  body = await res.json();
  assert.deepEqual(body.rows, [
    { ts: '2026-02-01T00:00:00.000000+00:00', topic, avg: 3.5, min: 1, max: 6, count: 6 },
    { ts: '2026-02-01T00:01:00.000000+00:00', topic, avg: 9.5, min: 7, max: 12, count: 6 },
  ]);

  res = await fetch(`${pipe.httpUrl}/api/readings?${range}&bucket=1m`, { headers: { Accept: 'text/csv' } });
  assert.match(res.headers.get('content-type'), /text\/csv/);
  let lines = (await res.text()).trim().split(/\r?\n/);
  assert.equal(lines[0], 'ts,topic,avg,min,max,count');
  assert.equal(lines[1], `2026-02-01T00:00:00.000000+00:00,${topic},3.5,1,6,6`);
  assert.equal(lines.length, 3);

  res = await fetch(`${pipe.httpUrl}/api/readings.csv?${range}`);
  assert.match(res.headers.get('content-type'), /text\/csv/);
  lines = (await res.text()).trim().split(/\r?\n/);
  assert.equal(lines[0], 'id,ts,topic,value');
  assert.equal(lines.length, 13);
  assert.match(lines[1], new RegExp(`^\\d+,2026-02-01T00:00:00.000000\\+00:00,${topic},1$`));

  // a topic with a comma and a quote is quoted in CSV
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES ('2026-02-01T00:00:05Z', 'rd/a,b/"q"', 1)`);
  res = await fetch(`${pipe.httpUrl}/api/readings.csv?from=2026-02-01T00:00:05Z&to=2026-02-01T00:00:06Z`);
  assert.match(await res.text(), /,"rd\/a,b\/""q""",1\r\n/);

  for (const [qs, reason] of [
    ['bucket=7x', /bucket must be/],
    ['from=yesterday', /from must be an RFC 3339 time/],
    ['from=2026-02-01T00:02:00Z&to=2026-02-01T00:00:00Z', /from must be earlier than to/],
    ['limit=0', /limit must be an integer between 1 and 100000/],
    ['limit=100001', /limit must be/],
    ['topic=a/%23/b', /topic must be an MQTT filter/],
    ['foo=1', /unknown parameter 'foo'/],
  ]) {
    res = await fetch(`${pipe.httpUrl}/api/readings?${qs}`);
    assert.equal(res.status, 400, qs);
    assert.match((await res.json()).error, reason, qs);
  }
});

test('HTTP: /healthz, 404 JSON, 405, HEAD, static files with their types, no path traversal', async () => {
  let res = await fetch(`${pipe.httpUrl}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' }); // open to anyone: says ok and nothing else

  res = await fetch(`${pipe.httpUrl}/api/nothing`);
  assert.equal(res.status, 404);
  assert.ok((await res.json()).error);
  res = await fetch(`${pipe.httpUrl}/no-such-file.js`);
  assert.equal(res.status, 404);

  res = await fetch(`${pipe.httpUrl}/api/topics`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 405);
  res = await fetch(`${pipe.httpUrl}/api/topics`, { method: 'DELETE' });
  assert.equal(res.status, 405);

  res = await fetch(`${pipe.httpUrl}/healthz`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '');

  res = await fetch(`${pipe.httpUrl}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  assert.match(await res.text(), /<html/i);
  for (const [file, type] of [['index.html', /text\/html/], ['style.css', /text\/css/], ['favicon.svg', /image\/svg\+xml/], ['app.js', /javascript/]]) {
    res = await fetch(`${pipe.httpUrl}/${file}`);
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-type'), type, file);
  }

  for (const path of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd', '/static/../../../etc/passwd', '/....//....//etc/passwd']) {
    const r = await rawGet(path);
    assert.ok(r.status === 404 || r.status === 403 || r.status === 400, `${path} answered ${r.status}`);
    assert.doesNotMatch(r.body, /root:/, `${path} leaked /etc/passwd`);
  }
});

test('GET /metrics: Prometheus text with the serve counters and sensorpipe_rejects_total', async () => {
  await pipe.psql(`INSERT INTO rejects (topic, payload, reason) VALUES ('x/y/z', 'abc', 'not a number')`);
  const { text, values } = await metrics();
  assert.match(text, /^# TYPE sensorpipe_ws_clients gauge$/m);
  for (const name of [
    'sensorpipe_ws_clients', 'sensorpipe_ws_messages_sent_total', 'sensorpipe_ws_rows_sent_total', 'sensorpipe_ws_gaps_total',
    'sensorpipe_ws_rejected_total{reason="origin"}', 'sensorpipe_http_requests_total{code="200"}', 'sensorpipe_http_refused_total{reason="bad_request"}',
    'sensorpipe_notifies_total{channel="new_reading"}', 'sensorpipe_rows_fetched_total', 'sensorpipe_db_reconnects_total{conn="listen"}',
    'sensorpipe_ring_size', 'sensorpipe_ring_last_id', 'sensorpipe_rejects_total',
  ]) assert.ok(name in values, `${name} missing from /metrics`);
  // each refusal is counted once, under its reason label (issue 9 removed the unlabelled copies)
  assert.doesNotMatch(text, /sensorpipe_ws_origin_rejections_total|sensorpipe_ws_rx_oversized_total|sensorpipe_http_bad_requests_total/);
  assert.equal(values.sensorpipe_ring_size, RING);
  assert.equal(values.sensorpipe_rejects_total, 1);
  assert.ok(values['sensorpipe_http_refused_total{reason="bad_request"}'] >= 7);
  assert.ok(values.sensorpipe_rows_fetched_total > 0);
  assert.equal(values.sensorpipe_ring_last_id, Number(await pipe.psql('SELECT max(id) FROM readings')));
});

test('without a database: /healthz is 503, credentials cannot be checked (503), and the server still stops cleanly', async () => {
  const port = await freePort();
  const proc = spawnSensorpipe(['serve', '--db', dsnFor('no_such_database_here'), '--listen', `127.0.0.1:${port}`, '--no-migrate'], { name: 'serve-nodb' });
  try {
    const res = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      return r.status === 503 ? r : null;
    }, { message: `serve without a database to answer /healthz\n${proc.output()}` });
    assert.deepEqual(await res.json(), { status: 'unavailable' });
    // no credentials: 401 as always; a well-formed token cannot be checked without the database: 503
    assert.equal((await fetchNoAuth(`http://127.0.0.1:${port}/api/topics`)).status, 401);
    const someToken = `${'0'.repeat(16)}.${'a'.repeat(64)}`;
    const api = await fetchNoAuth(`http://127.0.0.1:${port}/api/topics`, { headers: { Authorization: `Bearer ${someToken}` } });
    assert.equal(api.status, 503);
    assert.match((await api.json()).error, /database unavailable/);
    await assert.rejects(wsConnect(`ws://127.0.0.1:${port}/ws`, { headers: { Authorization: `Bearer ${someToken}` } }), /HTTP 503/);
  } finally {
    assert.equal(await proc.stop(), 0, proc.output());
  }
});
