// schema.test.mjs - the database contract: migration, partitions, NOTIFY per statement,
// id ordering, the talk's hourly-bucket query, the hourly and minute rollups (triggers,
// backfill of a database made by 001, rebuild), retention. Real PostgreSQL, no sensorpipe daemons.
//
// Both paths of the schema (docs/TIMESCALEDB.md): where 001 made readings a TimescaleDB
// hypertable (the extension is in the database, as 001 and 002-004 detect it), the tests
// assert the hypertable details (chunks, drop_chunks, no rollup triggers, rollups 'off')
// instead of the plain-PostgreSQL ones (partitions, triggers, rollups kept). CI runs plain
// PostgreSQL; the TimescaleDB path runs by hand against a cluster with timescaledb preloaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { ROOT, createDatabase, dsnFor, psql, spawnSensorpipe, waitFor } from '../lib/harness.mjs';

// db/NNN_*.sql, by version
const VERSIONS = readdirSync(path.join(ROOT, 'db')).filter((f) => /^\d{3}_.*\.sql$/.test(f)).map((f) => Number(f.slice(0, 3))).sort((a, b) => a - b);
const MIGRATIONS = VERSIONS.length;

// Rows of readings_hourly and readings_minutely that differ from the rollups recomputed from
// readings (0 = both consistent). Test values are multiples of 1/4, so sums are exact in any order.
const diff = (table, width) => `(SELECT count(*) FROM (
  (SELECT bucket, topic, n, sum, min, max FROM ${table}
   EXCEPT ALL SELECT date_bin('${width}', ts, 'epoch'), topic, count(*), sum(value), min(value), max(value) FROM readings GROUP BY 1, 2)
  UNION ALL
  (SELECT date_bin('${width}', ts, 'epoch'), topic, count(*), sum(value), min(value), max(value) FROM readings GROUP BY 1, 2
   EXCEPT ALL SELECT bucket, topic, n, sum, min, max FROM ${table})) d)`;
const ROLLUP_DIFF = `SELECT ${diff('readings_hourly', '1 hour')} + ${diff('readings_minutely', '1 minute')}`;

let db;
let listener;
const notes = [];
let timescale = false; // the path the migration took: a hypertable (true) or native partitions

// true when the timescaledb extension is in that database, the test 001 and 002-004 make
const onTimescale = async (dsn) =>
  (await psql(dsn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")) === '1';

before(async () => {
  db = await createDatabase('schema');
  timescale = await onTimescale(db.dsn);
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

test('migrate is idempotent and records its version', async (t) => {
  t.diagnostic(`schema path: ${timescale ? 'TimescaleDB hypertable' : 'plain PostgreSQL partitions'}`);
  const proc = spawnSensorpipe(['migrate', '--db', db.dsn]);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), /0 migrations applied/);
  assert.equal(await psql(db.dsn, 'SELECT count(*) FROM schema_migrations'), String(MIGRATIONS));
  assert.equal(await psql(db.dsn, 'SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_migrations'), VERSIONS.join(','));
});

test('readings is time-partitioned with partitions made ahead', async () => {
  const kind = await psql(db.dsn, "SELECT relkind FROM pg_class WHERE relname = 'readings'");
  if (timescale) {
    // a plain table turned into a hypertable of 1-day chunks on ts
    assert.equal(kind, 'r', 'readings should be a hypertable (an ordinary table to the catalog)');
    assert.equal(await psql(db.dsn, `SELECT num_dimensions FROM timescaledb_information.hypertables
      WHERE hypertable_name = 'readings'`), '1');
    assert.equal(await psql(db.dsn, `SELECT column_name || ' ' || time_interval FROM timescaledb_information.dimensions
      WHERE hypertable_name = 'readings'`), 'ts 1 day');
    assert.equal(await psql(db.dsn, "SELECT to_regclass('readings_default') IS NULL"), 't');
    return;
  }
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
  // db/009: a small statement carries its rows ([id, ts in µs, topic, value], in id order); a large one does not
  assert.equal(a.rows, undefined, 'a 500-row statement sends the id range alone');
  assert.equal(b.rows.length, 2);
  assert.deepEqual(b.rows.map((r) => [r[0], r[2], r[3]]), [[b.first, 'c/t/s', 1], [b.last, 'c/t/s', 2]]);
  const stored = await psql(db.dsn, `SELECT (extract(epoch FROM ts) * 1000000)::bigint FROM readings WHERE id = ${b.first}`);
  assert.equal(String(b.rows[0][1]), stored.trim(), 'ts_us is the stored ts, exactly');
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

test('the hourly and minute rollups take every committed INSERT and COPY at the catch-up', async () => {
  const on = timescale ? 'off' : 'on'; // no rollup on a hypertable: the API reads raw rows
  assert.equal(await psql(db.dsn, "SELECT value FROM sensorpipe_settings WHERE key = 'hourly_rollup'"), on);
  assert.equal(await psql(db.dsn, "SELECT value FROM sensorpipe_settings WHERE key = 'minute_rollup'"), on);
  // rows over 5 hours, 3 topics, several statements adding to the same (hour, topic) rows
  for (let k = 0; k < 3; k++) {
    await psql(db.dsn, `INSERT INTO readings (ts, topic, value)
      SELECT timestamptz '2026-03-01T10:00:00Z' + (g * 37 + ${k}) * interval '1 minute' / 7,
             'roll/t/' || (g % 3), ((g * 13 + ${k}) % 97) / 4.0
      FROM generate_series(1, 300) g`);
  }
  await psql(db.dsn, `COPY readings (ts, topic, value) FROM PROGRAM 'printf "2026-03-01T10:59:59.999999Z\troll/t/0\t-7.25\n2026-03-01T11:00:00Z\troll/t/0\t1000\n"'`);
  await psql(db.dsn, `BEGIN; INSERT INTO readings (ts, topic, value) VALUES ('2026-03-01T12:30:00Z', 'roll/t/1', 0.5);
    INSERT INTO readings (ts, topic, value) VALUES ('2026-03-01T12:31:00Z', 'roll/t/1', -0.5); COMMIT;`);
  // a statement that fails leaves the rollup as it was
  await assert.rejects(psql(db.dsn, `INSERT INTO readings (ts, topic, value) VALUES ('2026-03-01T12:32:00Z', 'roll/t/1', 1), (now(), NULL, 2)`));
  const trig = await psql(db.dsn, `SELECT tgname, tgtype, tgnewtable FROM pg_trigger
    WHERE tgrelid = 'readings'::regclass AND NOT tgisinternal ORDER BY tgname`);
  assert.match(trig, /readings_notify\|4\|new_rows/); // AFTER INSERT FOR EACH STATEMENT
  assert.match(trig, /readings_serialise\|6\|/); // BEFORE INSERT FOR EACH STATEMENT
  assert.doesNotMatch(trig, /_add\|/); // no rollup trigger since db/011: the catch-up keeps them
  if (timescale) {
    // the rows are stored, the rollups are not kept (docs/TIMESCALEDB.md)
    assert.equal(await psql(db.dsn, "SELECT count(*) FROM readings WHERE topic LIKE 'roll/%'"), '904');
    await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up()'); // moves the mark, adds to no level
    assert.equal(await psql(db.dsn, 'SELECT (SELECT count(*) FROM readings_hourly) + (SELECT count(*) FROM readings_minutely)'), '0');
    return;
  }
  // committed, but in no rollup until the catch-up (the ingest's, about once a second) adds the rows above the mark
  assert.equal(await psql(db.dsn, "SELECT count(*) FROM readings_hourly WHERE topic LIKE 'roll/%'"), '0');
  assert.notEqual(await psql(db.dsn, ROLLUP_DIFF), '0');
  assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up() >= 904'), 't');
  assert.equal(await psql(db.dsn, 'SELECT last_id = (SELECT max(id) FROM readings) FROM sensorpipe_rollup_mark'), 't');
  assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up()'), '0'); // nothing is added twice
  assert.equal(await psql(db.dsn, ROLLUP_DIFF), '0');
  assert.equal(await psql(db.dsn, "SELECT sum(n) FROM readings_hourly WHERE topic LIKE 'roll/%'"), '904');
  assert.equal(await psql(db.dsn, "SELECT sum(n) FROM readings_minutely WHERE topic LIKE 'roll/%'"), '904');
  // the two rows a microsecond apart fall in different minutes as well as hours
  assert.equal(await psql(db.dsn, `SELECT string_agg(n || ':' || min, ',' ORDER BY bucket) FROM readings_minutely
    WHERE bucket IN ('2026-03-01T10:59:00Z', '2026-03-01T11:00:00Z') AND topic = 'roll/t/0'`),
    await psql(db.dsn, `SELECT string_agg(n || ':' || mn, ',' ORDER BY b) FROM (SELECT date_bin('1 minute', ts, 'epoch') b,
      count(*) n, min(value) mn FROM readings WHERE ts >= '2026-03-01T10:59:00Z' AND ts < '2026-03-01T11:01:00Z'
      AND topic = 'roll/t/0' GROUP BY 1) x`));
  assert.equal(await psql(db.dsn, `SELECT n || ' ' || min || ' ' || max FROM readings_hourly
    WHERE bucket = '2026-03-01T10:00:00Z' AND topic = 'roll/t/0'`),
    await psql(db.dsn, `SELECT count(*) || ' ' || min(value) || ' ' || max(value) FROM readings
      WHERE ts >= '2026-03-01T10:00:00Z' AND ts < '2026-03-01T11:00:00Z' AND topic = 'roll/t/0'`));
});

test('the catch-up never passes a writer in flight, and takes at most max_rows a call', async () => {
  await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up(NULL)');
  const mark = await psql(db.dsn, 'SELECT last_id FROM sensorpipe_rollup_mark');
  const a = new pg.Client({ connectionString: connString(db.name) });
  await a.connect();
  try {
    await a.query('BEGIN');
    await a.query(`INSERT INTO readings (ts, topic, value) VALUES ('2026-03-02T08:00:00Z', 'mark/t/a', 1), ('2026-03-02T08:00:01Z', 'mark/t/a', 2)`);
    // its ids are taken from the sequence, not committed: the mark must not pass them
    assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up()'), '0');
    assert.equal(await psql(db.dsn, 'SELECT last_id FROM sensorpipe_rollup_mark'), mark);
    await a.query('COMMIT');
  } finally {
    await a.end();
  }
  await psql(db.dsn, `INSERT INTO readings (ts, topic, value) SELECT '2026-03-02T08:01:00Z', 'mark/t/b', g FROM generate_series(1, 3) g`);
  // five rows above the mark, two a call
  assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up(2)'), '2');
  assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up(2)'), '2');
  assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up(2)'), '1');
  assert.equal(await psql(db.dsn, 'SELECT last_id = (SELECT max(id) FROM readings) FROM sensorpipe_rollup_mark'), 't');
  if (!timescale) {
    assert.equal(await psql(db.dsn, `SELECT string_agg(topic || ':' || n || ':' || sum, ',' ORDER BY topic) FROM readings_hourly
      WHERE topic LIKE 'mark/%'`), 'mark/t/a:2:3,mark/t/b:3:6');
    assert.equal(await psql(db.dsn, ROLLUP_DIFF), '0');
  }
});

test('sensorpipe_rollup_rebuild repairs what the catch-up does not see', async () => {
  // a bulk load with triggers off and a DELETE by hand: the rollup is stale until rebuilt
  await psql(db.dsn, `SET session_replication_role = replica;
    INSERT INTO readings (ts, topic, value) SELECT timestamptz '2026-03-05T00:00:00Z' + g * interval '1 minute', 'bulk/t/x', g / 4.0
    FROM generate_series(0, 179) g`);
  await psql(db.dsn, `DELETE FROM readings WHERE topic = 'roll/t/2' AND ts < '2026-03-01T11:00:00Z'`);
  assert.notEqual(await psql(db.dsn, ROLLUP_DIFF), '0');
  // only the hours overlapping the range are recounted (whole hours, even from a partial range); the rows
  // above the mark outside it are caught up first, so the mark stays right (the bulk rows' other hours)
  assert.equal(await psql(db.dsn, `SELECT sensorpipe_rollup_rebuild('2026-03-05T00:30:00Z', '2026-03-05T01:00:00Z')`), '1');
  assert.equal(await psql(db.dsn, `SELECT n FROM readings_hourly WHERE topic = 'bulk/t/x' AND bucket = '2026-03-05T00:00:00Z'`), '60');
  assert.equal(await psql(db.dsn, `SELECT count(*) || ' ' || sum(n) FROM readings_minutely WHERE topic = 'bulk/t/x'`),
    timescale ? '60 60' : '180 180');
  assert.equal(await psql(db.dsn, 'SELECT last_id = (SELECT max(id) FROM readings) FROM sensorpipe_rollup_mark'), 't');
  assert.equal(await psql(db.dsn, `SELECT sensorpipe_rollup_rebuild('2026-03-01T10:00:00Z', '2026-03-05T03:00:00Z') > 0`), 't');
  // on a hypertable no trigger kept the other rows: rebuild them too (the function is the same on both paths)
  if (timescale) assert.equal(await psql(db.dsn, 'SELECT sensorpipe_rollup_rebuild() > 0'), 't');
  assert.equal(await psql(db.dsn, ROLLUP_DIFF), '0');
});

test('migrations 002-004 backfill the rollups of a database made by 001', async () => {
  const name = `old_${process.pid}_${Date.now()}`;
  await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
  const dsn = dsnFor(name);
  // the schema as an earlier sensorpipe left it: 001 applied and recorded, readings stored
  const { execFile } = await import('node:child_process');
  await new Promise((resolve, reject) =>
    execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-f', path.join(ROOT, 'db/001_schema.sql')],
      (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve())));
  await psql(dsn, `CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO schema_migrations (version, name) VALUES (1, '001_schema');
    INSERT INTO readings (ts, topic, value) SELECT now() - g * interval '53 seconds', 'old/t/' || (g % 4), (g % 41) / 4.0
    FROM generate_series(1, 4000) g`);
  assert.equal(await psql(dsn, `SELECT to_regclass('readings_hourly') IS NULL`), 't');
  const hyper = await onTimescale(dsn);
  const proc = spawnSensorpipe(['migrate', '--db', dsn]);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), /applied migration 002_hourly_rollup/);
  assert.match(proc.output(), /applied migration 003_minute_rollup/);
  assert.match(proc.output(), /applied migration 004_rollup_levels/);
  // on a hypertable: the tables are made and stay empty, no trigger, both settings 'off'
  const rows = hyper ? '' : '4000'; // sum(n) of no rows is NULL
  assert.equal(await psql(dsn, 'SELECT sum(n) FROM readings_hourly'), rows);
  assert.equal(await psql(dsn, 'SELECT sum(n) FROM readings_minutely'), rows);
  if (!hyper) assert.equal(await psql(dsn, ROLLUP_DIFF), '0');
  // 011 dropped the triggers and set the mark on the last row: from then on the catch-up keeps it
  assert.equal(await psql(dsn, 'SELECT last_id = (SELECT max(id) FROM readings) FROM sensorpipe_rollup_mark'), 't');
  await psql(dsn, `INSERT INTO readings (topic, value) VALUES ('old/t/0', 2.5)`);
  assert.equal(await psql(dsn, 'SELECT sensorpipe_rollup_catch_up()'), '1');
  if (!hyper) assert.equal(await psql(dsn, ROLLUP_DIFF), '0');
  // running the files again, in order, changes nothing (004 makes the triggers again, 011 drops them)
  for (const file of ['db/002_hourly_rollup.sql', 'db/003_minute_rollup.sql', 'db/004_rollup_levels.sql', 'db/011_rollup_catch_up.sql']) {
    await new Promise((resolve, reject) =>
      execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-1', '-f', path.join(ROOT, file)],
        (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve())));
  }
  const rowsAfter = hyper ? '' : '4001';
  assert.equal(await psql(dsn, 'SELECT sum(n) FROM readings_hourly'), rowsAfter);
  assert.equal(await psql(dsn, 'SELECT sum(n) FROM readings_minutely'), rowsAfter);
  if (!hyper) assert.equal(await psql(dsn, ROLLUP_DIFF), '0');
  assert.equal(await psql(dsn, `SELECT count(*) FROM pg_trigger WHERE tgname IN ('readings_hourly_add', 'readings_minutely_add')`), '0');
  assert.equal(await psql(dsn, `SELECT string_agg(value, ',' ORDER BY key) FROM sensorpipe_settings
    WHERE key IN ('hourly_rollup', 'minute_rollup')`), hyper ? 'off,off' : 'on,on');
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
  if (timescale) {
    // chunks of a day, made by the inserts and dropped whole by drop_chunks
    await psql(db.dsn, `INSERT INTO readings (ts, topic, value) VALUES ('${old}'::date + interval '5 hours', 'ret/t/x', 1),
      ('${old}'::date + interval '6 hours', 'ret/t/x', 2), (now() - interval '1 day', 'ret/t/x', 3)`);
    const chunks = Number(await psql(db.dsn, `SELECT count(*) FROM show_chunks('readings', older_than => now() - interval '3 days')`));
    assert.ok(chunks >= 1, `expected a chunk older than 3 days, got ${chunks}`);
    const proc = spawnSensorpipe(['migrate', '--db', db.dsn, '--retention-days', '3']);
    assert.equal(await proc.exited, 0, proc.output());
    assert.match(proc.output(), new RegExp(`timescaledb: dropped ${chunks} chunks`));
    assert.match(proc.output(), /rollup: \d+ hourly rows deleted, \d+ minutely rows deleted/);
    assert.equal(await psql(db.dsn, `SELECT string_agg(value::text, ',') FROM readings WHERE topic = 'ret/t/x'`), '3');
    assert.equal(await psql(db.dsn, `SELECT count(*) FROM show_chunks('readings', older_than => now() - interval '3 days')`), '0');
    const again = spawnSensorpipe(['migrate', '--db', db.dsn]);
    assert.equal(await again.exited, 0, again.output());
    assert.match(again.output(), /timescaledb: dropped 0 chunks/);
    assert.equal(await psql(db.dsn, `SELECT value FROM sensorpipe_settings WHERE key = 'retention_days'`), '3');
    return;
  }
  await psql(db.dsn, `CREATE TABLE readings_${old} PARTITION OF readings FOR VALUES FROM ('${old}') TO ('${old}'::date + 1)`);
  await psql(db.dsn, `INSERT INTO readings (ts, topic, value) VALUES ('${old}'::date + interval '5 hours', 'ret/t/x', 1),
    ('${old}'::date + interval '6 hours', 'ret/t/x', 2), (now() - interval '1 day', 'ret/t/x', 3)`);
  await psql(db.dsn, 'SELECT sensorpipe_rollup_catch_up()');
  // what the rollup held older than the retention: the old day and the test rows of 2026-03
  const stale = await psql(db.dsn, `SELECT count(*) FROM readings_hourly
    WHERE bucket < ((now() AT TIME ZONE 'UTC')::date - 3)::timestamp AT TIME ZONE 'UTC'`);
  assert.ok(Number(stale) >= 2, `expected old rollup rows, got ${stale}`);
  const staleMin = await psql(db.dsn, `SELECT count(*) FROM readings_minutely
    WHERE bucket < ((now() AT TIME ZONE 'UTC')::date - 3)::timestamp AT TIME ZONE 'UTC'`);
  assert.ok(Number(staleMin) > Number(stale), `expected more old minute rows than hourly, got ${staleMin}`);
  const proc = spawnSensorpipe(['migrate', '--db', db.dsn, '--retention-days', '3']);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), /1 dropped/);
  assert.match(proc.output(), new RegExp(`rollup: ${stale} hourly rows deleted, ${staleMin} minutely rows deleted`));
  assert.equal(await psql(db.dsn, `SELECT string_agg(n::text, ',') FROM readings_hourly WHERE topic = 'ret/t/x'`), '1');
  assert.equal(await psql(db.dsn, `SELECT string_agg(n::text, ',') FROM readings_minutely WHERE topic = 'ret/t/x'`), '1');
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
  assert.equal(await psql(dsnFor(name), 'SELECT count(*) FROM schema_migrations'), String(MIGRATIONS));
});
