// serve_badinput.test.mjs - `sensorpipe serve` against hostile and broken clients: malformed HTTP over raw
// TCP, bodies on GET, wrong HTTP versions, bad WebSocket handshakes and parameters, oversized and
// fragmented WebSocket messages, binary and non-UTF-8 text frames, slow-loris, and readings whose
// topics hold control characters, quotes and unicode. Every offending connection is refused with a
// reason (HTTP status + JSON message, a WebSocket close code, or for what libwebsockets refuses
// itself a 403 or a hang-up), each refusal is counted in /metrics by reason, and a witness
// WebSocket open all along keeps receiving live rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startPipeline, tokenFor, waitFor, wsConnect } from '../lib/harness.mjs';

const HTTP_TIMEOUT_S = 3; // --http-timeout-s: short, so slow-loris tests are quick

let pipe;
let wsBase;
let witness;

before(async () => {
  pipe = await startPipeline({
    ingest: false,
    dbPrefix: 'badinput',
    // --max-conns-per-addr: the slow-loris test opens 300 connections from 127.0.0.1 to reach lws' own limits
    // (serve_limits.test.mjs covers the per-address cap)
    serveArgs: ['--http-timeout-s', String(HTTP_TIMEOUT_S), '--max-conns-per-addr', '1000'],
  });
  wsBase = pipe.httpUrl.replace(/^http/, 'ws');
  witness = await wsConnect(`${wsBase}/ws?history=0&topic=witness/%23`);
  await witness.next((m) => m.type === 'history');
});

after(async () => {
  if (witness) await witness.close();
  if (!pipe) return;
  const codes = await pipe.stop();
  assert.equal(codes.serve, 0, 'serve exits 0 on SIGTERM, without leaks (ASan)');
});

let witnessSeq = 0;
/** The witness client still receives a row inserted now, within a few seconds. */
async function witnessAlive(what) {
  const [id] = (await pipe.psql(`INSERT INTO readings (topic, value) VALUES ('witness/alive/x', ${++witnessSeq}) RETURNING id`))
    .split('\n')
    .map(Number);
  await waitFor(() => witness.rows().some((r) => r.id === id), {
    timeout: 5000,
    message: `the witness WebSocket to receive row ${id} after ${what}\n${pipe.serve.output().slice(-3000)}`,
  });
  assert.equal(witness.closed(), null, 'the witness stayed connected');
}

async function metrics() {
  const text = await (await fetch(`${pipe.httpUrl}/metrics`)).text();
  const values = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$/);
    if (m) values[m[1]] = Number(m[2]);
  }
  return values;
}

/** A client we expect to be cut: it may see a reset while still sending, which is not an error here. */
async function offender(query) {
  const c = await wsConnect(`${wsBase}/ws${query}`);
  c.ws.on('error', () => {});
  await c.next((m) => m.type === 'history');
  return c;
}

/** Counter deltas between two /metrics snapshots, for the keys that moved. */
function delta(a, b) {
  const d = {};
  for (const k of Object.keys(b)) if (b[k] !== (a[k] ?? 0)) d[k] = b[k] - (a[k] ?? 0);
  return d;
}

const refused = (reason) => `sensorpipe_http_refused_total{reason="${reason}"}`;

/**
 * Send raw bytes on a new TCP connection (optionally in pieces, `gapMs` apart) and collect what
 * comes back until the server closes. Returns { status, head, body, ms } (status null: no answer).
 */
function raw(chunks, { timeout = 15000, gapMs = 0 } = {}) {
  if (!Array.isArray(chunks)) chunks = [chunks];
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock = net.connect(pipe.httpPort, '127.0.0.1');
    let data = Buffer.alloc(0);
    let timer;
    const send = (i) => {
      if (i >= chunks.length || sock.destroyed) return;
      sock.write(chunks[i], () => {});
      if (i + 1 < chunks.length) setTimeout(() => send(i + 1), gapMs);
    };
    sock.on('connect', () => send(0));
    sock.on('data', (d) => (data = Buffer.concat([data, d])));
    sock.on('error', () => {}); // a reset is an answer too
    sock.on('close', () => {
      clearTimeout(timer);
      const text = data.toString('latin1');
      const sep = text.indexOf('\r\n\r\n');
      const head = sep < 0 ? text : text.slice(0, sep);
      const m = head.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ status: m ? Number(m[1]) : null, head, body: sep < 0 ? '' : text.slice(sep + 4), ms: Date.now() - t0 });
    });
    timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the server kept the connection open for ${timeout} ms; got ${JSON.stringify(data.toString().slice(0, 300))}`));
    }, timeout);
  });
}

function hostHeader() {
  return `Host: 127.0.0.1:${pipe.httpPort}\r\n`;
}

test('malformed HTTP over raw TCP: refused or hung up, counted by reason, never a crash', { timeout: 120000 }, async () => {
  const H = hostHeader();
  // expect: the statuses allowed (null = closed without an answer), the reason counted, and
  // whether the answer is ours (a JSON {"error": ...}) rather than libwebsockets' own
  const cases = [
    { name: 'garbage request line', bytes: 'GARBAGE\r\n\r\n', status: [403, null], reason: 'malformed' },
    { name: 'binary junk', bytes: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x02, 0x0d, 0x0a, 0x0d, 0x0a]), status: [403, null], reason: 'malformed' },
    { name: 'unknown method', bytes: `FOO / HTTP/1.1\r\n${H}\r\n`, status: [403, null], reason: 'malformed' },
    { name: 'method we do not serve', bytes: `DELETE /api/topics HTTP/1.1\r\n${H}\r\n`, status: [405], reason: 'method', json: /only GET and HEAD/ },
    { name: 'request line over 8 KB', bytes: `GET /healthz?${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, status: [null, 400, 403, 414, 431], reason: 'malformed' },
    { name: 'header over 8 KB', bytes: `GET /healthz HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(9000)}\r\n\r\n`, status: [null, 400, 403, 431], reason: 'malformed' },
    { name: 'HTTP/0.9 request', bytes: 'GET /healthz\r\n\r\n', status: [505], reason: 'version', json: /HTTP\/1\.0 and HTTP\/1\.1 only/ },
    { name: 'HTTP/2.0 on an HTTP/1 connection', bytes: `GET /healthz HTTP/2.0\r\n${H}\r\n`, status: [505], reason: 'version', json: /HTTP version not supported/ },
    { name: 'invalid percent-encoding in the query', bytes: `GET /api/readings?topic=%zz HTTP/1.1\r\n${H}\r\n`, status: [400, 403, null], reason: 'malformed' },
    { name: 'invalid percent-encoding in the path', bytes: `GET /%zz HTTP/1.1\r\n${H}\r\n`, status: [400, 403, null], reason: 'malformed' },
    { name: 'NUL byte in the path', bytes: `GET /heal\0thz HTTP/1.1\r\n${H}\r\n`, status: [400, 403, null], reason: 'malformed' },
    { name: 'encoded NUL (%00) in the query', bytes: `GET /api/readings?topic=a%00b HTTP/1.1\r\n${H}\r\n`, status: [400, 403, null], reason: 'malformed' },
    { name: 'absurd Content-Length on GET', bytes: `GET /healthz HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, status: [413], reason: 'body', json: /take no body/ },
    { name: 'negative Content-Length', bytes: `GET /healthz HTTP/1.1\r\n${H}Content-Length: -5\r\n\r\n`, status: [400], reason: 'body', json: /Content-Length must be/ },
    { name: 'Transfer-Encoding on GET', bytes: `GET /healthz HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: [400], reason: 'body', json: /Transfer-Encoding/ },
    // a header line without a colon: lws keeps reading it as a header name, so the head never completes
    { name: 'header without a colon', bytes: `GET /healthz HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`, status: [null, 400, 408], reason: 'header_timeout', slow: true },
  ];
  const m0 = await metrics();
  const results = await Promise.all(cases.map((c) => raw(c.bytes)));
  const want = {};
  for (const [i, c] of cases.entries()) {
    const r = results[i];
    assert.ok(c.status.includes(r.status), `${c.name}: answered ${r.status} (${r.head.split('\r\n')[0]}), expected one of ${c.status}`);
    if (c.json) {
      assert.match(r.head, /content-type: application\/json/i, c.name);
      assert.match(JSON.parse(r.body).error, c.json, c.name);
    }
    const bound = c.slow ? (HTTP_TIMEOUT_S + 2) * 1000 : 2000;
    assert.ok(r.ms < bound, `${c.name}: closed after ${r.ms} ms, bound ${bound}`);
    want[refused(c.reason)] = (want[refused(c.reason)] ?? 0) + 1;
  }
  // every refusal counted under its reason (the counts settle when the connections are destroyed)
  await waitFor(async () => {
    const d = delta(m0, await metrics());
    return Object.entries(want).every(([k, v]) => d[k] === v);
  }, { timeout: 5000, message: `refusals counted as ${JSON.stringify(want)}; got ${JSON.stringify(delta(m0, await metrics()))}` });
  const d = delta(m0, await metrics());
  assert.equal(d['sensorpipe_http_requests_total{code="505"}'], 2);
  assert.equal(d['sensorpipe_http_requests_total{code="413"}'], 1);
  // still serving
  const res = await fetch(`${pipe.httpUrl}/healthz`);
  assert.equal(res.status, 200);
  await witnessAlive('malformed HTTP requests');
});

test('WebSocket handshakes: bad parameters and broken handshakes get 400 with the reason', async () => {
  // with a token: the handshake's own checks come after the credentials' (401: serve_auth.test.mjs)
  const H = `${hostHeader()}Authorization: Bearer ${await tokenFor(pipe.httpUrl)}\r\n`;
  const upgrade = (qs, extra = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n', version = '1.1') =>
    `GET /ws${qs} HTTP/${version}\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
  const m0 = await metrics();
  const cases = [
    [upgrade('?history=abc'), /history must be an integer/, 'bad_request'],
    [upgrade('?after=-1'), /after must be a reading id/, 'bad_request'],
    [upgrade('?topic=a/%23/b'), /topic must be an MQTT filter/, 'bad_request'],
    [upgrade('?history=1&history=2'), /more than once/, 'bad_request'],
    [upgrade('', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n'), /Sec-WebSocket-Version: 13/, 'handshake'],
    [upgrade('', 'Sec-WebSocket-Version: 13\r\n'), /Sec-WebSocket-Key/, 'handshake'],
    [upgrade('', undefined, '1.0'), /HTTP\/1\.1/, 'handshake'],
  ];
  const want = {};
  for (const [bytes, msg, reason] of cases) {
    const r = await raw(bytes);
    assert.equal(r.status, 400, `${bytes.split('\r\n')[0]}: ${r.head}`);
    assert.match(JSON.parse(r.body).error, msg);
    const key = `sensorpipe_ws_rejected_total{reason="${reason}"}`;
    want[key] = (want[key] ?? 0) + 1;
  }
  const d = delta(m0, await metrics());
  for (const [k, v] of Object.entries(want)) assert.equal(d[k], v, k);
  await witnessAlive('bad WebSocket handshakes');
});

test('oversized WebSocket messages, in one frame or fragmented, are closed with 1009', async () => {
  const m0 = await metrics();
  const big = await offender('?history=0');
  big.ws.send('z'.repeat(1 << 20)); // one 1 MB frame
  await waitFor(() => big.closed(), { message: 'the 1 MB sender to be closed' });
  assert.equal(big.closed().code, 1009);
  assert.match(big.closed().reason, /too large/);

  // many small fragments of one message: each well under the limit, together over it
  const frag = await offender('?history=0');
  for (let i = 0; i < 64 && !frag.closed(); i++) frag.ws.send('f'.repeat(1000), { fin: false });
  await waitFor(() => frag.closed(), { message: 'the fragmenting sender to be closed' });
  assert.equal(frag.closed().code, 1009);

  // one frame a byte over the limit (serve reads it in 256-byte pieces) is refused as well
  const over = await offender('?history=0');
  over.ws.send('o'.repeat(4097));
  await waitFor(() => over.closed(), { message: 'the 4097-byte sender to be closed' });
  assert.equal(over.closed().code, 1009);

  // a message right at the limit is fine (and ignored), also when its 3-byte characters
  // straddle the 256-byte pieces serve reads a frame in
  const ok = await wsConnect(`${wsBase}/ws?history=0&topic=witness/%23`);
  await ok.next((m) => m.type === 'history');
  const rx0 = (await metrics()).sensorpipe_ws_rx_messages_total;
  ok.ws.send('a'.repeat(4096));
  ok.ws.send('温'.repeat(1365) + 'x'); // 4096 bytes
  await waitFor(async () => (await metrics()).sensorpipe_ws_rx_messages_total === rx0 + 2, {
    message: 'both messages at the limit to be read and ignored',
  });
  const d0 = delta(m0, await metrics());
  assert.equal(d0['sensorpipe_ws_rx_refused_total{reason="too_large"}'], 3);
  assert.equal(d0['sensorpipe_ws_rx_refused_total{reason="bad_utf8"}'] ?? 0, 0);
  await witnessAlive('oversized WebSocket messages');
  assert.equal(ok.closed(), null, '4096-byte messages do not close the client');
  await waitFor(() => ok.rows().length > 0, { message: 'the client at the limit to keep receiving' });
  await ok.close();
});

test('binary and non-UTF-8 text messages close with 1003 and 1007; small valid text is ignored', async () => {
  const m0 = await metrics();
  const chatty = await wsConnect(`${wsBase}/ws?history=0&topic=witness/%23`);
  await chatty.next((m) => m.type === 'history');
  for (let i = 0; i < 10; i++) chatty.ws.send(`hello ${i} é温🌡`); // clients have nothing to say; ignored
  chatty.ws.send('part one, ', { fin: false });
  chatty.ws.send('part two', { fin: true });

  const bin = await offender('?history=0');
  bin.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  await waitFor(() => bin.closed(), { message: 'the binary sender to be closed' });
  assert.equal(bin.closed().code, 1003);

  const bad = await offender('?history=0');
  bad.ws.send(Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe]), { binary: false });
  await waitFor(() => bad.closed(), { message: 'the non-UTF-8 sender to be closed' });
  assert.equal(bad.closed().code, 1007);

  // invalid only across the fragment boundary: a 3-byte character cut after its lead byte, then ASCII
  const split = await offender('?history=0');
  split.ws.send(Buffer.from([0x61, 0xe6]), { binary: false, fin: false });
  split.ws.send(Buffer.from([0x41, 0x42]), { fin: true });
  await waitFor(() => split.closed(), { message: 'the split non-UTF-8 sender to be closed' });
  assert.equal(split.closed().code, 1007);

  await witnessAlive('binary and non-UTF-8 messages');
  assert.equal(chatty.closed(), null, 'valid text messages are ignored, not punished');
  // the witness row reaches the chatty client too, a moment after the witness (no ordering between two sockets)
  await waitFor(() => chatty.rows().length > 0, { message: 'the chatty client to keep receiving rows' });
  const d = delta(m0, await metrics());
  assert.equal(d['sensorpipe_ws_rx_refused_total{reason="binary"}'], 1);
  assert.equal(d['sensorpipe_ws_rx_refused_total{reason="bad_utf8"}'], 2);
  assert.equal(d.sensorpipe_ws_rx_messages_total, 11);
  await chatty.close();
});

test('slow-loris: headers one byte a second are cut at --http-timeout-s while normal requests are answered', { timeout: 60000 }, async () => {
  const SLOW = 300; // more than libwebsockets' default header pool (256)
  const m0 = await metrics();
  const head = `GET /healthz HTTP/1.1\r\n${hostHeader()}X-Slow: ${'s'.repeat(40)}\r\n\r\n`;
  const chunks = [...head]; // one byte at a time
  const loris = [];
  for (let i = 0; i < SLOW; i++) loris.push(raw(chunks, { gapMs: 1000, timeout: (HTTP_TIMEOUT_S + 10) * 1000 }));
  // meanwhile, ordinary requests keep being answered promptly
  const lat = [];
  const t0 = Date.now();
  while (Date.now() - t0 < (HTTP_TIMEOUT_S + 1) * 1000) {
    const t = Date.now();
    const res = await fetch(`${pipe.httpUrl}/healthz`);
    assert.equal(res.status, 200);
    await res.text();
    lat.push(Date.now() - t);
    await new Promise((r) => setTimeout(r, 100));
  }
  await witnessAlive('300 slow-loris connections');
  const results = await Promise.all(loris);
  for (const r of results) {
    assert.equal(r.status, null, 'a slow-loris connection gets no answer');
    assert.ok(r.ms < (HTTP_TIMEOUT_S + 2) * 1000, `a slow-loris connection lasted ${r.ms} ms`);
  }
  lat.sort((a, b) => a - b);
  assert.ok(lat.at(-1) < 1000, `normal requests answered within 1 s while under attack (slowest ${lat.at(-1)} ms)`);
  await waitFor(async () => delta(m0, await metrics())[refused('header_timeout')] === SLOW, {
    timeout: 5000,
    message: `${SLOW} header timeouts counted`,
  });
});

test('readings with control characters, quotes, backslashes and unicode in topics are valid JSON on the wire', async () => {
  // PostgreSQL refuses invalid UTF-8 in text; anything valid may be stored by any writer
  const topics = [
    'ctl/\x01\x02\x1f/\x7f',
    'ws/tab\there/new\nline',
    'q/"quoted"/\'single\'',
    'bs/back\\slash/\\u0000',
    'uni/é温/🌡\u2028\u2029',
    '</script><b>/x/y',
  ];
  const raws = [];
  const c = await wsConnect(`${wsBase}/ws?history=0`);
  c.ws.on('message', (d) => raws.push(d.toString()));
  await c.next((m) => m.type === 'history');
  const lit = (t) => `E'${t.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/[\x00-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
  const ids = (await pipe.psql(`INSERT INTO readings (ts, topic, value) VALUES ${topics.map((t, i) => `('2026-03-01T00:00:0${i}Z', ${lit(t)}, ${i})`).join(', ')} RETURNING id`))
    .split('\n')
    .map(Number);
  await waitFor(() => c.rows().some((r) => r.id === ids.at(-1)), { message: 'the odd rows to arrive' });
  for (const text of raws) JSON.parse(text); // each frame is valid JSON (wsConnect parsed them too)
  const got = Object.fromEntries(c.rows().map((r) => [r.id, r.topic]));
  assert.deepEqual(ids.map((id) => got[id]), topics, 'topics arrive byte for byte');
  // the same rows over the REST API, as JSON and as CSV, and in /api/topics
  const res = await fetch(`${pipe.httpUrl}/api/readings?from=2026-03-01T00:00:00Z&to=2026-03-01T00:01:00Z`);
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).rows.map((r) => r.topic), topics);
  const csv = await (await fetch(`${pipe.httpUrl}/api/readings.csv?from=2026-03-01T00:00:00Z&to=2026-03-01T00:01:00Z`)).text();
  assert.ok(csv.includes('"q/""quoted""/\'single\'"'), 'CSV quotes a field with quotes');
  assert.ok(csv.includes('"ws/tab\there/new\nline"'), 'CSV quotes a field with a line break');
  const listed = (await (await fetch(`${pipe.httpUrl}/api/topics`)).json()).topics.map((t) => t.topic);
  for (const t of topics) assert.ok(listed.includes(t), `/api/topics lists ${JSON.stringify(t)}`);
  await c.close();
  await witnessAlive('odd topics');
});
