// ingest_copy.test.mjs - the readings COPY (binary format) lands every value and timestamp exactly, and
// a write holding no PUBACK commits without waiting for the WAL flush (--qos0-async-commit).
//
// Real mosquitto and PostgreSQL; each test has its own database and topic prefix. Synchronisation by
// condition only (rows in the table, lines the ingest logs at --log-level debug).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPipeline, publishLines, waitFor } from '../lib/harness.mjs';

// The advisory lock every writer of readings takes for its transaction (db/001_schema.sql): held from the
// test, it makes the ingest's COPY wait, so what arrives meanwhile goes in one batch.
const WRITERS_LOCK = 7346120001;

let seq = 0;
const prefix = () => `cp${process.pid}x${seq++}`;

/** IEEE 754 bits of a double, as float8send's hex. */
const bitsOf = (v) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.toString('hex');
};

// a payload ts ahead of the receive time, inside the ingest's window (--ts-future-minutes, 10)
const soonMs = Date.now() + 5 * 60e3 + 123;

// payload -> the exact microseconds since the Unix epoch and the exact double expected in the table
// (values within the bound of ±1e15, timestamps within --ts-past-days 36500 given below)
const CASES = [
  { name: 'negative', payload: '{"value": -273.15, "ts": "1969-12-31T23:59:58.5Z"}', us: -1500000n, value: -273.15 },
  { name: 'fraction', payload: '{"value": 0.1, "ts": "2026-11-27T10:00:00.123456Z"}', us: 1795773600123456n, value: 0.1 },
  { name: 'farpast', payload: '{"value": 1e15, "ts": "1930-01-01T00:00:00Z"}', us: -1262304000000000n, value: 1e15 },
  { name: 'ahead', payload: `{"value": -1e15, "ts": "${new Date(soonMs).toISOString()}"}`,
    us: BigInt(soonMs) * 1000n, value: -1e15 },
  { name: 'pgepoch', payload: '{"value": 123456789012345.67, "ts": "2000-01-01T00:00:00Z"}', us: 946684800000000n,
    value: 123456789012345.67 },
  { name: 'epochsecs', payload: '{"value": 5e-324, "ts": 1795773600.5}', us: 1795773600500000n, value: 5e-324 },
  { name: 'minuszero', payload: '-0', us: null, value: -0 },
  { name: 'tiny', payload: ' -0.0001 ', us: null, value: -0.0001 },
];

async function checkExact(qos) {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug', '--ts-past-days', '36500'] });
  try {
    const t = prefix();
    const before = BigInt(Date.now()) * 1000n;
    for (const c of CASES) await p.publish(`${t}/${c.name}/s`, c.payload, { qos });
    await waitFor(async () => Number(await p.psql(`SELECT count(*) FROM readings WHERE topic LIKE '${t}/%'`)) === CASES.length, {
      message: `${CASES.length} readings in the table`,
    });
    const rows = await p.psql(
      `SELECT topic, (extract(epoch FROM ts) * 1000000)::bigint, encode(float8send(value), 'hex') FROM readings ` +
      `WHERE topic LIKE '${t}/%'`);
    const got = Object.fromEntries(rows.split('\n').map((l) => l.split('|')).map(([topic, us, hex]) => [topic, { us: BigInt(us), hex }]));
    const after = BigInt(Date.now()) * 1000n;
    for (const c of CASES) {
      const r = got[`${t}/${c.name}/s`];
      assert.ok(r, `no row for ${c.name}`);
      assert.equal(r.hex, bitsOf(c.value), `value of ${c.name}`);
      if (c.us === null) assert.ok(r.us >= before - 1000000n && r.us <= after + 1000000n, `receive time of ${c.name}: ${r.us}`);
      else assert.equal(r.us, c.us, `ts of ${c.name}`);
    }
    const codes = await p.stop();
    assert.equal(codes.ingest, 0, p.ingest.output());
    return p.ingest.output();
  } finally {
    await p.stop();
  }
}

test('QoS 0: values and timestamps land exactly (negative, fractional, at the value bound, far past, ahead)', async () => {
  const out = await checkExact(0);
  // nothing in these writes waits for a PUBACK: committed without waiting for the WAL flush
  assert.match(out, /wrote \d+ readings in one (COPY|INSERT) \(QoS 0 only: commit without waiting for the WAL flush\)/);
});

test('QoS 1: the same exact values; a write holding a PUBACK waits for the WAL flush', async () => {
  const out = await checkExact(1);
  const writes = out.split('\n').filter((l) => /wrote \d+ readings in one (COPY|INSERT)/.test(l));
  assert.ok(writes.length > 0, out);
  for (const l of writes) assert.doesNotMatch(l, /QoS 0 only/, 'a QoS 1 write committed asynchronously');
});

test('--qos0-async-commit=false: QoS 0 writes wait for the WAL flush too', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug', '--qos0-async-commit=false'] });
  try {
    const t = prefix();
    await p.publish(`${t}/a/b`, '1', { qos: 0 });
    await waitFor(async () => Number(await p.psql(`SELECT count(*) FROM readings WHERE topic = '${t}/a/b'`)) === 1, {
      message: 'the reading in the table',
    });
    // a lone reading: the prepared INSERT of small batches, committed durably like a COPY would be
    assert.match(p.ingest.output(), /wrote 1 readings in one INSERT;/);
    assert.doesNotMatch(p.ingest.output(), /QoS 0 only/);
  } finally {
    await p.stop();
  }
});

test('--insert-max 0: even a lone reading goes by COPY', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug', '--insert-max', '0'] });
  try {
    const t = prefix();
    await p.publish(`${t}/a/b`, '2', { qos: 0 });
    await waitFor(async () => Number(await p.psql(`SELECT count(*) FROM readings WHERE topic = '${t}/a/b'`)) === 1, {
      message: 'the reading in the table',
    });
    assert.match(p.ingest.output(), /wrote 1 readings in one COPY \(QoS 0 only[^\n]*; \d+\.\d{3} ms from send to commit/);
    assert.doesNotMatch(p.ingest.output(), /in one INSERT/);
  } finally {
    await p.stop();
  }
});

test('QoS 0 (asynchronous commit): a row the database refuses is isolated into rejects, the rest written', async () => {
  const p = await startPipeline({ serve: false, ingestArgs: ['--log-level', 'debug'] });
  const locker = new pg.Client({ host: process.env.PGHOST || '127.0.0.1', port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres', database: p.db.name });
  await locker.connect();
  try {
    await p.psql('ALTER TABLE readings ADD CONSTRAINT test_small_values CHECK (value < 1000)');
    // hold the writers' lock so the readings below queue up and go in one batch
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    const t = prefix();
    await p.publish(`${t}/warmup/x`, '1', { qos: 0 });
    await waitFor(() => p.ingest.output().includes(`message on ${t}/warmup/x `), { message: 'the warm-up reading' });
    const values = ['1', '2', '3', '4', '5000', '6', '7', '8', '9', '10'];
    await publishLines(`${t}/check/seq`, values, { qos: 0 });
    await waitFor(() => (p.ingest.output().match(new RegExp(`message on ${t}/check/seq `, 'g')) || []).length === values.length, {
      message: 'the ten readings received',
    });
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);
    await waitFor(async () => Number(await p.psql(`SELECT count(*) FROM rejects WHERE topic = '${t}/check/seq'`)) === 1, {
      message: 'the refused row in rejects',
    });
    await waitFor(async () => Number(await p.psql(`SELECT count(*) FROM readings WHERE topic = '${t}/check/seq'`)) === 9, {
      message: 'the nine good rows',
    });
    assert.match(await p.psql(`SELECT reason FROM rejects WHERE topic = '${t}/check/seq'`), /test_small_values/);
    assert.match(p.ingest.output(), /database refused a batch of \d+ readings/);
    assert.match(p.ingest.output(), /QoS 0 only: commit without waiting for the WAL flush/);
  } finally {
    await locker.end();
    await p.stop();
  }
});
