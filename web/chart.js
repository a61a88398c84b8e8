// One live uPlot line chart, a series per topic, time on x.
// Each series keeps at most WINDOW_MS of data (measured from the newest
// reading seen) and at most MAX_POINTS points, so memory stays bounded however
// long the page stays open. Redraws are coalesced to animation frames.

import { AXIS, timeTicks, unitAxes } from './axis.js';

export const WINDOW_MS = 10 * 60 * 1000;
export const MAX_POINTS = 1200;
// More lines than this stop being readable (and cost a redraw): the chart shows
// the first MAX_SERIES topics by name, the cards still show every topic.
export const MAX_SERIES = 16;
const MIN_REDRAW_MS = 150;

// Colours that read well on the dark background; cards use the same ones.
const PALETTE = [
  '#4cc2ff', '#ffb454', '#ff6b81', '#7ee787', '#c792ea',
  '#3dd6c6', '#f2e05a', '#8fa8ff', '#ff7edb', '#d0d7e2',
];

function fmt(v, digits = 1) {
  return v == null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

export class LiveChart {
  // container: element the chart lives in (its width drives the chart's width).
  constructor(container, { windowMs = WINDOW_MS, maxPoints = MAX_POINTS, maxSeries = MAX_SERIES, onNote } = {}) {
    this.el = container;
    this.maxSeries = maxSeries;
    this.onNote = onNote || (() => {});
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    this.series = new Map(); // topic -> {topic, unit, color, t: number[] (s), v: number[]}
    this.filter = null; // (topic) -> boolean: the topics drawn (a device page's), null for all
    this.colors = new Map(); // topic -> colour, stable for the page's life
    this.newest = -Infinity; // newest timestamp seen (s)
    this.plot = null;
    this.shape = ''; // topics+units the current plot was built for
    this.pending = false;
    this.lastDraw = 0;
    this.available = typeof globalThis.uPlot === 'function';
    if (!this.available) {
      const p = document.createElement('p');
      p.className = 'chart-missing';
      p.textContent = 'Chart library not loaded (vendor/uPlot.iife.min.js). Cards still update live.';
      this.el.append(p);
    }
    if (typeof ResizeObserver === 'function') {
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(this.el);
    }
  }

  colorFor(topic) {
    let c = this.colors.get(topic);
    if (!c) {
      c = PALETTE[this.colors.size % PALETTE.length];
      this.colors.set(topic, c);
    }
    return c;
  }

  // add one reading; tsMs epoch milliseconds. Call redraw() (or let rows batch).
  add(topic, unit, tsMs, value) {
    if (!Number.isFinite(tsMs) || !Number.isFinite(value)) return;
    let s = this.series.get(topic);
    if (!s) {
      s = { topic, unit, color: this.colorFor(topic), t: [], v: [] };
      this.series.set(topic, s);
    }
    const t = tsMs / 1000;
    const n = s.t.length;
    if (n === 0 || t >= s.t[n - 1]) {
      s.t.push(t);
      s.v.push(value);
    } else {
      // Late reading (its own timestamp is older): insert in time order.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (s.t[mid] <= t) lo = mid + 1;
        else hi = mid;
      }
      s.t.splice(lo, 0, t);
      s.v.splice(lo, 0, value);
    }
    if (t > this.newest) this.newest = t;
    this.schedule();
  }

  prune() {
    const cutoff = this.newest - this.windowMs / 1000;
    for (const s of this.series.values()) {
      let drop = 0;
      while (drop < s.t.length && s.t[drop] < cutoff) drop++;
      drop = Math.max(drop, s.t.length - this.maxPoints);
      if (drop > 0) {
        s.t.splice(0, drop);
        s.v.splice(0, drop);
      }
    }
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    const tick = (now) => {
      if (now - this.lastDraw < MIN_REDRAW_MS) {
        requestAnimationFrame(tick);
        return;
      }
      this.pending = false;
      this.lastDraw = now;
      this.draw();
    };
    requestAnimationFrame(tick);
  }

  // Topics sorted so each device's series sit together in the legend.
  topics() {
    const all = [...this.series.keys()].filter((t) => !this.filter || this.filter(t)).sort();
    this.onNote(all.length > this.maxSeries ? `chart shows ${this.maxSeries} of ${all.length} topics` : '');
    return all.slice(0, this.maxSeries);
  }

  // uPlot wants aligned columns: one x array, one y array per series with
  // nulls where a series has no point at that x (spanGaps joins them).
  data(topics) {
    const xs = [];
    for (const topic of topics) xs.push(...this.series.get(topic).t);
    xs.sort((a, b) => a - b);
    let w = 0;
    for (let i = 0; i < xs.length; i++) if (i === 0 || xs[i] !== xs[w - 1]) xs[w++] = xs[i];
    xs.length = w;
    const cols = [xs];
    for (const topic of topics) {
      const s = this.series.get(topic);
      const col = new Array(xs.length).fill(null);
      let j = 0;
      for (let i = 0; i < s.t.length; i++) {
        while (xs[j] < s.t[i]) j++;
        col[j] = s.v[i];
      }
      cols.push(col);
    }
    return cols;
  }

  size() {
    const width = Math.max(200, Math.floor(this.el.clientWidth));
    const height = width < 520 ? 220 : 320;
    return { width, height };
  }

  options(topics) {
    // One y scale per unit. The two most common firmware units get an axis
    // each (°C left, % right); further units are scaled on their own and read
    // from the legend, so the plot does not drown in axes.
    const units = [];
    for (const topic of topics) {
      const u = this.series.get(topic).unit || '';
      if (!units.includes(u)) units.push(u);
    }
    const y = unitAxes(units, this.size().width < 520);
    const scales = { x: { time: true }, ...y.scales };
    const axes = [{ ...AXIS, space: (u) => (u.width < 520 ? 40 : 64), values: timeTicks }, ...y.axes];
    const series = [
      {
        label: 'time',
        value: (_u, v) => (v == null ? '' : new Date(v * 1000).toLocaleTimeString()),
      },
      ...topics.map((topic) => {
        const s = this.series.get(topic);
        return {
          label: topic,
          scale: `u:${s.unit || ''}`,
          stroke: s.color,
          width: 2,
          spanGaps: true,
          points: { size: 4, fill: s.color },
          value: (_u, v) => (v == null ? '' : `${fmt(v)}${s.unit ? ' ' + s.unit : ''}`),
        };
      }),
    ];
    return {
      ...this.size(),
      scales,
      axes,
      series,
      legend: { live: true },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
    };
  }

  draw() {
    if (!this.available) return;
    this.prune();
    const topics = this.topics();
    if (topics.length === 0) {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      this.shape = '';
      return;
    }
    const shape = topics.map((t) => `${t}\u0000${this.series.get(t).unit}`).join('\u0001');
    const data = this.data(topics);
    if (!this.plot || shape !== this.shape) {
      // The set of series changed (rare): build a new plot.
      if (this.plot) this.plot.destroy();
      const opts = this.options(topics);
      this.plot = new globalThis.uPlot(opts, data, this.el);
      this.lastWidth = opts.width;
      this.shape = shape;
    } else {
      this.plot.setData(data);
    }
  }

  // Only a change of width matters; the plot sets its own height.
  resize() {
    const sz = this.size();
    if (!this.plot || sz.width === this.lastWidth) return;
    this.lastWidth = sz.width;
    this.plot.setSize(sz);
  }
}
