// history.js - HistoryChart: one uPlot chart of bucketed readings over a range, from
// GET /api/readings?bucket=. Each topic is its average as a line with a min/max band; a
// missing bucket is a null point, so a gap (device offline, no data) is drawn as a gap.
// A window that ends now keeps moving from the live rows of the WebSocket (addRows): a
// reading updates its bucket's avg/min/max/count, or starts a new bucket and the window
// slides. Nothing is fetched on a timer. Drag selects a span to zoom into (onZoom), a
// double-click goes back (onBack).
//
// After each draw: document.documentElement.dataset.chartDrawn (a counter) and
// dataset.chartRange (the view's range name), for tests and the bench to wait on.

import { readingsQuery, RANGES } from './range.js';
import { topicInfo, parseTs } from './format.js';
import { AXIS, timeTicks, unitAxes } from './axis.js';

function fmtNum(v) {
  return v == null || !Number.isFinite(v) ? '—' : (Math.round(v * 100) / 100).toString();
}

let drawCount = 0;

export class HistoryChart {
  // container: the chart's element; colorFor(topic): its colour; maxSeries: topics drawn at most.
  constructor(container, { colorFor, onZoom, onBack, onNote, onLoad, maxSeries = 16 } = {}) {
    this.el = container;
    this.colorFor = colorFor || (() => '#4cc2ff');
    this.onZoom = onZoom || (() => {});
    this.onBack = onBack || (() => {});
    this.onNote = onNote || (() => {});
    this.onLoad = onLoad || (() => {});
    this.maxSeries = maxSeries;
    this.plot = null;
    this.shape = '';
    this.series = new Map(); // topic -> {avg, min, max, n}: arrays parallel to xs
    this.xs = [];
    this.gapS = new Map(); // topic -> seconds between buckets with data still joined (gapSeconds)
    this.win = null;
    this.view = null;
    this.filter = null; // (topic) => boolean: which live rows belong here
    this.loading = null; // rows that came while the fetch ran
    this.seq = 0;
    this.fetches = 0; // /api/readings requests made (tests read it)
    this.available = typeof globalThis.uPlot === 'function';
    if (typeof ResizeObserver === 'function') {
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(this.el);
    }
  }

  // load: fetch the buckets of win for filters (MQTT filters; [''] = every topic; several are
  // fetched at once and merged) and draw them.
  async load(view, win, filters) {
    const seq = ++this.seq;
    this.view = view;
    this.win = win;
    this.t0 = win.to; // live rows at or after this are not in the answer
    const exact = new Set(filters.filter((f) => f && !/[+#]/.test(f)));
    const prefix = filters.length === 1 && filters[0].endsWith('/#') ? filters[0].slice(0, -1) : null;
    if (filters.includes('')) this.filter = () => true;
    else if (prefix) this.filter = (t) => t.startsWith(prefix);
    else this.filter = (t) => exact.has(t);
    this.loading = [];
    this.queries = filters.map((f) => readingsQuery(win, f));
    this.fetches += this.queries.length;
    let rows = [];
    try {
      const bodies = await Promise.all(this.queries.map(async (q) => {
        const res = await fetch(`/api/readings?${q}`, { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (res.status === 401) {
          location.assign('/login.html');
          throw new Error('logged out');
        }
        const body = await res.json();
        if (!res.ok) throw new Error(body && body.error ? body.error : `HTTP ${res.status}`);
        return body;
      }));
      for (const body of bodies) if (Array.isArray(body.rows)) rows = rows.concat(body.rows);
      this.truncated = bodies.some((b) => Array.isArray(b.rows) && b.rows.length >= 100000);
    } catch (err) {
      if (seq === this.seq) this.onNote(`could not load the range: ${err.message}`);
      return;
    }
    if (seq !== this.seq) return; // a newer load replaced this one
    this.build(rows);
    const pending = this.loading;
    this.loading = null;
    if (pending.length) this.addRows(pending, false);
    this.draw();
    this.onLoad(this);
  }

  // build: the aligned columns of the answer. xs are bucket starts (s) from the first bucket
  // of the window to its last; a bucket with no row stays null.
  build(rows) {
    const b = this.win.bucket;
    this.x0 = Math.floor(this.win.from / 1000 / b) * b;
    const endS = (this.win.end ?? this.win.to) / 1000;
    const n = Math.max(1, Math.ceil((endS - this.x0) / b));
    this.xs = Array.from({ length: n }, (_, i) => this.x0 + i * b);
    this.series = new Map();
    for (const r of rows) {
      if (!r || typeof r.topic !== 'string') continue;
      const t = parseTs(r.ts) / 1000;
      const i = Math.round((t - this.x0) / b);
      if (!(i >= 0 && i < n)) continue;
      const s = this.seriesFor(r.topic);
      s.avg[i] = r.avg;
      s.min[i] = r.min;
      s.max[i] = r.max;
      s.n[i] = Number(r.count) || 0;
    }
    this.xmin = this.win.from / 1000;
    this.xmax = endS;
  }

  seriesFor(topic) {
    let s = this.series.get(topic);
    if (!s) {
      const n = this.xs.length;
      s = { avg: new Array(n).fill(null), min: new Array(n).fill(null), max: new Array(n).fill(null), n: new Array(n).fill(0) };
      this.series.set(topic, s);
    }
    return s;
  }

  // addRows: live readings ({topic, ts (ms), value}). Only a window that ends now takes them.
  addRows(rows, redraw = true) {
    if (!this.win || !this.win.live) return;
    if (this.loading) {
      this.loading.push(...rows);
      return;
    }
    const b = this.win.bucket;
    let changed = false;
    for (const r of rows) {
      if (!this.filter(r.topic) || !Number.isFinite(r.value) || r.ts < this.t0) continue;
      const t = r.ts / 1000;
      let i = Math.floor((t - this.x0) / b);
      if (i < 0) continue;
      if (i >= this.xs.length) i = this.slide(i);
      const s = this.seriesFor(r.topic);
      const n = s.n[i];
      s.avg[i] = n ? (s.avg[i] * n + r.value) / (n + 1) : r.value;
      s.min[i] = n ? Math.min(s.min[i], r.value) : r.value;
      s.max[i] = n ? Math.max(s.max[i], r.value) : r.value;
      s.n[i] = n + 1;
      changed = true;
    }
    if (changed && redraw) this.schedule();
  }

  // slide: new buckets up to index i; a relative range drops as many from its start. Returns i's new index.
  slide(i) {
    const b = this.win.bucket;
    const add = i - this.xs.length + 1;
    for (let k = 0; k < add; k++) {
      this.xs.push(this.xs[this.xs.length - 1] + b);
      for (const s of this.series.values()) {
        s.avg.push(null);
        s.min.push(null);
        s.max.push(null);
        s.n.push(0);
      }
    }
    if (this.view && RANGES[this.view.range]) {
      const drop = Math.min(add, this.xs.length - 1);
      this.xs.splice(0, drop);
      for (const s of this.series.values()) for (const k of ['avg', 'min', 'max', 'n']) s[k].splice(0, drop);
      this.x0 = this.xs[0];
      this.xmin += drop * b;
      this.win = { ...this.win, from: this.win.from + drop * b * 1000 };
      i -= drop;
    }
    this.xmax = Math.max(this.xmax, this.xs[this.xs.length - 1] + b);
    return i;
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  topics() {
    const all = [...this.series.keys()].sort();
    const notes = [];
    if (all.length > this.maxSeries) notes.push(`chart shows ${this.maxSeries} of ${all.length} topics`);
    if (this.truncated) notes.push('too many buckets: narrow the range');
    this.onNote(notes.join(' · '));
    return all.slice(0, this.maxSeries);
  }

  size() {
    const width = Math.max(200, Math.floor(this.el.clientWidth));
    return { width, height: width < 520 ? 220 : 320 };
  }

  options(topics) {
    const units = [];
    for (const t of topics) {
      const u = topicInfo(t).unit || '';
      if (!units.includes(u)) units.push(u);
    }
    const y = unitAxes(units, this.size().width < 520);
    const scales = { x: { time: true, range: () => [this.xmin, this.xmax] }, ...y.scales };
    const axes = [{ ...AXIS, space: (u) => (u.width < 520 ? 50 : 70), values: timeTicks }, ...y.axes];
    const series = [{ label: 'time', value: (_u, v) => (v == null ? '' : new Date(v * 1000).toLocaleString()) }];
    const bands = [];
    topics.forEach((topic) => {
      const color = this.colorFor(topic);
      // a run of missing buckets is a gap only when longer than the topic's usual spacing: data
      // sparser than the buckets (a reading every 10 min in 2 min buckets) stays one line
      const gaps = (u, _si, _i0, _i1, nullGaps) => {
        const gapS = this.gapS.get(topic) ?? 0;
        const px = (gapS / Math.max(1e-9, this.xmax - this.xmin)) * u.bbox.width;
        return nullGaps.filter(([a, b]) => b - a > px);
      };
      const unit = topicInfo(topic).unit || '';
      const scale = `u:${unit}`;
      const val = (_u, v) => (v == null ? '' : `${fmtNum(v)}${unit ? ' ' + unit : ''}`);
      const at = series.length;
      // a bucket with no neighbour draws no line: show it as a dot (the first minutes of a long range)
      const lone = (u, si) => {
        const d = u.data[si];
        const out = [];
        for (let i = 0; i < d.length; i++) if (d[i] != null && d[i - 1] == null && d[i + 1] == null) out.push(i);
        return out.length ? out : null;
      };
      series.push({ label: topic, scale, stroke: color, width: 2, spanGaps: false, gaps, points: { show: false, size: 6, fill: color, filter: lone }, value: val });
      series.push({ label: `${topic} min`, class: 'u-band-edge', scale, stroke: `${color}55`, width: 1, spanGaps: false, gaps, points: { show: false }, value: val });
      series.push({ label: `${topic} max`, class: 'u-band-edge', scale, stroke: `${color}55`, width: 1, spanGaps: false, gaps, points: { show: false }, value: val });
      bands.push({ series: [at + 2, at + 1], fill: `${color}26` });
    });
    return {
      ...this.size(),
      scales,
      axes,
      series,
      bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      hooks: {
        setSelect: [(u) => this.selected(u)],
        draw: [() => this.drawn()],
      },
    };
  }

  // gapSeconds: how far apart two buckets with data of topic may be and still be joined:
  // 1.5 times the larger of the bucket width and the median spacing of its buckets with data.
  gapSeconds(topic) {
    const s = this.series.get(topic);
    const b = this.win.bucket;
    const d = [];
    let last = -1;
    for (let i = 0; i < this.xs.length; i++) {
      if (s.avg[i] == null) continue;
      if (last >= 0) d.push(this.xs[i] - this.xs[last]);
      last = i;
    }
    d.sort((x, y) => x - y);
    const median = d.length ? d[d.length >> 1] : b;
    return 1.5 * Math.max(b, median);
  }

  // A drag: zoom into the selection (at least two buckets wide, else ignored).
  selected(u) {
    const w = u.select.width;
    if (w < 4) return;
    const a = u.posToVal(u.select.left, 'x');
    const b = u.posToVal(u.select.left + w, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (b - a >= 2) this.onZoom(Math.round(a * 1000), Math.round(b * 1000));
  }

  drawn() {
    const root = document.documentElement;
    root.dataset.chartDrawn = String(++drawCount);
    root.dataset.chartRange = this.shownRange || '';
  }

  data(topics) {
    const cols = [this.xs.slice()];
    for (const t of topics) {
      const s = this.series.get(t);
      cols.push(s.avg.slice(), s.min.slice(), s.max.slice());
    }
    return cols;
  }

  draw() {
    if (!this.available || !this.win) return;
    const topics = this.topics();
    this.shownRange = this.view.range; // the range of the data drawn now
    this.gapS = new Map(topics.map((t) => [t, this.gapSeconds(t)]));
    const shape = topics.join('\u0001');
    const data = this.data(topics);
    if (!this.plot || shape !== this.shape) {
      if (this.plot) this.plot.destroy();
      const opts = this.options(topics);
      this.plot = new globalThis.uPlot(opts, data, this.el);
      this.plot.over.addEventListener('dblclick', () => this.onBack());
      this.lastWidth = opts.width;
      this.shape = shape;
    } else {
      this.plot.setData(data);
    }
  }

  // buckets: what is on screen, for tests: {topic: [[x (s), avg, min, max, count] | null, ...]}.
  buckets() {
    const out = {};
    for (const [t, s] of this.series) out[t] = this.xs.map((x, i) => (s.n[i] || s.avg[i] != null ? [x, s.avg[i], s.min[i], s.max[i], s.n[i]] : null));
    return out;
  }

  resize() {
    const sz = this.size();
    if (!this.plot || sz.width === this.lastWidth) return;
    this.lastWidth = sz.width;
    this.plot.setSize(sz);
  }

  clear() {
    this.seq++;
    this.win = null;
    this.loading = null;
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.shape = '';
  }
}
