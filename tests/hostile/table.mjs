// table.mjs - the hostile-client suite's table: markdown for build/hostile/ and docs/SECURITY.md,
// plain text for the terminal.
//   markdown(r)                       the table with a line saying what ran where
//   text(r)                           the same rows, aligned for a terminal
//   writeSection(docPath, md)         replace what lies between the markers
//                                     <!-- hostile-table:begin --> and <!-- hostile-table:end -->
//                                     (the rest of the file is kept byte for byte)
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

const BEGIN = '<!-- hostile-table:begin -->';
const END = '<!-- hostile-table:end -->';
const verdict = (p) => (p === null ? '–' : p ? 'pass' : 'FAIL');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function describe(r) {
  const c = r.cfg;
  return `${c.short ? 'short run (CI)' : 'full run'} of ${r.started.slice(0, 16).replace('T', ' ')} UTC, ${c.bin}, ` +
    `serve ${r.serveArgs}; ${r.cpus ?? os.cpus().length} CPU(s), load ${(r.loadStart ?? []).map((x) => x.toFixed(1)).join(' ')} at the start and ${(r.load ?? os.loadavg()).map((x) => x.toFixed(1)).join(' ')} at the end` +
    `${r.nice ? `, every process at nice ${r.nice}` : ''}; ` +
    `${c.preload} rows pre-loaded, ${c.rate} readings/s; baseline ${c.baselineS} s, attack ${c.attackS} s, recovery ${c.recoveryS} s`;
}

export function markdown(r) {
  const lines = [`Measured: ${describe(r)}.`, '', '| goal | measured | result |', '|---|---|---|'];
  for (const x of r.rows) lines.push(`| ${cell(x.goal)} | ${cell(x.measured)} | ${verdict(x.pass)} |`);
  return `${lines.join('\n')}\n`;
}

export function text(r) {
  const out = [describe(r), ''];
  for (const x of r.rows) out.push(`${verdict(x.pass).padEnd(5)} ${x.goal}\n      ${x.measured}`);
  return `${out.join('\n')}\n`;
}

export function writeSection(docPath, md) {
  const doc = readFileSync(docPath, 'utf8');
  const i = doc.indexOf(BEGIN), j = doc.indexOf(END);
  if (i < 0 || j < i) throw new Error(`${docPath}: no ${BEGIN} ... ${END} markers`);
  writeFileSync(docPath, `${doc.slice(0, i + BEGIN.length)}\n${md}${doc.slice(j)}`);
}
