// run.mjs - `make hostile` (scripts/hostile.sh): run the hostile-client suite once and record it.
//   node tests/hostile/run.mjs [--short]
//   HOSTILE_REPORT_ONLY=1 node tests/hostile/run.mjs [--short]   judge and write the table again from
//                                                   the last run's results.json (no run)
// Prints the table, writes build/hostile/results[-short].json and .md, and with HOSTILE_SAVE=1
// also the table into docs/SECURITY.md ("Hostile clients"). Exit status 0 when every goal was met,
// 1 when one was missed (the table is written either way), 2 when the run itself failed.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './stack.mjs';
import { config, runHostile } from './suite.mjs';
import { evaluate } from './goals.mjs';
import { markdown, text, writeSection } from './table.mjs';

const short = process.argv.includes('--short');
const out = path.join(ROOT, 'build/hostile');
const name = short ? 'results-short' : 'results';
let r;
try {
  if (process.env.HOSTILE_REPORT_ONLY === '1') {
    r = JSON.parse(readFileSync(path.join(out, `${name}.json`), 'utf8'));
    r.rows = evaluate(r, r.cfg);
  } else {
    r = await runHostile(config(short));
  }
} catch (e) {
  process.stderr.write(`hostile: the run failed: ${e.stack || e}\n`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, `${name}.json`), JSON.stringify(r, null, 1));
const md = markdown(r);
writeFileSync(path.join(out, `${name}.md`), md);
process.stdout.write(text(r));
process.stdout.write(`\nhostile: table in build/hostile/${name}.md, measurements in build/hostile/${name}.json\n`);
if (process.env.HOSTILE_SAVE === '1') {
  writeSection(path.join(ROOT, 'docs/SECURITY.md'), md);
  process.stdout.write('hostile: docs/SECURITY.md "Hostile clients" table rewritten\n');
}
process.exit(r.rows.every((x) => x.pass !== false) ? 0 : 1);
