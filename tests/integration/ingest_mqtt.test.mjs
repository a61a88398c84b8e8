// ingest_mqtt.test.mjs - the ingest's own MQTT client against a real mosquitto: login with a user
// name and a password file (and the refusal of a wrong one), one TCP connection and no listening
// socket, a PUBLISH over --mqtt-max-packet kept in rejects as too_large and acknowledged, and
// --qos 2 refused at start.
//
// Each test starts a private broker with allow_anonymous false (startPrivateBroker), its own
// database and its own ingest. Synchronisation is by condition: log lines, rows, /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createDatabase, spawnSensorpipe, psql, waitFor, startPrivateBroker, publishAs,
} from '../lib/harness.mjs';

const INGEST_PASS = 'ingest-secret-4f1c9a';
const DEVICE_PASS = 'device-secret-77d0b2';

/** A password file readable by this user only. */
async function passwordFile(content) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-pw-'));
  const file = path.join(dir, 'mqtt.password');
  await fs.writeFile(file, content, { mode: 0o600 });
  return file;
}

/** Start an ingest against broker; returns { ingest, db }. */
async function startIngest(broker, { user = 'ingest', pwfile, args = [], waitFor: re = /subscribed to/ } = {}) {
  const db = await createDatabase('mqttc');
  const ingest = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', String(broker.port),
    '--mqtt-client-id', `mqttc-${db.name}`, '--mqtt-username', user, '--mqtt-password-file', pwfile,
    '--log-level', 'debug', ...args], { name: 'ingest' });
  if (re) await ingest.waitForOutput(re);
  return { ingest, db };
}

/** TCP sockets of a process, from /proc: [{ state, local, remote }] (state 0A = LISTEN, 01 = ESTABLISHED). */
async function tcpSockets(pid) {
  const inodes = new Set();
  for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
    const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = link.match(/^socket:\[(\d+)\]$/);
    if (m) inodes.add(m[1]);
  }
  const out = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await fs.readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9]))
        out.push({ local: f[1], remote: f[2], state: f[3], port: parseInt(f[2].split(':')[1], 16) });
    }
  }
  return out;
}

test('logs in with --mqtt-username and --mqtt-password-file; one TCP connection, no listening socket', async () => {
  const broker = await startPrivateBroker({ ingest: INGEST_PASS, dev1: DEVICE_PASS });
  const pwfile = await passwordFile(`${INGEST_PASS}\n`);
  let ingest;
  try {
    let db;
    ({ ingest, db } = await startIngest(broker, { pwfile }));
    await publishAs('dev1', DEVICE_PASS, 'dev1/temperature/dht22', '21.5', { qos: 1, port: broker.port });
    await waitFor(async () => Number(await psql(db.dsn, "SELECT count(*) FROM readings WHERE topic = 'dev1/temperature/dht22'")) === 1,
      { message: 'the reading published by dev1 to be stored' });

    const socks = await tcpSockets(ingest.child.pid);
    assert.equal(socks.filter((s) => s.state === '0A').length, 0, `no listening socket: ${JSON.stringify(socks)}`);
    const toBroker = socks.filter((s) => s.state === '01' && s.port === broker.port);
    assert.equal(toBroker.length, 1, `one connection to the broker: ${JSON.stringify(socks)}`);

    // the secret is nowhere in what the ingest printed (the path is, as configuration)
    assert.ok(!ingest.output().includes(INGEST_PASS), 'password in the ingest log');
    assert.match(ingest.output(), /config mqtt-password-file = /);
    assert.equal(await ingest.stop(), 0);
  } finally {
    if (ingest) await ingest.stop();
    await broker.stop();
  }
});

test('a wrong password is refused by the broker: logged, retried with backoff, nothing stored, clean stop', async () => {
  const broker = await startPrivateBroker({ ingest: INGEST_PASS });
  const pwfile = await passwordFile('not-the-password\n');
  let ingest;
  try {
    ({ ingest } = await startIngest(broker, { pwfile, waitFor: null }));
    // mosquitto answers a bad password with CONNACK 5 (not authorized) in MQTT 3.1.1
    await ingest.waitForOutput(/refused the connection: (not authorized|bad user name or password)[^\n]*\n[\s\S]*refused the connection/);
    assert.doesNotMatch(ingest.output(), /subscribed to/);
    assert.match(ingest.output(), /reconnecting in \d+ ms/);
    assert.ok(!ingest.output().includes('not-the-password'));
    assert.equal(await ingest.stop(), 0);
  } finally {
    if (ingest) await ingest.stop();
    await broker.stop();
  }
});

test('bad login settings are refused at start with a reason (exit 2)', async () => {
  const db = await createDatabase('mqttc');
  const cases = [
    [['--mqtt-password-file', '/nonexistent/pw', '--mqtt-username', 'x'], /cannot open \/nonexistent\/pw/],
    [['--mqtt-password-file', await passwordFile('secret\n')], /--mqtt-password-file needs --mqtt-username/],
    [['--mqtt-username', 'x', '--mqtt-password-file', await passwordFile('\n')], /is empty/],
    [['--mqtt-username', 'x', '--mqtt-password-file', await passwordFile('a\nb\n')], /one line/],
    [['--qos', '2'], /--qos 2 is not supported/],
    [['--mqtt-max-packet', '100'], /mqtt-max-packet/],
  ];
  for (const [args, re] of cases) {
    const p = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', '1', ...args], { name: 'ingest' });
    assert.equal(await p.exited, 2, `exit code for ${args.join(' ')}`);
    assert.match(p.output(), re, `message for ${args.join(' ')}`);
    assert.ok(!p.output().includes('secret'), 'a password file\'s content in the output');
  }
});

test('a PUBLISH over --mqtt-max-packet goes to rejects as too_large, is acknowledged, and the next one is stored', async () => {
  const broker = await startPrivateBroker({ ingest: INGEST_PASS, dev2: DEVICE_PASS });
  const pwfile = await passwordFile(INGEST_PASS);
  let ingest;
  try {
    let db;
    ({ ingest, db } = await startIngest(broker, { pwfile, args: ['--mqtt-max-packet', '4096', '--stats-interval', '1'] }));
    const big = 'x'.repeat(100000);
    await publishAs('dev2', DEVICE_PASS, 'dev2/blob/s', big, { qos: 1, port: broker.port });
    await publishAs('dev2', DEVICE_PASS, 'dev2/temperature/s', '19.25', { qos: 1, port: broker.port });
    await waitFor(async () => Number(await psql(db.dsn, "SELECT count(*) FROM readings WHERE topic = 'dev2/temperature/s'")) === 1,
      { message: 'the reading after the oversized one' });
    const [reason, len, head] = (await psql(db.dsn,
      "SELECT reason, length(payload), encode(substr(payload, 1, 4), 'escape') FROM rejects WHERE topic = 'dev2/blob/s'")).split('|');
    assert.match(reason, /^too_large: MQTT packet of 10\d{4} bytes is over --mqtt-max-packet 4096$/);
    assert.equal(Number(len), 4096, 'the first 4096 payload bytes are kept');
    assert.equal(head, 'xxxx');
    // acknowledged: after a restart on the same persistent session nothing comes back
    await ingest.waitForOutput(/too_large=1/);
    assert.equal(await ingest.stop(), 0);
    const again = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', String(broker.port),
      '--mqtt-client-id', `mqttc-${db.name}`, '--mqtt-username', 'ingest', '--mqtt-password-file', pwfile,
      '--mqtt-max-packet', '4096', '--log-level', 'debug'], { name: 'ingest-again' });
    ingest = again;
    await again.waitForOutput(/persistent session, resumed/);
    await again.waitForOutput(/subscribed to/);
    await publishAs('dev2', DEVICE_PASS, 'dev2/temperature/s', '19.5', { qos: 1, port: broker.port });
    await waitFor(async () => Number(await psql(db.dsn, "SELECT count(*) FROM readings WHERE topic = 'dev2/temperature/s'")) === 2,
      { message: 'a reading after the restart' });
    assert.equal(Number(await psql(db.dsn, "SELECT count(*) FROM rejects WHERE topic = 'dev2/blob/s'")), 1,
      'the oversized message was not delivered again');
    assert.equal(await again.stop(), 0);
  } finally {
    if (ingest) await ingest.stop();
    await broker.stop();
  }
});
