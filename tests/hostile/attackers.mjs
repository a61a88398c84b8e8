// attackers.mjs - the hostile clients of the hostile-client suite (tests/hostile/), in a process of
// their own so that their work does not slow the measuring side (the dashboard, the /healthz probe).
//
//   node tests/hostile/attackers.mjs '<json config>'
//
// config: { port, token, ws, wsHistory, api, apiLimit, slow, slowByteMs, addrs: ['127.0.0.2', ...] }
//   ws         WebSockets that never read: raw TCP, a valid upgrade (token, Host, Origin), then
//              socket.pause() after the first chunk of the answer; the first half ask for
//              ?history=<wsHistory>, the rest for history=0. Opened once, not reopened.
//   api        concurrent loops of GET /api/readings?limit=<apiLimit>, each reading its answer in
//              full and asking again at once (100 ms later after a refusal or an error)
//   slow       slowloris sockets: a request head that never ends, one byte every slowByteMs; a
//              socket the server closes is opened again (the attacker keeps its count up): 100 ms
//              later, or 1 s later when it lived less than a second (refused at the door: no busy loop)
// Every socket binds a source address of `addrs` (127.0.0.2-127.0.0.9), round robin, so that
// per-address limits fall on the attackers and not on the dashboard on 127.0.0.1.
// Prints one JSON line of counts a second on stdout ({"t":"stats",...}), and a last one
// ({"t":"final",...}) after SIGTERM, when every socket has been destroyed.
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';

const cfg = JSON.parse(process.argv[2] || '{}');
const { port, token } = cfg;
const addrs = cfg.addrs?.length ? cfg.addrs : ['127.0.0.2'];
const HOST = `127.0.0.1:${port}`;
let seq = 0;
const nextAddr = () => addrs[seq++ % addrs.length];
let stopping = false;

const c = {
  ws_upgraded: 0, ws_refused: 0, ws_failed: 0, ws_status: {},
  api_done: 0, api_failed: 0, api_errors: {}, api_bytes: 0, api_status: {}, api_ms_max: 0, api_ms_sum: 0,
  ramp_ms: null,
  slow_open: 0, slow_opened: 0, slow_closed_by_server: 0, slow_answered: 0, slow_failed: 0,
};
const sockets = new Set();
const wsPending = new Set(); // WebSockets with no answer yet
const track = (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); return s; };

// ---- WebSockets that never read ----
function wsNeverReads(i) {
  const history = i < cfg.ws / 2 ? cfg.wsHistory : 0;
  const s = track(net.connect({ host: '127.0.0.1', port, localAddress: nextAddr() }));
  s.on('error', () => {});
  s.once('connect', () => {
    const key = crypto.randomBytes(16).toString('base64');
    s.write(`GET /ws?history=${history} HTTP/1.1\r\nHost: ${HOST}\r\nOrigin: http://${HOST}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`);
  });
  let answered = false;
  s.once('data', (d) => {
    answered = true;
    const head = d.toString('latin1', 0, 16);
    const m = /^HTTP\/1\.[01] (\d+)/.exec(head);
    const code = m ? m[1] : `other ${JSON.stringify(head.slice(0, 12))}`;
    c.ws_status[code] = (c.ws_status[code] || 0) + 1;
    if (code === '101') c.ws_upgraded++;
    else c.ws_refused++;
    s.pause(); // never read again: the server's frames pile up in its buffers and the kernel's
  });
  wsPending.add(s);
  s.once('close', (hadError) => {
    wsPending.delete(s);
    if (stopping) return;
    if (!answered) c.ws_status['closed unanswered'] = (c.ws_status['closed unanswered'] || 0) + 1;
    if (hadError) c.ws_failed++;
  });
  s.once('data', () => wsPending.delete(s));
}

// ---- API requests for the most rows, 'api' at a time ----
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
function apiLoop() {
  if (stopping) return;
  const t0 = performance.now();
  const req = http.get({
    host: '127.0.0.1', port, path: `/api/readings?limit=${cfg.apiLimit}`, agent, localAddress: nextAddr(),
    headers: { Host: HOST, Authorization: `Bearer ${token}` }, timeout: 120000,
  }, (res) => {
    c.api_status[res.statusCode] = (c.api_status[res.statusCode] || 0) + 1;
    res.on('data', (d) => (c.api_bytes += d.length));
    res.on('end', () => {
      const ms = performance.now() - t0;
      c.api_done++; c.api_ms_sum += ms; c.api_ms_max = Math.max(c.api_ms_max, ms);
      if (res.statusCode === 200) setImmediate(apiLoop);
      else setTimeout(apiLoop, 100);
    });
    res.on('error', () => {});
  });
  req.on('socket', (s) => track(s));
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => {
    if (stopping) return;
    c.api_failed++;
    const k = e.code || e.message;
    c.api_errors[k] = (c.api_errors[k] || 0) + 1;
    setTimeout(apiLoop, 100);
  });
}

// ---- slowloris: a request head a byte at a time, never finished ----
const slow = new Set();
function slowOpen() {
  if (stopping) return;
  const s = track(net.connect({ host: '127.0.0.1', port, localAddress: nextAddr() }));
  const head = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `);
  const st = { s, pos: 0, head, born: Date.now(), next: Date.now() + Math.random() * cfg.slowByteMs };
  c.slow_opened++;
  s.on('error', () => {});
  s.once('connect', () => { c.slow_open++; slow.add(st); });
  s.on('data', () => { c.slow_answered++; });
  s.once('close', () => {
    if (slow.delete(st)) { c.slow_open--; if (!stopping) c.slow_closed_by_server++; }
    else if (!stopping) c.slow_failed++;
    if (!stopping) setTimeout(slowOpen, Date.now() - st.born < 1000 ? 1000 : 100);
  });
}
const slowTick = setInterval(() => {
  const now = Date.now();
  for (const st of slow) {
    if (st.next > now) continue;
    st.next = now + cfg.slowByteMs;
    const b = st.pos < st.head.length ? st.head.subarray(st.pos, st.pos + 1) : Buffer.from('a');
    st.pos++;
    st.s.write(b);
  }
}, 50);

// ---- start, in small steps so the listen queue is not the first thing measured ----
async function ramp(n, open) {
  for (let i = 0; i < n && !stopping; i++) {
    open(i);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
  }
}
const t0 = Date.now();
const report = (t) => process.stdout.write(JSON.stringify({ t, sockets: sockets.size, ...c }) + '\n');
const statsTick = setInterval(() => report('stats'), 1000);

process.on('SIGTERM', () => {
  stopping = true;
  if (wsPending.size) c.ws_status['no answer by the end'] = wsPending.size;
  clearInterval(slowTick);
  clearInterval(statsTick);
  for (const s of sockets) s.destroy();
  report('final');
  process.exit(0);
});

for (let i = 0; i < cfg.api; i++) apiLoop();
await Promise.all([ramp(cfg.ws, wsNeverReads), ramp(cfg.slow, slowOpen)]);
c.ramp_ms = Date.now() - t0;
report('ramped');
