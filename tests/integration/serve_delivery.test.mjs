// serve_delivery.test.mjs - dashboards miss nothing: a client resuming with ?after= on a restarted
// `sensorpipe serve` gets exactly the rows it missed (those written while serve was down included);
// the LISTEN connection killed again and again under a steady write load loses nothing; and clients
// that stop reading cannot grow the server's memory or delay the others: with 20 of them paused
// while 200k rows flow, serve's RSS stays under a bound, an active client's insert-to-receipt
// latency stays low (p99 reported and bounded), and the paused ones are cut with a gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { BIN, ROOT, createDatabase, freePort, psql, spawnSensorpipe, waitFor, wsConnect, registerServe } from '../lib/harness.mjs';

const PG = {
  host: process.env.PGHOST || '127.0.0.1',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
};

async function startServe(db, port, extra = [], { bin, env } = {}) {
  const args = ['serve', '--db', db.dsn, '--listen', `127.0.0.1:${port}`, '--no-migrate', ...extra];
  const proc = bin ? spawnBinary(bin, args, env) : spawnSensorpipe(args, { name: 'serve', env });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, {
    timeout: 15000,
    message: `serve on ${port} to be ready`,
  }).catch((e) => {
    throw new Error(`${e.message}\n${proc.output()}`);
  });
  return proc;
}

/** Like the harness' spawnSensorpipe, for another binary (the optimised build, for memory figures). */
function spawnBinary(bin, args, env = {}) {
  if (args[0] === 'serve') registerServe(args); // its clients need a token, as with spawnSensorpipe
  const child = spawn(bin, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? `signal ${sig}`)));
  return {
    child,
    exited,
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) process.stderr.write(`--- serve exited ${code}; its output:\n${out}\n---\n`);
      return code;
    },
  };
}

function writerClient(db) {
  return new pg.Client({ ...PG, database: db.name });
}

async function dbIds(db, where) {
  const out = await psql(db.dsn, `SELECT id FROM readings WHERE ${where} ORDER BY id`);
  return out ? out.split('\n').map(Number) : [];
}

const ids = (c) => c.rows().map((r) => r.id);

/** A writer that inserts 1..5 rows every few ms until stopped. */
function steadyWriter(client, topic) {
  let stop = false;
  let statements = 0;
  const done = (async () => {
    while (!stop) {
      await client.query(`INSERT INTO readings (topic, value) SELECT $1, g FROM generate_series(1, $2::int) g`, [topic, 1 + (statements % 5)]);
      statements++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    statements: () => statements,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

test('serve restart: a client resuming with ?after= on the new process gets exactly what it missed', { timeout: 120000 }, async () => {
  const db = await createDatabase('restart');
  const port = await freePort();
  const topic = 'restart/temperature/x';
  let serve = await startServe(db, port);
  const writer = writerClient(db);
  await writer.connect();
  const before = await wsConnect(`ws://127.0.0.1:${port}/ws?history=0&topic=${topic}`);
  await before.next((m) => m.type === 'history');
  const w = steadyWriter(writer, topic);
  try {
    await waitFor(() => before.rows().length >= 50, { message: 'the first client to receive rows' });

    assert.equal(await serve.stop(), 0, 'serve exits 0 on SIGTERM');
    await waitFor(() => before.closed(), { message: 'the client to see serve go' });
    const lastSeen = ids(before).at(-1);
    assert.deepEqual(ids(before), await dbIds(db, `topic = '${topic}' AND id <= ${lastSeen}`), 'nothing lost before the restart');

    // serve is down: the writer keeps writing, and one large statement too
    const downFrom = w.statements();
    await psql(db.dsn, `INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, 3000) g`);
    await waitFor(() => w.statements() >= downFrom + 20, { message: 'the writer to write while serve is down' });
    const whileDown = (await dbIds(db, `topic = '${topic}' AND id > ${lastSeen}`)).length;
    assert.ok(whileDown > 3000, `${whileDown} rows written while serve was down`);

    serve = await startServe(db, port); // the same address, as a restart would
    const after = await wsConnect(`ws://127.0.0.1:${port}/ws?after=${lastSeen}&topic=${topic}`);
    const first = await after.next((m) => m.type === 'history');
    assert.equal(first.data[0].id, (await dbIds(db, `topic = '${topic}' AND id > ${lastSeen}`))[0], 'it resumes right after its last id');
    await new Promise((r) => setTimeout(r, 300)); // some live rows on the new process too
    await w.stop();
    const [final] = (await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('${topic}', -1) RETURNING id`)).split('\n').map(Number);
    await waitFor(() => after.rows().some((r) => r.id === final), { timeout: 30000, message: 'the resumed client to catch up' });
    assert.deepEqual(ids(after), await dbIds(db, `topic = '${topic}' AND id > ${lastSeen}`), 'exactly the missed rows, then live: no gap, no duplicate');
    await after.close();
  } finally {
    await w.stop();
    await writer.end();
    assert.equal(await serve.stop(), 0, 'the new serve exits 0 (ASan: no leaks)');
  }
});

test('rows carried by the NOTIFY reach clients with no query; an id gap, a large statement or a bad payload is fetched instead', { timeout: 120000 }, async () => {
  const db = await createDatabase('notifyrows');
  const port = await freePort();
  const topic = 'nrows/temperature/x';
  const serve = await startServe(db, port);
  const metric = async (name) => {
    const m = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)$`, 'm'));
    assert.ok(m, `${name} in /metrics`);
    return Number(m[1]);
  };
  const c = await wsConnect(`ws://127.0.0.1:${port}/ws?history=0`);
  await c.next((m) => m.type === 'history');
  const fetches0 = await metric('sensorpipe_hub_fetches_total');
  const caughtUp = async (what) => {
    const all = await dbIds(db, `topic = '${topic}'`);
    await waitFor(() => c.rows().some((r) => r.id === all.at(-1)), { message: what });
    assert.deepEqual(ids(c), all, `${what}: every row exactly once, in order`);
  };
  // lone readings and small statements (db/009 puts up to 16 rows in the payload): no fetch
  for (let i = 0; i < 3; i++) await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('${topic}', ${i})`);
  await psql(db.dsn, `INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, 16) g`);
  await caughtUp('rows from the payloads');
  assert.equal(await metric('sensorpipe_rows_notified_total'), 19);
  assert.equal(await metric('sensorpipe_hub_fetches_total'), fetches0, 'no query for rows the NOTIFY carried');
  // a rolled-back statement leaves a hole in the ids: the next payload does not follow the ring, so it is fetched
  await psql(db.dsn, `BEGIN; INSERT INTO readings (topic, value) VALUES ('${topic}', -1); ROLLBACK`);
  await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('${topic}', 100)`);
  await caughtUp('the row after an id gap');
  assert.equal(await metric('sensorpipe_hub_fetches_total'), fetches0 + 1, 'the row after the gap was fetched');
  // a statement of more than 16 rows sends the id range alone: fetched
  await psql(db.dsn, `INSERT INTO readings (topic, value) SELECT '${topic}', g FROM generate_series(1, 17) g`);
  await caughtUp('a 17-row statement');
  assert.equal(await metric('sensorpipe_hub_fetches_total'), fetches0 + 2);
  // a payload serve cannot read is counted, and treated as a doorbell
  await psql(db.dsn, `SELECT pg_notify('new_reading', '{"first": 1, "rows": "x"}')`);
  await waitFor(async () => (await metric('sensorpipe_notifies_reading_bad_total')) === 1, { message: 'the bad payload counted' });
  await waitFor(async () => (await metric('sensorpipe_hub_fetches_total')) === fetches0 + 3, { message: 'its fetch' });
  await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('${topic}', 200)`);
  await caughtUp('a row after a bad payload');
  assert.equal(await metric('sensorpipe_rows_notified_total'), 20, 'back to payload rows after the bad one');
  await c.close();
  assert.equal(await serve.stop(), 0);
  // --notify-rows=false: every NOTIFY is a doorbell, the rows come from the table
  const port2 = await freePort();
  const serve2 = await startServe(db, port2, ['--notify-rows=false']);
  const c2 = await wsConnect(`ws://127.0.0.1:${port2}/ws?history=0`);
  await c2.next((m) => m.type === 'history');
  await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('${topic}', 300)`);
  const last = (await dbIds(db, `topic = '${topic}'`)).at(-1);
  await waitFor(() => c2.rows().some((r) => r.id === last), { message: 'the row through serve --notify-rows=false' });
  const m2 = await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text();
  assert.match(m2, /^sensorpipe_rows_notified_total 0$/m);
  assert.match(m2, /^sensorpipe_rows_fetched_total 1$/m);
  await c2.close();
  assert.equal(await serve2.stop(), 0);
});

test('LISTEN connection killed again and again under a steady write load: nothing lost or doubled', { timeout: 120000 }, async () => {
  const db = await createDatabase('listendrop');
  const port = await freePort();
  const topic = 'listen/temperature/x';
  const serve = await startServe(db, port);
  const writer = writerClient(db);
  await writer.connect();
  const c = await wsConnect(`ws://127.0.0.1:${port}/ws?history=0&topic=${topic}`);
  await c.next((m) => m.type === 'history');
  const w = steadyWriter(writer, topic);
  try {
    for (let i = 0; i < 5; i++) {
      await waitFor(() => c.rows().length > 0, { message: 'rows to flow' });
      const killed = await psql(db.dsn, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'sensorpipe-serve-listen'`);
      assert.equal(killed, '1', `the LISTEN connection was found (round ${i})`);
      await new Promise((r) => setTimeout(r, 400)); // rows are written while it reconnects
      await waitFor(async () => /sensorpipe_db_up\{conn="listen"\} 1/.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), {
        message: 'the LISTEN connection to come back',
      });
    }
  } finally {
    await w.stop();
    await writer.end();
  }
  const all = await dbIds(db, `topic = '${topic}'`);
  await waitFor(() => c.rows().some((r) => r.id === all.at(-1)), { timeout: 30000, message: 'the client to catch up' });
  assert.deepEqual(ids(c), all, 'every row exactly once, in order, across 5 LISTEN drops');
  const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(m, /^sensorpipe_db_reconnects_total\{conn="listen"\} 5$/m);
  assert.match(m, /^sensorpipe_ws_gaps_total 0$/m);
  await c.close();
  assert.equal(await serve.stop(), 0);
});

/*
 * Memory is measured on the optimised build when it is there and up to date: under ASan the
 * allocator's quarantine and bookkeeping grow with every allocation and say nothing about serve.
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

const PAUSED = 20;
const ROWS = 200000;
const RSS_BOUND_MB = 48; // optimised build: measured ~12 MB (8.7 MB idle); ring 16384 rows + one frame per client
const RSS_BOUND_ASAN_MB = 128; // ASan build (quarantine 16 MB): measured ~53 MB, most of it the sanitizer's own
const P99_BOUND_MS = 500;

test(`${PAUSED} paused clients while ${ROWS} rows flow: bounded RSS, low latency for an active client, gaps for the paused`, { timeout: 300000 }, async (t) => {
  const db = await createDatabase('memory');
  const port = await freePort();
  const { bin, asan } = memoryBinary();
  const serve = await startServe(db, port, [], asan ? { env: { ASAN_OPTIONS: 'detect_leaks=1:quarantine_size_mb=16' } } : { bin });
  const rssMb = () => Number(fs.readFileSync(`/proc/${serve.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
  const wsBase = `ws://127.0.0.1:${port}`;
  const topic = 'mem/temperature/dht22';
  const writer = writerClient(db);
  await writer.connect();
  const paused = [];
  try {
    const active = await wsConnect(`${wsBase}/ws?history=0`);
    const lat = [];
    active.ws.on('message', (d) => {
      const now = Date.now();
      const msg = JSON.parse(d.toString());
      const rows = msg.type === 'reading' ? [msg.data] : msg.type === 'readings' ? msg.data : [];
      for (const r of rows) lat.push(now - Date.parse(r.ts));
    });
    await active.next((m) => m.type === 'history');
    for (let i = 0; i < PAUSED; i++) {
      const c = await wsConnect(`${wsBase}/ws?history=0`);
      c.ws.on('error', () => {});
      await c.next((m) => m.type === 'history');
      c.ws._socket.pause(); // never reads again: the kernel buffers fill, then serve's socket for it
      paused.push(c);
    }
    const rss0 = rssMb();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 50);
    // 200k rows in statements of 500, one every 25 ms (about 20k rows/s); ts = the moment of insertion
    const t0 = Date.now();
    let last = 0;
    for (let sent = 0; sent < ROWS; sent += 500) {
      const tick = Date.now();
      const r = await writer.query(
        `INSERT INTO readings (ts, topic, value) SELECT clock_timestamp(), $1, g FROM generate_series(1, 500) g RETURNING id`,
        [topic],
      );
      last = Number(r.rows.at(-1).id);
      const wait = 25 - (Date.now() - tick);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    const insertMs = Date.now() - t0;
    await waitFor(() => active.rows().some((r) => r.id === last), { timeout: 120000, message: 'the active client to receive every row' });
    clearInterval(sampler);
    peak = Math.max(peak, rssMb());

    assert.deepEqual(ids(active), await dbIds(db, 'true'), 'the active client got every row once, in order');
    lat.sort((a, b) => a - b);
    const pct = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))];
    const bound = asan ? RSS_BOUND_ASAN_MB : RSS_BOUND_MB;
    t.diagnostic(
      `${asan ? 'ASan' : 'optimised'} build: RSS ${rss0.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB (bound ${bound}); ` +
        `${ROWS} rows in ${insertMs} ms; latency insert->receipt p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${lat.at(-1)} ms`,
    );
    assert.ok(peak < bound, `serve's RSS peaked at ${peak.toFixed(1)} MB, over the ${bound} MB bound`);
    assert.ok(pct(0.99) < P99_BOUND_MS, `p99 latency ${pct(0.99)} ms, bound ${P99_BOUND_MS} ms`);

    // every paused client was given a gap; taking neither it nor the close frame, it was reset
    // --client-close-ms (1 s) later, freeing its kernel queues (serve.test.mjs: a gap that is taken)
    const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(m, new RegExp(`^sensorpipe_ws_gaps_total ${PAUSED}$`, 'm'));
    await waitFor(async () => /^sensorpipe_ws_clients 1$/m.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), {
      timeout: 5000,
      message: 'serve to reset the paused clients within --client-close-ms of their gap',
    });
    assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), new RegExp(`^sensorpipe_ws_aborted_total ${PAUSED}$`, 'm'));
    for (const c of paused) c.ws._socket.resume();
    for (const [i, c] of paused.entries()) {
      await waitFor(() => c.closed(), { timeout: 30000, message: `paused client ${i} to see its connection end` });
      assert.equal(c.closed().code, 1006, `paused client ${i} was reset, not closed with a close frame`);
      assert.ok(ids(c).length < ids(active).length, `paused client ${i} did not get everything`);
    }
    await active.close();
  } finally {
    for (const c of paused) c.ws.terminate();
    await writer.end();
    assert.equal(await serve.stop(), 0);
  }
});
