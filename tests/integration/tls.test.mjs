// tls.test.mjs - MQTT over TLS against a real mosquitto: certificates from scripts/tls.sh, a private broker
// with a TLS listener (startPrivateBroker, no anonymous access), the ingest's own TLS transport and the
// simulator's libmosquitto over scripts/mosquitto.sh's TLS listener.
//
// What is shown: readings flow over TLS and each QoS 1 PUBACK still waits for its commit (messages received
// over TLS while the writers' lock holds every commit back, then a SIGKILL, all come back and are stored);
// a broker certificate from another CA, or for another name, is refused: the ingest says why, retries with
// backoff and never logs in (the broker sees no CONNECT from it, so the password never crosses an
// unverified connection) and stores nothing; tls.sh keeps its CA and reissues the server certificate only
// when the names change (or the CA is new); mosquitto.sh's TLS listener refuses TLS 1.1, carries the sim's
// readings over TLS to the ingest, and a sim trusting another CA says why and never connects.
// Synchronisation is by condition: log lines, rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  ROOT, createDatabase, freePort, psql, publishAs, spawnSensorpipe, startPrivateBroker, waitFor,
} from '../lib/harness.mjs';

const execFileP = promisify(execFile);
const TLS_SH = path.join(ROOT, 'scripts/tls.sh');
const WRITERS_LOCK = 7346120001; // db/001_schema.sql: every writer of readings takes it for its transaction
const INGEST_PASS = 'ingest-tls-secret-5e1b';
const DEVICE_PASS = 'device-tls-secret-90aa';
const USERS = { ingest: INGEST_PASS, dev1: DEVICE_PASS };

let tmp, good, other, wrongName, pwfile;

/** scripts/tls.sh [opts...] dir [names...]; returns its stderr (what it did). */
async function tlsSh(args) {
  const { stderr } = await execFileP(TLS_SH, args, { timeout: 60000 });
  return stderr;
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-tls-'));
  good = path.join(tmp, 'good');
  other = path.join(tmp, 'other');
  wrongName = path.join(tmp, 'wrong-name');
  await tlsSh([good]);
  await tlsSh([other]); // another CA altogether
  // the right CA, a certificate for another name only
  await fs.mkdir(wrongName, { mode: 0o700 });
  for (const f of ['ca.crt', 'ca.key']) await fs.copyFile(path.join(good, f), path.join(wrongName, f));
  await tlsSh(['--names-only', wrongName, 'wrong.example', '192.0.2.1']);
  pwfile = path.join(tmp, 'ingest.password');
  await fs.writeFile(pwfile, `${INGEST_PASS}\n`, { mode: 0o600 });
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** An ingest over TLS to broker's TLS port. */
function startIngest(broker, db, { cafile = path.join(good, 'ca.crt'), clientId = `tls-${db.name}`, args = [] } = {}) {
  return spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-host', '127.0.0.1', '--mqtt-port', String(broker.tlsPort),
    '--mqtt-tls', '--mqtt-cafile', cafile, '--mqtt-username', 'ingest', '--mqtt-password-file', pwfile,
    '--mqtt-client-id', clientId, '--no-clean-session', '--qos', '1', '--stats-interval', '1', '--log-level', 'debug',
    ...args], { name: 'ingest' });
}

/** mosquitto_pub -l over TLS as dev1: one QoS 1 message per line; resolves once the broker took them all. */
function publishLinesTls(broker, topic, lines) {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.tlsPort), '--cafile', path.join(good, 'ca.crt'),
      '-u', 'dev1', '-P', DEVICE_PASS, '-t', topic, '-q', '1', '-l'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub -l over TLS exited ${code}: ${err}`))));
    p.stdin.end(lines.join('\n') + '\n');
  });
}

const count = async (dsn, where = 'true') => Number(await psql(dsn, `SELECT count(*) FROM readings WHERE ${where}`));

test('ingest over TLS: readings stored, QoS 1 acknowledged only after the commit (all back after a SIGKILL)', async () => {
  const broker = await startPrivateBroker(USERS, { tls: good, conf: ['max_queued_messages 100000', 'max_inflight_messages 1000'] });
  const db = await createDatabase('tls_ack');
  const topic = 'dev1/seq/n';
  const K = 300;
  let ingest, again;
  const locker = new pg.Client({ host: process.env.PGHOST || '127.0.0.1', port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres', database: db.name });
  try {
    ingest = startIngest(broker, db);
    await ingest.waitForOutput(/subscribed to \+\/\+\/\+/, { timeout: 30000 });
    assert.match(ingest.output(), /TLSv1\.[23] \([^)]+\), certificate verified for 127\.0\.0\.1/);
    await publishAs('dev1', DEVICE_PASS, 'dev1/temperature/dht22', '21.5', { qos: 1, port: broker.tlsPort, cafile: path.join(good, 'ca.crt') });
    await waitFor(async () => (await count(db.dsn, "topic = 'dev1/temperature/dht22'")) === 1, { message: 'a reading over TLS stored' });

    // every commit held back: K messages arrive over TLS, none can be committed, so none may be acknowledged
    await locker.connect();
    await locker.query('SELECT pg_advisory_lock($1)', [WRITERS_LOCK]);
    await publishLinesTls(broker, topic, Array.from({ length: K }, (_, i) => String(i + 1)));
    await waitFor(() => (ingest.output().match(/message on dev1\/seq\/n /g) || []).length >= K, {
      timeout: 30000, message: `the ingest to receive ${K} messages`,
    });
    assert.equal(await count(db.dsn, `topic = '${topic}'`), 0, 'nothing committed while the lock holds');
    // the ingest says so itself: K PUBACKs held, one sent (the first reading's)
    await ingest.waitForOutput(new RegExp(` held_acks=${K} max_held_acks=\\d+ acks_sent=1 `), { timeout: 10000 });
    ingest.child.kill('SIGKILL');
    assert.equal(await ingest.exited, 'signal SIGKILL');
    // (the statement the dead ingest left waiting on the lock may still commit once it is released: a
    // duplicate at most, since its PUBACKs never went)
    await locker.query('SELECT pg_advisory_unlock($1)', [WRITERS_LOCK]);

    // the broker kept every one of them unacknowledged: a new ingest (same client id) gets and stores them all
    again = startIngest(broker, db);
    await again.waitForOutput(/persistent session, resumed/, { timeout: 30000 });
    await waitFor(async () => Number(await psql(db.dsn, `SELECT count(DISTINCT value) FROM readings WHERE topic = '${topic}'`)) === K, {
      timeout: 30000, message: `all ${K} readings after the SIGKILL`,
    });
    assert.equal(await again.stop(), 0);
    assert.match(again.output(), /stopped: everything received was written/);
  } catch (e) {
    process.stderr.write(`--- broker log:\n${(await broker.log()).slice(-3000)}\n`);
    for (const p of [ingest, again]) if (p) process.stderr.write(`--- ${p.name} output:\n${p.output().slice(-3000)}\n`);
    throw e;
  } finally {
    await locker.end().catch(() => {});
    if (ingest) await ingest.stop('SIGKILL');
    if (again) await again.stop('SIGKILL');
    await broker.stop();
  }
});

/** The broker's log shows no session for clientId: it never received that client's CONNECT. */
async function assertNeverConnected(broker, clientId) {
  const log = await broker.log();
  assert.ok(!log.includes(` as ${clientId} `), `the broker saw a CONNECT from ${clientId}:\n${log}`);
}

for (const [what, dir, reason] of [
  ['a broker certificate from another CA', () => other, /TLS handshake failed: broker certificate not trusted: (self-signed certificate in certificate chain|unable to get local issuer certificate)/],
  ['a broker certificate for another name', () => wrongName, /TLS handshake failed: broker certificate not trusted: IP address mismatch \(the broker's certificate does not name 127\.0\.0\.1\)/],
]) {
  test(`ingest refuses ${what}: says why, retries with backoff, never logs in, stores nothing`, async () => {
    const broker = await startPrivateBroker(USERS, { tls: dir() });
    const db = await createDatabase('tls_refuse');
    const clientId = `tls-refuse-${db.name}`;
    let ingest;
    try {
      // the ingest trusts the good CA; the broker presents the other certificate
      ingest = startIngest(broker, db, { clientId });
      await ingest.waitForOutput(new RegExp(`${reason.source}[^\\n]*; retrying in \\d+ ms[\\s\\S]*${reason.source}[^\\n]*; retrying in \\d+ ms`), { timeout: 30000 });
      // a device's reading in the meantime (over plain MQTT: the device is not what is tested here)
      await publishAs('dev1', DEVICE_PASS, 'dev1/temperature/dht22', '20.5', { qos: 1, port: broker.port });
      const failures = (ingest.output().match(/TLS handshake failed/g) || []).length;
      await waitFor(() => (ingest.output().match(/TLS handshake failed/g) || []).length > failures, { message: 'one more attempt after the publish' });
      assert.doesNotMatch(ingest.output(), /connected to broker|subscribed to/);
      assert.equal(await count(db.dsn), 0, 'no reading stored');
      await assertNeverConnected(broker, clientId);
      assert.ok(!ingest.output().includes(INGEST_PASS));
      assert.equal(await ingest.stop(), 0, 'a clean stop while refused');
    } finally {
      if (ingest) await ingest.stop('SIGKILL');
      await broker.stop();
    }
  });
}

test('tls.sh keeps its CA, reissues the server certificate when the names change; key files are 0600', async () => {
  const dir = path.join(tmp, 'idem');
  const fp = async (f) => (await execFileP('openssl', ['x509', '-in', path.join(dir, f), '-noout', '-fingerprint', '-sha256'])).stdout;
  const san = async () => (await execFileP('openssl', ['x509', '-in', path.join(dir, 'server.crt'), '-noout', '-ext', 'subjectAltName'])).stdout;
  assert.match(await tlsSh([dir]), /made a new CA[\s\S]*issued the server certificate \(none yet\)/);
  const ca = await fp('ca.crt');
  const server = await fp('server.crt');
  assert.match(await san(), /DNS:localhost/);
  assert.match(await san(), /IP Address:127\.0\.0\.1/);
  assert.match(await san(), new RegExp(`DNS:${os.hostname().replace(/\./g, '\\.')}`));
  for (const f of ['ca.key', 'server.key']) assert.equal((await fs.stat(path.join(dir, f))).mode & 0o777, 0o600, f);

  assert.match(await tlsSh([dir]), /server certificate kept/);
  assert.equal(await fp('server.crt'), server, 'same names: the same certificate');
  assert.match(await tlsSh([dir, '10.9.8.7', 'mqtt.example']), /issued the server certificate \(names changed\)/);
  assert.match(await san(), /IP Address:10\.9\.8\.7/);
  assert.match(await san(), /DNS:mqtt\.example/);
  assert.equal(await fp('ca.crt'), ca, 'the CA is kept');
  await execFileP('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), path.join(dir, 'server.crt')]);

  // a new CA: the server certificate is reissued under it; the old one is kept aside
  assert.match(await tlsSh(['--new-ca', dir, '10.9.8.7', 'mqtt.example']), /retired the CA[\s\S]*not signed by the current CA/);
  assert.notEqual(await fp('ca.crt'), ca);
  await execFileP('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), path.join(dir, 'server.crt')]);
  assert.ok((await fs.readdir(dir)).some((f) => /^ca-retired-\d+\.crt$/.test(f)));
});

test('mosquitto.sh: a TLS listener on SENSORPIPE_MQTTS_PORT (loopback, TLS 1.1 refused); the sim over it reaches the table, with another CA it never connects', async () => {
  let ingest, bad;
  const dir = path.join(tmp, 'mq');
  const port = await freePort();
  const tlsPort = await freePort();
  const script = path.join(ROOT, 'scripts/mosquitto.sh');
  const env = { ...process.env, SENSORPIPE_MQTTS_PORT: String(tlsPort), SENSORPIPE_TLS_DIR: good };
  delete env.SENSORPIPE_MQTT_BIND;
  await execFileP(script, ['start', dir, String(port)], { env, timeout: 30000 });
  try {
    const conf = await fs.readFile(path.join(dir, 'mosquitto.conf'), 'utf8');
    assert.match(conf, new RegExp(`^listener ${port} 127\\.0\\.0\\.1$`, 'm'));
    assert.match(conf, new RegExp(`^listener ${tlsPort} 127\\.0\\.0\\.1$`, 'm'));
    assert.match(conf, /^tls_version tlsv1\.2$/m);
    const sclient = (extra) => new Promise((resolve) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-CAfile', path.join(good, 'ca.crt'),
        '-verify_return_error', '-verify_ip', '127.0.0.1', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('exit', (code) => resolve({ code, out }));
      p.stdin.end();
    });
    const ok = await sclient([]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /Verify return code: 0 \(ok\)/);
    const old = await sclient(['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
    assert.notEqual(old.code, 0);
    assert.match(old.out, /alert protocol version|no protocols available|unsupported protocol/i);

    // the sim over TLS through it, into an ingest over TLS: every reading reaches the table
    const db = await createDatabase('tls_sim');
    const cafile = path.join(good, 'ca.crt');
    ingest = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', String(tlsPort), '--mqtt-tls', '--mqtt-cafile', cafile,
      '--mqtt-client-id', `tls-sim-${db.name}`, '--clean-session'], { name: 'ingest' });
    await ingest.waitForOutput(/subscribed to \+\/\+\/\+/, { timeout: 30000 });
    const simArgs = (ca, prefix) => ['sim', '--mqtt-port', String(tlsPort), '--mqtt-tls', '--mqtt-cafile', ca,
      '--devices', '2', '--device-prefix', prefix, '--rate', '200', '--count', '100', '--qos', '1', '--numbered', '--seed', '7'];
    const sim = spawnSensorpipe(simArgs(cafile, 'tlsok'), { name: 'sim' });
    assert.equal(await sim.exited, 0, sim.output());
    assert.match(sim.output(), /sent=100 .*confirmed=100/);
    await waitFor(async () => (await count(db.dsn, "topic LIKE 'tlsok%/seq/n'")) === 100, { message: '100 readings from the sim over TLS' });

    // the sim trusting another CA: says why, never connects, publishes nothing
    bad = spawnSensorpipe(simArgs(path.join(other, 'ca.crt'), 'tlsbad'), { name: 'sim-bad' });
    await bad.waitForOutput(/certificate verify failed[\s\S]*certificate verify failed/, { timeout: 30000 });
    assert.equal(await bad.stop(), 0);
    assert.match(bad.output(), /sent=0 /);
    assert.doesNotMatch(bad.output(), /connected to/);
    assert.equal(await ingest.stop(), 0);
    assert.equal(await count(db.dsn, "topic LIKE 'tlsbad%'"), 0, 'nothing from the refused sim');
    const log = await fs.readFile(path.join(dir, 'mosquitto.log'), 'utf8');
    assert.ok(!/as tlsbad/.test(log), `the broker saw a CONNECT from the refused sim:\n${log}`);
  } finally {
    for (const p of [ingest, bad]) if (p) await p.stop('SIGKILL');
    await execFileP(script, ['stop', dir], { timeout: 30000 });
  }
});
