// serve_rollup.test.mjs - /api/readings buckets of whole hours answered from the hourly rollup
// (readings_hourly), the whole minutes of the partial first and last hour from the minute
// rollup (readings_minutely) and raw rows for at most the partial first and last minute: the
// rows must be the ones the raw date_bin query gives (buckets of whole minutes that are not
// hours, such as the dashboard's 2m for 24 h, read the minute rollup and raw edges alone), for aligned and unaligned ranges (hour
// and minute edges, 1 us edges, ranges inside one minute or one hour), several bucket widths
// and topic filters; with the minute rollup off, and with both off (the TimescaleDB fallback);
// and with rows above the rollups' mark (committed, not caught up yet: db/011), read from raw rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPipeline } from '../lib/harness.mjs';

let pipe;
let client;
let connString;

const TOPICS = ['ra/temperature/x', 'ra/humidity/x', 'rb/temperature/y', 'rb/temperature/z'];

before(async () => {
  pipe = await startPipeline({ ingest: false, dbPrefix: 'rollup' });
  connString = `postgresql://${process.env.PGUSER || 'postgres'}@/${pipe.db.name}?host=${encodeURIComponent(process.env.PGHOST)}&port=${process.env.PGPORT}`;
  client = new pg.Client({ connectionString: connString });
  await client.connect();
  // 30 h of readings from 2026-03-01T00:00Z at irregular times (microseconds included), in
  // several statements, caught up (db/011) twice on the way so the second catch-up adds to rollup
  // rows the first made. Values are
  // multiples of 1/4: sums are exact whatever the order, so averages compare exactly.
  for (let chunk = 0; chunk < 6; chunk++) {
    await pipe.psql(`INSERT INTO readings (ts, topic, value)
      SELECT timestamptz '2026-03-01T00:00:00Z' + ${chunk} * interval '5 hours'
               + (g * 47.123457 + (g % 7) * 0.5) * interval '1 second',
             (ARRAY[${TOPICS.map((t) => `'${t}'`).join(',')}])[1 + (g * 7 + ${chunk}) % 4],
             ((g * 31 + ${chunk}) % 203) / 4.0 - 10
      FROM generate_series(0, 381) g`);
    if (chunk === 2) await pipe.psql('SELECT sensorpipe_rollup_catch_up(NULL)');
  }
  // readings exactly on hour boundaries and one microsecond before them
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
    ('2026-03-01T03:00:00Z', 'ra/temperature/x', 100), ('2026-03-01T02:59:59.999999Z', 'ra/temperature/x', -100),
    ('2026-03-01T07:00:00Z', 'rb/temperature/z', 55.5), ('2026-03-01T06:59:59.999999Z', 'rb/temperature/z', -55.5)`);
  // and on minute boundaries, one microsecond before them, and within one minute
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
    ('2026-03-01T05:10:00Z', 'ra/humidity/x', 12.25), ('2026-03-01T05:09:59.999999Z', 'ra/humidity/x', -3.75),
    ('2026-03-01T05:12:00Z', 'rb/temperature/y', 7), ('2026-03-01T05:11:59.999999Z', 'rb/temperature/y', 8.5),
    ('2026-03-01T05:10:20Z', 'ra/temperature/x', 1.5), ('2026-03-01T05:10:30.000001Z', 'ra/temperature/x', 2.75),
    ('2026-03-01T05:10:50Z', 'ra/temperature/x', 40), ('2026-03-01T05:00:00Z', 'rb/temperature/z', -1.25)`);
  await pipe.psql('SELECT sensorpipe_rollup_catch_up(NULL)'); // what the ingest does about once a second
});

after(async () => {
  await client?.end();
  await pipe?.stop();
});

/** The raw date_bin answer (what /api/readings gave before the rollup), in the API's JSON shape. */
async function raw(from, to, bucketS, topics) {
  const r = await client.query(
    `SELECT to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS ts, topic,
            avg(value) AS avg, min(value) AS min, max(value) AS max, count(*)::int AS count FROM (
       SELECT date_bin(make_interval(secs => $3), ts, 'epoch') AS b, topic, value FROM readings
       WHERE ts >= $1 AND ts < $2 AND topic = ANY($4)) s
     GROUP BY b, topic ORDER BY b, topic`,
    [from, to, bucketS, topics]);
  return r.rows;
}

async function api(from, to, bucket, filter) {
  const q = new URLSearchParams({ from, to, bucket, limit: '100000' });
  if (filter) q.set('topic', filter);
  const res = await fetch(`${pipe.httpUrl}/api/readings?${q}`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.rows;
}

const RANGES = [
  ['2026-03-01T00:00:00Z', '2026-03-02T06:00:00Z'], // every hour whole
  ['2026-03-01T00:17:30.250001Z', '2026-03-01T23:43:10.5Z'], // partial first and last hour
  ['2026-03-01T02:59:59.999999Z', '2026-03-01T07:00:00.000001Z'], // one microsecond of each edge hour
  ['2026-03-01T05:10:00Z', '2026-03-01T05:50:00Z'], // inside one hour
  ['2026-03-01T05:10:00Z', '2026-03-01T06:20:00Z'], // two partial hours, no whole one
  ['2026-02-28T21:00:00Z', '2026-03-01T01:30:00Z'], // starts before the data
  ['2026-03-01T04:59:59.999999Z', '2026-03-01T05:10:00.000001Z'], // 1 us of each edge minute
  ['2026-03-01T05:09:59.999999Z', '2026-03-01T05:12:00.000001Z'], // the same inside one hour
  ['2026-03-01T05:10:00Z', '2026-03-01T05:10:00.000001Z'], // one microsecond
  ['2026-03-01T05:10:20Z', '2026-03-01T05:10:50Z'], // inside one minute
  ['2026-03-01T05:10:20Z', '2026-03-01T05:11:59.999999Z'], // two partial minutes, no whole one
  ['2026-03-01T05:10:20.5Z', '2026-03-01T05:47:03Z'], // inside one hour, spanning minutes
  ['2026-03-01T04:30:00Z', '2026-03-01T05:00:00.000001Z'], // whole minutes, then 1 us of an hour
  ['2026-03-01T01:00:00Z', '2026-03-01T09:30:00Z'], // whole hours, then whole minutes
];
// whole hours (hourly + minute rollups) and whole minutes that are not hours (minute rollup alone)
const BUCKETS = [['1h', 3600], ['2h', 7200], ['5h', 18000], ['1d', 86400], ['2m', 120], ['30m', 1800], ['90m', 5400]];
const FILTERS = [
  [null, TOPICS],
  ['ra/+/x', ['ra/temperature/x', 'ra/humidity/x']],
  ['+/temperature/#', ['ra/temperature/x', 'rb/temperature/y', 'rb/temperature/z']],
  ['rb/temperature/z', ['rb/temperature/z']],
  ['nobody/+/+', []],
];

async function compareAll() {
  let rows = 0;
  for (const [from, to] of RANGES) {
    for (const [bucket, secs] of BUCKETS) {
      for (const [filter, topics] of FILTERS) {
        const want = await raw(from, to, secs, topics);
        const got = await api(from, to, bucket, filter);
        assert.deepEqual(got, want, `from=${from} to=${to} bucket=${bucket} topic=${filter}`);
        rows += got.length;
      }
    }
  }
  return rows;
}

test('hour-multiple buckets from the rollups equal the raw date_bin answer', async () => {
  assert.equal(await pipe.psql(`SELECT value FROM sensorpipe_settings WHERE key = 'hourly_rollup'`), 'on');
  assert.equal(await pipe.psql(`SELECT value FROM sensorpipe_settings WHERE key = 'minute_rollup'`), 'on');
  const rows = await compareAll();
  assert.ok(rows > 500, `the comparison covered only ${rows} rows`);
});

test('rows committed since the last catch-up are in every answer, and counted once after it', async () => {
  // the mark row held: no catch-up can run (nothing else runs one here; this makes sure)
  const holder = new pg.Client({ connectionString: connString });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT last_id FROM sensorpipe_rollup_mark FOR UPDATE');
    // rows in whole hours, whole minutes and partial edges, on a topic of its own and on old ones
    await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
      ('2026-03-01T01:15:00Z', 'ra/temperature/x', 11.5), ('2026-03-01T05:10:40Z', 'ra/temperature/x', -2.25),
      ('2026-03-01T09:29:59.999999Z', 'rb/temperature/y', 3), ('2026-03-01T23:43:10.25Z', 'rb/temperature/z', 0.75),
      ('2026-03-01T02:00:00Z', 'ra/humidity/x', 60), ('2026-03-01T02:00:00.5Z', 'ra/humidity/x', 61.25)`);
    assert.equal(await pipe.psql(`SELECT count(*) FROM readings
      WHERE id > (SELECT last_id FROM sensorpipe_rollup_mark)`), '6', 'six rows above the mark');
    await compareAll();
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  assert.equal(await pipe.psql('SELECT sensorpipe_rollup_catch_up()'), '6');
  await compareAll();
});

test('whole hours are read from the hourly rollup, whole minutes from the minute one, the rest from raw rows', async () => {
  // A DELETE by hand is not reflected in the rollups (documented): a whole hour or minute
  // still shows the deleted rows, a partial minute does not. That tells which source answered.
  const T = 'rb/temperature/y';
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
    ('2026-03-01T10:30:00Z', '${T}', 1), ('2026-03-01T10:30:10Z', '${T}', 2), ('2026-03-01T10:30:59.999999Z', '${T}', 3)`);
  await pipe.psql('SELECT sensorpipe_rollup_catch_up()');
  await pipe.psql(`DELETE FROM readings WHERE topic = '${T}' AND ts >= '2026-03-01T10:00:00Z' AND ts < '2026-03-01T11:00:00Z'`);
  const hourN = Number(await pipe.psql(`SELECT n FROM readings_hourly WHERE topic = '${T}' AND bucket = '2026-03-01T10:00:00Z'`));
  const count = async (from, to) => (await api(from, to, '1h', T)).reduce((a, r) => a + r.count, 0);
  assert.ok(hourN >= 3);
  assert.equal(await count('2026-03-01T10:00:00Z', '2026-03-01T11:00:00Z'), hourN); // the whole hour
  // one microsecond short of the hour: its first minute is raw (deleted), the 59 others whole minutes
  const minutesN = Number(await pipe.psql(`SELECT sum(n) FROM readings_minutely
    WHERE topic = '${T}' AND bucket >= '2026-03-01T10:01:00Z' AND bucket < '2026-03-01T11:00:00Z'`));
  assert.ok(minutesN >= 3);
  assert.equal(await count('2026-03-01T10:00:00.000001Z', '2026-03-01T11:00:00Z'), minutesN);
  const minuteN = Number(await pipe.psql(`SELECT n FROM readings_minutely WHERE topic = '${T}' AND bucket = '2026-03-01T10:30:00Z'`));
  assert.ok(minuteN >= 3);
  assert.equal(await count('2026-03-01T10:30:00Z', '2026-03-01T10:31:00Z'), minuteN); // one whole minute
  assert.equal(await count('2026-03-01T10:30:00Z', '2026-03-01T10:30:59.999999Z'), 0); // inside it: raw
  assert.equal(await count('2026-03-01T10:29:59.999999Z', '2026-03-01T10:31:00.000001Z'), minuteN); // 1 us edges raw
  // minute-multiple buckets (not hours) read the minute rollup for whole minutes, raw rows for the edges
  const count2m = async (from, to) => (await api(from, to, '2m', T)).reduce((a, r) => a + r.count, 0);
  assert.equal(await count2m('2026-03-01T10:30:00Z', '2026-03-01T10:31:00Z'), minuteN);
  assert.equal(await count2m('2026-03-01T10:30:00Z', '2026-03-01T10:30:59.999999Z'), 0);
  assert.equal(await count2m('2026-03-01T10:00:00Z', '2026-03-01T11:00:00Z'), hourN);
  assert.equal(await pipe.psql(`SELECT sensorpipe_rollup_rebuild('2026-03-01T10:00:00Z', '2026-03-01T11:00:00Z')`), '3');
  assert.equal(await count('2026-03-01T10:00:00Z', '2026-03-01T11:00:00Z'), 0);
  assert.equal(await count('2026-03-01T10:00:00.000001Z', '2026-03-01T11:00:00Z'), 0);
  await compareAll();
});

test('with the minute rollup off the hourly one still answers, with raw rows for partial hours', async () => {
  await pipe.psql(`UPDATE sensorpipe_settings SET value = 'off' WHERE key = 'minute_rollup'`);
  try {
    await pipe.psql(`UPDATE readings_minutely SET n = n + 1000, min = -1e9`);
    // the catch-up keeps the hourly level alone now
    await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES ('2026-03-01T04:20:00Z', 'ra/temperature/x', 4.5)`);
    const minutes = await pipe.psql('SELECT sum(n) FROM readings_minutely');
    assert.equal(await pipe.psql('SELECT sensorpipe_rollup_catch_up()'), '1');
    assert.equal(await pipe.psql('SELECT sum(n) FROM readings_minutely'), minutes);
    await compareAll();
  } finally {
    await pipe.psql(`SELECT sensorpipe_rollup_rebuild(NULL, NULL)`);
    await pipe.psql(`UPDATE sensorpipe_settings SET value = 'on' WHERE key = 'minute_rollup'`);
  }
});

test('with the rollup off (the TimescaleDB path) the same query answers from raw rows alone', async () => {
  await pipe.psql(`UPDATE sensorpipe_settings SET value = 'off' WHERE key IN ('hourly_rollup', 'minute_rollup')`);
  try {
    // the rollups made wrong on purpose: with them off, nothing of them may show
    await pipe.psql(`UPDATE readings_hourly SET n = n + 1000, min = -1e9`);
    await pipe.psql(`UPDATE readings_minutely SET n = n + 1000, min = -1e9`);
    await compareAll();
  } finally {
    await pipe.psql(`SELECT sensorpipe_rollup_rebuild(NULL, NULL)`);
    await pipe.psql(`UPDATE sensorpipe_settings SET value = 'on' WHERE key IN ('hourly_rollup', 'minute_rollup')`);
  }
});

test('buckets that are not whole minutes still read raw rows', async () => {
  await pipe.psql(`UPDATE readings_hourly SET n = n + 1000`);
  await pipe.psql(`UPDATE readings_minutely SET n = n + 1000`);
  try {
    for (const [bucket, secs] of [['45s', 45], ['90s', 90], ['1s', 1]]) {
      const from = '2026-03-01T00:00:00Z';
      const to = '2026-03-01T12:00:00Z';
      assert.deepEqual(await api(from, to, bucket, null), await raw(from, to, secs, TOPICS), `bucket=${bucket}`);
    }
  } finally {
    await pipe.psql(`SELECT sensorpipe_rollup_rebuild(NULL, NULL)`);
  }
});

test('NaN and infinite values come out of either source as null (JSON) or empty (CSV)', async () => {
  // refused by db/005's CHECK; a database whose bound was dropped by hand can still hold them
  await pipe.psql('ALTER TABLE readings DROP CONSTRAINT IF EXISTS readings_value_bounded');
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES
    ('2026-03-03T00:10:00Z', 'rz/value/nan', 'NaN'), ('2026-03-03T00:20:00Z', 'rz/value/nan', 2),
    ('2026-03-03T00:10:00Z', 'rz/value/inf', 'Infinity'), ('2026-03-03T00:20:00Z', 'rz/value/inf', -1.5e-7)`);
  const want = [
    { ts: '2026-03-03T00:00:00.000000+00:00', topic: 'rz/value/inf', avg: null, min: -1.5e-7, max: null, count: 2 },
    { ts: '2026-03-03T00:00:00.000000+00:00', topic: 'rz/value/nan', avg: null, min: 2, max: null, count: 2 },
  ];
  // whole hour (hourly rollup), whole minutes (minute rollup) and partial minutes (raw rows)
  assert.deepEqual(await api('2026-03-03T00:00:00Z', '2026-03-03T01:00:00Z', '1h', 'rz/value/+'), want);
  assert.deepEqual(await api('2026-03-03T00:05:00Z', '2026-03-03T00:30:00Z', '1h', 'rz/value/+'), want);
  assert.deepEqual(await api('2026-03-03T00:09:59.5Z', '2026-03-03T00:20:00.5Z', '1h', 'rz/value/+'), want);
  const res = await fetch(`${pipe.httpUrl}/api/readings.csv?from=2026-03-03T00:00:00Z&to=2026-03-03T01:00:00Z&bucket=1h&topic=rz/value/%2B`);
  assert.deepEqual((await res.text()).trim().split(/\r?\n/), [
    'ts,topic,avg,min,max,count',
    '2026-03-03T00:00:00.000000+00:00,rz/value/inf,,-1.5e-07,,2',
    '2026-03-03T00:00:00.000000+00:00,rz/value/nan,,2,,2',
  ]);
});
