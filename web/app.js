// sensorpipe dashboard: wires the REST snapshot, the WebSocket stream, the
// cards and the chart together. Data flow, with no polling anywhere:
//   1. GET /api/topics once  -> cards with last values, device presence
//   2. WS /ws?history=500    -> backfill, then pushed readings and presence
//   3. on close: backoff + jitter, resume with /ws?after=<last id>
// The only timer re-renders the "3 s ago" ages (and the retry countdown)
// from local state.

import { Board } from './cards.js';
import { LiveChart } from './chart.js';
import { ReadingStream } from './stream.js';
import { parseTs } from './format.js';

const HISTORY = 500;

const $ = (id) => document.getElementById(id);

const chart = new LiveChart($('chart'), {
  onNote: (text) => {
    if ($('chart-note').textContent !== text) $('chart-note').textContent = text;
  },
});
const board = new Board($('devices'), {
  colorFor: (topic) => chart.colorFor(topic),
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
  onPresence: (p) => board.presence(p),
  onState: (state, info) => {
    setState(state, info);
    if (state === 'reconnecting' && info && info.retryInMs != null && info.attempt >= 2) checkSession();
  },
});

// Exposed for debugging from the console and for the end-to-end test.
globalThis.sensorpipe = { stream, board, chart };

setState('connecting', { url: stream.url() });
renderStats();
loadSnapshot();
stream.start();

// Ages only: no network in here.
setInterval(() => {
  board.tickAges();
  if (retryAt != null) renderConnDetail();
}, 1000);
