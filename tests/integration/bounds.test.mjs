// bounds.test.mjs - what a device may say is bounded (docs/SECURITY.md, "Bounds on what a device may
// say"): values within ±1e15, a payload ts within a window around the receive time, topics per
// device and devices in total; the database refuses out-of-range values from any writer; the
// bucket API and the rollups cannot be made to fail by any storable value; retention reaches
// rejects, devices and readings_default; migration 005 cleans a database that holds bad values.
//
// Real mosquitto and PostgreSQL; each test has its own database and topic prefix. Synchronisation
// by condition only (rows in the tables, lines the processes log).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  ROOT, startPipeline, createDatabase, spawnSensorpipe, psql, dsnFor, waitFor, publishLines, freePort, MQTT_PORT,
  lastStats,
} from '../lib/harness.mjs';

let seq = 0;
const prefix = () => `bd${process.pid}x${seq++}`;
const num = async (dsn, sql) => Number(await psql(dsn, sql));

/** Is this database on the TimescaleDB path (the test the migrations make)? */
const onTimescale = async (dsn) => (await psql(dsn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")) === '1';

/** MQTT remaining length. */
function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
const str = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
const packet = (type, body) => Buffer.concat([Buffer.from([type]), varint(body.length), body]);

/**
 * Publish [topic, payload] pairs at QoS 0 over one MQTT 3.1.1 connection, in order: a device that
 * invents topics as fast as it can. Resolves when the broker has closed after our DISCONNECT.
 */
function flood(messages, clientId) {
  return new Promise((resolve, reject) => {
    const s = net.connect(MQTT_PORT, '127.0.0.1');
    s.on('error', reject);
    s.on('close', resolve);
    s.once('data', (d) => {
      if (d[0] !== 0x20 || d[3] !== 0) return reject(new Error(`CONNACK refused: ${d.toString('hex')}`));
      const pubs = messages.map(([t, p]) => packet(0x30, Buffer.concat([str(t), Buffer.from(p)])));
      s.end(Buffer.concat([...pubs, Buffer.from([0xe0, 0x00])]));
    });
    s.write(packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str(clientId)])));
  });
}

const iso = (ms) => new Date(ms).toISOString();
const DAY = 86400e3;

test('over-range values and out-of-window timestamps land in rejects with their reasons; the bound and the window edges are stored', async () => {
  const p = await startPipeline({ ingestArgs: ['--log-level', 'debug'] });
  try {
    const t = prefix();
    const now = Date.now();
    const good = {
      [`${t}/max/a`]: ['1e15', 1e15],
      [`${t}/min/a`]: ['-1e15', -1e15],
      [`${t}/past/a`]: [`{"value": 1, "ts": "${iso(now - 29 * DAY)}"}`, 1],
      [`${t}/soon/a`]: [`{"value": 2, "ts": "${iso(now + 5 * 60e3)}"}`, 2],
    };
    const bad = {
      [`${t}/over/a`]: ['1.0000000000000002e15', /^value out of range: more than 1e15 in magnitude$/],
      [`${t}/huge/a`]: ['1e160', /^value out of range/],
      [`${t}/neg/a`]: ['{"value": -1e16}', /^value out of range/],
      [`${t}/old/a`]: [`{"value": 3, "ts": "${iso(now - 31 * DAY)}"}`, /^"ts" too far in the past \(more than --ts-past-days/],
      [`${t}/week/a`]: [`{"value": 4, "ts": "${iso(now + 8 * DAY)}"}`, /^"ts" too far in the future \(more than --ts-future-minutes/],
      [`${t}/pin/a`]: ['{"value": 5, "ts": "9999-12-31T23:59:59Z"}', /^"ts" too far in the future/],
      [`${t}/epoch/a`]: ['{"value": 6, "ts": 253402300799}', /^"ts" too far in the future/],
    };
    for (const [topic, [payload]] of [...Object.entries(good), ...Object.entries(bad)]) await p.publish(topic, payload, { qos: 1 });
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM readings WHERE topic LIKE '${t}/%'`)) === 4 &&
      (await num(p.dsn, `SELECT count(*) FROM rejects WHERE topic LIKE '${t}/%'`)) === 7, { message: '4 readings and 7 rejects' });

    // the refusals: each in rejects with its reason and payload, none in readings
    const rejects = Object.fromEntries((await p.psql(`SELECT topic, reason, convert_from(payload, 'UTF8') FROM rejects
      WHERE topic LIKE '${t}/%'`)).split('\n').map((l) => l.split('|')).map(([topic, reason, payload]) => [topic, { reason, payload }]));
    for (const [topic, [payload, re]] of Object.entries(bad)) {
      assert.match(rejects[topic]?.reason ?? '', re, topic);
      assert.equal(rejects[topic].payload, payload);
    }
    assert.equal(await p.psql(`SELECT count(*) FROM readings WHERE topic LIKE '${t}/%' AND (abs(value) > 1e15 OR ts > now() + interval '1 day')`), '0');
    // the successes, exactly
    const rows = Object.fromEntries((await p.psql(`SELECT topic, value FROM readings WHERE topic LIKE '${t}/%'`))
      .split('\n').map((l) => l.split('|')));
    for (const [topic, [, value]] of Object.entries(good)) assert.equal(Number(rows[topic]), value, topic);
    // nothing pinned a topic's last value, nothing escaped into readings_default from the future
    if (!(await onTimescale(p.dsn)))
      assert.equal(await p.psql(`SELECT count(*) FROM readings_default WHERE ts > now()`), '0');
    const res = await fetch(`${p.httpUrl}/api/topics`);
    assert.equal(res.status, 200);
    const topics = (await res.json()).topics.filter((x) => x.topic.startsWith(`${t}/`)).map((x) => x.topic).sort();
    assert.deepEqual(topics, Object.keys(good).sort());
    const bucket = await fetch(`${p.httpUrl}/api/readings?topic=${t}/%2B/a&bucket=1m`);
    assert.equal(bucket.status, 200);

    const codes = await p.stop();
    assert.equal(codes.ingest, 0);
    const s = lastStats(p.ingest);
    assert.equal(s.payload, 7, 'counted under the class payload');
    assert.equal(s.written, 4);
  } finally {
    await p.stop();
  }
});

test('the database refuses values over ±1e15, NaN and ±Infinity from any writer, and takes ±1e15', async () => {
  const db = await createDatabase('bounds');
  for (const v of ['1e16', '-1e16', "'NaN'", "'Infinity'", "'-Infinity'", '1.0000000000000002e15']) {
    await assert.rejects(psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('x/y/z', ${v})`),
      /violates check constraint "readings_value_bounded"/, `INSERT of ${v}`);
  }
  // COPY, into a day that falls in readings_default on plain PostgreSQL, and straight into a partition
  await assert.rejects(psql(db.dsn, `COPY readings (ts, topic, value) FROM PROGRAM 'printf "1990-01-01T00:00:00Z\\tx/y/z\\t1e16\\n"'`),
    /readings_value_bounded/);
  if (!(await onTimescale(db.dsn)))
    await assert.rejects(psql(db.dsn, `INSERT INTO readings_default (ts, topic, value) VALUES ('1990-01-01', 'x/y/z', 1e16)`),
      /violates check constraint "readings_value_bounded"/);
  await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('x/y/z', 1e15), ('x/y/z', -1e15)`);
  assert.equal(await psql(db.dsn, `SELECT count(*) || ' ' || max(value) || ' ' || min(value) FROM readings`), '2 1e+15 -1e+15');
  // validated by the upkeep that `migrate` ran, on the table and every partition
  assert.equal(await psql(db.dsn, `SELECT bool_and(convalidated) FROM pg_constraint WHERE conname = 'readings_value_bounded'`), 't');
});

test('many readings of ±1e15 in one bucket (psql and the ingest) cannot make the bucket API or the rollups fail', async () => {
  const p = await startPipeline({ ingestArgs: ['--log-level', 'info'] });
  try {
    const t = prefix();
    const ALT = `${t}/alt/v`; // +1e15 and -1e15 in turn
    const POS = `${t}/pos/v`; // +1e15 only: the largest sum, the largest squares
    // one minute, already begun (inside the ingest's ts window)
    const ts0 = Math.floor(Date.now() / 60e3) * 60e3;
    const at = `timestamptz '${iso(ts0)}'`;
    for (let i = 0; i < 10; i++) {
      await p.psql(`INSERT INTO readings (ts, topic, value)
        SELECT ${at} + g * interval '1 millisecond', '${ALT}', CASE WHEN g % 2 = 0 THEN 1e15 ELSE -1e15 END
        FROM generate_series(0, 1999) g`);
      await p.psql(`INSERT INTO readings (ts, topic, value)
        SELECT ${at} + g * interval '1 millisecond', '${POS}', 1e15 FROM generate_series(0, 1999) g`);
    }
    const lines = (v) => Array.from({ length: 500 }, (_, i) => `{"value": ${i % 2 && v < 0 ? -v : v}, "ts": "${iso(ts0 + i)}"}`);
    await publishLines(ALT, lines(-1e15), { qos: 1 });
    await publishLines(POS, lines(1e15), { qos: 1 });
    const N = 20500;
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM readings WHERE topic = '${POS}'`)) === N &&
      (await num(p.dsn, `SELECT count(*) FROM readings WHERE topic = '${ALT}'`)) === N, { message: `${N} readings on each topic`, timeout: 30000 });

    const hour = Math.floor(ts0 / 3600e3) * 3600e3;
    const ranges = [
      ['1m', iso(ts0 - 60e3), iso(ts0 + 120e3)],
      ['1h', iso(hour), iso(hour + 3600e3)], // whole hour: the hourly rollup (plain PostgreSQL)
      ['1h', iso(ts0 - 90e3), iso(ts0 + 90e3)], // partial hour: the minute rollup and raw rows
      ['1h', iso(hour - 3600e3), iso(hour + 7200e3)],
    ];
    for (const [bucket, from, to] of ranges) {
      const res = await fetch(`${p.httpUrl}/api/readings?topic=${t}/%2B/v&bucket=${bucket}&from=${from}&to=${to}`);
      const body = await res.text();
      assert.equal(res.status, 200, `bucket=${bucket} ${from}..${to}: ${body}`);
      const rows = JSON.parse(body).rows;
      assert.equal(rows.length, 2, body);
      for (const r of rows) {
        for (const k of ['avg', 'min', 'max']) assert.ok(Number.isFinite(r[k]) && Math.abs(r[k]) <= 1e15 * (1 + 1e-9), `${k} of ${r.topic}: ${r[k]}`);
        assert.equal(r.count, N);
        assert.equal(r.max, 1e15);
        assert.equal(r.min, r.topic === ALT ? -1e15 : 1e15);
      }
    }
    const csv = await fetch(`${p.httpUrl}/api/readings.csv?topic=${t}/%2B/v&bucket=1m&from=${iso(ts0 - 60e3)}&to=${iso(ts0 + 120e3)}`);
    assert.equal(csv.status, 200);
    // the rollups hold finite sums
    assert.equal(await p.psql(`SELECT count(*) FROM readings_hourly WHERE topic LIKE '${t}/%' AND NOT (sum > -1e300 AND sum < 1e300)`), '0');
    assert.equal(await p.psql(`SELECT count(*) FROM readings_minutely WHERE topic LIKE '${t}/%' AND NOT (sum > -1e300 AND sum < 1e300)`), '0');
    const topics = await fetch(`${p.httpUrl}/api/topics`);
    assert.equal(topics.status, 200);
    const mine = (await topics.json()).topics.filter((x) => x.topic.startsWith(`${t}/`));
    assert.equal(mine.length, 2);
    for (const x of mine) assert.equal(Math.abs(x.value), 1e15);
  } finally {
    await p.stop();
  }
});

test('--max-topics-per-device and --max-devices: a device cannot flood /api/topics; what is stored counts after a restart', async () => {
  const args = ['--max-topics-per-device', '3', '--max-devices', '3', '--log-level', 'debug'];
  const p = await startPipeline({ ingestArgs: args });
  let again;
  try {
    const t = prefix();
    const [d1, d2, d3, d4] = [1, 2, 3, 4].map((i) => `${t}d${i}`);
    // d1 invents 200 topics in one burst: the first three are stored, the rest refused
    await flood([
      ...Array.from({ length: 200 }, (_, i) => [`${d1}/m/s${i}`, String(i)]),
      [`${d1}/m/s1`, '1000'], // a known topic still goes in
      [`${d2}/m/s0`, '1'],
      [`${d3}/status`, 'online'], // presence makes a device too
      [`${d4}/m/s0`, '1'], // the fourth device
      [`${d4}/status`, 'online'],
    ], `flood-${t}`);
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM rejects WHERE topic LIKE '${t}%'`)) === 199, { message: '199 rejects' });
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM readings WHERE topic LIKE '${t}%'`)) === 5, { message: '5 readings' });
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM devices WHERE device LIKE '${t}%'`)) === 1, { message: 'the presence of d3' });
    assert.equal(await p.psql(`SELECT string_agg(DISTINCT topic, ',' ORDER BY topic) FROM readings WHERE topic LIKE '${t}%'`),
      `${d1}/m/s0,${d1}/m/s1,${d1}/m/s2,${d2}/m/s0`);
    assert.equal(await p.psql(`SELECT count(*) FROM rejects WHERE topic LIKE '${d1}/%'
      AND reason = 'limit: too many topics for this device (--max-topics-per-device)'`), '197');
    assert.equal(await p.psql(`SELECT string_agg(topic || ' ' || reason, ',' ORDER BY topic) FROM rejects WHERE topic LIKE '${d4}/%'`),
      `${d4}/m/s0 limit: too many devices (--max-devices),${d4}/status limit: too many devices (--max-devices)`);
    const res = await fetch(`${p.httpUrl}/api/topics`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.topics.filter((x) => x.topic.startsWith(t)).length, 4);
    assert.deepEqual(body.devices.filter((x) => x.device.startsWith(t)).map((x) => x.device), [d3]);
    const codes = await p.stop();
    assert.equal(codes.ingest, 0);
    assert.equal(lastStats(p.ingest).limit, 199);

    // a new ingest on the same database loads what is stored: the bounds hold from its first message
    again = spawnSensorpipe(['ingest', '--db', p.dsn, '--mqtt-port', String(MQTT_PORT), '--mqtt-client-id', `again-${p.db.name}`,
      '--clean-session', ...args], { name: 'ingest-again' });
    await again.waitForOutput(/known: 4 stored topics, 1 devices with presence/);
    await again.waitForOutput(/subscribed/);
    await flood([[`${d1}/m/s200`, '9'], [`${d1}/m/s2`, '2'], [`${t}d5/m/s0`, '5'], [`${d3}/m/s0`, '3']], `again-${t}`);
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM readings WHERE topic LIKE '${t}%'`)) === 7, { message: '7 readings' });
    await waitFor(async () => (await num(p.dsn, `SELECT count(*) FROM rejects WHERE topic LIKE '${t}%'`)) === 201, { message: '201 rejects' });
    assert.equal(await p.psql(`SELECT count(*) FROM rejects WHERE topic IN ('${d1}/m/s200', '${t}d5/m/s0')`), '2');
    assert.equal(await again.stop(), 0);
    assert.equal(lastStats(again).limit, 2);
  } finally {
    await again?.stop();
    await p.stop();
  }
});

test('retention: rejects, offline devices and readings_default rows older than --retention-days go; the rest stays', async () => {
  const db = await createDatabase('bounds');
  const ts = await onTimescale(db.dsn);
  await psql(db.dsn, `INSERT INTO rejects (received_at, topic, payload, reason) VALUES
    (now() - interval '10 days', 'old/r/x', '', 'r'), (now() - interval '1 day', 'new/r/x', '', 'r')`);
  await psql(db.dsn, `INSERT INTO devices (device, online, updated_at) VALUES ('gone', false, now() - interval '10 days'),
    ('still-online', true, now() - interval '10 days'), ('recent', false, now() - interval '1 day')`);
  // no partition for these days: readings_default on plain PostgreSQL
  await psql(db.dsn, `INSERT INTO readings (ts, topic, value) VALUES (now() - interval '10 days', 'ret/d/old', 1),
    (now() - interval '2 days 1 hour', 'ret/d/new', 2)`);
  const proc = spawnSensorpipe(['migrate', '--db', db.dsn, '--retention-days', '3']);
  assert.equal(await proc.exited, 0, proc.output());
  assert.match(proc.output(), new RegExp(`retention: ${ts ? 0 : 1} default rows, 1 rejects, 1 devices deleted`));
  assert.equal(await psql(db.dsn, `SELECT string_agg(topic, ',') FROM rejects`), 'new/r/x');
  assert.equal(await psql(db.dsn, `SELECT string_agg(device, ',' ORDER BY device) FROM devices`), 'recent,still-online');
  assert.equal(await psql(db.dsn, `SELECT string_agg(topic, ',') FROM readings`), 'ret/d/new');
  // a second run has nothing left to delete; retention 0 keeps everything
  const again = spawnSensorpipe(['migrate', '--db', db.dsn, '--retention-days', '0']);
  assert.equal(await again.exited, 0, again.output());
  assert.match(again.output(), /retention: 0 default rows, 0 rejects, 0 devices deleted/);
});

const execFileP = promisify(execFile);

test('migration 005 on a database holding out-of-range values: they move to rejects and the bucket API answers 200 again', async () => {
  const name = `bounds005_${process.pid}_${Date.now()}`;
  await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
  const dsn = dsnFor(name);
  // the schema as 001-004 left it, recorded as `migrate` records it
  for (const f of ['001_schema.sql', '002_hourly_rollup.sql', '003_minute_rollup.sql', '004_rollup_levels.sql'])
    await execFileP('psql', ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-f', path.join(ROOT, 'db', f)]);
  await psql(dsn, `CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO schema_migrations (version, name) VALUES (1, '001_schema'), (2, '002_hourly_rollup'), (3, '003_minute_rollup'), (4, '004_rollup_levels')`);
  await psql(dsn, `INSERT INTO readings (ts, topic, value) VALUES (now(), 'm5/t/x', 1e160), (now(), 'm5/t/x', 21.5),
    (now(), 'm5/t/nan', 'NaN'), (now(), 'm5/t/y', 1e15)`);
  const url = async (port) => `http://127.0.0.1:${port}/api/readings?topic=m5/t/%2B&bucket=1m`;
  const serveAt = async () => {
    const port = await freePort();
    const s = spawnSensorpipe(['serve', '--db', dsn, '--listen', `127.0.0.1:${port}`, '--no-migrate'], { name: 'serve' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => ({}))).status === 200,
      { timeout: 15000, message: 'serve to answer /healthz' });
    return { s, port };
  };
  // before: one reading of 1e160 is stored (it broke every bucket of its minute with a 500: serve
  // cannot show that any more, as it needs the people tables of db/007 to let anyone in)
  assert.equal(await psql(dsn, "SELECT count(*) FROM readings WHERE value = 1e160"), '1');
  let s, port;
  const m = spawnSensorpipe(['migrate', '--db', dsn]);
  assert.equal(await m.exited, 0, m.output());
  assert.match(m.output(), /applied migration 005_bounds/);
  assert.match(m.output(), /value bound validated/);
  const moved = (await psql(dsn, `SELECT topic || ' ' || convert_from(payload, 'UTF8') FROM rejects
    WHERE reason LIKE 'value out of range:%migration 005%' ORDER BY topic`)).split('\n');
  assert.equal(moved.length, 2, moved.join('\n'));
  assert.match(moved[0], /^m5\/t\/nan \{"value" : "NaN", "ts" : "\d{4}-/);
  assert.match(moved[1], /^m5\/t\/x \{"value" : 1e\+160, "ts" : "\d{4}-/);
  assert.equal(await psql(dsn, `SELECT string_agg(topic || ' ' || value, ',' ORDER BY topic) FROM readings`), 'm5/t/x 21.5,m5/t/y 1e+15');
  ({ s, port } = await serveAt());
  try {
    const after = await fetch(await url(port));
    const body = await after.text();
    assert.equal(after.status, 200, body);
    const rows = JSON.parse(body).rows;
    assert.deepEqual(rows.map((r) => [r.topic, r.avg, r.count]), [['m5/t/x', 21.5, 1], ['m5/t/y', 1e15, 1]]);
    // the rollup of that minute was recounted without the moved rows
    assert.equal(await psql(dsn, `SELECT string_agg(topic || ' ' || n || ' ' || sum, ',' ORDER BY topic) FROM readings_minutely`),
      (await onTimescale(dsn)) ? '' : 'm5/t/x 1 21.5,m5/t/y 1 1e+15');
  } finally {
    await s.stop();
  }
});
