// dashboard.test.mjs - the browser dashboard against the real pipeline.
//
// mosquitto_pub / psql -> real `sensorpipe ingest` -> real PostgreSQL -> NOTIFY ->
// real `sensorpipe serve` -> WebSocket -> the dashboard in headless Chromium.
// Every wait is bounded and fails with what the page and the database showed.
// Screenshots land in build/e2e/ (not committed) for a human to look at.
//
// Run: scripts/test.sh e2e  (or `node --test tests/e2e/` with PGHOST/PGPORT/PGUSER,
// SENSORPIPE_MQTT_PORT and SENSORPIPE_BIN pointing at running services and a build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';
import { startPipeline, ROOT, BIN } from '../lib/harness.mjs';

const CHROMIUM = process.env.SENSORPIPE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WAIT_MS = 15000; // longest we wait for one thing to show up on the page
const SHOTS = path.join(ROOT, 'build/e2e');

const DEV = 'pico';
const T_AIR = `${DEV}/temperature/dht22`;
const T_HUM = `${DEV}/humidity/dht22`;
const T_CHIP = `${DEV}/temperature/internal`;

const valueSel = (topic) => `[data-topic="${topic}"] [data-role="value"]`;
const presenceSel = (device) => `[data-device="${device}"] [data-role="presence"]`;

let pipe;
let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

// What the page and the pipeline looked like, for failure messages.
async function diagnose() {
  const lines = [];
  if (page) {
    const s = await page
      .evaluate(() => ({
        conn: document.getElementById('conn-state')?.textContent,
        url: document.getElementById('conn-url')?.textContent,
        detail: document.getElementById('conn-detail')?.textContent,
        cards: [...document.querySelectorAll('[data-topic]')].map(
          (c) => `${c.getAttribute('data-topic')}=${c.querySelector('[data-role="value"]')?.textContent}`,
        ),
        stats: globalThis.sensorpipe?.stream?.stats,
      }))
      .catch((e) => ({ error: e.message }));
    lines.push(`page: ${JSON.stringify(s)}`);
  }
  lines.push(`page errors: ${JSON.stringify(pageErrors)}`);
  lines.push(`console errors: ${JSON.stringify(consoleErrors)}`);
  if (pipe) {
    const rows = await pipe
      .psql('SELECT id, ts, topic, value FROM readings ORDER BY id DESC LIMIT 8')
      .catch((e) => `(psql failed: ${e.message})`);
    lines.push(`newest rows in the database:\n${rows || '(none)'}`);
    if (pipe.ingest) lines.push(`ingest output (tail):\n${pipe.ingest.output().slice(-1500)}`);
    if (pipe.serve) lines.push(`serve output (tail):\n${pipe.serve.output().slice(-1500)}`);
  }
  return lines.join('\n');
}

// Wait (bounded) until the element's text is exactly `expected`.
async function expectText(selector, expected, what) {
  try {
    await page.waitForFunction(
      ([sel, exp]) => document.querySelector(sel)?.textContent.trim() === exp,
      [selector, expected],
      { timeout: WAIT_MS },
    );
  } catch (err) {
    const actual = await page
      .evaluate((sel) => document.querySelector(sel)?.textContent ?? '(no such element)', selector)
      .catch(() => '(page gone)');
    assert.fail(
      `${what}: expected ${selector} to read "${expected}" within ${WAIT_MS} ms; it reads "${actual}".\n` +
        `(${err.message.split('\n')[0]})\n${await diagnose()}`,
    );
  }
}

// Set once the page said live; later tests fail at once without it instead
// of each waiting out its timeout behind the first, real failure.
let pageLive = false;
function requireLive() {
  assert.ok(pageLive, 'the dashboard never went live (see the first failure above)');
}

let stopped = false;
async function stopAll() {
  if (stopped) return null;
  stopped = true;
  // Close the browser first, then the pipeline; each step bounded, none skipped.
  if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]).catch(() => {});
  if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  return pipe ? pipe.stop() : null;
}

const USER = 'viewer';
const PASSWORD = 'e2e-password-0123';

before(async () => {
  pipe = await startPipeline({ dbPrefix: 'e2e' });
  await new Promise((resolve, reject) => {
    const child = execFile(BIN, ['user', 'add', USER, '--db', pipe.dsn], { cwd: ROOT }, (err, _out, stderr) =>
      err ? reject(new Error(`user add: ${stderr}`)) : resolve());
    child.stdin.end(`${PASSWORD}\n`);
  });
  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-e2e-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    timeout: 30000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
}, { timeout: 90000 });

after(async () => {
  await stopAll();
}, { timeout: 60000 });

test('serve hands out the dashboard and every asset locally', { timeout: 30000 }, async () => {
  for (const [p, type] of [
    ['/', /text\/html/],
    ['/app.js', /javascript/],
    ['/stream.js', /javascript/],
    ['/chart.js', /javascript/],
    ['/cards.js', /javascript/],
    ['/format.js', /javascript/],
    ['/style.css', /text\/css/],
    ['/vendor/uPlot.iife.min.js', /javascript/],
    ['/vendor/uPlot.min.css', /text\/css/],
  ]) {
    // One keep-alive connection for all of them, as a browser does; a response
    // that never completes fails here by name instead of hanging the page later.
    let res;
    try {
      res = await fetch(pipe.httpUrl + p, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
    } catch (err) {
      assert.fail(`GET ${p} (on a reused keep-alive connection): no complete response within 5 s: ${err.message}\n${await diagnose()}`);
    }
    assert.equal(res.status, 200, `GET ${p}: HTTP ${res.status}` + (p.includes('vendor') ? ' (web/vendor is filled by `make web`)' : ''));
    // Module scripts and stylesheets are refused by the browser with a wrong MIME type.
    assert.match(res.headers.get('content-type') || '', type, `GET ${p}: Content-Type ${res.headers.get('content-type')}`);
  }
});

// Fill the login form and submit it; resolves once the browser has navigated.
async function submitLogin(password) {
  await page.fill('#name', USER);
  await page.fill('#password', password);
  await page.click('#submit');
}

test('without a session / shows the login page; a wrong password is refused there', { timeout: 30000 }, async () => {
  await page.goto(pipe.httpUrl + '/', { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  assert.equal(new URL(page.url()).pathname, '/login.html', `/ without a session went to ${page.url()}`);
  await submitLogin('not the password');
  await page.waitForSelector('#error:not([hidden])', { timeout: WAIT_MS });
  assert.match(await page.textContent('#error'), /Wrong name or password/);
  assert.equal(new URL(page.url()).pathname, '/login.html');
  // the session cookie is HttpOnly: scripts of the page never see it
  assert.equal(await page.evaluate(() => document.cookie), '');
});

test('logging in opens the dashboard', { timeout: 30000 }, async () => {
  await submitLogin(PASSWORD);
  await page.waitForURL((u) => new URL(u).pathname === '/', { timeout: WAIT_MS });
  const cookies = await context.cookies(pipe.httpUrl);
  const c = cookies.find((k) => k.name === 'sp_session');
  assert.ok(c, 'a session cookie was set');
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '');
  requests.length = 0; // the next test loads the dashboard afresh and counts its requests
});

test('dashboard connects and says live', { timeout: 30000 }, async () => {
  await page.goto(pipe.httpUrl + '/', { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  await expectText('#conn-state', 'live', 'connection indicator');
  const url = await page.textContent('#conn-url');
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\?history=500$/, `the indicator shows the ws URL, got ${url}`);
  pageLive = true;
});

test('an MQTT reading shows up in its card', { timeout: 30000 }, async () => {
  requireLive();
  await pipe.publish(T_AIR, '23.4', { qos: 1 });
  await expectText(valueSel(T_AIR), '23.4', `after mosquitto_pub ${T_AIR} 23.4`);
  const age = await page.textContent(`[data-topic="${T_AIR}"] [data-role="age"]`);
  assert.match(age, /^\d+ s ago$/, `age of a fresh reading, got "${age}"`);
});

test('a row inserted with psql shows up in the humidity card', { timeout: 30000 }, async () => {
  requireLive();
  await pipe.psql(`INSERT INTO readings(ts, topic, value) VALUES (now(), '${T_HUM}', 55.5)`);
  await expectText(valueSel(T_HUM), '55.5', 'after INSERT INTO readings');
});

test('device presence flips the badge', { timeout: 40000 }, async () => {
  requireLive();
  // Not retained: the broker is shared by every test file.
  await pipe.publish(`${DEV}/status`, 'online', { qos: 1 });
  await expectText(presenceSel(DEV), 'online', `after ${DEV}/status online`);
  await pipe.publish(`${DEV}/status`, 'offline', { qos: 1 });
  await expectText(presenceSel(DEV), 'offline', `after ${DEV}/status offline`);
  await pipe.publish(`${DEV}/status`, 'online', { qos: 1 });
  await expectText(presenceSel(DEV), 'online', `after ${DEV}/status online again`);
});

test('after a dropped socket it resumes with ?after=<last id>: nothing missed, nothing twice', { timeout: 40000 }, async () => {
  requireLive();
  await page.evaluate(() => globalThis.sensorpipe.stream.ws.close());
  await pipe.psql(`INSERT INTO readings(ts, topic, value) VALUES (now(), '${T_CHIP}', 31.2)`);
  await expectText(valueSel(T_CHIP), '31.2', 'row inserted while the socket was down');
  await expectText('#conn-state', 'live', 'connection indicator after reconnect');
  const url = await page.textContent('#conn-url');
  assert.match(url, /\/ws\?after=\d+$/, `reconnect resumes after the last id, got ${url}`);
  // A fresh database: every row in it must have reached the page exactly once.
  const count = Number(await pipe.psql('SELECT count(*) FROM readings'));
  try {
    await page.waitForFunction((n) => globalThis.sensorpipe.stream.stats.rows === n, count, { timeout: WAIT_MS });
  } catch {
    assert.fail(`the page should have received each of the ${count} rows once\n${await diagnose()}`);
  }
  const stats = await page.evaluate(() => globalThis.sensorpipe.stream.stats);
  assert.equal(stats.dropped, 0, `the server resent rows the page already had: ${JSON.stringify(stats)}`);
});

test('the chart draws a series per topic', { timeout: 30000 }, async () => {
  requireLive();
  // Five minutes of history before the first reading, so the lines have a
  // shape; older than every card value, so the cards must not change.
  await pipe.psql(`
    INSERT INTO readings(ts, topic, value)
    SELECT (SELECT min(ts) FROM readings) - i * interval '6 s', t.topic, t.base + t.amp * sin(i / 6.0)
    FROM generate_series(1, 50) AS i,
         (VALUES ('${T_AIR}', 22.5, 1.2), ('${T_HUM}', 56.0, 4.0), ('${T_CHIP}', 30.5, 0.8)) AS t(topic, base, amp)`);
  try {
    await page.waitForFunction(
      () => {
        const s = globalThis.sensorpipe.chart.series;
        return document.querySelector('#chart .uplot canvas') && s.size >= 3 && [...s.values()].every((x) => x.t.length >= 40);
      },
      null,
      { timeout: WAIT_MS },
    );
  } catch {
    assert.fail(`no uPlot chart with 3 series of history\n${await diagnose()}`);
  }
  // The late history must not have overwritten the newest values in the cards.
  assert.equal(await page.textContent(valueSel(T_AIR)), '23.4');
  assert.equal(await page.textContent(valueSel(T_HUM)), '55.5');
});

test('screenshots at 1280x800 and 375x800; nothing overflows on a phone', { timeout: 30000 }, async () => {
  requireLive();
  await fs.mkdir(SHOTS, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.waitForTimeout(400); // let ResizeObserver and the chart settle
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-1280x800.png') });
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(400);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-375x800.png'), fullPage: true });
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    chart: document.querySelector('#chart canvas')?.getBoundingClientRect().width,
  }));
  assert.ok(widths.doc <= 375, `page is ${widths.doc}px wide at a 375px viewport`);
  assert.ok(widths.chart > 0 && widths.chart <= 375, `chart did not resize to the phone width: ${widths.chart}px`);
});

test('no polling, nothing from the internet, no script errors', { timeout: 10000 }, async () => {
  const origin = new URL(pipe.httpUrl);
  const foreign = requests.filter((u) => {
    const h = new URL(u).host;
    return h !== origin.host && !u.startsWith('data:');
  });
  assert.deepEqual(foreign, [], 'every request stays on the sensorpipe server');
  const apiCalls = requests.filter((u) => new URL(u).pathname.startsWith('/api/'));
  assert.deepEqual(
    apiCalls.map((u) => new URL(u).pathname),
    ['/api/topics'],
    'the page fetches /api/topics once and then only listens',
  );
  assert.deepEqual(pageErrors, [], 'uncaught exceptions in the page');
  // the refused login of the test above is logged by Chromium as a failed resource (401)
  assert.deepEqual(consoleErrors.filter((e) => !/status of 401/.test(e)), [], 'console errors in the page');
});

test('an expired session: a reload goes back to the login page', { timeout: 30000 }, async () => {
  await pipe.psql("UPDATE sessions SET expires_at = now() - interval '1 second'");
  // serve reloads sessions every 0.5 s
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    await page.goto(pipe.httpUrl + '/', { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    if (new URL(page.url()).pathname === '/login.html') break;
    assert.ok(Date.now() < deadline, `still on ${page.url()} after the session expired\n${await diagnose()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test('log in again, then Log out: back at the login page, and / stays closed', { timeout: 30000 }, async () => {
  await submitLogin(PASSWORD);
  await page.waitForURL((u) => new URL(u).pathname === '/', { timeout: WAIT_MS });
  await expectText('#conn-state', 'live', 'connection indicator after logging in again');
  await page.click('#logout');
  await page.waitForURL((u) => new URL(u).pathname === '/login.html', { timeout: WAIT_MS });
  assert.equal((await context.cookies(pipe.httpUrl)).filter((k) => k.name === 'sp_session' && k.value).length, 0);
  assert.equal(await pipe.psql('SELECT count(*) FROM sessions WHERE expires_at > now()'), '0');
  await page.goto(pipe.httpUrl + '/', { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  assert.equal(new URL(page.url()).pathname, '/login.html');
});

test('browser and pipeline stop cleanly', { timeout: 60000 }, async () => {
  const codes = await stopAll();
  for (const [name, code] of Object.entries(codes || {})) {
    assert.equal(code, 0, `sensorpipe ${name} exited ${code} on SIGTERM (its output is printed above)`);
  }
});
