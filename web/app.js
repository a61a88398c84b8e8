// sensorpipe dashboard: wires the REST snapshot, the WebSocket stream, the
// cards and the chart together. Data flow, with no polling anywhere:
//   1. GET /api/topics once  -> cards with last values, device presence
//   2. WS /ws?history=500    -> backfill, then pushed readings and presence
//   3. on close: backoff + jitter, resume with /ws?after=<last id>
// The only timer re-renders the "3 s ago" ages (and the retry countdown)
// from local state.
//
// The view (range, zoom, device page) lives in the URL's hash (range.js): a link opens the
// same view. A range other than live is fetched once from /api/readings (buckets) and then
// kept moving by the same WebSocket rows; a device page adds its presence and rejects.

import { Board } from './cards.js';
import { LiveChart, MAX_SERIES } from './chart.js';
import { ReadingStream } from './stream.js';
import { parseTs } from './format.js';
import { HistoryChart } from './history.js';
import { DevicePage } from './device.js';
import { RANGES, parseHash, toHash, viewWindow, bucketParam, readingsQuery, timeZoneLabel } from './range.js';

const HISTORY = 500;

const $ = (id) => document.getElementById(id);

const chart = new LiveChart($('chart'), {
  onNote: (text) => {
    if ($('chart-note').textContent !== text) $('chart-note').textContent = text;
  },
});
const board = new Board($('devices'), {
  colorFor: (topic) => chart.colorFor(topic),
  deviceHref: (device) => toHash({ ...view, device }),
  onEmptyChange: (empty) => {
    $('empty').hidden = !empty;
  },
});

const stats = { rows: 0, lastId: null };

function renderStats() {
  const parts = [`${stats.rows} reading${stats.rows === 1 ? '' : 's'} received`];
  if (stats.lastId != null) parts.push(`last id ${stats.lastId}`);
  $('stats').textContent = parts.join(' · ');
}

function applyRows(rows) {
  for (const row of rows) {
    board.update(row.topic, row.id, row.ts, row.value);
    chart.add(row.topic, board.card(row.topic).info.unit, row.ts, row.value);
  }
  historyChart.addRows(rows);
  if (board.devices.size !== shownDevices) syncDevices();
  stats.rows += rows.length;
  stats.lastId = rows[rows.length - 1].id;
  renderStats();
}

// --- connection indicator -------------------------------------------------

const conn = $('conn');
let retryAt = null; // when the next reconnect attempt is due (epoch ms)
let retryReason = '';

function setState(state, info = {}) {
  conn.setAttribute('data-state', state);
  $('conn-state').textContent = state;
  if (info.url) $('conn-url').textContent = info.url;
  retryAt = state === 'reconnecting' && info.retryInMs != null ? Date.now() + info.retryInMs : null;
  retryReason = info.reason || '';
  renderConnDetail(state === 'reconnecting' ? 'trying…' : '');
  document.title = state === 'live' ? 'sensorpipe — live' : `sensorpipe — ${state}`;
}

// The retry countdown is re-rendered by the local one-second timer.
function renderConnDetail(idle = '') {
  let text = idle;
  if (retryAt != null) {
    const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    text = `${retryReason ? retryReason + ' · ' : ''}retry in ${s} s`;
  }
  const el = $('conn-detail');
  if (el.textContent !== text) el.textContent = text;
}

// --- 1. snapshot ----------------------------------------------------------

async function loadSnapshot() {
  try {
    const res = await fetch('/api/topics', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (res.status === 401) return toLogin();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    for (const d of Array.isArray(body.devices) ? body.devices : []) board.presence(d);
    for (const t of Array.isArray(body.topics) ? body.topics : []) {
      if (!t || typeof t.topic !== 'string' || t.topic === '') continue;
      const id = Number(t.id);
      const value = typeof t.value === 'number' ? t.value : Number(t.value);
      // The snapshot seeds cards only; the chart is fed by the stream's backfill.
      board.update(t.topic, Number.isFinite(id) ? id : -Infinity, parseTs(t.ts), value);
    }
  } catch (err) {
    console.warn('sensorpipe: /api/topics failed; the live stream still fills the cards', err);
  }
}

// The session ended (expired, logged out elsewhere): back to the login page.
function toLogin() {
  location.assign('/login.html');
}

// A browser hides why a WebSocket upgrade failed: after failed reconnects, ask whether / still
// opens (without a session serve redirects it to the login page).
async function checkSession() {
  try {
    const res = await fetch('/', { method: 'HEAD', redirect: 'manual', cache: 'no-store' });
    if (res.type === 'opaqueredirect') toLogin();
  } catch { /* offline: the stream keeps retrying */ }
}

// --- 2./3. stream -----------------------------------------------------------

const base = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
const stream = new ReadingStream({
  base,
  history: HISTORY,
  onRows: applyRows,
  onPresence: (p) => {
    board.presence(p);
    devicePage.presence(p);
    if (board.devices.size !== shownDevices) syncDevices();
  },
  onState: (state, info) => {
    setState(state, info);
    if (state === 'reconnecting' && info && info.retryInMs != null && info.attempt >= 2) checkSession();
  },
});

// --- the view: range, zoom, device page --------------------------------------

let view = parseHash(location.hash);
let win = null; // the window on screen (range.js viewWindow), null when live
const zoomStack = []; // views to go back to (Back, double-click)

const note = (text) => {
  if ($('chart-note').textContent !== text) $('chart-note').textContent = text;
};
const historyChart = new HistoryChart($('history'), {
  colorFor: (topic) => chart.colorFor(topic),
  onNote: note,
  onZoom: (from, to) => {
    zoomStack.push(view);
    navigate({ ...view, range: 'custom', from, to }, true);
  },
  onBack: () => back(),
});
const devicePage = new DevicePage($('device-page'));

const pad2 = (n) => String(n).padStart(2, '0');
// datetime-local values are in the browser's time zone, as every time on the page
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function title() {
  if (view.range === 'live') return 'Last 10 minutes';
  if (view.range !== 'custom') return `Last ${RANGES[view.range].label}`;
  return `${new Date(view.from).toLocaleString()} – ${new Date(view.to).toLocaleString()}`;
}

// navigate: show view v; push: a new browser history entry (zoom), else the URL is replaced.
function navigate(v, push = false) {
  const hash = toHash(v);
  if (hash !== location.hash) {
    if (push) history.pushState(null, '', hash);
    else history.replaceState(null, '', hash);
  }
  apply(v);
}

// The overview's history asks for every topic in one request while they are few enough to
// draw; with more, only for the topics the chart draws (one request each): the first
// MAX_SERIES with data by name, as the live chart. Bounds the answer whatever the fleet.
function overviewFilters() {
  const topics = [...board.cards.values()].filter((c) => Number.isFinite(c.tsMs)).map((c) => c.info.topic).sort();
  return topics.length <= MAX_SERIES ? [''] : topics.slice(0, MAX_SERIES);
}

// On a device page only its group shows (new groups appear as readings come).
let shownDevices = 0;
let snapshotDone = false; // /api/topics answered (or failed)
function syncDevices() {
  shownDevices = board.devices.size;
  for (const d of board.devices.values()) d.el.hidden = Boolean(view.device) && d.name !== view.device;
}

function back() {
  if (zoomStack.length) navigate(zoomStack.pop());
}

function apply(v) {
  view = v;
  const dev = view.device;
  const filter = dev ? `${dev}/#` : '';
  document.body.dataset.view = dev ? 'device' : 'overview';
  $('crumbs').hidden = !dev;
  $('crumbs-device').textContent = dev;
  $('crumbs-all').href = toHash({ ...view, device: '' });
  if (dev) board.ensureDevice(dev, { standard: !board.devices.has(dev) });
  chart.filter = dev ? (t) => t.startsWith(`${dev}/`) : null;
  chart.schedule();
  syncDevices();
  for (const b of $('ranges').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.range === view.range));
  $('zoom-back').hidden = zoomStack.length === 0;
  $('chart-title').textContent = title();
  $('tz').textContent = `Times in ${timeZoneLabel()}.`;
  const live = view.range === 'live';
  $('chart').hidden = !live;
  $('history').hidden = live;
  note('');
  win = live ? null : viewWindow(view, Date.now());
  if (live) {
    historyChart.clear();
    chart.resize();
    $('bucket').textContent = 'Raw readings.';
  } else {
    $('bucket').textContent = `Buckets of ${bucketParam(win.bucket)}: average, min–max band.`;
    // the overview waits for /api/topics to know its topics (apply runs again then)
    if (dev || snapshotDone) historyChart.load(view, win, dev ? [filter] : overviewFilters());
  }
  const csvWin = win || viewWindow({ range: 'custom', from: Date.now() - RANGES.live.ms, to: Date.now() }, Date.now());
  $('csv').hidden = false;
  $('csv').href = `/api/readings.csv?${readingsQuery(csvWin, filter)}`;
  $('csv').setAttribute('download', `${dev || 'readings'}-${view.range}.csv`);
  {
    // the custom form starts from what is on screen
    const w = csvWin;
    $('custom-from').value = localInput(w.from);
    $('custom-to').value = localInput(w.to);
  }
  if (dev) devicePage.show(dev, csvWin);
  else devicePage.hide();
}

$('ranges').addEventListener('click', (ev) => {
  const r = ev.target.closest('button[data-range]')?.dataset.range;
  if (!r) return;
  zoomStack.length = 0;
  navigate({ ...view, range: r, from: NaN, to: NaN });
});
$('custom').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const from = new Date($('custom-from').value).getTime();
  const to = new Date($('custom-to').value).getTime();
  if (!(from < to)) {
    note('from must be earlier than to');
    return;
  }
  zoomStack.length = 0;
  navigate({ ...view, range: 'custom', from, to });
});
$('zoom-back').addEventListener('click', back);
// a device's name or card opens its page in the range on screen
$('devices').addEventListener('click', (ev) => {
  const sec = ev.target.closest('[data-device]');
  if (!sec || view.device === sec.dataset.device) return;
  if (!ev.target.closest('a.device-link, .card')) return;
  ev.preventDefault();
  navigate({ ...view, device: sec.dataset.device }, true);
});
// the browser's Back/Forward or an edited URL: both events may fire for one change
function fromUrl() {
  const v = parseHash(location.hash);
  if (toHash(v) !== toHash(view)) apply(v);
}
globalThis.addEventListener('hashchange', fromUrl);
globalThis.addEventListener('popstate', fromUrl);

// Exposed for debugging from the console and for the end-to-end test.
globalThis.sensorpipe = { stream, board, chart, history: historyChart, devicePage, view: () => view, navigate };

setState('connecting', { url: stream.url() });
renderStats();
apply(view);
loadSnapshot().then(() => {
  snapshotDone = true;
  if (view.device) syncDevices(); // the other devices' groups exist now: hide them
  else apply(view); // the overview's topics are known now
});
stream.start();

// Ages only: no network in here.
setInterval(() => {
  board.tickAges();
  if (retryAt != null) renderConnDetail();
}, 1000);
