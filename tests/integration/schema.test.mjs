// schema.test.mjs - the database contract: migration, partitions, NOTIFY per statement,
// id ordering, the talk's hourly-bucket query, retention. Real PostgreSQL, no sensorpipe daemons.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createDatabase, dsnFor, psql, spawnSensorpipe, waitFor } from '../lib/harness.mjs';

let db;
let listener;
const notes = [];

before(async () => {
  db = await createDatabase('schema');
  listener = new pg.Client({ connectionString: connString(db.name) });
  await listener.connect();
  listener.on('notification', (n) => notes.push(n));
  await listener.query('LISTEN new_reading');
});

after(async () => {
  await listener?.end();
});

function connString(name) {
  return `postgresql://${process.env.PGUSER || 'postgres'}@/${name}?host=${encodeURIComponent(process.env.PGHOST)}&port=${process.env.PGPORT}`;
}

test('migrate is idempotent and records its version', async () => {
  const proc = spawnSensorpipe(['migrate', '--db', db.dsn]);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), /0 migrations applied/);
  assert.equal(await psql(db.dsn, 'SELECT count(*) FROM schema_migrations'), '1');
});

test('readings is time-partitioned with partitions made ahead', async () => {
  const kind = await psql(db.dsn, "SELECT relkind FROM pg_class WHERE relname = 'readings'");
  assert.equal(kind, 'p', 'readings should be a partitioned table on plain PostgreSQL');
  const parts = Number(await psql(db.dsn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass"));
  assert.ok(parts >= 9, `expected yesterday..+7 days plus default, got ${parts} partitions`);
});

test('one NOTIFY per statement, not per row, carrying the id range', async () => {
  notes.length = 0;
  await psql(db.dsn, `INSERT INTO readings (topic, value) SELECT 'n/t/' || g, g FROM generate_series(1, 500) g`);
  await psql(db.dsn, `COPY readings (topic, value) FROM PROGRAM 'printf "c/t/s\\t1\\nc/t/s\\t2\\n"'`);
  await waitFor(() => notes.length >= 2, { message: 'two notifications' });
  const [a, b] = notes.map((n) => JSON.parse(n.payload));
  assert.equal(notes[0].channel, 'new_reading');
  assert.equal(a.count, 500);
  assert.equal(a.last - a.first, 499);
  assert.equal(b.count, 2);
  assert.ok(b.first > a.last, 'ids increase from one statement to the next');
  // nothing more arrives for those two statements: a third statement's notification is the next one
  await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('x/y/z', 1)`);
  await waitFor(() => notes.length >= 3, { message: 'third notification' });
  assert.equal(notes.length, 3);
  assert.equal(JSON.parse(notes[2].payload).count, 1);
});

test("the talk's hourly-bucket query returns the expected averages (date_bin)", async () => {
  await psql(db.dsn, `INSERT INTO readings (ts, topic, value) VALUES
    (date_trunc('hour', now()) - interval '2 hours' + interval '5 min', 'avg/temperature/dht22', 20),
    (date_trunc('hour', now()) - interval '2 hours' + interval '50 min', 'avg/temperature/dht22', 21),
    (date_trunc('hour', now()) - interval '1 hour' + interval '1 min', 'avg/temperature/dht22', 25),
    (date_trunc('hour', now()) - interval '1 hour' + interval '2 min', 'avg/humidity/dht22', 40.5),
    (date_trunc('hour', now()) - interval '30 hours', 'avg/temperature/dht22', 99)`);
  const out = await psql(db.dsn, `
    SELECT date_bin('1 hour', ts, 'epoch') AS hour, topic, ROUND(AVG(value)::numeric, 2) AS avg
    FROM readings
    WHERE ts > NOW() - INTERVAL '24 hours' AND topic LIKE 'avg/%'
    GROUP BY hour, topic
    ORDER BY topic, hour DESC;`);
  const rows = out.split('\n').map((l) => l.split('|'));
  assert.deepEqual(rows.map((r) => [r[1], r[2]]), [
    ['avg/humidity/dht22', '40.50'],
    ['avg/temperature/dht22', '25.00'],
    ['avg/temperature/dht22', '20.50'],
  ]);
});

test('writers are serialised so ids become visible in increasing order', async () => {
  // A transaction that has inserted holds the writers' lock until it ends: a second
  // writer waits instead of taking a higher id and committing first.
  const a = new pg.Client({ connectionString: connString(db.name) });
  const b = new pg.Client({ connectionString: connString(db.name) });
  await a.connect();
  await b.connect();
  try {
    await a.query('BEGIN');
    await a.query(`INSERT INTO readings (topic, value) VALUES ('o/r/a', 1)`);
    let bDone = false;
    const bInsert = b.query(`INSERT INTO readings (topic, value) VALUES ('o/r/b', 2) RETURNING id`).then((r) => {
      bDone = true;
      return r;
    });
    // b must be waiting on the advisory lock, visible in pg_locks
    await waitFor(async () => Number(await psql(db.dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")) === 1,
      { message: 'second writer to wait for the first' });
    assert.equal(bDone, false);
    await a.query('COMMIT');
    const r = await bInsert;
    const aId = Number(await psql(db.dsn, "SELECT id FROM readings WHERE topic = 'o/r/a'"));
    assert.ok(Number(r.rows[0].id) > aId, 'the later commit has the higher id');
  } finally {
    await a.end();
    await b.end();
  }
});

test('rejects and devices tables exist with their columns', async () => {
  await psql(db.dsn, `INSERT INTO rejects (topic, payload, reason) VALUES ('a/b/c', '\\xff00', 'not a number')`);
  assert.equal(await psql(db.dsn, `SELECT encode(payload, 'hex') || ' ' || reason FROM rejects`), 'ff00 not a number');
  await psql(db.dsn, `INSERT INTO devices (device, online) VALUES ('pico', true)`);
  assert.equal(await psql(db.dsn, `SELECT online FROM devices WHERE device = 'pico'`), 't');
});

test('retention drops partitions older than the setting, keeps the rest', async () => {
  const old = new Date(Date.now() - 10 * 86400e3).toISOString().slice(0, 10).replaceAll('-', '');
  await psql(db.dsn, `CREATE TABLE readings_${old} PARTITION OF readings FOR VALUES FROM ('${old}') TO ('${old}'::date + 1)`);
  const proc = spawnSensorpipe(['migrate', '--db', db.dsn, '--retention-days', '3']);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), /1 dropped/);
  assert.equal(await psql(db.dsn, `SELECT to_regclass('readings_${old}') IS NULL`), 't');
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  assert.equal(await psql(db.dsn, `SELECT to_regclass('readings_${today}') IS NOT NULL`), 't');
  // a later run without --retention-days keeps the stored setting
  const again = spawnSensorpipe(['migrate', '--db', db.dsn]);
  assert.equal(await again.exited, 0, again.output());
  assert.equal(await psql(db.dsn, `SELECT value FROM sensorpipe_settings WHERE key = 'retention_days'`), '3');
});

test('several processes migrating an empty database at once all succeed', async () => {
  const name = `race_${process.pid}_${Date.now()}`;
  await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
  const procs = [1, 2, 3, 4].map((i) => spawnSensorpipe(['migrate', '--db', dsnFor(name)], { name: `migrate-${i}` }));
  const codes = await Promise.all(procs.map((p) => p.exited));
  assert.deepEqual(codes, [0, 0, 0, 0], procs.map((p) => p.output()).join('\n'));
  assert.equal(await psql(dsnFor(name), 'SELECT count(*) FROM schema_migrations'), '1');
});
