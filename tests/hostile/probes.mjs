// probes.mjs - what the hostile-client suite measures while it runs, each sample tagged with the
// phase it was taken in (setPhase): serve's resident memory, the host's TCP memory, /healthz
// latency from 127.0.0.1, and connection counts.
//   const p = startProbes({ pid, base, token, port });  p.setPhase('attack');  ...  p.stop();
//   p.rss[phase]      { max kB, last kB }         /proc/<pid>/status VmRSS every 100 ms
//   p.tcp[phase]      { max pages }               /proc/net/sockstat "TCP: ... mem N" every 100 ms
//   p.health[phase]   [latency ms, ...]           GET /healthz on a new connection every 20 ms
//                                                 (a failure or no answer in 10 s counts as 10 000 ms)
//   p.loop[phase]     { p50, p99, max } ms: this process's own event-loop delay, so that a late
//                     dashboard frame or probe can be told from a late measurer
//   p.cpu[phase]      serve's CPU seconds (user + system) in that phase, p.wall[phase] its seconds
//   p.runq[phase]     { s, slices }: serve's seconds runnable but waiting for a CPU, and how many times it
//                     ran (/proc/<pid>/schedstat): on a loaded host, the delay the scheduler adds to each
//                     of serve's loop passes
// tcpPressure() is the kernel's pressure threshold (the middle value of tcp_mem), in pages.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const HEALTH_TIMEOUT_MS = 10000;

export const rssKb = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};
export const hwmKb = (pid) => {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};
/** CPU seconds (user + system) a process has used. */
export const cpuSeconds = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 a second)
  } catch {
    return 0;
  }
};
/** [seconds waiting on a run queue, timeslices run] of a process's main thread (/proc/<pid>/schedstat). */
export const runqWait = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
    return [Number(f[1]) / 1e9, Number(f[2])];
  } catch {
    return [0, 0];
  }
};
export const tcpMemPages = () => Number(/TCP:.* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
export const tcpPressure = () => Number(readFileSync('/proc/sys/net/ipv4/tcp_mem', 'utf8').trim().split(/\s+/)[1]);

/**
 * Established TCP connections whose local port is `port` (serve's side of every client): `ss` (netlink,
 * filtered in the kernel, in a child process) when it is there, else /proc/net/tcp (slow with
 * thousands of sockets, and read in this process).
 */
export function establishedTo(port) {
  return new Promise((resolve) => {
    execFile('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { maxBuffer: 1 << 26 }, (err, stdout) =>
      resolve(err ? establishedToProc(port) : stdout.split('\n').filter(Boolean).length));
  });
}
function establishedToProc(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1].endsWith(`:${hex}`) && cols[3] === '01') n++;
    }
  }
  return n;
}

/** One GET on a new connection from 127.0.0.1; resolves with { ms, status } (status 0: failed). */
export function timedGet(base, path, { headers = {}, timeout = HEALTH_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let done = false;
    const finish = (status) => {
      if (done) return;
      done = true;
      resolve({ ms: status ? performance.now() - t0 : timeout, status });
    };
    const req = http.get(`${base}${path}`, { agent: false, localAddress: '127.0.0.1', headers, timeout }, (res) => {
      res.resume();
      res.on('end', () => finish(res.statusCode));
      res.on('error', () => finish(0));
    });
    req.on('timeout', () => { req.destroy(); finish(0); });
    req.on('error', () => finish(0));
  });
}

/** The value of one unlabelled metric from serve's /metrics, or null. */
export async function metric(base, token, name) {
  const r = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await r.text());
  return m ? Number(m[1]) : null;
}

export function startProbes({ pid, base }) {
  let phase = 'setup';
  const p = { rss: {}, tcp: {}, health: {}, healthFailed: {}, cpu: {}, wall: {}, inflight: new Set() };
  let cpu0 = cpuSeconds(pid), t0 = Date.now(), rq0 = runqWait(pid);
  p.runq = {};
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  p.loop = {};
  const closePhase = () => {
    p.loop[phase] = { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 };
    eld.reset();
    const c = cpuSeconds(pid), t = Date.now();
    p.cpu[phase] = (p.cpu[phase] ?? 0) + (c - cpu0);
    p.wall[phase] = (p.wall[phase] ?? 0) + (t - t0) / 1000;
    const rq = runqWait(pid);
    const o = (p.runq[phase] ??= { s: 0, slices: 0 });
    o.s += rq[0] - rq0[0];
    o.slices += rq[1] - rq0[1];
    cpu0 = c; t0 = t; rq0 = rq;
  };
  const slot = (o, init) => (o[phase] ??= init());
  const fast = setInterval(() => {
    const r = slot(p.rss, () => ({ max: 0, last: 0 }));
    r.last = rssKb(pid);
    r.max = Math.max(r.max, r.last);
    const t = slot(p.tcp, () => ({ max: 0 }));
    t.max = Math.max(t.max, tcpMemPages());
  }, 100);
  const health = setInterval(() => {
    const ph = phase;
    const q = timedGet(base, '/healthz').then(({ ms, status }) => {
      (p.health[ph] ??= []).push(ms);
      if (status !== 200) p.healthFailed[ph] = (p.healthFailed[ph] || 0) + 1;
      p.inflight.delete(q);
    });
    p.inflight.add(q);
  }, 20);
  p.setPhase = (name) => { closePhase(); phase = name; };
  p.phase = () => phase;
  p.stop = async () => {
    if (!p.stopped) closePhase();
    p.stopped = true;
    eld.disable();
    clearInterval(fast);
    clearInterval(health);
    await Promise.all([...p.inflight]);
  };
  return p;
}
