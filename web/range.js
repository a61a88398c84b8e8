// range.js - the time ranges of the chart and their state in the URL. Pure functions, no DOM.
//
// A view is {range, from, to, device}:
//   range   'live' (the last 10 minutes, raw readings from the WebSocket), '1h', '6h', '24h',
//           '7d', '30d' (relative: they end now and keep moving), or 'custom' (fixed from/to,
//           also what a drag-to-zoom makes)
//   from,to epoch ms, for 'custom' only
//   device  a device name: its page; '' for the overview
// In the URL it is the hash: #range=24h, #range=custom&from=<RFC 3339>&to=<RFC 3339>,
// with &device=<name> on a device page. A link opens the same view.

export const RANGES = {
  live: { label: 'live', ms: 10 * 60 * 1000 },
  '1h': { label: '1 h', ms: 3600 * 1000 },
  '6h': { label: '6 h', ms: 6 * 3600 * 1000 },
  '24h': { label: '24 h', ms: 86400 * 1000 },
  '7d': { label: '7 d', ms: 7 * 86400 * 1000 },
  '30d': { label: '30 d', ms: 30 * 86400 * 1000 },
};
export const RANGE_NAMES = Object.keys(RANGES);
export const MAX_POINTS = 1000;

// Bucket widths in seconds, finest first. Over a day, only whole hours (served by
// readings_hourly); over an hour, only whole minutes (readings_minutely): neither reads
// raw rows but at the edges (docs/INTERFACES.md, GET /api/readings).
const WIDTHS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
  2 * 86400, 7 * 86400];

// bucketFor: the finest width (seconds) that gives at most MAX_POINTS buckets over spanMs.
export function bucketFor(spanMs) {
  const span = spanMs / 1000;
  for (const w of WIDTHS) {
    if (span > 86400 && w % 3600) continue;
    if (span > 3600 && w % 60) continue;
    if (Math.ceil(span / w) <= MAX_POINTS) return w;
  }
  return WIDTHS[WIDTHS.length - 1];
}

// bucketParam: 120 -> "2m", 3600 -> "1h", 86400 -> "1d", 45 -> "45s" (the API's syntax).
export function bucketParam(sec) {
  if (sec % 86400 === 0) return `${sec / 86400}d`;
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

// window: the [from, to) epoch ms a view shows at nowMs, and its bucket width (s). A relative
// range starts on a bucket boundary so that every bucket on screen is whole but the newest.
export function viewWindow(view, nowMs) {
  if (view.range === 'custom') {
    const bucket = bucketFor(view.to - view.from);
    return { from: view.from, to: view.to, bucket, live: view.to >= nowMs };
  }
  const ms = (RANGES[view.range] || RANGES['1h']).ms;
  const bucket = bucketFor(ms);
  const b = bucket * 1000;
  const end = Math.floor(nowMs / b) * b + b; // the end of the bucket holding now
  return { from: end - ms, to: nowMs, end, bucket, live: true };
}

function isoOrNull(ms) {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

// parseHash: '#range=24h&device=pico' -> a view; anything unknown falls back to live.
export function parseHash(hash) {
  const p = new URLSearchParams(String(hash || '').replace(/^#/, ''));
  const view = { range: 'live', from: NaN, to: NaN, device: '' };
  const dev = p.get('device') || '';
  if (/^[\x21-\x7e]{1,64}$/.test(dev) && !/[/+#]/.test(dev)) view.device = dev;
  const r = p.get('range') || '';
  if (r === 'custom' || (!r && p.has('from'))) {
    const from = Date.parse(p.get('from') || '');
    const to = Date.parse(p.get('to') || '');
    if (Number.isFinite(from) && Number.isFinite(to) && from < to) {
      view.range = 'custom';
      view.from = from;
      view.to = to;
    }
  } else if (RANGES[r]) {
    view.range = r;
  }
  return view;
}

// toHash: the inverse of parseHash.
export function toHash(view) {
  const p = new URLSearchParams();
  p.set('range', view.range);
  if (view.range === 'custom') {
    p.set('from', isoOrNull(view.from));
    p.set('to', isoOrNull(view.to));
  }
  if (view.device) p.set('device', view.device);
  return `#${p.toString()}`;
}

// readingsQuery: the /api/readings parameters of a window (also those of its CSV).
export function readingsQuery(win, topicFilter) {
  const p = new URLSearchParams();
  if (topicFilter) p.set('topic', topicFilter);
  p.set('from', new Date(win.from).toISOString());
  p.set('to', new Date(win.to).toISOString());
  p.set('bucket', bucketParam(win.bucket));
  p.set('limit', '100000');
  return p.toString();
}

// timeZoneLabel: "Europe/Berlin (UTC+01:00)": the zone every time on the page is shown in.
export function timeZoneLabel(date = new Date()) {
  let zone = 'local time';
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || zone;
  } catch { /* no Intl: keep the plain label */ }
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${zone} (UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')})`;
}
