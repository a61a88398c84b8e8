// bench/explain_rows.mjs - what each /api/readings bucket query read, from the plans auto_explain
// wrote to a PostgreSQL log (bench/history.sh turns auto_explain on for one serve).
//
//   node bench/explain_rows.mjs <postgres.log> <byte offset>
//
// Reads the log from the offset; for every logged plan of a bucket query (its text has
// date_bin($5::interval, ...)), in log order, prints one line:
//   <raw rows> <raw seq scans> <minutely rows> <hourly rows> <raw examined> <minutely examined> <hourly examined>
// raw rows: rows the scans of readings' partitions returned (actual rows x loops, after their
// filters); raw seq scans: sequential scans of a readings partition (a range read without its
// index); minutely/hourly rows: rows the scans of readings_minutely and readings_hourly returned;
// examined: the same plus the rows their filters removed (e.g. other topics' rows tested
// against the topic regex).
import { openSync, readSync, fstatSync, closeSync } from 'node:fs';

const [file, offsetArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/explain_rows.mjs <postgres.log> [byte offset]');
  process.exit(2);
}
const fd = openSync(file, 'r');
const offset = Number(offsetArg || 0);
const size = fstatSync(fd).size;
const buf = Buffer.alloc(Math.max(0, size - offset));
readSync(fd, buf, 0, buf.length, offset);
closeSync(fd);

// a log entry starts at a line with "LOG:" (continuation lines are indented)
const entries = buf.toString('utf8').split(/\n(?=\S[^\n]*LOG: )/);
const SCAN = /(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)(?: Backward)?(?: using \S+)? on (\w+).*\(actual (?:time=\S+ )?rows=(\d+) loops=(\d+)\)/;
for (const e of entries) {
  if (!/plan:/.test(e) || !/Query Text:.*date_bin\(\$5::interval/.test(e)) continue;
  let seq = 0;
  const kept = { raw: 0, minutely: 0, hourly: 0 };
  const examined = { raw: 0, minutely: 0, hourly: 0 };
  let last = null; // the scan the next "Rows Removed by Filter" belongs to: [kind, loops]
  for (const line of e.split('\n')) {
    const m = SCAN.exec(line);
    if (!m) {
      const rm = /Rows Removed by Filter: (\d+)/.exec(line);
      if (rm && last) examined[last[0]] += Number(rm[1]) * last[1];
      if (/->/.test(line)) last = null;
      continue;
    }
    const rows = Number(m[3]) * Number(m[4]);
    const rel = m[2];
    const kind = /^readings_(\d{8}|default)$/.test(rel) ? 'raw' : rel === 'readings_minutely' || rel === 'readings_hourly' ? rel.slice(9) : null;
    last = kind ? [kind, Number(m[4])] : null;
    if (!kind) continue;
    kept[kind] += rows;
    examined[kind] += rows;
    if (kind === 'raw' && m[1] === 'Seq Scan') seq++;
  }
  console.log(`${kept.raw} ${seq} ${kept.minutely} ${kept.hourly} ${examined.raw} ${examined.minutely} ${examined.hourly}`);
}
