// sim.test.mjs - `sensorpipe sim` against a real mosquitto: topics and payloads as the firmware
// sends them, presence (online retained on connect, offline on exit and as last will), the
// DHT22's 2 s limit, failed reads, reconnecting after the broker drops (firmware/core/conn's
// back-off), and conn's reset of a device that makes no progress for --stuck-seconds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MQTT_PORT, ROOT, freePort, publish, spawnSensorpipe, subscribe, waitFor } from '../lib/harness.mjs';

const READING = /^([^/]+)\/(temperature\/dht22|humidity\/dht22|temperature\/internal)$/;
const ONE_DECIMAL = /^-?\d+\.\d$/;
const retainedToClear = new Set();
const openSubs = new Set();

after(async () => {
  for (const sub of openSubs) await sub.stop();
  // leave no retained presence behind for the suites that share the broker
  for (const topic of retainedToClear) await clearRetainedTopic(topic);
});

/** Delete the retained message of topic (a zero-length retained publish). */
function clearRetainedTopic(topic, port = MQTT_PORT) {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-r', '-n', '-q', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`clearing ${topic}: exit ${code}: ${err}`))));
  });
}

/**
 * Subscribe to filter and wait until the subscription is live: a probe message on a topic
 * the filter matches comes back. Stopped by the after hook if a test fails first.
 */
async function watch(filter, port = MQTT_PORT) {
  const sub = subscribe(filter, { port });
  const stop = sub.stop;
  sub.stop = () => {
    openSubs.delete(sub);
    return stop();
  };
  openSubs.add(sub);
  const probe = filter.replaceAll('+', 'simprobe').replace('#', `simprobe-${process.pid}`);
  await waitFor(
    async () => {
      await publish(probe, 'x', { port });
      return sub.messages.some((m) => m.topic === probe);
    },
    { timeout: 10000, every: 100, message: `mosquitto_sub on ${filter} to be live` },
  );
  return sub;
}

function readingsOf(messages) {
  return messages.filter((m) => READING.test(m.topic));
}

function statusOf(messages, device) {
  return messages.filter((m) => m.topic === `${device}/status`).map((m) => m.payload);
}

/** Every reading payload is an ASCII number with one decimal, plausible for its sensor. */
function assertPayloads(readings) {
  for (const { topic, payload } of readings) {
    assert.match(payload, ONE_DECIMAL, `${topic} payload ${payload}`);
    assert.notEqual(payload, '-0.0', `${topic} sends -0.0`);
    const v = Number(payload);
    if (topic.endsWith('/humidity/dht22')) assert.ok(v >= 0 && v <= 100, `${topic} = ${v}`);
    else if (topic.endsWith('/temperature/dht22')) assert.ok(v > 10 && v < 35, `${topic} = ${v} is not indoors`);
    else assert.ok(v > 10 && v < 45, `${topic} = ${v} is not a chip temperature`);
  }
}

async function clearRetained(devices) {
  for (const d of devices) {
    retainedToClear.add(`${d}/status`);
    await clearRetainedTopic(`${d}/status`);
  }
}

test('load mode: --count 30 --devices 3 --rate 100 sends 30 readings, online first, offline last', async () => {
  const devices = ['sim0001', 'sim0002', 'sim0003'];
  await clearRetained(devices);
  const sub = await watch('#');
  const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), '--count', '30', '--devices', '3',
    '--rate', '100', '--seed', '1']);
  const code = await sim.exited;
  assert.equal(code, 0, sim.output());
  const summary = sim.output().match(/sent=(\d+) seconds=([\d.]+) rate=([\d.]+)/);
  assert.ok(summary, `no summary line in:\n${sim.output()}`);
  assert.equal(Number(summary[1]), 30);
  assert.ok(Number(summary[2]) >= 0.25 && Number(summary[2]) < 5, `30 readings at 100/s took ${summary[2]} s`);

  await waitFor(() => devices.every((d) => statusOf(sub.messages, d).includes('offline')), {
    message: `offline from ${devices}; got ${JSON.stringify(sub.messages.slice(-10))}`,
  });
  await sub.stop();
  const readings = readingsOf(sub.messages).filter((m) => devices.some((d) => m.topic.startsWith(`${d}/`)));
  assert.equal(readings.length, 30, JSON.stringify(readings));
  assertPayloads(readings);
  for (const d of devices) {
    const own = sub.messages.filter((m) => m.topic.startsWith(`${d}/`));
    assert.ok(own.some((m) => READING.test(m.topic)), `${d} sent no reading`);
    assert.deepEqual(own[0], { topic: `${d}/status`, payload: 'online' }, `${d} did not come online first`);
    assert.deepEqual(own.at(-1), { topic: `${d}/status`, payload: 'offline' }, `${d} did not go offline last`);
    assert.deepEqual(statusOf(own, d), ['online', 'offline']);
  }
  // a full cycle is temperature, humidity, internal in that order
  const first = readings.filter((m) => m.topic.startsWith('sim0001/')).slice(0, 3).map((m) => m.topic);
  assert.deepEqual(first, ['sim0001/temperature/dht22', 'sim0001/humidity/dht22', 'sim0001/temperature/internal']);

  // "offline" is retained: a new subscriber gets it at once
  const late = await watch('+/status');
  await waitFor(() => devices.every((d) => statusOf(late.messages, d).at(-1) === 'offline'), {
    message: 'retained offline for every device',
  });
  await late.stop();
});

test('interval mode: online is retained, SIGTERM publishes offline and exits 0', async () => {
  const prefix = `it${process.pid}-`;
  const devices = [`${prefix}0001`, `${prefix}0002`];
  await clearRetained(devices);
  const sub = await watch('#');
  const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), '--devices', '2', '--device-prefix', prefix,
    '--interval', '2', '--fail-rate', '0']);
  // both devices staggered over the 2 s interval: each sends a full cycle within ~2 s of coming online
  await waitFor(() => devices.every((d) => readingsOf(sub.messages).filter((m) => m.topic.startsWith(d)).length >= 3), {
    timeout: 10000,
    message: `a full cycle from each device; got ${JSON.stringify(sub.messages)}`,
  });
  for (const d of devices) assert.equal(statusOf(sub.messages, d)[0], 'online');

  // a subscriber arriving later still learns that the devices are online: the message is retained
  const late = await watch('+/status');
  await waitFor(() => devices.every((d) => statusOf(late.messages, d).includes('online')), {
    message: 'retained online for every device',
  });
  await late.stop();

  assert.equal(await sim.stop('SIGTERM'), 0);
  assert.match(sim.output(), /sim: sent=\d+ /);
  await waitFor(() => devices.every((d) => statusOf(sub.messages, d).at(-1) === 'offline'), {
    message: 'offline from every device after SIGTERM',
  });
  await sub.stop();
  assertPayloads(readingsOf(sub.messages).filter((m) => m.topic.startsWith(prefix)));
  // a cycle every 2 s per device: no faster than the DHT22 allows
  const temps = sub.messages.filter((m) => m.topic === `${devices[0]}/temperature/dht22`);
  assert.ok(temps.length >= 1 && temps.length <= 4, `${temps.length} temperature readings`);
});

test('--interval below 2 s is rejected with exit code 2 and a reason', async () => {
  for (const interval of ['1.5', '0']) {
    const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), '--interval', interval]);
    assert.equal(await sim.exited, 2, sim.output());
    assert.match(sim.output(), /--interval must be at least 2 seconds \(the DHT22 allows one read every 2 s\)/);
  }
  for (const args of [['--qos', '3'], ['--device-prefix', 'a/b', '--devices', '2'], ['--fail-rate', '1.5']]) {
    const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), ...args]);
    assert.equal(await sim.exited, 2, `${args.join(' ')}: ${sim.output()}`);
    assert.match(sim.output(), /sensorpipe sim: /);
  }
});

test('a failed DHT22 read publishes nothing for the DHT22, only the chip temperature', async () => {
  const prefix = `fr${process.pid}-`;
  const device = `${prefix}0001`;
  await clearRetained([device]);
  const sub = await watch(`${device}/#`);
  const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), '--device-prefix', prefix, '--fail-rate', '1',
    '--rate', '200', '--count', '6']);
  assert.equal(await sim.exited, 0, sim.output());
  assert.match(sim.output(), /sent=6 .*failed_reads=6 /);
  await waitFor(() => statusOf(sub.messages, device).includes('offline'), { message: 'offline' });
  await sub.stop();
  const readings = readingsOf(sub.messages);
  assert.equal(readings.length, 6);
  for (const m of readings) assert.equal(m.topic, `${device}/temperature/internal`);
  assertPayloads(readings);
});

test('QoS 1 load: every reading acknowledged before the summary', async () => {
  const prefix = `q${process.pid}-`;
  const devices = [`${prefix}0001`, `${prefix}0002`];
  await clearRetained(devices);
  const sub = await watch('+/+/+');
  const sim = spawnSensorpipe(['sim', '--mqtt-port', String(MQTT_PORT), '--device-prefix', prefix, '--devices', '2',
    '--rate', '20000', '--count', '3000', '--qos', '1', '--fail-rate', '0']);
  assert.equal(await sim.exited, 0, sim.output());
  assert.match(sim.output(), /sent=3000 .* qos=1 .*lost=0 unconfirmed=0/);
  const mine = () => sub.messages.filter((m) => m.topic.startsWith(prefix));
  await waitFor(() => mine().length >= 3000, { message: `3000 readings, got ${mine().length}` });
  await sub.stop();
  assert.equal(mine().length, 3000);
});

function mosquitto(cmd, dir, port) {
  return new Promise((resolve, reject) => {
    const args = [cmd, dir, ...(port ? [String(port)] : [])];
    const p = spawn(path.join(ROOT, 'scripts/mosquitto.sh'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto.sh ${cmd} exited ${code}: ${err}`))));
  });
}

test('reconnects with backoff when the broker goes away and comes back', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sim-reconnect-'));
  const port = await freePort();
  let sim;
  try {
    // the broker is not there yet: the device keeps trying
    sim = spawnSensorpipe(['sim', '--mqtt-port', String(port), '--interval', '2', '--fail-rate', '0']);
    await sim.waitForOutput(/pico: reconnecting to 127\.0\.0\.1:\d+ in \d+ ms/);
    await mosquitto('start', dir, port);
    const sub = await watch('pico/#', port);
    await waitFor(() => readingsOf(sub.messages).length >= 1, { timeout: 15000, message: 'a reading once the broker is up' });
    await sub.stop();

    await mosquitto('stop', dir);
    await sim.waitForOutput(/pico: connection to 127\.0\.0\.1:\d+ lost/);
    await mosquitto('start', dir, port);
    const again = await watch('pico/#', port);
    // online again and readings resume
    await waitFor(() => {
      const i = again.messages.findIndex((m) => m.topic === 'pico/status' && m.payload === 'online');
      return i >= 0 && readingsOf(again.messages.slice(i)).length >= 1;
    }, { timeout: 20000, message: `online and a reading after the broker restart; got ${JSON.stringify(again.messages)}` });
    assert.ok((sim.output().match(/pico: connected to/g) || []).length >= 2, sim.output());
    assert.equal(await sim.stop('SIGTERM'), 0);
    await waitFor(() => statusOf(again.messages, 'pico').at(-1) === 'offline', { message: 'offline after SIGTERM' });
    await again.stop();
  } finally {
    if (sim) await sim.stop('SIGKILL');
    await mosquitto('stop', dir).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a device without progress for --stuck-seconds is reset: new client, started again, counted', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sim-reset-'));
  const port = await freePort();
  let sim;
  try {
    // no broker: no connect, so conn says RESET after 3 s, and again 3 s after each restart
    sim = spawnSensorpipe(['sim', '--mqtt-port', String(port), '--interval', '2', '--fail-rate', '0',
      '--stuck-seconds', '3']);
    await sim.waitForOutput(/pico: no connect or confirmed publish for 3 s \(BROKER_CONNECTING\): resetting the device/);
    await sim.waitForOutput(/pico: started again \(reset 1\)/);
    await mosquitto('start', dir, port);
    const sub = await watch('pico/#', port);
    // the restarted device comes online and publishes
    await waitFor(() => statusOf(sub.messages, 'pico').includes('online') && readingsOf(sub.messages).length >= 3, {
      timeout: 15000,
      message: `online and a cycle after the reset; got ${JSON.stringify(sub.messages)}`,
    });
    // connected, a cycle every 2 s is progress: no more resets (3 s would pass twice here)
    const resets = () => (sim.output().match(/resetting the device/g) || []).length;
    const before = resets();
    await new Promise((r) => setTimeout(r, 6500));
    assert.equal(resets(), before, sim.output());
    assert.equal(await sim.stop('SIGTERM'), 0);
    const m = sim.output().match(/sim: sent=(\d+) .* resets=(\d+)/);
    assert.ok(m, sim.output());
    assert.equal(Number(m[2]), before);
    assert.ok(Number(m[2]) >= 1);
    await waitFor(() => statusOf(sub.messages, 'pico').at(-1) === 'offline', { message: 'offline after SIGTERM' });
    await sub.stop();
  } finally {
    if (sim) await sim.stop('SIGKILL');
    await mosquitto('stop', dir).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
