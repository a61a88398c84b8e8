// render.mjs - put build/faults/results.json into docs/RELIABILITY.md (scripts/faults.sh runs it
// after the suite): a plain run into the "## Fault-injection results" section, a run over TLS
// (FAULTS_TLS=1: results.json says "tls": true) into its subsection "### Fault-injection results
// over TLS", so that neither overwrites the other.
//   node tests/faults/render.mjs [results.json] [RELIABILITY.md] [heading]
// The heading (e.g. '### Fault-injection results over TLS') defaults from the run's transport.
// Only that section is written: it is replaced where it is (up to the next heading of any level),
// or, when missing, the TLS subsection goes right after the plain section and the plain section at
// the end; the rest of the file is kept byte for byte. The file is read right before it is
// written, so another section edited meanwhile is not lost.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const resultsPath = process.argv[2] || path.join(ROOT, 'build/faults/results.json');
const docPath = process.argv[3] || path.join(ROOT, 'docs/RELIABILITY.md');
const PLAIN = '## Fault-injection results';
const OVER_TLS = '### Fault-injection results over TLS';

const r = JSON.parse(readFileSync(resultsPath, 'utf8'));
const HEADING = process.argv[4] || (r.tls ? OVER_TLS : PLAIN);
if (!/^#{2,6} \S/.test(HEADING)) throw new Error(`render: "${HEADING}" is not a markdown heading (## ...)`);

const cell = (v) => String(v ?? '?').replace(/\|/g, '\\|').replace(/\n/g, ' ');
const rows = r.results.map((x) =>
  `| ${[
    x.key === '0' ? x.fault : `${x.key}. ${x.fault}`,
    x.error ? '?' : `${x.sent ?? '?'} / ${x.confirmed ?? '?'}`,
    x.stored, x.lost, x.duplicated, x.ws_delivered, x.ws_lost, x.ws_duplicated,
    x.pass ? 'pass' : '**FAIL**',
    x.notes || '',
  ].map(cell).join(' | ')} |`);

const extra = r.ingest_args && r.ingest_args.length ? ` ${r.ingest_args.join(' ')}` : '';
const tlsFlags = r.tls ? ' --mqtt-tls --mqtt-cafile ca.crt' : '';
const transport = r.tls
  ? `**Over TLS** (\`FAULTS_TLS=1\`): per fault, scripts/tls.sh makes a CA and the broker's certificate in
the fault's temp dir; mosquitto has its TLS listener (TLS 1.2+, also after fault a's restart) and the
ingest and the sim connect to it only, with \`--mqtt-tls --mqtt-cafile ca.crt\` (each ingest's verified
handshake is checked in its output). Otherwise the same faults and checks as the plain table above.`
  : `**Over plain MQTT** on the broker's loopback listener; the same faults over TLS:
[below](#fault-injection-results-over-tls) (\`FAULTS_TLS=1 make faults\`).`;
const section = `${HEADING}

Measured ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (scripts/faults.sh runs
tests/faults/faults.test.mjs, then writes this section from build/faults/results.json), commit
${r.commit}, ${r.host}; the whole suite took ${r.seconds} s.

${transport}

Per fault: a private mosquitto and a fresh database on a private PostgreSQL, both started by the
test; \`${r.bin} ingest --qos 1 --no-clean-session --mqtt-client-id <fixed>${tlsFlags}${extra}\` and
\`${r.bin} serve\`; one WebSocket client that opens \`/ws?history=0\` and after every close
reconnects with \`?after=<last id>\`, as the dashboard does; and
\`${r.sim_bin} sim --numbered --qos ${r.qos} --rate ${r.rate} --count ${r.count}${tlsFlags}\`, whose readings carry
the numbers 1..count. The fault is injected when the table holds half the run. Fault c: PostgreSQL
away ${r.outage_s} s${r.long ? '' : ' (`FAULTS_LONG=1 make faults`: 60 s)'} from ${r.count / 2} rows on, while
the sim goes on publishing (count ${r.count} + ${r.rate} x ${r.outage_s}). Fault e: ${r.kills} SIGKILLs of
the ingest at random points spread over a run of ${r.kill_count}, each followed by a restart.

| fault | sent / confirmed | stored | lost | duplicated | ws delivered | ws lost | ws duplicated | result | notes |
|---|--:|--:|--:|--:|--:|--:|--:|---|---|
${rows.join('\n')}

- **sent / confirmed**: numbered readings the sim published / of those, acknowledged by the
  broker (PUBACK).
- **stored**: distinct numbers in \`readings\`; **lost**: numbers of the run missing there;
  **duplicated**: rows beyond one per number (reported, not failed: the promise is at-least-once).
- **ws delivered / lost / duplicated**: the run's rows (by id) the WebSocket client received,
  never received, and received more than once.
- A fault **fails** when a reading is lost (table or WebSocket) or reaches the WebSocket client
  twice. Process logs of the last run: build/faults/<fault>/.
`;

// re-read right before writing: another section may have changed since the suite started
const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
const escape = (h) => h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const find = (h) => doc.search(new RegExp(`^${escape(h)}[ \\t]*$`, 'm'));
/** Where the section at `at` with heading h ends: the next heading of any level, or the end. */
const end = (at, h) => {
  const next = doc.slice(at + h.length).search(/^#{1,6} /m);
  return next < 0 ? doc.length : at + h.length + next;
};
const append = () => (doc ? `${doc.replace(/\n*$/, '\n')}\n${section}` : section);
let out;
const at = find(HEADING);
if (at >= 0) {
  const e = end(at, HEADING);
  out = doc.slice(0, at) + section + (e < doc.length ? `\n${doc.slice(e)}` : '');
} else if (HEADING !== PLAIN && find(PLAIN) >= 0) {
  // a new subsection: right after the plain section
  const e = end(find(PLAIN), PLAIN);
  out = e < doc.length ? `${doc.slice(0, e)}${section}\n${doc.slice(e)}` : append();
} else {
  out = append();
}
writeFileSync(docPath, out);
console.log(`render: ${path.relative(ROOT, docPath)} "${HEADING.replace(/^#+ /, '')}" (${r.results.length} faults)`);
