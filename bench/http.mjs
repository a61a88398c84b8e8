// bench/http.mjs - the HTTP bits bench/run needs, with Node's fetch (no curl needed).
//
//   node bench/http.mjs ok URL              exit 0 when URL answers 2xx
//   node bench/http.mjs metric URL NAME     print the value of one Prometheus sample (no labels)
//   node bench/http.mjs time URL N [FILE]   GET URL N times, one after another; print "<status> <ms>"
//                                           per request; the first response body goes to FILE
//
// Time is measured from just before the request to the last byte of the body, on one
// kept-alive connection (as a dashboard's fetch would), so it is the server's time plus
// one loopback round trip.

import { writeFileSync } from 'node:fs';

// serve answers /api and /metrics only with credentials: SENSORPIPE_TOKEN (bench/run makes one)
const realFetch = globalThis.fetch;
const TOKEN = process.env.SENSORPIPE_TOKEN;
const fetch = (url, init = {}) =>
  realFetch(url, TOKEN ? { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${TOKEN}` } } : init);

const [cmd, url, arg, file] = process.argv.slice(2);
if (cmd === 'ok') {
  try {
    const r = await fetch(url);
    await r.arrayBuffer();
    process.exit(r.ok ? 0 : 1);
  } catch {
    process.exit(1);
  }
} else if (cmd === 'metric') {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${arg} `));
  console.log(line ? line.split(' ')[1] : '');
} else if (cmd === 'time') {
  const n = Number(arg);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await fetch(url);
    const body = await r.text();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i === 0 && file) writeFileSync(file, body);
    out.push(`${r.status} ${ms.toFixed(3)}`);
  }
  console.log(out.join('\n'));
} else {
  console.error('usage: node bench/http.mjs ok URL | metric URL NAME | time URL N [FILE]');
  process.exit(2);
}
