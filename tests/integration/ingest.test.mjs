// ingest.test.mjs - `sensorpipe ingest` against a real mosquitto and a real PostgreSQL.
//
// Every test uses its own database and its own topic prefix (the broker is shared by
// the whole run, and retained messages of other tests may arrive). Synchronisation is
// by condition only: rows in the database, lines the ingest logs (--log-level debug
// logs "message on <topic>" per delivery), never by sleeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  startPipeline as startHarnessPipeline, spawnSensorpipe, publishLines, psql, dsnFor, waitFor, MQTT_PORT,
  lastStats,
} from '../lib/harness.mjs';

// The advisory lock every writer of readings takes for its transaction (db/001_schema.sql).
// Holding it from a test session makes the ingest's COPY wait: a controllable slow database.
const WRITERS_LOCK = 7346120001;

let seq = 0;
const prefix = () => `it${process.pid}x${seq++}`;

const count = async (p, sql) => Number(await p.psql(sql));

/** Wait until the ingest logged `n` deliveries on topic. */
function waitForDeliveries(proc, topic, n, timeout = 15000) {
  const re = new RegExp(`message on ${topic.replace(/[/$+]/g, '\\$&')} `, 'g');
  return waitFor(() => (proc.output().match(re) || []).length >= n, {
    timeout,
    message: `ingest to receive ${n} messages on ${topic} (got ${(proc.output().match(re) || []).length})`,
  });
}

/**
 * Forget the broker's persistent session of an ingest that has stopped: connect once with its client id
 * and a clean session. The ingest keeps its session across restarts (--clean-session is false by
 * default), and a session left behind on the shared broker would queue every later test's messages.
 */
const dropSession = (clientId, port = MQTT_PORT) =>
  promisify(execFile)('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-i', clientId, '-t', 'sensorpipe/drop-session', '-E'], {
    timeout: 10000,
  });

/** The harness pipeline, whose stop() also drops the ingest's persistent session. */
async function startPipeline(opts) {
  const p = await startHarnessPipeline(opts);
  const stop = p.stop;
  p.stop = async () => {
    const codes = await stop();
    if (p.ingest) await dropSession(`test-ingest-${p.db.name}`);
    return codes;
  };
  return p;
}

/** Remove the retained message on topic (an empty retained publish). */
const clearRetained = (topic) =>
  promisify(execFile)('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(MQTT_PORT), '-t', topic, '-r', '-n']);

/** A client of the test database (for LISTEN and for holding locks). */
async function pgClient(dbName) {
  const c = new pg.Client({
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres',
    database: dbName,
  });
  await c.connect();
  return c;
}

async function stopOk(p) {
  const codes = await p.stop();
  assert.equal(codes.ingest, 0, `ingest exit code ${codes.ingest}:\n${p.ingest.output()}`);
}

test('ASCII and JSON readings land with the right time and value', async () => {
  // the fixed timestamps below stay inside a window of 100 years back
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug', '--ts-past-days', '36500'] });
  try {
    const t = prefix();
    const before = Date.now();
    await p.publish(`${t}/temperature/dht22`, '21.5', { qos: 1 });
    await p.publish(`${t}/humidity/dht22`, '{"value": 40.25, "ts": "2026-11-27T10:00:00Z"}', { qos: 1 });
    await p.publish(`${t}/pressure/bmp280`, '{"value": -3e2, "ts": 1795773600.5}', { qos: 1 });
    await p.publish(`${t}/light/adc`, ' 7 \n', { qos: 1 });
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic LIKE '${t}/%'`)) === 4, {
      message: 'four readings in the table',
    });
    const rows = await p.psql(
      `SELECT topic, value, extract(epoch FROM ts) FROM readings WHERE topic LIKE '${t}/%' ORDER BY id`);
    const parsed = rows.split('\n').map((l) => l.split('|'));
    const byTopic = Object.fromEntries(parsed.map(([topic, value, epoch]) => [topic, { value: Number(value), epoch: Number(epoch) }]));
    assert.equal(byTopic[`${t}/temperature/dht22`].value, 21.5);
    // no ts in the payload: the receive time
    const recv = byTopic[`${t}/temperature/dht22`].epoch * 1000;
    assert.ok(recv >= before - 1000 && recv <= Date.now() + 1000, `receive time ${recv} outside the test's window`);
    assert.equal(byTopic[`${t}/humidity/dht22`].value, 40.25);
    assert.equal(byTopic[`${t}/humidity/dht22`].epoch, 1795773600);
    assert.equal(byTopic[`${t}/pressure/bmp280`].value, -300);
    assert.equal(byTopic[`${t}/pressure/bmp280`].epoch, 1795773600.5);
    assert.equal(byTopic[`${t}/light/adc`].value, 7);
    await stopOk(p);
    const s = lastStats(p.ingest);
    assert.equal(s.written, 4);
  } finally {
    await p.stop();
  }
});

test('refused messages land in rejects with their reason, payload and class', async () => {
  const p = await startPipeline({
    serve: false,
    ingestArgs: ['--log-level', 'debug', '--subscribe', '+/+/+,+/status,#'],
  });
  try {
    const t = prefix();
    const big = '1'.repeat(2048);
    const cases = [
      [`${t}/text/s`, 'twenty-one', 'not a number'],
      [`${t}/nan/s`, 'nan', 'not a number'],
      [`${t}/inf/s`, 'inf', 'not a number'],
      [`${t}/big/s`, big, 'payload too large'],
      [`${t}/novalue/s`, '{"ts": "2026-11-27T10:00:00Z"}', 'JSON payload needs a numeric "value"'],
      [`${t}/badts/s`, '{"value": 1, "ts": "yesterday"}', '"ts" is not RFC 3339'],
      [`${t}/a/b/c`, '1', 'topic must be <device>/<metric>/<sensor>'],
      [`${t}/b`, '1', 'topic must be <device>/<metric>/<sensor>'],
      [`${t}café/t/s`, '1', 'topic has a character outside printable ASCII'],
      [`${t}/status`, 'maybe', 'status payload must be "online" or "offline"'],
    ];
    for (const [topic, payload] of cases) await p.publish(topic, payload, { qos: 1 });
    await waitFor(async () => (await count(p, `SELECT count(*) FROM rejects WHERE topic LIKE '${t}%'`)) === cases.length, {
      message: `${cases.length} rejects`,
    });
    const rows = (await p.psql(
      `SELECT topic, reason, length(payload), encode(payload, 'escape') FROM rejects WHERE topic LIKE '${t}%'`))
      .split('\n').map((l) => l.split('|'));
    const byTopic = Object.fromEntries(rows.map(([topic, reason, len, payload]) => [topic, { reason, len: Number(len), payload }]));
    for (const [topic, payload, reason] of cases) {
      const r = byTopic[topic];
      assert.ok(r, `no reject for ${topic}; got ${JSON.stringify(Object.keys(byTopic))}`);
      assert.equal(r.reason, reason, `reason for ${topic}`);
      assert.equal(r.len, Buffer.byteLength(payload), `payload length for ${topic}`);
      if (payload.length < 100) assert.equal(r.payload, payload);
    }
    // nothing was stored as a reading or a device
    assert.equal(await count(p, `SELECT count(*) FROM readings WHERE topic LIKE '${t}%'`), 0);
    assert.equal(await count(p, `SELECT count(*) FROM devices WHERE device LIKE '${t}%'`), 0);
    await stopOk(p);
    const s = lastStats(p.ingest);
    assert.ok(s.payload >= 6 && s.topic >= 3 && s.status >= 1, `reject classes counted: ${JSON.stringify(s)}`);
    assert.equal(s.rejects_lost, 0);
  } finally {
    await p.stop();
  }
});

test('presence online/offline upserts devices', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const t = prefix();
  try {
    await p.publish(`${t}/status`, 'online', { qos: 1, retain: true });
    await waitFor(async () => (await p.psql(`SELECT online FROM devices WHERE device = '${t}'`)) === 't', {
      message: `${t} online in devices`,
    });
    await p.publish(`${t}/status`, 'offline', { qos: 1 });
    await waitFor(async () => (await p.psql(`SELECT online FROM devices WHERE device = '${t}'`)) === 'f', {
      message: `${t} offline in devices`,
    });
    assert.equal(await count(p, `SELECT count(*) FROM devices WHERE device = '${t}'`), 1);
    await stopOk(p);
  } finally {
    await p.stop();
    await clearRetained(`${t}/status`); // for the tests that come later
  }
});

test('2000 readings published quickly go in far fewer statements, none lost', async (tc) => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const listener = await pgClient(p.db.name);
  const locker = await pgClient(p.db.name);
  try {
    let notifications = 0;
    let notified = 0;
    listener.on('notification', (n) => {
      notifications++;
      notified += JSON.parse(n.payload).count;
    });
    await listener.query('LISTEN new_reading');
    const t = prefix();
    const N = 2000;
    const lines = Array.from({ length: N }, (_, i) => String(i));
    // A database slower than the publisher, made deterministic: the writers' lock is held while the
    // readings arrive, so they pile up behind the first COPY (how fast the publisher is on a loaded
    // machine no longer decides the batch sizes). While nothing commits, the PUBACKs are held and the
    // broker sends about its inflight window (max_inflight_messages, 1000 in scripts/mosquitto.sh) of
    // unacknowledged QoS 1 messages; the rest follows as commits release their PUBACKs.
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    await publishLines(`${t}/load/seq`, lines, { qos: 1 });
    await waitForDeliveries(p.ingest, `${t}/load/seq`, 500);
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/load/seq'`)) === N, {
      timeout: 30000,
      message: `${N} readings in the table`,
    });
    await waitFor(() => notified === N, { message: `NOTIFYs covering ${N} rows (got ${notified})` });
    // every value exactly once
    assert.equal(await count(p, `SELECT count(DISTINCT value) FROM readings WHERE topic = '${t}/load/seq'`), N);
    assert.equal(await p.psql(`SELECT min(value)::int || '-' || max(value)::int FROM readings WHERE topic = '${t}/load/seq'`), `0-${N - 1}`);
    await stopOk(p);
    const s = lastStats(p.ingest);
    tc.diagnostic(`${N} readings in ${s.batches} COPY statements, largest ${s.max_batch} rows`);
    assert.equal(s.written, N);
    assert.equal(s.batches, notifications, 'one NOTIFY per COPY statement');
    assert.ok(s.batches <= N / 10, `expected far fewer statements than rows: ${s.batches} statements, max batch ${s.max_batch}`);
  } finally {
    await listener.end();
    await locker.end();
    await p.stop();
  }
});

test('the rollups follow what the ingest writes: its catch-up adds the committed rows and moves the mark', async () => {
  const p = await startPipeline({ serve: false });
  try {
    const t = prefix();
    const lines = Array.from({ length: 40 }, (_, i) => String(i / 4));
    await publishLines(`${t}/temperature/roll`, lines, { qos: 1 });
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/temperature/roll'`)) === 40, {
      message: '40 readings in the table',
    });
    // no trigger writes the rollups (db/011): the ingest's catch-up, about once a second, does
    await waitFor(async () => (await count(p, `SELECT coalesce(sum(n), 0) FROM readings_minutely WHERE topic = '${t}/temperature/roll'`)) === 40, {
      timeout: 10000,
      message: 'the catch-up to add the 40 readings to readings_minutely',
    });
    assert.equal(await p.psql(`SELECT sum(n) || ' ' || sum(sum) FROM readings_hourly WHERE topic = '${t}/temperature/roll'`), '40 195');
    assert.equal(await p.psql('SELECT last_id = (SELECT max(id) FROM readings) FROM sensorpipe_rollup_mark'), 't');
    // its own connection, beside the writer's: when it is cut, it comes back and catches up what was written meanwhile
    assert.equal(await p.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE application_name = 'sensorpipe-ingest-rollup' AND datname = current_database()`), '1');
    await waitFor(() => /rollup connection lost/.test(p.ingest.output()), { message: 'the ingest to see its rollup connection go' });
    await publishLines(`${t}/temperature/roll`, ['100', '200'], { qos: 1 });
    await waitFor(async () => (await count(p, `SELECT coalesce(sum(n), 0) FROM readings_hourly WHERE topic = '${t}/temperature/roll'`)) === 42, {
      timeout: 15000,
      message: 'the catch-up to add the 2 later readings after its reconnect',
    });
    assert.equal(await p.psql(`SELECT count(*) FROM readings WHERE topic = '${t}/temperature/roll'`), '42');
    await stopOk(p);
    const s = lastStats(p.ingest);
    assert.ok(s.rolled_up >= 42 && s.rollup_runs >= 2, `stats: rolled_up=${s.rolled_up} rollup_runs=${s.rollup_runs}`);
    assert.equal(s.db_reconnects, 0, 'the writer kept its connection');
  } finally {
    await p.stop();
  }
});

test('SIGTERM flushes every queued reading, then exits 0', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const locker = await pgClient(p.db.name);
  try {
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    const t = prefix();
    const N = 50;
    await publishLines(`${t}/flush/seq`, Array.from({ length: N }, (_, i) => String(i)), { qos: 1 });
    await waitForDeliveries(p.ingest, `${t}/flush/seq`, N);
    assert.equal(await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/flush/seq'`), 0);
    p.ingest.child.kill('SIGTERM');
    await p.ingest.waitForOutput(/stopping: flushing/);
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    const code = await p.ingest.exited;
    assert.equal(code, 0, p.ingest.output());
    assert.match(p.ingest.output(), /stopped: everything received was written/);
    assert.equal(await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/flush/seq'`), N);
    const s = lastStats(p.ingest);
    // the first COPY took what one wake-up read; all that came while it was blocked went in the next
    assert.ok(s.batches <= 2, `batches=${s.batches}\n${p.ingest.output()}`);
    assert.equal(s.written, N);
  } finally {
    await locker.end();
    await p.stop();
  }
});

test('a batch whose connection dies is written after the reconnect, once', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const locker = await pgClient(p.db.name);
  try {
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    const t = prefix();
    const N = 20;
    await publishLines(`${t}/retry/seq`, Array.from({ length: N }, (_, i) => String(i)), { qos: 1 });
    await waitForDeliveries(p.ingest, `${t}/retry/seq`, N);
    // the ingest's COPY is waiting for the lock: kill its connection under it
    const killed = await waitFor(async () => Number(await p.psql(
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '${p.db.name}' ` +
      `AND application_name = 'sensorpipe-ingest' AND wait_event_type = 'Lock'`)), { message: 'the ingest COPY waiting on the lock' });
    assert.equal(killed, 1);
    await p.ingest.waitForOutput(/database connection lost/);
    await waitFor(() => (p.ingest.output().match(/database connected/g) || []).length >= 2, {
      timeout: 15000,
      message: 'the ingest to reconnect to the database',
    });
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/retry/seq'`)) === N, {
      message: `${N} readings after the reconnect`,
    });
    await stopOk(p);
    assert.equal(await count(p, `SELECT count(DISTINCT value) FROM readings WHERE topic = '${t}/retry/seq'`), N);
    const s = lastStats(p.ingest);
    assert.equal(s.db_reconnects, 1);
    assert.equal(s.written, N);
  } finally {
    await locker.end();
    await p.stop();
  }
});

test('a full queue pauses MQTT reads (counted) and loses nothing', async () => {
  const p = await startPipeline({
    serve: false,
    ingestArgs: ['--log-level', 'debug', '--queue-max', '16', '--batch-max', '4'],
  });
  const locker = await pgClient(p.db.name);
  try {
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    const t = prefix();
    const N = 200;
    await publishLines(`${t}/bp/seq`, Array.from({ length: N }, (_, i) => String(i)), { qos: 1 });
    await p.ingest.waitForOutput(/queue full .*pausing MQTT reads/);
    // reading stopped near the bound: the rest waits in the broker / socket, not in the ingest
    const delivered = (p.ingest.output().match(new RegExp(`message on ${t}/bp/seq `, 'g')) || []).length;
    assert.ok(delivered <= 16, `ingest took ${delivered} messages with --queue-max 16`);
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/bp/seq'`)) === N, {
      timeout: 30000,
      message: `${N} readings after the queue drained`,
    });
    await stopOk(p);
    const s = lastStats(p.ingest);
    assert.ok(s.queue_paused >= 1, `queue_paused=${s.queue_paused}`);
    assert.equal(s.overflow, 0);
    assert.ok(s.max_batch <= 4, `max_batch=${s.max_batch} with --batch-max 4`);
    assert.equal(s.written, N);
  } finally {
    await locker.end();
    await p.stop();
  }
});

test('a database that is not there yet does not stop MQTT; queued readings go in when it comes', async () => {
  const name = `${prefix()}_late`;
  const dsn = dsnFor(name);
  const ingest = spawnSensorpipe(['ingest', '--db', dsn, '--mqtt-port', String(MQTT_PORT),
    '--mqtt-client-id', `test-ingest-${name}`, '--log-level', 'debug'], { name: 'ingest' });
  try {
    await ingest.waitForOutput(/subscribed/i);
    await ingest.waitForOutput(/database connection failed/);
    const t = prefix();
    await publishLines(`${t}/late/seq`, ['1', '2', '3'], { qos: 1 });
    await waitForDeliveries(ingest, `${t}/late/seq`, 3);
    await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
    // --migrate (default) creates the schema at the first connection
    await ingest.waitForOutput(/database connected/, { timeout: 40000 });
    await waitFor(async () => Number(await psql(dsn, `SELECT count(*) FROM readings WHERE topic = '${t}/late/seq'`)) === 3, {
      message: 'the three queued readings',
    });
    assert.equal(await ingest.stop(), 0);
  } finally {
    await ingest.stop();
    await dropSession(`test-ingest-${name}`);
  }
});

test('a row the database refuses is narrowed down and kept in rejects; the rest of its batch is written', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const locker = await pgClient(p.db.name);
  try {
    // a constraint the ingest cannot know about: the database refuses one row of the batch (SQLSTATE 23514)
    await p.psql('ALTER TABLE readings ADD CONSTRAINT test_small_values CHECK (value < 1000)');
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    const t = prefix();
    await p.publish(`${t}/warmup/x`, '1', { qos: 1 }); // the first write: it blocks on the lock
    await waitForDeliveries(p.ingest, `${t}/warmup/x`, 1);
    const values = ['1', '2', '3', '4', '5000', '6', '7', '8', '9', '10'];
    await publishLines(`${t}/check/seq`, values, { qos: 1 });
    await waitForDeliveries(p.ingest, `${t}/check/seq`, values.length);
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await waitFor(async () => (await count(p, `SELECT count(*) FROM rejects WHERE topic = '${t}/check/seq'`)) === 1, {
      message: 'the refused row in rejects',
    });
    await waitFor(async () => (await count(p, `SELECT count(*) FROM readings WHERE topic = '${t}/check/seq'`)) === 9, {
      message: 'the nine good rows',
    });
    const [reason, payload] = (await p.psql(
      `SELECT reason, convert_from(payload, 'UTF8') FROM rejects WHERE topic = '${t}/check/seq'`)).split('|');
    assert.match(reason, /^database refused the row: .*test_small_values/);
    assert.equal(JSON.parse(payload).value, 5000);
    await stopOk(p);
    const s = lastStats(p.ingest);
    assert.equal(s.database, 1);
    assert.equal(s.written, 10);
    assert.equal(s.db_reconnects, 0, 'a data error is not a connection problem');
  } finally {
    await locker.end();
    await p.stop();
  }
});
