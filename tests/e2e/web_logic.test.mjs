// web_logic.test.mjs - the dashboard's non-DOM logic in Node, no browser needed:
// topic/value/time formatting, the ranges' buckets and URL state, presence spans, the reconnect backoff, and the WebSocket client's
// protocol handling (backfill, dedupe by id, gap -> resume, drop -> resume,
// presence, unknown frames) against a scripted `ws` server.
//
// web/*.js are browser ES modules with a .js suffix; Node 20 loads them as ES
// modules only under a package.json that says so, so they are copied to a
// temporary folder that has one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
let tmp;
let fmt;
let wsmod;
let range;
let device;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-web-'));
  for (const f of ['format.js', 'stream.js', 'range.js', 'device.js']) await fs.copyFile(path.join(WEB, f), path.join(tmp, f));
  await fs.writeFile(path.join(tmp, 'package.json'), '{"type":"module"}\n');
  fmt = await import(pathToFileURL(path.join(tmp, 'format.js')).href);
  wsmod = await import(pathToFileURL(path.join(tmp, 'stream.js')).href);
  range = await import(pathToFileURL(path.join(tmp, 'range.js')).href);
  device = await import(pathToFileURL(path.join(tmp, 'device.js')).href);
  globalThis.WebSocket = WebSocket; // Node 20 has no WebSocket global
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('topicInfo names the firmware topics and falls back for others', () => {
  const cases = [
    ['pico/temperature/dht22', 'pico', 'Air temperature', '°C', true],
    ['pico/humidity/dht22', 'pico', 'Humidity', '%', true],
    ['pico/temperature/internal', 'pico', 'Chip temperature', '°C', true],
    ['shed/pressure/bmp280', 'shed', 'Pressure', 'hPa', false],
    ['shed/weird/x/y', 'shed', 'Weird', '', false],
    ['lonely', 'lonely', 'lonely', '', false],
    ['/a/b', '(none)', 'A', '', false],
  ];
  for (const [topic, device, label, unit, known] of cases) {
    const i = fmt.topicInfo(topic);
    assert.deepEqual([i.device, i.label, i.unit, i.known], [device, label, unit, known], topic);
  }
});

test('parseTs reads RFC 3339 with microseconds, PostgreSQL text and epochs', () => {
  const want = Date.UTC(2026, 10, 27, 10, 0, 0, 123);
  for (const s of [
    '2026-11-27T10:00:00.123456+00:00',
    '2026-11-27 10:00:00.123456+00',
    '2026-11-27T11:00:00.123+01:00',
    '2026-11-27T10:00:00.123Z',
    '2026-11-27T10:00:00.123+0000',
  ]) {
    assert.equal(fmt.parseTs(s), want, s);
  }
  assert.equal(fmt.parseTs(1795773600), 1795773600000);
  assert.ok(Number.isNaN(fmt.parseTs('')));
  assert.ok(Number.isNaN(fmt.parseTs('yesterday')));
  assert.ok(Number.isNaN(fmt.parseTs(null)));
});

test('formatValue and formatAge', () => {
  assert.equal(fmt.formatValue(23.44), '23.4');
  assert.equal(fmt.formatValue(23.45999), '23.5');
  assert.equal(fmt.formatValue(-0.04), '0.0');
  assert.equal(fmt.formatValue(1013), '1013.0');
  assert.equal(fmt.formatValue(NaN), '—');
  assert.equal(fmt.formatValue(undefined), '—');
  assert.equal(fmt.formatAge(-800), '0 s ago');
  assert.equal(fmt.formatAge(3400), '3 s ago');
  assert.equal(fmt.formatAge(59999), '59 s ago');
  assert.equal(fmt.formatAge(61000), '1 min ago');
  assert.equal(fmt.formatAge(2 * 3600e3 + 5), '2 h ago');
  assert.equal(fmt.formatAge(3 * 86400e3), '3 d ago');
  assert.equal(fmt.formatAge(NaN), '');
});

test('normalizeRow rejects what cannot be shown and keeps the rest', () => {
  assert.equal(fmt.normalizeRow(null), null);
  assert.equal(fmt.normalizeRow({ topic: 'a/b/c', value: 1 }), null); // no id
  assert.equal(fmt.normalizeRow({ id: 1, value: 1 }), null); // no topic
  assert.equal(fmt.normalizeRow({ id: 'x', topic: 'a/b/c' }), null);
  const r = fmt.normalizeRow({ id: '7', topic: 'a/b/c', value: '2.5', ts: '2026-11-27T10:00:00Z' });
  assert.deepEqual(r, { id: 7, topic: 'a/b/c', value: 2.5, ts: Date.UTC(2026, 10, 27, 10) });
  assert.ok(Number.isNaN(fmt.normalizeRow({ id: 8, topic: 'a/b/c', value: null }).value));
});

test('backoff: 0.5 s doubling to 10 s, jittered', () => {
  const lo = (a) => wsmod.backoffDelay(a, () => 0);
  const hi = (a) => wsmod.backoffDelay(a, () => 0.999999);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => Math.round(lo(a) / 0.8)), [500, 1000, 2000, 4000, 8000, 10000]);
  for (let a = 0; a < 40; a++) {
    assert.ok(hi(a) <= 10000, `attempt ${a}: ${hi(a)} ms is over the cap`);
    assert.ok(lo(a) >= 400, `attempt ${a}: ${lo(a)} ms`);
  }
  assert.ok(hi(0) > lo(0), 'jitter spreads the delay');
});

// A scripted server: each connection's URL is recorded and `script(ws, n)` runs.
async function scriptedServer(script) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const urls = [];
  wss.on('connection', (ws, req) => {
    urls.push(req.url);
    script(ws, urls.length, req.url);
  });
  return {
    base: `ws://127.0.0.1:${wss.address().port}`,
    urls,
    close: () => new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(r);
    }),
  };
}

function until(cond, what, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > timeout) return reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
      setTimeout(check, 10);
    };
    check();
  });
}

const row = (id, topic = 'pico/temperature/dht22', value = id / 10) => ({ id, ts: '2026-11-27T10:00:00.000001+00:00', topic, value });

test('stream: backfill, dedupe, gap -> resume after the last id, drop -> resume, presence', { timeout: 20000 }, async () => {
  const send = (ws, msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  const srv = await scriptedServer((ws, n) => {
    if (n === 1) {
      send(ws, { type: 'history', data: [row(1), row(2), row(3)] });
      send(ws, { type: 'reading', data: row(3) }); // duplicate: dropped
      send(ws, { type: 'readings', data: [row(5), row(4)] }); // out of order in a batch: sorted
      send(ws, { type: 'mystery', data: 42 }); // unknown: ignored
      send(ws, 'not json'); // ignored
      send(ws, { type: 'reading', data: { topic: 'x/y/z' } }); // no id: ignored
      send(ws, { type: 'presence', data: { device: 'pico', online: false, ts: '2026-11-27T10:00:01Z' } });
      send(ws, { type: 'gap', after: 2 }); // server's id is older than ours: resume from ours
    } else if (n === 2) {
      send(ws, { type: 'history', data: [row(4), row(5), row(6)] }); // 4, 5 again: dropped
      setTimeout(() => ws.terminate(), 50); // connection lost
    } else {
      send(ws, { type: 'history', data: [row(7, 'pico/humidity/dht22', 55.5)] });
    }
  });
  const got = [];
  const presence = [];
  const states = [];
  const stream = new wsmod.ReadingStream({
    base: srv.base,
    history: 500,
    onRows: (rows) => got.push(...rows.map((r) => r.id)),
    onPresence: (p) => presence.push(p),
    onState: (s, info) => states.push([s, info.url]),
  });
  try {
    stream.start();
    await until(() => got.includes(7), 'row 7 after two reconnects');
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7], 'every row once, in id order');
    assert.deepEqual(srv.urls, ['/ws?history=500', '/ws?after=5', '/ws?after=6']);
    assert.deepEqual(presence, [{ device: 'pico', online: false, ts: '2026-11-27T10:00:01Z' }]);
    assert.equal(stream.lastId, 7);
    assert.equal(stream.stats.dropped, 3);
    assert.equal(stream.stats.gaps, 1);
    assert.deepEqual(states[0], ['connecting', `${srv.base}/ws?history=500`]);
    assert.ok(states.some(([s]) => s === 'reconnecting'), 'says reconnecting while away');
    assert.equal(states.at(-1)[0], 'live');
  } finally {
    stream.stop();
    await srv.close();
  }
});

test('stream: a gap before any row resumes from the server\'s id; failures back off', { timeout: 20000 }, async () => {
  const t = [];
  const srv = await scriptedServer((ws, n) => {
    t.push(Date.now());
    if (n === 1) ws.send(JSON.stringify({ type: 'gap', after: 41 }));
    else if (n <= 3) ws.terminate(); // fail twice before saying anything
    else ws.send(JSON.stringify({ type: 'history', data: [row(42)] }));
  });
  const got = [];
  const stream = new wsmod.ReadingStream({ base: srv.base, onRows: (rows) => got.push(...rows.map((r) => r.id)) });
  try {
    stream.start();
    await until(() => got.length === 1, 'row 42', 15000);
    assert.deepEqual(srv.urls, ['/ws?history=500', '/ws?after=41', '/ws?after=41', '/ws?after=41']);
    const d = t.slice(1).map((x, i) => x - t[i]);
    assert.ok(d[0] < 450, `a gap reconnects quickly (${d[0]} ms)`);
    assert.ok(d[1] >= 350 && d[1] < 900, `first failure waits ~0.5 s (${d[1]} ms)`);
    assert.ok(d[2] >= 750 && d[2] < 1600, `second failure waits ~1 s (${d[2]} ms)`);
  } finally {
    stream.stop();
    await srv.close();
  }
});

test('ranges: at most 1000 buckets, whole minutes over an hour, whole hours over a day', () => {
  const want = { '1h': [5, '5s', 720], '6h': [60, '1m', 360], '24h': [120, '2m', 720], '7d': [3600, '1h', 168], '30d': [3600, '1h', 720] };
  for (const [name, [sec, param, n]] of Object.entries(want)) {
    const b = range.bucketFor(range.RANGES[name].ms);
    assert.equal(b, sec, name);
    assert.equal(range.bucketParam(b), param, name);
    assert.equal(range.RANGES[name].ms / 1000 / b, n, name);
  }
  for (let span = 1000; span < 400 * 86400e3; span *= 1.37) {
    const b = range.bucketFor(span);
    assert.ok(Math.ceil(span / 1000 / b) <= 1000 || b === 7 * 86400, `${span} ms: ${b} s`);
    if (span > 86400e3) assert.equal(b % 3600, 0, `${span} ms: ${b} s not whole hours`);
    else if (span > 3600e3) assert.equal(b % 60, 0, `${span} ms: ${b} s not whole minutes`);
  }
  // a relative window starts on a bucket and ends at the end of the bucket holding now
  const now = Date.parse('2026-03-01T10:03:10.5Z');
  const w = range.viewWindow({ range: '24h' }, now);
  assert.equal(w.end, Date.parse('2026-03-01T10:04:00Z'));
  assert.equal(w.from, Date.parse('2026-02-28T10:04:00Z'));
  assert.equal(w.to, now);
  assert.equal(w.bucket, 120);
});

test('the view round-trips through the URL hash; junk falls back to live', () => {
  for (const v of [
    { range: '24h', from: NaN, to: NaN, device: '' },
    { range: 'custom', from: Date.parse('2026-03-01T00:00:00Z'), to: Date.parse('2026-03-01T01:30:00.250Z'), device: 'pico' },
    { range: 'live', from: NaN, to: NaN, device: 'sim0001' },
  ]) assert.deepEqual(range.parseHash(range.toHash(v)), v);
  assert.equal(range.parseHash('#range=bogus').range, 'live');
  assert.equal(range.parseHash('#range=custom&from=x&to=y').range, 'live');
  assert.equal(range.parseHash('#range=custom&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z').range, 'live');
  assert.equal(range.parseHash('#device=a/b').device, '');
  assert.equal(range.parseHash('#device=%3Cimg%3E').device, '<img>'); // a name is text, shown with textContent
  const q = new URLSearchParams(range.readingsQuery({ from: 0, to: 3600e3, bucket: 120 }, 'pico/#'));
  assert.deepEqual(Object.fromEntries(q), { topic: 'pico/#', from: '1970-01-01T00:00:00.000Z', to: '1970-01-01T01:00:00.000Z', bucket: '2m', limit: '100000' });
  assert.match(range.timeZoneLabel(), /\(UTC[+-]\d\d:\d\d\)$/);
});

test('presence spans cover the window: unknown before the first change, then each state', () => {
  const t = (h) => Date.parse(`2026-03-01T0${h}:00:00Z`);
  const iso = (h) => new Date(t(h)).toISOString();
  assert.deepEqual(device.presenceSpans(null, [{ online: true, ts: iso(2) }, { online: false, ts: iso(3) }], t(1), t(5)), [
    { state: 'unknown', from: t(1), to: t(2) },
    { state: 'online', from: t(2), to: t(3) },
    { state: 'offline', from: t(3), to: t(5) },
  ]);
  assert.deepEqual(device.presenceSpans({ online: false, ts: iso(0) }, [], t(1), t(2)), [{ state: 'offline', from: t(1), to: t(2) }]);
  // a change at from itself, and one out of order, are handled
  assert.deepEqual(device.presenceSpans(null, [{ online: true, ts: iso(1) }, { online: false, ts: iso(0) }], t(1), t(2)), [
    { state: 'online', from: t(1), to: t(2) },
  ]);
});
