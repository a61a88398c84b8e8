// axis.js - what the live chart (chart.js) and the history chart (history.js) draw their axes
// with: colours, font, and time ticks in the browser's local time.

export const AXIS = {
  stroke: '#8a94a6',
  grid: { stroke: 'rgba(255,255,255,0.06)', width: 1 },
  ticks: { stroke: 'rgba(255,255,255,0.10)', width: 1, size: 4 },
  font: '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
};
export const pad2 = (n) => String(n).padStart(2, '0');

// Local time ticks: HH:MM, with MM-DD in front over more than a day, seconds when ticks are close.
export function timeTicks(u, splits, _axis, _space, incr) {
  const span = u.scales.x.max - u.scales.x.min;
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    if (span > 86400) return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}${incr >= 86400 ? '' : ' ' + hm}`;
    return incr < 60 ? `${hm}:${pad2(d.getSeconds())}` : hm;
  });
}

// One y scale per unit (units: the topics' units, in any order; sorted here, °C first, % next).
// The first two units get an axis each (left, right); further units are scaled on their own and
// read from the legend, so the plot does not drown in axes. Returns { scales, axes } without x.
export function unitAxes(units, narrow) {
  const rank = (u) => (u === '°C' ? 0 : u === '%' ? 1 : 2);
  units.sort((a, b) => rank(a) - rank(b));
  const scales = {};
  for (const u of units) scales[`u:${u}`] = { auto: true };
  const axes = units.slice(0, 2).map((u, i) => ({
    ...AXIS,
    scale: `u:${u}`,
    side: i === 0 ? 3 : 1,
    grid: i === 0 ? AXIS.grid : { show: false },
    size: narrow ? 50 : 58,
    values: (_u, splits) => splits.map((v) => (v == null ? '' : `${+v.toFixed(2)}${u ? ' ' + u : ''}`)),
  }));
  return { scales, axes };
}
