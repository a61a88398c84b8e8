// Pure helpers: what a topic means, how values, times and ages are shown.
// No DOM, no network: everything here is safe to unit-test in Node.

// The three metrics the firmware publishes get their own label and unit.
// Any other topic gets a generic card built from its metric and sensor names.
export const KNOWN_METRICS = [
  { metric: 'temperature', sensor: 'dht22', label: 'Air temperature', unit: '°C' },
  { metric: 'humidity', sensor: 'dht22', label: 'Humidity', unit: '%' },
  { metric: 'temperature', sensor: 'internal', label: 'Chip temperature', unit: '°C' },
];

// Units guessed from the metric name for topics that are not in KNOWN_METRICS.
const METRIC_UNITS = {
  temperature: '°C',
  humidity: '%',
  pressure: 'hPa',
  voltage: 'V',
  battery: 'V',
  current: 'A',
  power: 'W',
  rssi: 'dBm',
  co2: 'ppm',
  light: 'lx',
  lux: 'lx',
};

// topic_info splits `<device>/<metric>/<sensor>` and says how to show it.
// Topics with fewer or more levels still get a device (the first level).
export function topicInfo(topic) {
  const parts = String(topic).split('/');
  const device = parts[0] || '(none)';
  const metric = parts.length > 1 ? parts[1] : '';
  const sensor = parts.length > 2 ? parts.slice(2).join('/') : '';
  const idx = KNOWN_METRICS.findIndex((k) => k.metric === metric && k.sensor === sensor);
  if (idx >= 0 && parts.length === 3) {
    const k = KNOWN_METRICS[idx];
    return { topic, device, metric, sensor, label: k.label, unit: k.unit, order: idx, known: true };
  }
  const label = metric ? metric.charAt(0).toUpperCase() + metric.slice(1) : String(topic);
  return {
    topic,
    device,
    metric,
    sensor,
    label,
    unit: METRIC_UNITS[metric.toLowerCase()] || '',
    order: KNOWN_METRICS.length,
    known: false,
  };
}

// The standard topics every device group starts with.
export function knownTopicsFor(device) {
  return KNOWN_METRICS.map((k) => `${device}/${k.metric}/${k.sensor}`);
}

// parse_ts turns the server's timestamps into epoch milliseconds (NaN if unusable).
// Accepts RFC 3339 with microseconds ("2026-11-27T10:00:00.123456+00:00"),
// PostgreSQL's text form ("2026-11-27 10:00:00.123456+00") and epoch numbers.
export function parseTs(ts) {
  if (typeof ts === 'number') return ts < 1e12 ? ts * 1000 : ts;
  if (typeof ts !== 'string' || ts === '') return NaN;
  let s = ts.trim();
  s = s.replace(/^(\d{4}-\d\d-\d\d) /, '$1T');
  s = s.replace(/(\.\d{3})\d+/, '$1');
  s = s.replace(/(T[^+-]*[+-]\d\d)$/, '$1:00');
  s = s.replace(/(T[^+-]*[+-]\d\d)(\d\d)$/, '$1:$2');
  return Date.parse(s);
}

// format_value shows a reading with one decimal; "—" when there is no number.
export function formatValue(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const s = v.toFixed(1);
  return s === '-0.0' ? '0.0' : s;
}

// format_age: "3 s ago", "4 min ago", "2 h ago", "3 d ago". Small negative ages
// (browser clock slightly behind the database's) read as "0 s ago".
export function formatAge(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

// format_clock: local wall-clock time of an epoch-ms value, for tooltips.
export function formatClock(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

// normalize_row checks a row from the network; returns null if it is unusable.
// A row needs a numeric id and a string topic; a missing value shows as "—".
export function normalizeRow(row) {
  if (!row || typeof row !== 'object') return null;
  const id = typeof row.id === 'string' ? Number(row.id) : row.id;
  if (typeof id !== 'number' || !Number.isFinite(id)) return null;
  if (typeof row.topic !== 'string' || row.topic === '') return null;
  const value = typeof row.value === 'string' ? Number(row.value) : row.value;
  return {
    id,
    topic: row.topic,
    value: typeof value === 'number' ? value : NaN,
    ts: parseTs(row.ts),
  };
}
