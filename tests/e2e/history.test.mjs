// history.test.mjs - ranges, zoom, URL state and the device page in headless Chromium, against
// the real pipeline and a known dataset inserted by the test (issue 14).
//
// The dataset: device `hist`, two topics, a reading pair every 10 minutes over the last 26 hours
// (values v and v + 1, so a bucket's average is v + 0.5 when it holds one pair), with a 2-hour
// gap 6 to 8 hours ago. The expected buckets are computed here from that list, not by the
// server: per range, the count of buckets with data and each bucket's avg/min/max/count.
//
// Run: as tests/e2e/dashboard.test.mjs (scripts/test.sh e2e, or node --test with PGHOST/PGPORT/
// PGUSER, SENSORPIPE_MQTT_PORT and SENSORPIPE_BIN set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';
import { startPipeline, waitFor, ROOT, BIN } from '../lib/harness.mjs';

const CHROMIUM = process.env.SENSORPIPE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 15000;
const SHOTS = path.join(ROOT, 'build/e2e');
const USER = 'historian';
const PASSWORD = 'e2e-history-password-42';

const DEV = 'hist';
const T_TEMP = `${DEV}/temperature/dht22`;
const T_HUM = `${DEV}/humidity/dht22`;
const STEP_MS = 10 * 60 * 1000;

let pipe;
let context;
let page;
let userDataDir;
const pageErrors = [];
let readings = []; // [{topic, ts (ms), value}] inserted by the test

async function diagnose() {
  const lines = [];
  if (page) {
    const s = await page.evaluate(() => ({
      url: location.href,
      view: globalThis.sensorpipe?.view?.(),
      win: globalThis.sensorpipe?.history?.win,
      fetches: globalThis.sensorpipe?.history?.fetches,
      drawn: document.documentElement.dataset.chartDrawn,
      range: document.documentElement.dataset.chartRange,
      note: document.getElementById('chart-note')?.textContent,
    })).catch((e) => ({ error: e.message }));
    lines.push(`page: ${JSON.stringify(s)}`);
  }
  lines.push(`page errors: ${JSON.stringify(pageErrors)}`);
  if (pipe?.serve) lines.push(`serve output (tail):\n${pipe.serve.output().slice(-1500)}`);
  return lines.join('\n');
}

async function waitPage(fn, arg, what) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  } catch (err) {
    assert.fail(`${what}: not within ${WAIT_MS} ms (${err.message.split('\n')[0]})\n${await diagnose()}`);
  }
}

// Wait until the chart has drawn `range` after draw number `since`.
async function waitDrawn(range, since) {
  await waitPage(([r, n]) => document.documentElement.dataset.chartRange === r && Number(document.documentElement.dataset.chartDrawn) > n,
    [range, since], `the chart to draw range ${range}`);
}
const drawnCount = () => page.evaluate(() => Number(document.documentElement.dataset.chartDrawn || 0));

// The buckets the data gives for [from, to) of width bucketS: Map bucket start (s) -> {avg, min, max, count}.
function expected(topic, from, to, bucketS) {
  const b = bucketS * 1000;
  const m = new Map();
  for (const r of readings) {
    if (r.topic !== topic || r.ts < from || r.ts >= to) continue;
    const k = Math.floor(r.ts / b) * bucketS;
    const e = m.get(k) || { sum: 0, min: Infinity, max: -Infinity, count: 0 };
    e.sum += r.value;
    e.min = Math.min(e.min, r.value);
    e.max = Math.max(e.max, r.value);
    e.count++;
    m.set(k, e);
  }
  return m;
}

// Compare what the page holds for topic with the dataset, over the page's own window.
async function checkBuckets(topic, range) {
  const got = await page.evaluate((t) => {
    const h = globalThis.sensorpipe.history;
    return { win: h.win, buckets: h.buckets()[t] || [], t0: h.t0 };
  }, topic);
  const want = expected(topic, got.win.from, got.t0, got.win.bucket);
  const drawn = got.buckets.filter(Boolean);
  assert.equal(drawn.length, want.size, `${range}: buckets with data for ${topic} (bucket ${got.win.bucket} s)\n${await diagnose()}`);
  for (const [x, avg, min, max, count] of drawn) {
    const w = want.get(x);
    assert.ok(w, `${range}: a bucket at ${new Date(x * 1000).toISOString()} the data does not have`);
    assert.equal(count, w.count, `${range}: count at ${new Date(x * 1000).toISOString()}`);
    assert.ok(Math.abs(avg - w.sum / w.count) < 1e-9, `${range}: avg at ${new Date(x * 1000).toISOString()}: ${avg} != ${w.sum / w.count}`);
    assert.equal(min, w.min);
    assert.equal(max, w.max);
  }
  // gaps are nulls between buckets (drawn with spanGaps false, not joined): the longest run of them
  let longestGap = 0;
  const first = got.buckets.findIndex(Boolean);
  for (let i = first, run = 0; i >= 0 && i < got.buckets.length; i++) {
    run = got.buckets[i] ? 0 : run + 1;
    longestGap = Math.max(longestGap, run);
  }
  return { win: got.win, drawn: drawn.length, total: got.buckets.length, longestGap };
}

before(async () => {
  pipe = await startPipeline({ dbPrefix: 'e2ehist' });
  await new Promise((resolve, reject) => {
    const child = execFile(BIN, ['user', 'add', USER, '--db', pipe.dsn], { cwd: ROOT }, (err, _o, stderr) =>
      err ? reject(new Error(`user add: ${stderr}`)) : resolve());
    child.stdin.end(`${PASSWORD}\n`);
  });
  // the dataset, aligned to 10 minutes, 26 h back, a 2 h gap 6-8 h ago
  const base = Math.floor(Date.now() / STEP_MS) * STEP_MS - STEP_MS;
  readings = [];
  for (let i = 0; i < 26 * 6; i++) {
    if (i >= 36 && i < 48) continue;
    const ts = base - i * STEP_MS;
    const v = (i % 20) * 0.5;
    readings.push({ topic: T_TEMP, ts: ts + 10000, value: 20 + v }, { topic: T_TEMP, ts: ts + 20000, value: 21 + v });
    readings.push({ topic: T_HUM, ts: ts + 15000, value: 50 + v });
  }
  const values = readings.map((r) => `('${new Date(r.ts).toISOString()}', '${r.topic}', ${r.value})`).join(',');
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES ${values}`);
  await pipe.psql(`INSERT INTO devices (device, online, updated_at) VALUES ('${DEV}', true, now() - interval '3 hours')`);
  await pipe.psql(`UPDATE devices SET online = false, updated_at = now() - interval '2 hours' WHERE device = '${DEV}'`);
  await pipe.psql(`UPDATE devices SET online = true, updated_at = now() - interval '1 hour' WHERE device = '${DEV}'`);

  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-e2e-history-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 800 }, timeout: 30000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(pipe.httpUrl + '/', { waitUntil: 'domcontentloaded' });
  await page.fill('#name', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#submit');
  await page.waitForURL((u) => new URL(u).pathname === '/', { timeout: WAIT_MS });
  await waitPage(() => document.getElementById('conn-state')?.textContent === 'live', null, 'the dashboard to go live');
}, { timeout: 90000 });

after(async () => {
  if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]).catch(() => {});
  if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  await pipe?.stop();
}, { timeout: 60000 });

test('switching ranges draws the expected buckets with the right averages; gaps stay gaps', { timeout: 60000 }, async () => {
  for (const [range, bucket] of [['24h', 120], ['1h', 5], ['7d', 3600], ['6h', 60]]) {
    const n = await drawnCount();
    await page.click(`#ranges button[data-range="${range}"]`);
    await waitDrawn(range, n);
    const r = await checkBuckets(T_TEMP, range);
    assert.equal(r.win.bucket, bucket, `${range}: bucket width`);
    assert.ok(r.total <= 1000, `${range}: ${r.total} points`);
    await checkBuckets(T_HUM, range);
    assert.match(page.url(), new RegExp(`#range=${range}$`));
    if (range === '24h') {
      await fs.mkdir(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, 'history-24h-1280x800.png'), fullPage: true });
      assert.equal(r.total, 720, '24 h of 2 min buckets');
      // one bucket per reading pair (144 steps of 10 min, less the 12 of the gap, less one at
      // the window's start depending on where now falls in 10 minutes)
      assert.ok(r.drawn === 132 || r.drawn === 131, `24 h: ${r.drawn} buckets with data`);
      assert.ok(r.longestGap >= 60 - 5 && r.longestGap <= 65, `the 2 h gap is ${r.longestGap} null buckets of 2 min`);
    }
  }
  // the zone is said on the page
  const tz = await page.textContent('#tz');
  const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.ok(tz.includes(zone), `the page names the time zone ${zone}: "${tz}"`);
});

test('drag to zoom fetches finer buckets, the URL round-trips, double-click goes back', { timeout: 60000 }, async () => {
  let n = await drawnCount();
  await page.click('#ranges button[data-range="24h"]');
  await waitDrawn('24h', n);
  const before24 = await page.evaluate(() => ({ fetches: globalThis.sensorpipe.history.fetches, bucket: globalThis.sensorpipe.history.win.bucket }));
  const box = await page.locator('#history .u-over').boundingBox();
  n = await drawnCount();
  await page.mouse.move(box.x + box.width * 0.70, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await waitDrawn('custom', n);
  const zoomed = await page.evaluate(() => ({ fetches: globalThis.sensorpipe.history.fetches, win: globalThis.sensorpipe.history.win, view: globalThis.sensorpipe.view() }));
  assert.equal(zoomed.fetches, before24.fetches + 1, 'the zoom fetched once');
  assert.ok(zoomed.win.bucket < before24.bucket, `finer buckets: ${zoomed.win.bucket} s < ${before24.bucket} s`);
  const span = zoomed.view.to - zoomed.view.from;
  assert.ok(span > 60 * 60 * 1000 * 0.9 && span < 60 * 60 * 1000 * 1.5, `about 5 % of 24 h selected, got ${span} ms`);
  await checkBuckets(T_TEMP, 'zoom');
  const url = page.url();
  assert.match(url, /#range=custom&from=.*&to=/);
  const zoomedBuckets = await page.evaluate(() => globalThis.sensorpipe.history.buckets());

  // the URL opens the same view in a new tab
  const other = await context.newPage();
  try {
    await other.goto(url, { waitUntil: 'domcontentloaded' });
    await other.waitForFunction(() => document.documentElement.dataset.chartRange === 'custom', null, { timeout: WAIT_MS });
    const same = await other.evaluate(() => ({ view: globalThis.sensorpipe.view(), buckets: globalThis.sensorpipe.history.buckets() }));
    assert.equal(same.view.from, zoomed.view.from);
    assert.equal(same.view.to, zoomed.view.to);
    assert.deepEqual(same.buckets, zoomedBuckets, 'the same buckets in the new tab');
  } finally {
    await other.close();
  }

  // zoom again into the zoomed view: finer still; the Back button returns to the first zoom
  n = await drawnCount();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await waitPage(([n0, f]) => Number(document.documentElement.dataset.chartDrawn) > n0 && globalThis.sensorpipe.history.fetches === f,
    [n, zoomed.fetches + 1], 'the second zoom to draw');
  const zoom2 = await page.evaluate(() => globalThis.sensorpipe.history.win.bucket);
  assert.ok(zoom2 < zoomed.win.bucket, `second zoom: ${zoom2} s < ${zoomed.win.bucket} s`);
  n = await drawnCount();
  await page.click('#zoom-back');
  await waitPage(([n0, f]) => Number(document.documentElement.dataset.chartDrawn) > n0 && globalThis.sensorpipe.view().from === f,
    [n, zoomed.view.from], 'Back to the first zoom');
  assert.equal(page.url(), url);

  // double-click: back to 24 h
  n = await drawnCount();
  await page.dblclick('#history .u-over');
  await waitDrawn('24h', n);
  assert.match(page.url(), /#range=24h$/);
  assert.equal(await page.isHidden('#zoom-back'), true, 'nothing more to go back to');
});

test('a live reading moves the newest bucket of a range that ends now', { timeout: 60000 }, async () => {
  const n = await drawnCount();
  await page.click('#ranges button[data-range="1h"]');
  await waitDrawn('1h', n);
  const fetches = await page.evaluate(() => globalThis.sensorpipe.history.fetches);
  await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES (now(), '${T_TEMP}', 77.25), (now(), '${T_TEMP}', 78.25)`);
  await waitPage((t) => {
    const b = globalThis.sensorpipe.history.buckets()[t].filter(Boolean);
    const last = b[b.length - 1];
    return last && last[3] === 78.25 && last[2] === 77.25 && last[4] === 2 && last[1] === 77.75;
  }, T_TEMP, 'the newest bucket to take the two live readings (avg 77.75, min 77.25, max 78.25, count 2)');
  assert.equal(await page.evaluate(() => globalThis.sensorpipe.history.fetches), fetches, 'no re-fetch: the WebSocket moved it');
});

test('a device page shows its series, presence, a rejected payload with its reason, and the CSV of the range', { timeout: 60000 }, async () => {
  await pipe.publish(T_TEMP, '<b>not</b> a number', { qos: 1 });
  let n = await drawnCount();
  await page.click('#ranges button[data-range="24h"]');
  await waitDrawn('24h', n);
  n = await drawnCount();
  await page.click(`[data-device="${DEV}"] a.device-link`);
  await waitDrawn('24h', n);
  assert.match(page.url(), new RegExp(`#range=24h&device=${DEV}$`));
  assert.equal(await page.textContent('#crumbs-device'), DEV);
  const topics = await page.evaluate(() => Object.keys(globalThis.sensorpipe.history.buckets()).sort());
  assert.deepEqual(topics, [T_HUM, T_TEMP]);
  // presence: the three changes inserted above, as spans; newest (online) first
  await waitPage(() => document.querySelectorAll('[data-role="presence-spans"] li[data-state]').length >= 3, null, 'presence spans');
  const spans = await page.$$eval('[data-role="presence-spans"] li[data-state]', (els) => els.map((e) => e.dataset.state));
  assert.deepEqual(spans.slice(0, 3), ['online', 'offline', 'online']);
  // the rejected payload: its reason, and the payload as text (no element made from it)
  await waitFor(async () => (await pipe.psql(`SELECT count(*) FROM rejects WHERE topic = '${T_TEMP}'`)) === '1',
    { timeout: WAIT_MS, message: `the ingest to write the reject of ${T_TEMP}\n${pipe.ingest.output().slice(-1000)}` });
  await page.click('[data-role="rejects-refresh"]');
  await waitPage(() => document.querySelector('[data-role="rejects"] tr.reject'), null, 'a reject row on the device page');
  const rej = await page.$eval('[data-role="rejects"] tr.reject', (tr) => ({
    topic: tr.querySelector('.reject-topic').textContent,
    reason: tr.querySelector('.reject-reason').textContent,
    payload: tr.querySelector('.payload').textContent,
    elements: tr.querySelector('.payload').children.length,
  }));
  assert.equal(rej.topic, T_TEMP);
  assert.match(rej.reason, /number/);
  assert.equal(rej.payload, '<b>not</b> a number');
  assert.equal(rej.elements, 0, 'the payload is text, not HTML');
  // live on a device page: its topics only
  n = await drawnCount();
  await page.click('#ranges button[data-range="live"]');
  await waitPage(() => globalThis.sensorpipe.chart.plot && !document.getElementById('chart').hidden, null, 'the live chart');
  const liveTopics = await page.evaluate(() => globalThis.sensorpipe.chart.topics());
  assert.ok(liveTopics.length > 0 && liveTopics.every((t) => t.startsWith(`${'hist'}/`)), `live topics ${liveTopics}`);
  await page.click('#ranges button[data-range="24h"]');
  await waitDrawn('24h', n);
  // the CSV link carries the range on screen
  const href = await page.getAttribute('#csv', 'href');
  const q = new URLSearchParams(href.split('?')[1]);
  const win = await page.evaluate(() => globalThis.sensorpipe.history.win);
  assert.equal(q.get('topic'), `${DEV}/#`);
  assert.equal(q.get('bucket'), '2m');
  assert.equal(Date.parse(q.get('from')), win.from);
  const csv = await page.evaluate(async (h) => {
    const r = await fetch(h);
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
  }, href);
  assert.equal(csv.status, 200);
  assert.match(csv.type, /text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines[0], 'ts,topic,avg,min,max,count');
  assert.ok(lines.length > 200, `the CSV holds the buckets of the range: ${lines.length} lines`);
});

test('at phone width (375 px) the device page does not scroll sideways', { timeout: 30000 }, async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  try {
    await waitPage(() => document.querySelector('#history .uplot')?.getBoundingClientRect().width <= 375, null, 'the chart to fit 375 px');
    await fs.mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'history-device-375x800.png'), fullPage: true });
    const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth }));
    assert.ok(w.doc <= 375 && w.body <= 375, `the page is ${JSON.stringify(w)} px wide at 375 px`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  assert.deepEqual(pageErrors, [], 'no script errors on the page');
});
