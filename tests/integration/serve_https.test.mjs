// serve_https.test.mjs - where serve's requests come from and how they travel: HTTPS with
// --tls-cert/--tls-key (the test CA of scripts/tls.sh), the Host check of --allowed-hosts (DNS
// rebinding), the WebSocket Origin against the allowed hosts, --trusted-proxy (X-Forwarded-For
// and X-Forwarded-Proto believed from that peer only), the security headers on every response,
// CSV cells that would be formulas, and the start-up refusals (plain HTTP off loopback, '*').
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ROOT, createDatabase, freePort, makeToken, psql, spawnSensorpipe, waitFor } from '../lib/harness.mjs';

const execFileP = promisify(execFile);
let tlsDir, ca, db, port, serve, token;

/**
 * One raw HTTP/1.1 request; resolves with { status, headers, body, raw } when the server closes.
 * opts: tls (use TLS with the test CA), host (Host header, null = none), headers (extra lines),
 * localAddress (the client's source address), auth (false: no token; logins are serve_auth.test.mjs's).
 */
function request(p, reqPath, { useTls = true, host = `127.0.0.1:${p}`, headers = [], connection = 'close', localAddress, timeout = 10000, auth = true } = {}) {
  return new Promise((resolve, reject) => {
    const creds = auth && token ? [`Authorization: Bearer ${token}`] : [];
    const head = [`GET ${reqPath} HTTP/1.1`, ...(host === null ? [] : [`Host: ${host}`]), ...creds, ...headers, `Connection: ${connection}`, '', ''].join('\r\n');
    const sock = useTls
      ? tls.connect({ host: '127.0.0.1', port: p, ca, servername: 'localhost', localAddress, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host: '127.0.0.1', port: p, localAddress });
    let raw = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer to ${reqPath} in ${timeout} ms: ${raw}`)); }, timeout);
    sock.once(useTls ? 'secureConnect' : 'connect', () => sock.write(head));
    sock.on('data', (d) => {
      raw = Buffer.concat([raw, d]);
      // an upgrade that succeeded stays open: stop at the end of the head
      if (/^HTTP\/1\.1 101/.test(raw.toString('latin1')) && raw.includes('\r\n\r\n')) sock.end();
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = raw.toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      const headersOut = {};
      for (const line of text.slice(0, split).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headersOut[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: m ? Number(m[1]) : 0, headers: headersOut, body: split >= 0 ? text.slice(split + 4) : '', raw: text });
    });
  });
}

const WS_HEADERS = ['Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
const upgrade = (p, { origin, ...opts } = {}) =>
  request(p, '/ws?history=0', { ...opts, connection: 'Upgrade', headers: [...WS_HEADERS, ...(origin ? [`Origin: ${origin}`] : []), ...(opts.headers || [])] });

async function metric(name) {
  const r = await request(port, '/metrics');
  const line = r.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

function assertSecurityHeaders(r, what) {
  const csp = r.headers['content-security-policy'] || '';
  for (const d of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"])
    assert.ok(csp.includes(d), `${what}: CSP has ${d}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${what}: no unsafe-* in the CSP`);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(r.headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
}

before(async () => {
  tlsDir = await mkdtemp(path.join(os.tmpdir(), 'sensorpipe-https-'));
  await execFileP(path.join(ROOT, 'scripts/tls.sh'), [tlsDir]);
  ca = await readFile(path.join(tlsDir, 'ca.crt'));
  db = await createDatabase('https');
  port = await freePort();
  serve = spawnSensorpipe(['serve', '--db', db.dsn, '--listen', `127.0.0.1:${port}`,
    '--tls-cert', path.join(tlsDir, 'server.crt'), '--tls-key', path.join(tlsDir, 'server.key')], { name: 'serve-https' });
  await waitFor(async () => (await request(port, '/healthz').catch(() => ({}))).status === 200, {
    timeout: 15000, message: `serve over HTTPS to answer /healthz`,
  }).catch((e) => { throw new Error(`${e.message}\n${serve.output()}`); });
  assert.match(serve.output(), new RegExp(`listening on https://127\\.0\\.0\\.1:${port}`));
  token = await makeToken(db.name, { label: 'https-test' });
  assert.ok(token, 'a token for the test');
  await waitFor(async () => (await request(port, '/api/topics')).status === 200, { message: 'serve to accept the test token' });
});

after(async () => {
  if (serve) assert.equal(await serve.stop(), 0);
  if (tlsDir) await rm(tlsDir, { recursive: true, force: true });
});

test('HTTPS: the dashboard and the API over TLS with the test CA; plain HTTP to the HTTPS port gets no answer', async () => {
  const page = await request(port, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  const topics = await request(port, '/api/topics');
  assert.equal(topics.status, 200);
  assert.ok(Array.isArray(JSON.parse(topics.body).topics));
  // node's own https client verifies the chain and the name (localhost is in the certificate)
  const https = await import('node:https');
  const status = await new Promise((resolve, reject) =>
    https.get({ host: 'localhost', port, path: '/healthz', ca }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject));
  assert.equal(status, 200);
  // without the CA the certificate is not trusted
  await assert.rejects(new Promise((resolve, reject) =>
    https.get({ host: 'localhost', port, path: '/healthz' }, resolve).on('error', reject)), /self[- ]signed|unable to (get|verify)/i);
  // plain HTTP: no HTTP answer at all (the TLS listener drops it), and nothing served
  const plain = await request(port, '/', { useTls: false }).catch((e) => ({ status: 0, raw: String(e) }));
  assert.equal(plain.status, 0, `plain HTTP got an HTTP answer: ${plain.raw.slice(0, 200)}`);
  assert.doesNotMatch(plain.raw, /<html/i);
  // TLS 1.1 is refused
  await assert.rejects(new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => { s.end(); resolve(); });
    s.on('error', reject);
  }));
});

test('Host: a foreign Host is refused with 421 on /, /api/topics and /ws, and nothing is served', async () => {
  const httpBefore = await metric('sensorpipe_http_refused_total{reason="host"}');
  const wsBefore = await metric('sensorpipe_ws_rejected_total{reason="host"}');
  for (const p of ['/', '/api/topics', '/healthz']) {
    const r = await request(port, p, { host: `evil.example:${port}` });
    assert.equal(r.status, 421, `${p} with Host evil.example`);
    assert.match(r.body, /not served here/);
    assert.doesNotMatch(r.body, /<html|"topics"/, `${p}: nothing of the page or the API`);
    assertSecurityHeaders(r, `421 on ${p}`);
  }
  // DNS rebinding as it was: Host and Origin both the attacker's name
  const ws = await upgrade(port, { host: 'evil.example', origin: 'https://evil.example' });
  assert.equal(ws.status, 421);
  assert.doesNotMatch(ws.raw, /^HTTP\/1\.1 101/);
  // allowed names (the default list): localhost and 127.0.0.1 with the listen port
  assert.equal((await request(port, '/api/topics', { host: `localhost:${port}` })).status, 200);
  assert.equal((await request(port, '/api/topics', { host: `LOCALHOST:${port}` })).status, 200);
  assert.equal((await request(port, '/api/topics', { host: 'localhost' })).status, 421, 'no port = 443, not the listen port');
  assert.equal((await request(port, '/api/topics', { host: `127.0.0.1:${port + 1}` })).status, 421);
  assert.equal(await metric('sensorpipe_http_refused_total{reason="host"}'), httpBefore + 5);
  assert.equal(await metric('sensorpipe_ws_rejected_total{reason="host"}'), wsBefore + 1);
  assert.match(serve.output(), /request refused \(421\): host 'evil\.example:\d+' is not served here/);
});

test('Origin: a WebSocket Origin must name an allowed host; the Host header does not vouch for it', async () => {
  const before = await metric('sensorpipe_ws_rejected_total{reason="origin"}');
  const ok = await upgrade(port, { origin: `https://localhost:${port}` });
  assert.equal(ok.status, 101, ok.raw.slice(0, 300));
  const ok2 = await upgrade(port, { origin: `https://127.0.0.1:${port}` });
  assert.equal(ok2.status, 101);
  for (const origin of ['https://evil.example', `https://evil.example:${port}`, `https://localhost:${port + 1}`, 'null']) {
    const r = await upgrade(port, { origin });
    assert.equal(r.status, 403, `Origin ${origin}`);
    assert.doesNotMatch(r.raw, /^HTTP\/1\.1 101/);
    assert.match(r.body, /not allowed/);
  }
  assert.equal(await metric('sensorpipe_ws_rejected_total{reason="origin"}'), before + 4);
});

test('headers: CSP, nosniff and Referrer-Policy on the page, a script, the API, metrics and errors', async () => {
  for (const p of ['/', '/app.js', '/style.css', '/api/topics', '/api/readings?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z', '/metrics', '/healthz', '/api/nope', '/nope.html', '/api/readings?from=bad']) {
    const r = await request(port, p);
    assert.ok(r.status > 0, `${p}: an answer`);
    assertSecurityHeaders(r, `${p} (${r.status})`);
  }
  const bad = await request(port, '/api/readings?from=bad');
  assert.equal(bad.status, 400);
});

test('CSV: a topic that starts like a formula is neutralised with a quote', async () => {
  await psql(db.dsn, `INSERT INTO readings (topic, ts, value) VALUES
    ('=HYPERLINK("http://x")/t/d', '2024-01-01T00:00:01Z', 1),
    ('+cmd/t/d', '2024-01-01T00:00:02Z', -2),
    ('@sum/t/d', '2024-01-01T00:00:03Z', 3),
    ('plain/t/d', '2024-01-01T00:00:04Z', 4)`);
  const r = await request(port, '/api/readings.csv?from=2024-01-01T00:00:00Z&to=2024-01-01T00:01:00Z');
  assert.equal(r.status, 200, r.raw.slice(0, 300));
  assertSecurityHeaders(r, 'CSV');
  const body = r.body;
  assert.match(body, /,"'=HYPERLINK\(""http:\/\/x""\)\/t\/d",1\r\n/);
  assert.match(body, /,"'\+cmd\/t\/d",-2\r\n/, 'the topic quoted; a negative number stays a number');
  assert.match(body, /,"'@sum\/t\/d",3\r\n/);
  assert.match(body, /,plain\/t\/d,4\r\n/);
  for (const line of body.trim().split('\r\n').slice(1)) assert.doesNotMatch(line.split(',')[2], /^[=+\-@]/, line);
});

test('start-up: plain HTTP off loopback, * origins off loopback and bad values are refused with a reason', async () => {
  const cases = [
    [['--listen', '0.0.0.0:1'], /plain HTTP on a non-loopback --listen \(0\.0\.0\.0\).*--tls-cert.*--trusted-proxy/],
    [['--listen', '0.0.0.0:1', '--trusted-proxy', '10.0.0.1', '--allow-origin', 'a.example,*'], /--allow-origin '\*' is refused on a non-loopback/],
    [['--listen', '0.0.0.0:1', '--tls-cert', path.join(tlsDir, 'server.crt'), '--tls-key', path.join(tlsDir, 'server.key'), '--allow-origin', '*'], /--allow-origin '\*' is refused/],
    [['--trusted-proxy', 'proxy.example'], /--trusted-proxy must be an IPv4 or IPv6 address/],
    [['--tls-cert', path.join(tlsDir, 'server.crt')], /--tls-cert and --tls-key go together/],
    [['--tls-cert', path.join(tlsDir, 'nope.crt'), '--tls-key', path.join(tlsDir, 'server.key')], /--tls-cert '.*nope\.crt': No such file/],
    [['--allowed-hosts', 'https://dash.example'], /--allowed-hosts must be a comma list of host\[:port\]/],
    [['--allowed-hosts', '*'], /--allowed-hosts must be/],
  ];
  for (const [args, re] of cases) {
    const p = spawnSensorpipe(['serve', '--db', db.dsn, '--no-migrate', ...args], { name: 'serve-refused' });
    const code = await p.exited;
    assert.equal(code, 2, `${args.join(' ')}: exit 2\n${p.output()}`);
    assert.match(p.output(), re);
  }
});

test('--trusted-proxy: X-Forwarded-For and X-Forwarded-Proto believed from that peer only', async () => {
  const p2 = await freePort();
  // plain HTTP behind a proxy on 127.0.0.1; clients from 127.0.0.2 are not the proxy
  const s = spawnSensorpipe(['serve', '--db', db.dsn, '--no-migrate', '--listen', `127.0.0.1:${p2}`, '--trusted-proxy', '127.0.0.1',
    '--allowed-hosts', `dash.example:443,127.0.0.1:${p2}`], { name: 'serve-proxy' });
  try {
    await waitFor(async () => (await request(p2, '/healthz', { useTls: false }).catch(() => ({}))).status === 200, {
      message: `serve behind a proxy to answer\n${s.output()}`,
    });
    const fwd = ['X-Forwarded-For: 10.9.9.9, 203.0.113.7', 'X-Forwarded-Proto: https'];
    // from the proxy: "dash.example" without a port is 443, because the proxy says https
    const viaProxy = await request(p2, '/api/topics', { useTls: false, host: 'dash.example', headers: fwd });
    assert.equal(viaProxy.status, 200, viaProxy.raw.slice(0, 200));
    // the same headers from another peer are not believed: http, so port 80, not allowed
    const direct = await request(p2, '/api/topics', { useTls: false, host: 'dash.example', headers: fwd, localAddress: '127.0.0.2' });
    assert.equal(direct.status, 421);
    // the client's address: the rightmost X-Forwarded-For entry from the proxy, the peer otherwise
    await request(p2, '/', { useTls: false, host: 'evil.example', headers: fwd });
    await request(p2, '/', { useTls: false, host: 'evil2.example', headers: fwd, localAddress: '127.0.0.2' });
    await request(p2, '/', { useTls: false, host: 'evil3.example', headers: ['X-Forwarded-For: not-an-address'] });
    await waitFor(() => /evil3\.example/.test(s.output()), { message: 'the refusals logged' });
    const out = s.output();
    assert.match(out, /http 203\.0\.113\.7: request refused \(421\): host 'evil\.example'/);
    assert.doesNotMatch(out, /http 10\.9\.9\.9:/, 'entries left of the last are the client\'s own words');
    assert.match(out, /http 127\.0\.0\.2: request refused \(421\): host 'evil2\.example'/);
    assert.match(out, /http 127\.0\.0\.1: request refused \(421\): host 'evil3\.example'/);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});
