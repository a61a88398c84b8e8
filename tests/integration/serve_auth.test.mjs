// serve_auth.test.mjs - people and scripts (docs/SECURITY.md, "People: logins, sessions, tokens"):
// every route but /healthz refuses a request without credentials (401; / redirects to the login page),
// a wrong password, an expired session and a revoked token are refused, a read-only token is
// recorded and checked, logins are throttled and counted, and the user and token commands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, ROOT, fetchNoAuth, makeToken, startPipeline, waitFor, waitForToken, wsConnect } from '../lib/harness.mjs';

const execFileP = promisify(execFile);
const PASSWORD = 'correct horse battery staple';
let pipe;

function sp(args, input) {
  return new Promise((resolve) => {
    const child = execFile(BIN, args, { cwd: ROOT, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

async function login(name, password, { json = true } = {}) {
  const body = json ? JSON.stringify({ name, password }) : new URLSearchParams({ name, password }).toString();
  return fetchNoAuth(`${pipe.httpUrl}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': json ? 'application/json' : 'application/x-www-form-urlencoded' }, body,
  });
}

function cookieOf(res) {
  const c = res.headers.get('set-cookie') || '';
  const m = /sp_session=([^;]*)/.exec(c);
  return m ? m[1] : null;
}

before(async () => {
  pipe = await startPipeline({ ingest: false, dbPrefix: 'auth', serveArgs: ['--session-hours', '2'] });
  const r = await sp(['user', 'add', 'alice', '--db', pipe.dsn], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  if (pipe) await pipe.stop();
});

test('user add: the password only as a salted scrypt hash; a second add of the name and a short password are refused', async () => {
  const hash = await pipe.psql("SELECT password_hash FROM users WHERE name = 'alice'");
  assert.match(hash, /^scrypt\$14\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
  assert.ok(!hash.includes(PASSWORD));
  assert.equal((await sp(['user', 'add', 'alice', '--db', pipe.dsn], 'another-password\n')).code, 1);
  assert.equal((await sp(['user', 'add', 'bob', '--db', pipe.dsn], 'short\n')).code, 2);
  assert.equal((await sp(['user', 'add', 'bad name', '--db', pipe.dsn], `${PASSWORD}\n`)).code, 2);
});

test('without credentials: /api/*, /metrics and /ws answer 401, / redirects to the login page, /healthz and the login page are open', async () => {
  for (const path of ['/api/topics', '/api/readings', '/api/readings.csv', '/api/nothing', '/metrics']) {
    const res = await fetchNoAuth(`${pipe.httpUrl}${path}`);
    assert.equal(res.status, 401, path);
    assert.match(res.headers.get('www-authenticate'), /^Bearer/);
    assert.match((await res.json()).error, /authentication required/);
  }
  await assert.rejects(wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws`, { auth: false }), /HTTP 401/);
  for (const path of ['/', '/index.html']) {
    const res = await fetchNoAuth(`${pipe.httpUrl}${path}`, { redirect: 'manual' });
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get('location'), '/login.html');
  }
  const page = await fetchNoAuth(`${pipe.httpUrl}/login.html`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form id="login"[^>]*action="\/login"/);
  const h = await fetchNoAuth(`${pipe.httpUrl}/healthz`);
  assert.equal(h.status, 200);
  assert.deepEqual(await h.json(), { status: 'ok' });
  // a malformed, unknown or other-scheme credential is refused the same way
  for (const auth of ['Bearer nope', `Bearer ${'0'.repeat(16)}.${'a'.repeat(64)}`, 'Basic YWxpY2U6eA==']) {
    const res = await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: { Authorization: auth } });
    assert.equal(res.status, 401, auth);
  }
});

test('a token: Bearer on /api, /metrics and /ws; revoked, it is refused on all of them', async () => {
  const r = await sp(['token', 'add', 'script', '--json', '--db', pipe.dsn]);
  assert.equal(r.code, 0, r.stderr);
  const { token } = JSON.parse(r.stdout);
  assert.match(token, /^[0-9a-f]{16}\.[0-9a-f]{64}$/);
  const [id, secret] = token.split('.');
  // only a SHA-256 of the secret is stored
  const stored = await pipe.psql(`SELECT encode(secret_sha256, 'hex') FROM api_tokens WHERE id = '${id}'`);
  assert.equal(stored.length, 64);
  assert.ok(!stored.includes(secret));
  await waitForToken(pipe.httpUrl, token);
  const H = { Authorization: `Bearer ${token}` };
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: H })).status, 200);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/metrics`, { headers: H })).status, 200);
  const ws = await wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws`, { auth: false, headers: H });
  await ws.close();
  // a wrong secret for the right id
  const wrong = `${id}.${secret.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}`;
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: { Authorization: `Bearer ${wrong}` } })).status, 401);

  const open = await wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws?history=0`, { auth: false, headers: H });
  await open.next((m) => m.type === 'history');

  const list = JSON.parse((await sp(['token', 'list', '--json', '--db', pipe.dsn])).stdout);
  assert.ok(list.some((t) => t.id === id && t.label === 'script' && t.revoked_at === null));
  assert.equal((await sp(['token', 'revoke', id, '--db', pipe.dsn])).code, 0);
  assert.equal((await sp(['token', 'revoke', id, '--db', pipe.dsn])).code, 1); // already revoked
  await waitFor(async () => (await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: H })).status === 401,
    { message: 'the revoked token to be refused' });
  // a WebSocket that came in with it is closed too (1008)
  await waitFor(() => open.closed(), { message: 'the WebSocket of the revoked token to be closed' });
  assert.equal(open.closed().code, 1008);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/metrics`, { headers: H })).status, 401);
  await assert.rejects(wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws`, { auth: false, headers: H }), /HTTP 401/);
});

test('a read-only token: recorded as such, reads, and is refused what writes (auth_may: tests/unit/test_serve_auth.c)', async () => {
  const r = await sp(['token', 'add', 'reader', '--read-only', '--user', 'alice', '--json', '--db', pipe.dsn]);
  assert.equal(r.code, 0, r.stderr);
  const { token, read_only: ro } = JSON.parse(r.stdout);
  assert.equal(ro, true);
  const id = token.split('.')[0];
  assert.equal(await pipe.psql(`SELECT read_only FROM api_tokens WHERE id = '${id}'`), 't');
  await waitForToken(pipe.httpUrl, token);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  // no route makes tokens or users: a token (read-only or not) cannot make one over HTTP
  for (const path of ['/api/tokens', '/api/users']) {
    const res = await fetchNoAuth(`${pipe.httpUrl}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: '{}' });
    assert.equal(res.status, 405, path);
  }
  // a token of an unknown user is refused by the command
  assert.equal((await sp(['token', 'add', 'x', '--user', 'nobody', '--db', pipe.dsn])).code, 1);
});

test('login: a wrong password is refused (401), the right one sets an HttpOnly SameSite=Strict cookie that opens /, /api and /ws; logout ends it', async () => {
  let res = await login('alice', 'wrong password');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('set-cookie'), null);
  res = await login('nobody', PASSWORD);
  assert.equal(res.status, 401); // an unknown user looks the same

  res = await login('alice', PASSWORD);
  assert.equal(res.status, 200);
  const sc = res.headers.get('set-cookie');
  assert.match(sc, /HttpOnly/);
  assert.match(sc, /SameSite=Strict/);
  assert.match(sc, /Path=\//);
  assert.match(sc, /Max-Age=7200/); // --session-hours 2
  assert.doesNotMatch(sc, /Secure/); // plain HTTP here; HTTPS adds Secure
  const cookie = { Cookie: `sp_session=${cookieOf(res)}` };
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: cookie })).status, 200);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/`, { headers: cookie, redirect: 'manual' })).status, 200);
  const ws = await wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws?history=0`, { auth: false, headers: cookie });
  await ws.next((m) => m.type === 'history');
  // a session id is no Bearer token
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: { Authorization: `Bearer ${cookieOf(res)}` } })).status, 401);

  res = await fetchNoAuth(`${pipe.httpUrl}/logout`, { method: 'POST', headers: cookie, redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/login.html');
  assert.match(res.headers.get('set-cookie'), /sp_session=;.*Max-Age=0/);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: cookie })).status, 401);
  assert.equal(await pipe.psql('SELECT count(*) FROM sessions'), '0');
  // the dashboard's WebSocket of that session is closed (1008)
  await waitFor(() => ws.closed(), { message: 'the WebSocket of the ended session to be closed' });
  assert.equal(ws.closed().code, 1008);
});

test('login by form: redirects to / (or back to the login page with the reason); a login from another origin is refused', async () => {
  let res = await login('alice', PASSWORD, { json: false });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/');
  assert.ok(cookieOf(res));
  res = await login('alice', 'nope', { json: false });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/login.html?error=bad');
  res = await fetchNoAuth(`${pipe.httpUrl}/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
    body: JSON.stringify({ name: 'alice', password: PASSWORD }),
  });
  assert.equal(res.status, 403);
  res = await fetchNoAuth(`${pipe.httpUrl}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"alice"}' });
  assert.equal(res.status, 400);
  res = await fetchNoAuth(`${pipe.httpUrl}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'x'.repeat(5000) });
  assert.equal(res.status, 413);
});

test('an expired session is refused (401) on /api and /ws, and / goes back to the login page', async () => {
  const res = await login('alice', PASSWORD);
  assert.equal(res.status, 200);
  const value = cookieOf(res);
  const cookie = { Cookie: `sp_session=${value}` };
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: cookie })).status, 200);
  const open = await wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws?history=0`, { auth: false, headers: cookie });
  await open.next((m) => m.type === 'history');
  await pipe.psql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = '${value.split('.')[0]}'`);
  await waitFor(async () => (await fetchNoAuth(`${pipe.httpUrl}/api/topics`, { headers: cookie })).status === 401,
    { message: 'the expired session to be refused' });
  await assert.rejects(wsConnect(`${pipe.httpUrl.replace('http', 'ws')}/ws`, { auth: false, headers: cookie }), /HTTP 401/);
  assert.equal((await fetchNoAuth(`${pipe.httpUrl}/`, { headers: cookie, redirect: 'manual' })).status, 303);
  await waitFor(() => open.closed(), { message: 'the WebSocket of the expired session to be closed' });
  assert.equal(open.closed().code, 1008);
});

test('throttling: after 5 wrong passwords the address and the user are locked out (429), even with the right password; counted in /metrics', async () => {
  const r = await sp(['user', 'add', 'carol', '--db', pipe.dsn], `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.stderr);
  // start from a clean slate for this address: the wrong passwords of earlier tests count against it
  // until a login from it succeeds (and a lock from them lasts a second)
  await waitFor(async () => (await login('alice', PASSWORD)).status === 200, { every: 300, message: 'a clean login from this address' });
  // and a fresh second of the overall budget (AUTH_VERIFY_PER_S = 10 checks a second, all clients):
  // the logins of earlier tests and the one above count in the current one
  await new Promise((r2) => setTimeout(r2, 1100));
  for (let i = 0; i < 5; i++) assert.equal((await login('carol', `wrong ${i}`)).status, 401);
  const res = await login('carol', PASSWORD);
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('set-cookie'), null);
  const m = await (await fetch(`${pipe.httpUrl}/metrics`)).text();
  assert.match(m, /^sensorpipe_logins_total\{result="throttled"\} [1-9]/m);
  assert.match(m, /^sensorpipe_logins_total\{result="bad_password"\} [1-9]/m);
  assert.match(m, /^sensorpipe_auth_refused_total\{reason="no_credentials"\} \d+$/m);
  // the lock-out lasts a second, then doubles with each failure
  await new Promise((r2) => setTimeout(r2, 1100));
  assert.equal((await login('carol', PASSWORD)).status, 200);
  assert.match(await (await fetch(`${pipe.httpUrl}/metrics`)).text(), /^sensorpipe_logins_total\{result="ok"\} [1-9]/m);
});

test('serve holds only what logins need: it cannot read tokens\' owners\' hashes beyond users, nor write users or tokens', async () => {
  const privs = await pipe.psql(`SELECT has_table_privilege('sensorpipe_serve', 'users', 'INSERT'),
    has_table_privilege('sensorpipe_serve', 'api_tokens', 'INSERT'), has_table_privilege('sensorpipe_serve', 'api_tokens', 'UPDATE'),
    has_table_privilege('sensorpipe_serve', 'sessions', 'INSERT'), has_table_privilege('sensorpipe_serve', 'sessions', 'DELETE'),
    has_table_privilege('sensorpipe_ingest', 'users', 'SELECT'), has_table_privilege('sensorpipe_ingest', 'sessions', 'SELECT')`);
  assert.equal(privs, 'f|f|f|t|t|f|f');
});
