// dashboard.mjs - the real dashboard of the hostile-client suite: one WebSocket client on
// 127.0.0.1 that reads everything, records every reading of the publisher (bench/latency_pub:
// topics <prefix>/latency/pNNN, value = its number, ts = its send time) and its publish -> receive
// latency, and, like web/ does, reconnects with ?after=<last id> when its connection closes.
//   const d = await openDashboard({ base, token, prefix, history });  d.setPhase('attack');  d.close();
//   d.values          Set of the readings' numbers received
//   d.lat[phase]      [latency ms, ...] of the readings received in that phase
//   d.gaps, d.reconnects, d.duplicates, d.closes ([{code, reason}])
import WebSocket from 'ws';

/** µs since the epoch of a row's ts, "2026-12-07T04:30:00.123456+00:00" (UTC, as serve writes it). */
export function tsMicros(ts) {
  const whole = Date.parse(`${ts.slice(0, 19)}Z`);
  const frac = /^\.(\d{1,6})/.exec(ts.slice(19));
  return whole * 1000 + (frac ? Number(frac[1].padEnd(6, '0')) : 0);
}
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

export function openDashboard({ base, token, prefix, history = 0 }) {
  const wsBase = base.replace(/^http/, 'ws');
  const d = { values: new Set(), lat: {}, gaps: 0, reconnects: 0, duplicates: 0, closes: [], lastId: 0, rows: 0 };
  let phase = 'setup';
  let ws = null;
  let closing = false;
  let firstOpen;
  const onRow = (row, rxUs) => {
    d.rows++;
    if (row.id > d.lastId) d.lastId = row.id;
    if (!row.topic.startsWith(`${prefix}/latency/`)) return;
    if (d.values.has(row.value)) { d.duplicates++; return; }
    d.values.add(row.value);
    (d.lat[phase] ??= []).push((rxUs - tsMicros(row.ts)) / 1000);
  };
  const connect = (query) => new Promise((resolve, reject) => {
    ws = new WebSocket(`${wsBase}/ws?${query}`, { headers: { Authorization: `Bearer ${token}`, Origin: base }, localAddress: '127.0.0.1' });
    ws.on('open', () => resolve());
    ws.on('error', (e) => reject(e));
    ws.on('message', (data) => {
      const rx = nowMicros();
      const m = JSON.parse(data.toString());
      if (m.type === 'reading') onRow(m.data, rx);
      else if (m.type === 'readings' || m.type === 'history') for (const r of m.data) onRow(r, rx);
      else if (m.type === 'gap') d.gaps++;
    });
    ws.on('close', (code, reason) => {
      d.closes.push({ code, reason: reason.toString() });
      if (closing) return;
      // like web/: back on the feed after the last id seen, again and again until it works
      const retry = () => {
        if (closing) return;
        d.reconnects++;
        connect(`after=${d.lastId}`).catch(() => setTimeout(retry, 250));
      };
      setTimeout(retry, 100);
    });
  });
  firstOpen = connect(`history=${history}`).then(() => d);
  d.setPhase = (name) => { phase = name; };
  d.close = () => new Promise((resolve) => {
    closing = true;
    if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', resolve);
    ws.close();
  });
  return firstOpen;
}

/**
 * A new dashboard's first minute, cut short: connect with ?history=100, and resolve with the ms until
 * the history frame and until the first live reading, or throw after timeoutMs.
 */
export async function freshDashboard({ base, token, timeoutMs = 10000 }) {
  const t0 = performance.now();
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?history=100`, { headers: { Authorization: `Bearer ${token}`, Origin: base }, localAddress: '127.0.0.1' });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no history and live reading within ${timeoutMs} ms`)), timeoutMs);
      let historyMs = null;
      ws.on('error', (e) => { clearTimeout(timer); reject(e); });
      ws.on('unexpected-response', (req, res) => { clearTimeout(timer); reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)); });
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.type === 'history') historyMs = performance.now() - t0;
        else if ((m.type === 'reading' || m.type === 'readings') && historyMs !== null) {
          clearTimeout(timer);
          resolve({ historyMs, liveMs: performance.now() - t0 });
        }
      });
    });
  } finally {
    ws.terminate();
  }
}
