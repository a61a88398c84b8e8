// stream.js - the live stream: one WebSocket to `sensorpipe serve`, reconnected with
// exponential backoff + jitter, resumed with `?after=<last id>` so that no row
// is missed or shown twice. Nothing here polls: the server pushes.
//
// Frames (JSON text):
//   {"type":"history","data":[row,...]}       oldest first, right after connect
//   {"type":"reading","data":row}
//   {"type":"readings","data":[row,...]}
//   {"type":"gap","after":<id>}               we were too slow; resume after id
//   {"type":"presence","data":{device,online,ts}}
//   anything else is ignored.

import { normalizeRow } from './format.js';

export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;

// backoff_delay: 0.5 s doubling per failed attempt, capped at 10 s, with
// ±20 % jitter so that many dashboards do not reconnect in lockstep.
export function backoffDelay(attempt, rand = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.max(0, attempt));
  return Math.round(Math.min(BACKOFF_MAX_MS, base * (0.8 + 0.4 * rand())));
}

// ReadingStream owns its WebSocket and its reconnect timer.
// Callbacks:
//   onRows(rows)           rows accepted, in id order, never seen before
//   onPresence(p)          {device, online, ts}
//   onState(state, info)   state: 'connecting' | 'live' | 'reconnecting';
//                          info: {url, retryInMs, attempt, reason}
export class ReadingStream {
  constructor({ base, history = 500, onRows, onPresence, onState }) {
    this.base = base; // e.g. "ws://host:8000"
    this.history = history;
    this.onRows = onRows || (() => {});
    this.onPresence = onPresence || (() => {});
    this.onState = onState || (() => {});
    this.lastId = null; // highest row id accepted so far
    this.resumeAfter = null; // set by a gap frame when we have no lastId yet
    this.attempt = 0; // failed attempts since the last good connection
    this.ws = null;
    this.timer = null;
    this.connectTimer = null;
    this.stopped = false;
    this.everConnected = false;
    this.stats = { frames: 0, rows: 0, dropped: 0, gaps: 0, connects: 0 };
  }

  // url: the first connection asks for a backfill; later ones resume.
  url() {
    const u = new URL('/ws', this.base);
    const after = this.lastId ?? this.resumeAfter;
    if (after != null) u.searchParams.set('after', String(after));
    else u.searchParams.set('history', String(this.history));
    return u.toString();
  }

  start() {
    this.stopped = false;
    this.connect();
    // When the OS says the network is back, do not wait out the backoff.
    this.onOnline = () => {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        this.connect();
      }
    };
    globalThis.addEventListener?.('online', this.onOnline);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.timer = null;
    globalThis.removeEventListener?.('online', this.onOnline);
    if (this.ws) this.ws.close(1000, 'bye');
  }

  connect() {
    this.timer = null;
    const url = this.url();
    this.onState(this.everConnected ? 'reconnecting' : 'connecting', { url, attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.scheduleReconnect(String(err && err.message ? err.message : err));
      return;
    }
    this.ws = ws;
    let gotFirst = false;
    let closedByUs = null;

    // A socket stuck in CONNECTING (half-open network) is given up on.
    this.connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) {
        closedByUs = 'connect timeout';
        ws.close();
      }
    }, CONNECT_TIMEOUT_MS);

    ws.onopen = () => {
      clearTimeout(this.connectTimer);
      this.everConnected = true;
      this.stats.connects++;
      this.onState('live', { url, attempt: this.attempt });
    };

    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (!gotFirst) {
        gotFirst = true;
        this.attempt = 0; // the server answered: the next failure starts at 0.5 s
      }
      this.stats.frames++;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not JSON: ignore, like an unknown type
      }
      if (!msg || typeof msg !== 'object') return;
      switch (msg.type) {
        case 'history':
        case 'readings':
          this.acceptRows(Array.isArray(msg.data) ? msg.data : []);
          break;
        case 'reading':
          this.acceptRows([msg.data]);
          break;
        case 'presence':
          if (msg.data && typeof msg.data.device === 'string') this.onPresence(msg.data);
          break;
        case 'gap': {
          this.stats.gaps++;
          const after = Number(msg.after);
          // Resume from what we really have; the server's id only helps when
          // we have nothing yet. Rows we already hold are dropped on arrival.
          if (this.lastId == null && Number.isFinite(after)) this.resumeAfter = after;
          closedByUs = 'gap';
          ws.close(1000, 'gap');
          break;
        }
        default:
          break; // unknown types are ignored on purpose
      }
    };

    ws.onerror = () => {
      // 'close' always follows 'error'; reconnecting is done there.
    };

    ws.onclose = (ev) => {
      clearTimeout(this.connectTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (closedByUs === 'gap') {
        // Not a failure of the server: come back quickly, still jittered.
        this.scheduleReconnect('gap: resuming', 100 + Math.round(Math.random() * 200));
        return;
      }
      const reason = closedByUs || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`);
      this.scheduleReconnect(reason);
    };
  }

  scheduleReconnect(reason, delayMs) {
    if (this.stopped || this.timer) return;
    const delay = delayMs ?? backoffDelay(this.attempt);
    if (delayMs == null) this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
    this.onState('reconnecting', { url: this.url(), retryInMs: delay, attempt: this.attempt, reason });
  }

  // accept_rows keeps only valid rows newer than lastId, in id order.
  acceptRows(raw) {
    const rows = [];
    for (const r of raw) {
      const row = normalizeRow(r);
      if (row) rows.push(row);
    }
    rows.sort((a, b) => a.id - b.id);
    const fresh = [];
    for (const row of rows) {
      if (this.lastId != null && row.id <= this.lastId) {
        this.stats.dropped++;
        continue;
      }
      this.lastId = row.id;
      fresh.push(row);
    }
    this.stats.rows += fresh.length;
    if (fresh.length) this.onRows(fresh);
  }
}
