// bench/chart_drawn.mjs - time until the dashboard has drawn a history range, in headless
// Chromium (bench/history.sh, stage `history`): navigation start -> the page's "chart drawn"
// marker, for each range, cold (first visit: every asset fetched) and warm (the same link
// opened again), over a logged-in session (POST /login, the cookie as the dashboard uses it).
//
//   node bench/chart_drawn.mjs <base URL> <user> <password file> <reps> <range>[/<device>]...
//
// A view is a range (24h: the overview) or range/device (24h/pico: that device's page).
// Prints one JSON line per view: {"range","cold_ms","n","p50_ms","p99_ms","max_ms","points"}.
// Exits 3 with a one-line note on stderr when the dashboard does not set the marker (it is
// the range picker's, issue 14 item 1).
//
// The contract with the dashboard is all in the two definitions below: the URL that opens a
// range, and the marker the page sets after the chart has drawn that range's data.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/**
 * The link that opens the dashboard on a range, or on a device's page with a range (the URL
 * state of the range picker, docs/INTERFACES.md "Dashboard URL state").
 */
const rangeUrl = (base, range, device) =>
  `${base}/#range=${encodeURIComponent(range)}${device ? `&device=${encodeURIComponent(device)}` : ''}`;

/**
 * Runs in every page before its scripts: records in __benchDrawn[range] the performance.now()
 * (ms since navigation start) of the first time <html data-chart-drawn> (a counter of draws)
 * is set while data-chart-range is that range.
 */
function markerWatch() {
  globalThis.__benchDrawn = {};
  const check = () => {
    const el = document.documentElement;
    const range = el?.dataset.chartRange;
    if (el?.dataset.chartDrawn && range && !(range in globalThis.__benchDrawn))
      globalThis.__benchDrawn[range] = performance.now();
  };
  // the document itself, subtree: <html> may not exist yet when this runs
  new MutationObserver(check).observe(document, {
    attributes: true,
    subtree: true,
    attributeFilter: ['data-chart-drawn', 'data-chart-range'],
  });
}

const [base, user, passwordFile, repsArg, ...ranges] = process.argv.slice(2);
if (!ranges.length) {
  console.error('usage: node bench/chart_drawn.mjs <base URL> <user> <password file> <reps> <range>...');
  process.exit(2);
}
const REPS = Number(repsArg);
const WAIT_MS = 20000; // the longest one draw may take before we give up with what the page showed
const CHROMIUM = process.env.SENSORPIPE_CHROMIUM || '/usr/bin/chromium';
const password = readFileSync(passwordFile, 'utf8').split('\n')[0];

const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-bench-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  timeout: 30000,
});
let status = 0;
try {
  // a dashboard login: the session cookie lands in the context's cookie jar
  const login = await context.request.post(`${base}/login`, { data: { name: user, password } });
  if (login.status() !== 200) throw new Error(`POST /login: HTTP ${login.status()} ${await login.text()}`);
  const page = context.pages()[0] ?? (await context.newPage());
  await context.addInitScript(`(${markerWatch})()`);
  const quantile = (xs, q) => xs[Math.min(xs.length - 1, Math.round(q * (xs.length - 1)))];
  for (const viewArg of ranges) {
    const [range, device] = viewArg.split('/');
    const times = [];
    let points = null;
    for (let i = 0; i <= REPS; i++) {
      await page.goto('about:blank');
      await page.goto(rangeUrl(base, range, device), { waitUntil: 'commit' });
      try {
        await page.waitForFunction((r) => globalThis.__benchDrawn && r in globalThis.__benchDrawn, range, {
          timeout: WAIT_MS,
          polling: 50,
        });
      } catch {
        const seen = await page.evaluate(() => ({ ...document.documentElement.dataset, url: location.href }));
        const scripts = await page.evaluate(() => [...document.scripts].map((s) => s.src).join(' '));
        if (!Object.keys(seen).some((k) => k.startsWith('chart'))) {
          console.error(`chart_drawn: the dashboard never set data-chart-drawn/data-chart-range for range ${range} within ${WAIT_MS} ms (has the range picker landed? page ${seen.url}, scripts ${scripts})`);
          status = 3;
          break;
        }
        throw new Error(`range ${range}: no draw of that range within ${WAIT_MS} ms; the page's dataset: ${JSON.stringify(seen)}`);
      }
      const ms = await page.evaluate((r) => globalThis.__benchDrawn[r], range);
      if (i === 0) {
        // the first visit of this range (assets may be cached from an earlier range)
        times.cold = ms;
        points = await page.evaluate(() => document.documentElement.dataset.chartPoints ?? null);
      } else times.push(ms);
    }
    if (status) break;
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({
      range: viewArg, cold_ms: +times.cold.toFixed(1), n: times.length, p50_ms: +quantile(times, 0.5).toFixed(1),
      p99_ms: +quantile(times, 0.99).toFixed(1), max_ms: +times[times.length - 1].toFixed(1), points,
    }));
  }
} finally {
  await context.close();
  await fs.rm(userDataDir, { recursive: true, force: true });
}
process.exit(status);
