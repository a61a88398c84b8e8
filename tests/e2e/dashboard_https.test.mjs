// dashboard_https.test.mjs - the dashboard in headless Chromium over HTTPS, as `make run` serves it:
// serve with --tls-cert/--tls-key from scripts/tls.sh, and the browser trusting that CA the way a
// user does (the CA added to the browser's own NSS database with certutil, in a private HOME), not
// by ignoring certificate errors. Live values must still show under the Content-Security-Policy,
// over wss://, with no CSP violation; a page of another origin cannot frame it.
//
// Run: scripts/test.sh e2e (needs certutil: libnss3-tools, scripts/install-deps.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { BIN, ROOT, freePort, spawnSensorpipe, startPipeline } from '../lib/harness.mjs';

const execFileP = promisify(execFile);
const CHROMIUM = process.env.SENSORPIPE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 15000;
const TOPIC = 'tlsdev/temperature/dht22';
const USER = 'https-viewer';
const PASSWORD = 'e2e-https-password-0123';

let pipe, serve, home, tlsDir, context, page, url;
const consoleErrors = [];
const pageErrors = [];

before(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-e2e-https-'));
  tlsDir = path.join(home, 'tls');
  await execFileP(path.join(ROOT, 'scripts/tls.sh'), [tlsDir]);
  // the browser's certificate store: $HOME/.pki/nssdb, with our CA trusted for servers ("C,,")
  const nss = path.join(home, '.pki/nssdb');
  await fs.mkdir(nss, { recursive: true });
  await execFileP('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
  await execFileP('certutil', ['-A', '-d', `sql:${nss}`, '-n', 'sensorpipe test CA', '-t', 'C,,', '-i', path.join(tlsDir, 'ca.crt')]);

  pipe = await startPipeline({ serve: false, dbPrefix: 'e2ehttps' });
  const port = await freePort();
  serve = spawnSensorpipe(['serve', '--db', pipe.dsn, '--listen', `127.0.0.1:${port}`, '--web-root', path.join(ROOT, 'web'),
    '--tls-cert', path.join(tlsDir, 'server.crt'), '--tls-key', path.join(tlsDir, 'server.key')], { name: 'serve-https' });
  await serve.waitForOutput(/listening on https:/);
  url = `https://localhost:${port}/`;
  await new Promise((resolve, reject) => {
    const child = execFile(BIN, ['user', 'add', USER, '--db', pipe.dsn], { cwd: ROOT }, (err, _out, stderr) =>
      err ? reject(new Error(`user add: ${stderr}`)) : resolve());
    child.stdin.end(`${PASSWORD}\n`);
  });

  context = await chromium.launchPersistentContext(path.join(home, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: home },
    viewport: { width: 1280, height: 800 },
    timeout: 30000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
}, { timeout: 90000 });

after(async () => {
  if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]).catch(() => {});
  if (serve) assert.equal(await serve.stop(), 0);
  if (pipe) await pipe.stop();
  if (home) await fs.rm(home, { recursive: true, force: true });
}, { timeout: 60000 });

test('over HTTPS with the CA trusted, the dashboard goes live on wss:// and shows new values under the CSP', { timeout: 60000 }, async () => {
  // log in over HTTPS first (the session cookie is Secure there); then the dashboard itself
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  assert.equal(new URL(page.url()).pathname, '/login.html');
  await page.fill('#name', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#submit');
  await page.waitForURL((u) => new URL(u).pathname === '/', { timeout: WAIT_MS });
  const cookie = (await context.cookies(url)).find((k) => k.name === 'sp_session');
  assert.ok(cookie && cookie.secure, 'a Secure session cookie over HTTPS');
  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
  assert.equal(res.status(), 200);
  const sec = await res.securityDetails();
  assert.ok(sec, 'a TLS connection');
  assert.match(sec.protocol, /TLS 1\.[23]/);
  assert.match(sec.issuer || '', /sensorpipe local CA/);
  assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/);
  await page.waitForFunction(() => document.getElementById('conn-state')?.textContent === 'live', null, { timeout: WAIT_MS })
    .catch(async (e) => assert.fail(`not live: ${e.message}\n${await page.textContent('#conn-detail').catch(() => '')}\n${consoleErrors.join('\n')}\n${serve.output()}`));
  assert.match(await page.textContent('#conn-url'), /^wss:\/\/localhost:\d+\/ws/);
  await pipe.publish(TOPIC, '24.6', { qos: 1 });
  await page.waitForFunction((t) => document.querySelector(`[data-topic="${t}"] [data-role="value"]`)?.textContent === '24.6', TOPIC, { timeout: WAIT_MS })
    .catch((e) => assert.fail(`the published value never showed: ${e.message}\n${consoleErrors.join('\n')}`));
  await pipe.psql(`INSERT INTO readings(ts, topic, value) VALUES (now(), '${TOPIC}', 25.1)`);
  await page.waitForFunction((t) => document.querySelector(`[data-topic="${t}"] [data-role="value"]`)?.textContent === '25.1', TOPIC, { timeout: WAIT_MS });
  assert.deepEqual(pageErrors, [], 'no page errors');
  assert.deepEqual(consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m)), [], 'no CSP violation');
  await page.screenshot({ path: path.join(ROOT, 'build/e2e/dashboard-https.png') }).catch(() => {});
});

test('the CSP holds in the browser: an injected inline script does not run, and the page refuses to be framed', { timeout: 30000 }, async () => {
  const ran = await page.evaluate(() => new Promise((resolve) => {
    globalThis.__inlineRan = false;
    const s = document.createElement('script');
    s.textContent = 'globalThis.__inlineRan = true;';
    document.body.appendChild(s);
    setTimeout(() => resolve(globalThis.__inlineRan), 200);
  }));
  assert.equal(ran, false, 'inline script blocked by script-src');
  // a page of another origin (data:) framing the dashboard: frame-ancestors 'none' blocks it
  const framer = await context.newPage();
  await framer.goto(`data:text/html,<iframe id="f" src="${url}"></iframe>`);
  await new Promise((r) => setTimeout(r, 1500));
  const child = framer.frames().find((f) => f !== framer.mainFrame());
  const framedLive = child ? await child.evaluate(() => !!document.getElementById('conn-state')).catch(() => false) : false;
  assert.equal(framedLive, false, 'the dashboard did not render inside a foreign frame');
  await framer.close();
});

test('without the CA in its store the browser refuses the certificate (the trust above is the CA, not a bypass)', { timeout: 60000 }, async () => {
  const bare = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-e2e-bare-'));
  const ctx = await chromium.launchPersistentContext(path.join(bare, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: { ...process.env, HOME: bare }, timeout: 30000,
  });
  try {
    const p = ctx.pages()[0] ?? (await ctx.newPage());
    await assert.rejects(p.goto(url, { timeout: WAIT_MS }), /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await ctx.close().catch(() => {});
    await fs.rm(bare, { recursive: true, force: true });
  }
});
