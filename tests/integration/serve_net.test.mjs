// serve_net.test.mjs - the network edges of serve: `--listen 127.0.0.1:<port>` binds loopback only,
// and the database may be reached over TCP as well as a unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PG_PASSWORD_FILE, createDatabase, freePort, psql, spawnSensorpipe, startPipeline, waitFor, wsConnect } from '../lib/harness.mjs';

// Local addresses of listening TCP sockets on `port`, from /proc/net/tcp{,6}.
function listeners(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
      const [addr, p] = f[1].split(':');
      if (p === hexPort) found.push(addr);
    }
  }
  return found;
}

test('serve listens on 127.0.0.1 only when told 127.0.0.1', async () => {
  const p = await startPipeline({ ingest: false });
  try {
    const addrs = listeners(p.httpPort);
    // 0100007F is 127.0.0.1 in /proc's little-endian hex
    assert.deepEqual(addrs, ['0100007F'], `listening addresses for port ${p.httpPort}: ${addrs.join(', ')}`);
  } finally {
    assert.deepEqual(await p.stop(), { serve: 0 });
  }
});

test('serve reaches PostgreSQL over TCP (host=127.0.0.1), not only a unix socket', async () => {
  const db = await createDatabase('tcp');
  const tcpDsn = `host=127.0.0.1 port=${process.env.PGPORT} user=${process.env.PGUSER || 'postgres'} dbname=${db.name}`;
  const port = await freePort();
  // TCP asks for a password (scram-sha-256): the superuser's, from the file scripts/pg.sh keeps
  const serve = spawnSensorpipe(['serve', '--db', tcpDsn, '--db-password-file', PG_PASSWORD_FILE, '--listen', `127.0.0.1:${port}`],
    { name: 'serve-tcp' });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, {
      message: `serve on a TCP database connection to answer /healthz 200\n${serve.output()}`,
    });
    const ws = await wsConnect(`ws://127.0.0.1:${port}/ws?history=0`);
    await ws.next((m) => m.type === 'history', { message: 'the history frame' });
    await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('tcp/temperature/dht22', 20.5)`);
    const m = await ws.next((x) => x.type === 'reading', { message: 'the inserted row over the live tail' });
    assert.equal(m.data.value, 20.5);
    await ws.close();
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});
