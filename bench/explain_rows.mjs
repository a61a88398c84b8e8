// bench/explain_rows.mjs - what each /api/readings bucket query read, from the plans auto_explain
// wrote to a PostgreSQL log (bench/history.sh turns auto_explain on for one serve).
//
//   node bench/explain_rows.mjs <postgres.log> <byte offset>
//
// Reads the log from the offset; for every logged plan of a bucket query (its text has
// date_bin($5::interval, ...)), in log order, prints one line:
//   <raw rows> <raw seq scans> <minutely rows> <hourly rows>
// raw rows: rows the scans of readings' partitions returned (actual rows x loops, after their
// filters); raw seq scans: sequential scans of a readings partition (a range read without its
// index); minutely/hourly rows: rows the scans of readings_minutely and readings_hourly returned.
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
  let raw = 0;
  let seq = 0;
  let minutely = 0;
  let hourly = 0;
  for (const line of e.split('\n')) {
    const m = SCAN.exec(line);
    if (!m) continue;
    const rows = Number(m[3]) * Number(m[4]);
    const rel = m[2];
    if (/^readings_(\d{8}|default)$/.test(rel)) {
      raw += rows;
      if (m[1] === 'Seq Scan') seq++;
    } else if (rel === 'readings_minutely') {
      minutely += rows;
    } else if (rel === 'readings_hourly') {
      hourly += rows;
    }
  }
  console.log(`${raw} ${seq} ${minutely} ${hourly}`);
}
