// broker_identity.test.mjs - identity at the broker, with the parts `make run` uses: mosquitto with
// the dynamic-security plugin (scripts/mosquitto.sh, SENSORPIPE_MQTT_DYNSEC), accounts made at run
// time by `sensorpipe device`, a real ingest logged in with its own account, PostgreSQL.
//
// mosquitto drops a PUBLISH its ACL denies without telling an MQTT 3.1.1 publisher (the PUBACK
// still comes), so every refusal is checked in the database: no row, no presence change. A
// forbidden message is published at QoS 1 (the broker has dealt with it when mosquitto_pub
// returns), then an allowed marker; once the marker's row is there, anything the ingest got
// before it is written too. Synchronisation is by condition (rows, process exits), never by sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  createDatabase, spawnSensorpipe, psql, waitFor, startDynsecBroker, publishAs, publish, connectAs,
} from '../lib/harness.mjs';

/** A 0600 password file in the broker's directory. */
async function pwFile(broker, name, password) {
  const file = path.join(broker.dir, `${name}.password`);
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return file;
}

/** A broker with accounts, a database and an ingest logged in with its own account. */
async function startStack() {
  const broker = await startDynsecBroker();
  const db = await createDatabase('ident');
  const acc = await broker.addDevice('ingest-t', ['--ingest']);
  assert.equal(acc.kind, 'ingest');
  assert.equal(acc.client_id, 'ingest-t');
  const ingest = spawnSensorpipe(['ingest', '--db', db.dsn, '--mqtt-port', String(broker.port), '--mqtt-username',
    'ingest-t', '--mqtt-password-file', await pwFile(broker, 'ingest-t', acc.password), '--mqtt-client-id', 'ingest-t',
    '--clean-session', '--stats-interval', '1'], { name: 'ingest' });
  await ingest.waitForOutput(/subscribed to \+\/status/);
  const s = {
    broker, db, ingest,
    q: (sql) => psql(db.dsn, sql),
    count: async (topicLike) => Number(await psql(db.dsn, `SELECT count(*) FROM readings WHERE topic LIKE '${topicLike}'`)),
    presence: (device) => psql(db.dsn, `SELECT online FROM devices WHERE device = '${device}'`),
    /** Publish an allowed reading as dev and wait for its row: what the broker let through before it is stored. */
    async marker(dev, n) {
      await publishAs(dev.username, dev.password, `${dev.username}/marker/m`, String(n),
        { qos: 1, port: broker.port, clientId: dev.client_id });
      await waitFor(async () => Number(await s.q(`SELECT count(*) FROM readings WHERE topic = '${dev.username}/marker/m' AND value = ${n}`)) === 1,
        { message: `marker ${n} of ${dev.username}` });
    },
    async stop() {
      try {
        assert.equal(await ingest.stop(), 0);
      } finally {
        await broker.stop(); // a broker left running would outlive the test run
      }
    },
  };
  return s;
}

test('no anonymous client, no wrong password, no foreign client id; the right login stores', async () => {
  const s = await startStack();
  try {
    const a = await s.broker.addDevice('dev-a');
    assert.equal(a.device, 'dev-a');
    assert.equal(a.username, 'dev-a');
    assert.ok(a.password.length >= 22, 'at least 128 bits of base64');
    const port = s.broker.port;
    await assert.rejects(publish('dev-a/temperature/dht22', '1', { port, qos: 1 }), /not authori[sz]ed|refused/i, 'anonymous');
    await assert.rejects(publishAs('dev-a', `${a.password}x`, 'dev-a/temperature/dht22', '2', { port, qos: 1, clientId: 'dev-a' }),
      /not authori[sz]ed|refused/i, 'wrong password');
    await assert.rejects(publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '3', { port, qos: 1, clientId: 'someone-else' }),
      /not authori[sz]ed|refused/i, 'a client id not the account\'s');
    await publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '21.5', { port, qos: 1, clientId: 'dev-a' });
    await waitFor(async () => (await s.count('dev-a/temperature/dht22')) === 1, { message: 'the reading of dev-a' });
    assert.equal(await s.q("SELECT string_agg(value::text, ',') FROM readings"), '21.5', 'only the logged-in reading');
  } finally {
    await s.stop();
  }
});

test('device A cannot publish as B: no reading, no presence change (publish, retained status, will)', async () => {
  const s = await startStack();
  try {
    const port = s.broker.port;
    const a = await s.broker.addDevice('dev-a');
    const b = await s.broker.addDevice('dev-b');
    await publishAs('dev-b', b.password, 'dev-b/status', 'online', { port, qos: 1, clientId: 'dev-b', retain: true });
    await waitFor(async () => (await s.presence('dev-b')) === 't', { message: 'dev-b online' });

    await publishAs('dev-a', a.password, 'dev-b/temperature/dht22', '66', { port, qos: 1, clientId: 'dev-a' });
    await publishAs('dev-a', a.password, 'dev-b/status', 'offline', { port, qos: 1, clientId: 'dev-a', retain: true });
    await publishAs('dev-a', a.password, 'dev-b', '1', { port, qos: 1, clientId: 'dev-a' });
    // a will on B's status: the connection is killed, the broker would publish it
    const w = connectAs('dev-a', a.password, 'dev-a/temperature/dht22', { port, clientId: 'dev-a', will: { topic: 'dev-b/status', payload: 'offline' } });
    w.send('1.5');
    await waitFor(async () => (await s.count('dev-a/temperature/dht22')) === 1, { message: 'dev-a connected with its will' });
    await w.stop('SIGKILL');
    await s.marker(a, 1);

    assert.equal(await s.count('dev-b/%'), 0, 'no reading of dev-b stored');
    assert.equal(await s.presence('dev-b'), 't', 'dev-b still online');
    assert.equal(Number(await s.q("SELECT count(*) FROM rejects")), 0, 'nothing reached the ingest to reject');
    // its own status and will are allowed
    const w2 = connectAs('dev-a', a.password, 'dev-a/status', { port, clientId: 'dev-a', will: { topic: 'dev-a/status', payload: 'offline' } });
    w2.send('online');
    await waitFor(async () => (await s.presence('dev-a')) === 't', { message: 'dev-a online' });
    await w2.stop('SIGKILL');
    await waitFor(async () => (await s.presence('dev-a')) === 'f', { message: 'dev-a\'s own will' });
  } finally {
    await s.stop();
  }
});

test('device remove: a connected device is cut off and cannot log in again', async () => {
  const s = await startStack();
  let conn;
  try {
    const port = s.broker.port;
    const a = await s.broker.addDevice('dev-a');
    conn = connectAs('dev-a', a.password, 'dev-a/temperature/dht22', { port, clientId: 'dev-a' });
    conn.send('1');
    await waitFor(async () => (await s.count('dev-a/temperature/dht22')) === 1, { message: 'dev-a connected' });

    const r = await s.broker.device(['remove', 'dev-a']);
    assert.equal(r.code, 0, r.stderr);
    // the broker drops it at once, and refuses the reconnect that mosquitto_pub then tries
    await waitFor(() => /not authori[sz]ed/i.test(conn.output()), { message: 'the connected device to be cut off and refused' });
    conn.send('2');
    await conn.stop();
    await assert.rejects(publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '2', { port, qos: 1, clientId: 'dev-a' }),
      /not authori[sz]ed|refused/i);
    const other = await s.broker.addDevice('dev-c');
    await s.marker(other, 1);
    assert.equal(await s.count('dev-a/%'), 1, 'nothing more from dev-a');
    assert.equal((await s.broker.device(['remove', 'dev-a'])).code, 1, 'removing it again: exit 1');
    const list = JSON.parse((await s.broker.device(['list', '--json'])).stdout);
    assert.deepEqual(list.map((d) => d.device).sort(), ['dev-c', 'ingest-t']);
  } finally {
    await conn?.stop('SIGKILL');
    await s.stop();
  }
});

test('nobody else can use the ingest\'s client id; the ingest keeps receiving', async () => {
  const s = await startStack();
  try {
    const port = s.broker.port;
    const a = await s.broker.addDevice('dev-a');
    await s.marker(a, 1);
    await assert.rejects(publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '5', { port, qos: 1, clientId: 'ingest-t' }),
      /not authori[sz]ed|refused/i, 'a device under the ingest\'s client id');
    const i2 = await s.broker.addDevice('ingest-2', ['--ingest']);
    await assert.rejects(publishAs('ingest-2', i2.password, 'x/y/z', '5', { port, qos: 1, clientId: 'ingest-t' }),
      /not authori[sz]ed|refused/i, 'another ingest account under this ingest\'s client id');
    await s.marker(a, 2);
    assert.doesNotMatch(s.ingest.output(), /mqtt_reconnects=[1-9]/, 'the ingest was never disconnected');
    assert.doesNotMatch(await s.broker.log(), /Client ingest-t already connected, closing old connection/);
  } finally {
    await s.stop();
  }
});

test('device add twice exits 1; --rotate gives a new password and the old one fails', async () => {
  const s = await startStack();
  try {
    const port = s.broker.port;
    const a = await s.broker.addDevice('dev-a');
    const again = await s.broker.device(['add', 'dev-a', '--json']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists/);
    assert.equal(again.stdout, '', 'no new password printed');
    await publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '1', { port, qos: 1, clientId: 'dev-a' }); // still works

    const b = await s.broker.addDevice('dev-a', ['--rotate']);
    assert.notEqual(b.password, a.password);
    await assert.rejects(publishAs('dev-a', a.password, 'dev-a/temperature/dht22', '2', { port, qos: 1, clientId: 'dev-a' }),
      /not authori[sz]ed|refused/i, 'the old password');
    await publishAs('dev-a', b.password, 'dev-a/temperature/dht22', '3', { port, qos: 1, clientId: 'dev-a' });
    await waitFor(async () => (await s.count('dev-a/temperature/dht22')) === 2, { message: 'readings 1 and 3' });
    assert.equal(await s.q("SELECT string_agg(value::text, ',' ORDER BY id) FROM readings"), '1,3');
    assert.ok(!(await s.broker.log()).includes(b.password), 'the broker log holds no password');
    // bad names and usage
    assert.equal((await s.broker.device(['add', 'a/b'])).code, 2);
    assert.equal((await s.broker.device(['add', 'x', '--load-prefix', 'p', '--ingest'])).code, 2);
  } finally {
    await s.stop();
  }
});

test('sim logs in like a device; its load account publishes only for its prefix', async () => {
  const s = await startStack();
  try {
    const port = String(s.broker.port);
    const pico = await s.broker.addDevice('pico-s');
    const sim = spawnSensorpipe(['sim', '--mqtt-port', port, '--mqtt-username', 'pico-s', '--mqtt-password-file',
      await pwFile(s.broker, 'pico-s', pico.password), '--interval', '2', '--fail-rate', '0', '--count', '3'], { name: 'sim' });
    assert.equal(await sim.exited, 0, sim.output());
    await waitFor(async () => (await s.count('pico-s/%')) === 3, { message: 'the 3 readings of pico-s' });
    assert.ok(!sim.output().includes(pico.password));

    const load = await s.broker.addDevice('load-s', ['--load-prefix', 'ld', '--load-devices', '2']);
    assert.equal(load.client_id, null);
    const lpw = await pwFile(s.broker, 'load-s', load.password);
    const ok = spawnSensorpipe(['sim', '--mqtt-port', port, '--mqtt-username', 'load-s', '--mqtt-password-file', lpw,
      '--device-prefix', 'ld', '--devices', '2', '--rate', '100', '--count', '20', '--qos', '1', '--numbered'], { name: 'sim-load' });
    assert.equal(await ok.exited, 0, ok.output());
    await waitFor(async () => (await s.count('ld%/seq/n')) === 20, { message: '20 numbered readings of ld0001, ld0002' });
    // a prefix (and a third device) the account does not cover: dropped by the broker
    const bad = spawnSensorpipe(['sim', '--mqtt-port', port, '--mqtt-username', 'load-s', '--mqtt-password-file', lpw,
      '--device-prefix', 'zz', '--devices', '1', '--rate', '100', '--count', '5', '--qos', '1', '--numbered'], { name: 'sim-bad' });
    assert.equal(await bad.exited, 0, bad.output());
    const third = spawnSensorpipe(['sim', '--mqtt-port', port, '--mqtt-username', 'load-s', '--mqtt-password-file', lpw,
      '--device-prefix', 'ld', '--devices', '3', '--rate', '300', '--count', '30', '--qos', '1', '--numbered', '--start', '100'], { name: 'sim-3' });
    assert.equal(await third.exited, 0, third.output());
    await s.marker(pico, 1);
    assert.equal(await s.count('zz%'), 0, 'nothing for a foreign prefix');
    assert.equal(await s.count('ld0003/%'), 0, 'nothing for a device past --load-devices');
    assert.equal(await s.presence('zz0001'), '', 'no presence for a foreign prefix');
  } finally {
    await s.stop();
  }
});
