// config_file.test.mjs - the config file as the binary reads it (--config / SENSORPIPE_CONFIG):
// every option of every command is known to the file's rules (src/core/config_names.c agrees with
// each command's --help), an unknown name is refused with its file and line, and the environment
// and flags override the file. No servers needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BIN } from '../lib/harness.mjs';

const COMMANDS = ['ingest', 'serve', 'sim', 'migrate', 'device', 'user', 'token'];

function run(args, env = {}) {
  return new Promise((resolve) => {
    const e = { ...process.env, ...env };
    for (const k of Object.keys(e)) if (k.startsWith('SENSORPIPE_') && !(k in env)) delete e[k];
    execFile(BIN, args, { env: e }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

async function conf(text) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sensorpipe-conf-'));
  const file = path.join(dir, 'sensorpipe.conf');
  await fs.writeFile(file, text);
  return file;
}

/** The option names of a command, from its --help. */
async function optionsOf(cmd) {
  const r = await run([cmd, '--help']);
  assert.equal(r.code, 0, r.stderr);
  return [...r.stdout.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]).filter((n) => n !== 'help' && n !== 'config');
}

test('every option of every command is a name the config file knows, for that command', async () => {
  for (const cmd of COMMANDS) {
    const names = await optionsOf(cmd);
    assert.ok(names.length >= 2, `${cmd} --help lists options`);
    // under [cmd], read by another command: each name must be known to cmd (config_names.c)
    const file = await conf(`[${cmd}]\n${names.map((n) => `${n} = x`).join('\n')}\n`);
    const other = cmd === 'migrate' ? 'serve' : 'migrate';
    const r = await run([other, '--help'], { SENSORPIPE_CONFIG: file });
    assert.equal(r.code, 0, `${cmd}'s options missing from src/core/config_names.c: ${r.stderr}`);
    // before any header, read by every command: known to someone, so never an error for the name
    const all = await conf(`${names.map((n) => `${n} = x`).join('\n')}\n`);
    for (const c of COMMANDS.filter((c) => c !== cmd)) {
      const r2 = await run([c, '--help'], { SENSORPIPE_CONFIG: all });
      assert.doesNotMatch(r2.stderr, /no command has a setting/, `${c} reading ${cmd}'s names`);
    }
  }
});

test('errors name the file and line; flags and the environment beat the file', async () => {
  const bad = await conf('mqtt-port = 1884\n\nnot-a-setting = 1\n');
  let r = await run(['sim', '--help'], { SENSORPIPE_CONFIG: bad });
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`${bad}:3: no command has a setting 'not-a-setting'`));
  r = await run(['sim', '--config', bad, '--help']);
  assert.equal(r.code, 2);
  r = await run(['device', 'list', '--config', '/nonexistent.conf']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nonexistent\.conf/);

  // sim --numbered without --rate is a usage error: the file's [sim] rate makes it valid, a flag undoes it
  const good = await conf('[sim]\nrate = 10\nnumbered = true\ncount = 1\nmqtt-port = 1\n[ingest]\nqos = 2\n');
  r = await run(['sim', '--config', good, '--rate', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--numbered needs load mode/);
  r = await run(['sim', '--config', good], { SENSORPIPE_RATE: '0' });
  assert.equal(r.code, 2, 'the environment beats the file');
  assert.match(r.stderr, /--numbered needs load mode/);
  // [ingest] qos = 2 is refused by ingest only
  r = await run(['ingest', '--config', good, '--db', 'host=/nonexistent']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /qos/);
});
