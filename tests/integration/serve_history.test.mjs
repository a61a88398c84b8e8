// serve_history.test.mjs - the device page's routes: GET /api/rejects (a device's rejected payloads,
// newest first, payload as text) and GET /api/presence (presence changes kept by db/008's trigger
// on devices, with the state at `from`); bad parameters get 400 with the reason, no credentials 401;
// presence_history stays bounded: 1000 rows per device, and the retention.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, fetchNoAuth } from '../lib/harness.mjs';

let pipe;

before(async () => {
  pipe = await startPipeline({ ingest: false, dbPrefix: 'history' });
});

after(async () => {
  await pipe?.stop();
});

async function get(path) {
  const res = await fetch(`${pipe.httpUrl}${path}`);
  const body = await res.json();
  return { status: res.status, body };
}

test('/api/rejects lists one device\'s rejects newest first, payload as text, bounded by limit', async () => {
  await pipe.psql(`INSERT INTO rejects (topic, payload, reason) VALUES
    ('dev1/temperature/dht22', 'abc', 'not a number'),
    ('dev2/temperature/dht22', 'zzz', 'not a number'),
    ('dev1/status', 'maybe', 'status payload must be "online" or "offline"'),
    ('dev1/temperature/dht22', '<img src=x onerror=alert(1)>'::bytea || '\\xff00'::bytea, 'not a number'),
    ('dev1x/a/b', 'other device', 'not a number')`);
  const all = await get('/api/rejects?device=dev1');
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual(all.body.rows.map((r) => [r.topic, r.reason]), [
    ['dev1/temperature/dht22', 'not a number'],
    ['dev1/status', 'status payload must be "online" or "offline"'],
    ['dev1/temperature/dht22', 'not a number'],
  ]);
  const newest = all.body.rows[0];
  assert.equal(newest.payload, '<img src=x onerror=alert(1)>\ufffd\u0000'); // invalid UTF-8 as U+FFFD, NUL kept as text
  assert.equal(newest.bytes, 30);
  assert.match(newest.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  assert.ok(all.body.rows[0].id > all.body.rows[1].id && all.body.rows[1].id > all.body.rows[2].id);
  const one = await get('/api/rejects?device=dev1&limit=1');
  assert.deepEqual(one.body.rows, [newest]);
  const every = await get('/api/rejects');
  assert.equal(every.body.rows.length, 5);
  assert.deepEqual((await get('/api/rejects?device=nobody')).body, { rows: [] });
});

test('/api/presence gives the state at from and the changes in [from, to), written by the trigger on devices', async () => {
  await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('p1', true, '2026-03-01T00:00:00Z')`);
  await pipe.psql(`UPDATE devices SET online = false, updated_at = '2026-03-01T01:00:00Z' WHERE device = 'p1'`);
  await pipe.psql(`UPDATE devices SET online = true, updated_at = '2026-03-01T02:00:00Z' WHERE device = 'p1'`);
  await pipe.psql(`UPDATE devices SET online = false, updated_at = '2026-03-01T03:30:00Z' WHERE device = 'p1'`);
  const r = await get('/api/presence?device=p1&from=2026-03-01T00:30:00Z&to=2026-03-01T03:00:00Z');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, {
    before: { online: true, ts: '2026-03-01T00:00:00.000000+00:00' },
    changes: [
      { online: false, ts: '2026-03-01T01:00:00.000000+00:00' },
      { online: true, ts: '2026-03-01T02:00:00.000000+00:00' },
    ],
  });
  const early = await get('/api/presence?device=p1&from=2026-02-01T00:00:00Z&to=2026-03-01T00:00:00Z');
  assert.deepEqual(early.body, { before: null, changes: [] });
  const lim = await get('/api/presence?device=p1&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&limit=2');
  assert.equal(lim.body.changes.length, 2);
});

test('presence_history keeps at most 1000 changes per device', async () => {
  await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('flappy', true, '2026-03-01T00:00:00Z')`);
  await pipe.psql(`DO $$ BEGIN FOR i IN 1..1100 LOOP
      UPDATE devices SET online = NOT online, updated_at = updated_at + interval '1 second' WHERE device = 'flappy';
    END LOOP; END $$`);
  assert.equal(await pipe.psql(`SELECT count(*) FROM presence_history WHERE device = 'flappy'`), '1000');
  assert.equal(await pipe.psql(`SELECT max(ts) = (SELECT updated_at FROM devices WHERE device = 'flappy') FROM presence_history WHERE device = 'flappy'`), 't');
});

test('presence_history drops changes older than the retention at the next change', async () => {
  await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('old1', false, now() - interval '40 days')`);
  await pipe.psql(`UPDATE sensorpipe_settings SET value = '30' WHERE key = 'retention_days'`);
  try {
    await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('new1', true, now())`);
    assert.equal(await pipe.psql(`SELECT count(*) FROM presence_history WHERE device = 'old1'`), '0');
    assert.equal(await pipe.psql(`SELECT count(*) FROM presence_history WHERE device = 'new1'`), '1');
  } finally {
    await pipe.psql(`UPDATE sensorpipe_settings SET value = '0' WHERE key = 'retention_days'`);
  }
});

test('bad parameters get 400 with the reason', async () => {
  for (const [path, reason] of [
    ['/api/rejects?device=a/b', /device must be a device name/],
    ['/api/rejects?device=%2B', /device must be a device name/],
    ['/api/rejects?limit=0', /limit must be an integer between 1 and 1000/],
    ['/api/rejects?limit=1001', /limit must be an integer between 1 and 1000/],
    ['/api/rejects?limit=1&limit=2', /given more than once/],
    ['/api/rejects?topic=x', /unknown parameter 'topic' \(known: device, limit\)/],
    ['/api/presence', /device is required/],
    ['/api/presence?device=p1&from=yesterday', /from must be an RFC 3339 time/],
    ['/api/presence?device=p1&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', /from must be earlier than to/],
    ['/api/presence?device=p1&limit=10001', /limit must be an integer between 1 and 10000/],
  ]) {
    const r = await get(path);
    assert.equal(r.status, 400, path);
    assert.match(r.body.error, reason, path);
  }
  const m = await (await fetch(`${pipe.httpUrl}/metrics`)).text();
  assert.match(m, /sensorpipe_http_refused_total\{reason="bad_request"\} ([1-9]\d*)/);
});

test('without credentials both routes answer 401', async () => {
  for (const path of ['/api/rejects?device=dev1', '/api/presence?device=p1']) {
    const res = await fetchNoAuth(`${pipe.httpUrl}${path}`);
    assert.equal(res.status, 401, path);
    assert.doesNotMatch(await res.text(), /dev1\/temperature/);
  }
});
