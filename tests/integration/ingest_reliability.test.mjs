// ingest_reliability.test.mjs - "Delivery you can trust": QoS 1 readings survive SIGKILL, a database
// outage, a broker restart and SIGTERM (docs/RELIABILITY.md, "Broker to table: at-least-once").
//
// Every case publishes numbered readings (payload n = 1..K, one topic per test) with QoS 1 through
// mosquitto_pub -l in batches of at most 500 lines, each batch awaited (exit 0 = the broker took every
// message), and checks that every number reached the readings table. The ingest runs with a fixed
// client id and a persistent session, so the broker keeps what the ingest has not acknowledged.
// Faults are injected at moments chosen by progress (rows in the table, lines in the log); the only
// delays are short random ones before a kill, as fault timing. Persistent sessions are dropped at the
// end of each test so they do not queue the messages of later tests on the shared broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  ROOT, MQTT_PORT, createDatabase, freePort, psql, publishLines, spawnSensorpipe, waitFor,
  allStats, lastStats,
} from '../lib/harness.mjs';

const execFileP = promisify(execFile);
const WRITERS_LOCK = 7346120001; // db/001_schema.sql: every writer of readings takes it for its transaction

let seq = 0;
const prefix = () => `rel${process.pid}x${seq++}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randomDelay = (maxMs) => sleep(Math.floor(Math.random() * maxMs)); // fault timing only

/** Forget the broker's persistent session of a stopped ingest (connect once with a clean session). */
const dropSession = (clientId, port = MQTT_PORT) =>
  execFileP('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-i', clientId, '-t', 'sensorpipe/drop-session', '-E'], {
    timeout: 10000,
  });

/** Numbers from..to as lines. */
const numbers = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** Publish 1..k (QoS 1) in batches of `batch` lines, one mosquitto_pub each, each awaited. */
async function publishNumbered(topic, from, to, { port = MQTT_PORT, batch = 500 } = {}) {
  for (let a = from; a <= to; a += batch) await publishLines(topic, numbers(a, Math.min(to, a + batch - 1)), { qos: 1, port });
}

/** Rows, distinct values, smallest and largest value on topic. */
async function tally(dsn, topic) {
  const [rows, distinct, min, max] = (await psql(dsn,
    `SELECT count(*), count(DISTINCT value), coalesce(min(value), 0)::bigint, coalesce(max(value), 0)::bigint FROM readings WHERE topic = '${topic}'`))
    .split('|').map(Number);
  return { rows, distinct, min, max, duplicates: rows - distinct };
}

/** Wait until every value 1..k is in the table; the message says what is missing. */
async function waitAllPresent(dsn, topic, k, timeout = 60000) {
  let last = null;
  await waitFor(async () => {
    last = await tally(dsn, topic);
    return last.distinct === k;
  }, { timeout, every: 100, message: `all ${k} values on ${topic} (last: ${JSON.stringify(last)})` });
  const t = await tally(dsn, topic);
  assert.equal(t.min, 1);
  assert.equal(t.max, k);
  return t;
}

/** An ingest with a fixed client id and a persistent session (the defaults spelled out). */
function startIngest({ dsn, clientId, topic, port = MQTT_PORT, args = [], name = 'ingest' }) {
  return spawnSensorpipe(['ingest', '--db', dsn, '--mqtt-port', String(port), '--mqtt-client-id', clientId,
    '--no-clean-session', '--qos', '1', '--subscribe', topic, '--stats-interval', '1', ...args], { name });
}

async function started(proc) {
  await proc.waitForOutput(/subscribed to/, { timeout: 30000 });
  return proc;
}

async function stopOk(proc) {
  const code = await proc.stop();
  assert.equal(code, 0, `ingest exit code ${code}:\n${proc.output().slice(-4000)}`);
  assert.match(proc.output(), /stopped: everything received was written/);
}

/** A private mosquitto (scripts/mosquitto.sh: persistence on) that a test may restart. */
async function privateBroker() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sensorpipe-broker-'));
  const port = await freePort();
  const script = path.join(ROOT, 'scripts/mosquitto.sh');
  const b = {
    dir,
    port,
    start: () => execFileP(script, ['start', dir, String(port)], { timeout: 20000 }),
    stop: () => execFileP(script, ['stop', dir], { timeout: 20000 }),
    log: async () => (await execFileP('tail', ['-n', '30', path.join(dir, 'mosquitto.log')]).catch(() => ({ stdout: '' }))).stdout,
    async remove() {
      await b.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await b.start();
  return b;
}

/** A private PostgreSQL cluster (scripts/pg.sh) that a test may stop and start. */
async function privatePostgres() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sensorpipe-pg-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const script = path.join(ROOT, 'scripts/pg.sh');
  const env = { ...process.env, PG_FSYNC: 'off' };
  const c = {
    dir,
    port,
    dsn: (db) => `host=${dir} port=${port} user=postgres dbname=${db}`,
    start: () => execFileP(script, ['start', dir, String(port)], { env, timeout: 120000 }),
    stop: () => execFileP(script, ['stop', dir], { env, timeout: 60000 }),
    async remove() {
      await c.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await c.start();
  return c;
}

test('SIGKILL at random moments: every QoS 1 reading is stored at least once', async (tc) => {
  const db = await createDatabase('rel_kill');
  const t = prefix();
  const topic = `${t}/kill/seq`;
  const clientId = `test-rel-${db.name}`;
  const K = 5000;
  const KILLS = 5;
  const BATCH_MAX = 1000;
  const procs = [];
  const launch = async () => {
    const p = startIngest({ dsn: db.dsn, clientId, topic, args: ['--batch-max', String(BATCH_MAX)], name: `ingest#${procs.length + 1}` });
    procs.push(p);
    return started(p);
  };
  try {
    let ingest = await launch(); // the session exists before anything is published
    const publishing = publishNumbered(topic, 1, K);
    for (let k = 1; k <= KILLS; k++) {
      // kill while readings are flowing: after a share of them is in the table, at a random moment
      const target = Math.floor((k * K) / (KILLS + 2));
      await waitFor(async () => (await tally(db.dsn, topic)).rows >= target, {
        timeout: 60000, every: 20, message: `${target} rows before kill ${k}`,
      });
      await randomDelay(50);
      ingest.child.kill('SIGKILL');
      assert.equal(await ingest.exited, 'signal SIGKILL');
      tc.diagnostic(`kill ${k}: ${(await tally(db.dsn, topic)).rows} rows in the table`);
      ingest = await launch(); // same client id: the broker resumes the session
      assert.match(ingest.output(), /persistent session, resumed/);
    }
    await publishing;
    const final = await waitAllPresent(db.dsn, topic, K);
    await stopOk(ingest);
    tc.diagnostic(`${K} readings, ${KILLS} SIGKILLs: ${final.rows} rows, ${final.duplicates} duplicates ` +
      '(rows committed whose PUBACK had not reached the broker when the process died)');
    assert.equal(final.distinct, K);
    // duplicates come only from the moment of each kill: rows committed (the statement in flight
    // included) whose PUBACKs had not reached the broker; at most one statement's worth per kill
    assert.ok(final.duplicates <= KILLS * BATCH_MAX, `${final.duplicates} duplicates`);
  } finally {
    for (const p of procs) await p.stop('SIGKILL');
    await dropSession(clientId);
  }
});

test('the database unreachable for a while: nothing lost, memory bounded by --queue-max', async (tc) => {
  const cluster = await privatePostgres();
  const t = prefix();
  const topic = `${t}/dbdown/seq`;
  const clientId = `test-rel-dbdown-${t}`;
  const K = 3000;
  const QUEUE_MAX = 500;
  const OUTAGE_MS = Number(process.env.RELIABILITY_DB_OUTAGE_MS || 5000);
  let ingest;
  try {
    await psql(cluster.dsn('postgres'), 'CREATE DATABASE rel');
    const dsn = cluster.dsn('rel');
    ingest = await started(startIngest({ dsn, clientId, topic, args: ['--queue-max', String(QUEUE_MAX)] }));
    await ingest.waitForOutput(/database connected/, { timeout: 30000 });
    await publishNumbered(topic, 1, 500);
    await waitFor(async () => (await tally(dsn, topic)).rows === 500, { timeout: 30000, message: 'the first 500 rows' });

    // outage: the cluster is stopped (connections refused); publishing goes on
    await cluster.stop();
    const downAt = Date.now();
    await ingest.waitForOutput(/database connection lost|database connection failed/, { timeout: 30000 });
    await publishNumbered(topic, 501, K);
    // the ingest took what it may hold, then stopped reading: the rest waits at the broker
    await ingest.waitForOutput(/queue full .*pausing MQTT reads/, { timeout: 30000 });
    const rest = OUTAGE_MS - (Date.now() - downAt);
    if (rest > 0) await sleep(rest); // the outage's length is the fault, not a synchronisation
    const during = allStats(ingest);
    await cluster.start();
    const final = await waitAllPresent(dsn, topic, K, 120000);
    await stopOk(ingest);

    const s = lastStats(ingest);
    const maxQueued = Math.max(...allStats(ingest).map((x) => x.queued), s.max_queued);
    tc.diagnostic(`outage ${Date.now() - downAt} ms: queue peak ${s.max_queued} (limit ${QUEUE_MAX}), ` +
      `PUBACKs held at most ${s.max_held_acks}, pauses ${s.queue_paused}, db reconnects ${s.db_reconnects}, ` +
      `${during.length} stats lines during the outage; ${final.rows} rows, ${final.duplicates} duplicates`);
    assert.equal(final.rows, K, 'no duplicates without a crash');
    assert.ok(s.max_queued <= QUEUE_MAX && maxQueued <= QUEUE_MAX, `queue peak ${s.max_queued} > --queue-max ${QUEUE_MAX}`);
    assert.ok(s.queue_paused >= 1, `queue_paused=${s.queue_paused}`);
    // every held PUBACK is a message whose row is queued: bounded with the queue
    assert.ok(s.max_held_acks <= QUEUE_MAX, `held PUBACKs ${s.max_held_acks} beyond --queue-max ${QUEUE_MAX}`);
    assert.ok(s.db_reconnects >= 1, `db_reconnects=${s.db_reconnects}`);
    assert.equal(s.overflow, 0);
    assert.equal(s.rejects_lost, 0);
  } finally {
    if (ingest) await ingest.stop('SIGKILL');
    await dropSession(clientId);
    await cluster.remove();
  }
});

test('a broker restart mid-run: unacknowledged messages come back, nothing lost, copies not stored twice', async (tc) => {
  const broker = await privateBroker();
  const db = await createDatabase('rel_broker');
  const t = prefix();
  const topic = `${t}/broker/seq`;
  const clientId = `test-rel-${db.name}`;
  const K = 3000;
  const locker = new pg.Client({
    host: process.env.PGHOST || '127.0.0.1', port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres', database: db.name,
  });
  await locker.connect();
  let ingest;
  try {
    ingest = await started(startIngest({ dsn: db.dsn, clientId, topic, port: broker.port, args: ['--log-level', 'debug'] }));
    await publishNumbered(topic, 1, 1000, { port: broker.port });
    await waitFor(async () => (await tally(db.dsn, topic)).rows === 1000, { timeout: 30000, message: 'the first 1000 rows' });

    // the database stalls: the next readings are received, queued, their PUBACKs held
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    await publishNumbered(topic, 1001, 1500, { port: broker.port });
    await waitFor(() => (ingest.output().match(new RegExp(`message on ${topic} `, 'g')) || []).length >= 1500, {
      timeout: 30000, message: 'the ingest to receive 1500 messages',
    });
    // the broker goes down (persisting the session with its unacknowledged messages) and comes back
    await broker.stop();
    await ingest.waitForOutput(/connection lost/, { timeout: 30000 });
    await broker.start();
    await ingest.waitForOutput(/persistent session, resumed/, { timeout: 60000 });
    // the copies it sends again of what is still queued are recognised
    await ingest.waitForOutput(/is a redelivery of one already queued or stored/, { timeout: 30000 });
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await publishNumbered(topic, 1501, K, { port: broker.port });
    const final = await waitAllPresent(db.dsn, topic, K);
    await stopOk(ingest);
    const s = lastStats(ingest);
    tc.diagnostic(`${K} readings across a broker restart: ${final.rows} rows, ${final.duplicates} duplicates; ` +
      `redelivered copies skipped ${s.duplicates_skipped}, held PUBACKs discarded with the connection ${s.acks_discarded}, ` +
      `mqtt reconnects ${s.mqtt_reconnects}`);
    assert.equal(final.rows, K, 'redelivered copies are not stored twice');
    assert.ok(s.duplicates_skipped >= 1, `duplicates_skipped=${s.duplicates_skipped}`);
    assert.ok(s.mqtt_reconnects >= 1);
  } catch (e) {
    process.stderr.write(`--- broker log:\n${await broker.log()}\n`);
    throw e;
  } finally {
    await locker.end();
    if (ingest) await ingest.stop('SIGKILL');
    await broker.remove();
  }
});

test('SIGTERM and restart: nothing lost, no duplicates', async (tc) => {
  const db = await createDatabase('rel_term');
  const t = prefix();
  const topic = `${t}/term/seq`;
  const clientId = `test-rel-${db.name}`;
  const K = 3000;
  const STOPS = 3;
  const procs = [];
  const launch = async () => {
    const p = startIngest({ dsn: db.dsn, clientId, topic, name: `ingest#${procs.length + 1}` });
    procs.push(p);
    return started(p);
  };
  try {
    let ingest = await launch();
    const publishing = publishNumbered(topic, 1, K);
    for (let k = 1; k <= STOPS; k++) {
      const target = Math.floor((k * K) / (STOPS + 2));
      await waitFor(async () => (await tally(db.dsn, topic)).rows >= target, {
        timeout: 60000, every: 20, message: `${target} rows before stop ${k}`,
      });
      await randomDelay(50);
      await stopOk(ingest); // flush, release the PUBACKs, DISCONNECT, exit 0
      ingest = await launch();
    }
    await publishing;
    const final = await waitAllPresent(db.dsn, topic, K);
    await stopOk(ingest);
    tc.diagnostic(`${K} readings, ${STOPS} SIGTERM restarts: ${final.rows} rows, ${final.duplicates} duplicates`);
    assert.equal(final.rows, K, 'a clean stop acknowledges exactly what it wrote');
  } finally {
    for (const p of procs) await p.stop('SIGKILL');
    await dropSession(clientId);
  }
});
