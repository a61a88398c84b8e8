// serve_bind.test.mjs - `--listen 127.0.0.1:<port>` binds loopback only, not every interface.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startPipeline } from '../lib/harness.mjs';

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
