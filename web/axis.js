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
