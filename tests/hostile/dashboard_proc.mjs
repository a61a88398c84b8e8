// dashboard_proc.mjs - the hostile-client suite's dashboard (dashboard.mjs) in a process of its own,
// so that nothing else on its event loop (the /healthz probes, the samplers) delays its frames.
//   remoteDashboard({ base, token, prefix, history }) -> { count(), setPhase(name), close() }
// close() resolves with { values, lat, gaps, reconnects, duplicates, closes, loop } (loop: the
// dashboard process's own event-loop delay per phase, { p50, p99, max } ms). Run as a child:
//   node tests/hostile/dashboard_proc.mjs '<json config>'   (talks over the IPC channel)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openDashboard } from './dashboard.mjs';

const SELF = fileURLToPath(import.meta.url);

export function remoteDashboard(cfg, { timeoutMs = 15000 } = {}) {
  const child = fork(SELF, [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let count = 0, final = null, finalWaiter = null;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dashboard did not connect within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (m) => {
      if (m.t === 'open') { clearTimeout(timer); resolve(); }
      else if (m.t === 'error') { clearTimeout(timer); reject(new Error(`the dashboard: ${m.message}`)); }
      else if (m.t === 'count') count = m.n;
      else if (m.t === 'final') { final = m; count = m.values; finalWaiter?.(m); }
    });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`the dashboard process exited (${code})`)); });
  });
  const handle = {
    count: () => count,
    setPhase: (name) => { if (child.connected) child.send({ t: 'phase', name }); },
    async close() {
      if (final) return final;
      if (!child.connected) return null;
      const got = new Promise((resolve) => { finalWaiter = resolve; });
      child.send({ t: 'close' });
      const m = await Promise.race([got, exited.then(() => final)]);
      await exited;
      return m;
    },
    kill: () => child.kill('SIGKILL'),
  };
  return opened.then(() => handle, (e) => { child.kill('SIGKILL'); throw e; });
}

// ---- the child ----
if (process.argv[1] === SELF && process.send) {
  const cfg = JSON.parse(process.argv[2]);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const loop = {};
  let phase = 'setup';
  const closePhase = () => {
    loop[phase] = { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 };
    eld.reset();
  };
  let d;
  try {
    d = await openDashboard(cfg);
  } catch (e) {
    process.send({ t: 'error', message: e.message });
    process.exit(1);
  }
  process.send({ t: 'open' });
  const tick = setInterval(() => process.send({ t: 'count', n: d.values.size }), 100);
  process.on('message', async (m) => {
    if (m.t === 'phase') {
      closePhase();
      phase = m.name;
      d.setPhase(m.name);
    } else if (m.t === 'close') {
      clearInterval(tick);
      closePhase();
      await d.close();
      process.send({ t: 'final', values: d.values.size, lat: d.lat, gaps: d.gaps, reconnects: d.reconnects,
        duplicates: d.duplicates, closes: d.closes, loop }, () => process.exit(0));
    }
  });
}
