// render.mjs - put build/faults/results.json into the "Fault-injection results" section of
// docs/RELIABILITY.md (scripts/faults.sh runs it after the suite).
//   node tests/faults/render.mjs [results.json] [RELIABILITY.md]
// Only that section is written: it is replaced where it is (up to the next "## " heading), or
// appended at the end; the rest of the file is kept byte for byte. The file is read right before
// it is written, so another section edited meanwhile is not lost.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const resultsPath = process.argv[2] || path.join(ROOT, 'build/faults/results.json');
const docPath = process.argv[3] || path.join(ROOT, 'docs/RELIABILITY.md');
const HEADING = '## Fault-injection results';

const r = JSON.parse(readFileSync(resultsPath, 'utf8'));

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
const section = `${HEADING}

Measured ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (scripts/faults.sh runs
tests/faults/faults.test.mjs, then writes this section from build/faults/results.json), commit
${r.commit}, ${r.host}; the whole suite took ${r.seconds} s.

Per fault: a private mosquitto and a fresh database on a private PostgreSQL, both started by the
test; \`${r.bin} ingest --qos 1 --no-clean-session --mqtt-client-id <fixed>${extra}\` and
\`${r.bin} serve\`; one WebSocket client that opens \`/ws?history=0\` and after every close
reconnects with \`?after=<last id>\`, as the dashboard does; and
\`${r.sim_bin} sim --numbered --qos ${r.qos} --rate ${r.rate} --count ${r.count}\`, whose readings carry
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
let out;
const at = doc.search(new RegExp(`^${HEADING}[ \\t]*$`, 'm'));
if (at < 0) {
  out = doc ? `${doc.replace(/\n*$/, '\n')}\n${section}` : section;
} else {
  const rest = doc.slice(at + HEADING.length);
  const next = rest.search(/^## /m);
  out = doc.slice(0, at) + section + (next < 0 ? '' : `\n${rest.slice(next)}`);
}
writeFileSync(docPath, out);
console.log(`render: ${path.relative(ROOT, docPath)} "${HEADING.slice(3)}" (${r.results.length} faults)`);
