// pg_roles.test.mjs - least privilege in PostgreSQL (docs/SECURITY.md, "PostgreSQL: least privilege"):
// what scripts/pg.sh's authentication refuses, what the roles of db/006 may and may not do, the
// upkeep and rollups that run as the owner whoever triggers them (SECURITY DEFINER), and a
// pipeline whose ingest and serve log in as their roles with password files.
//
// Needs the cluster of scripts/test.sh (scripts/pg.sh: PGHOST is its directory, which holds the
// socket and postgres.password). The roles are cluster-wide: this file sets their passwords
// (scripts/pg.sh role-password) to new random ones in a temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  MQTT_PORT, PG_PASSWORD_FILE, ROOT, createDatabase, dsnFor, freePort, psql, publish, spawnSensorpipe, waitFor, wsConnect,
} from '../lib/harness.mjs';

const execFileP = promisify(execFile);
const PGHOST = process.env.PGHOST;
const PGPORT = Number(process.env.PGPORT || 5432);
const ROLES = ['sensorpipe_ingest', 'sensorpipe_serve'];

let dir;
let db; // one migrated database for the privilege tests
const passwordFile = {}; // role -> file
const password = {}; // role -> its text (to prove it is never printed)
let timescale = false;

before(async () => {
  db = await createDatabase('roles'); // migrated as postgres: db/006 makes the roles if missing
  timescale = (await psql(db.dsn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")) === '1';
  dir = await mkdtemp(path.join(os.tmpdir(), 'sensorpipe-roles-'));
  for (const role of ROLES) {
    passwordFile[role] = path.join(dir, `${role}.password`);
    // the setup script makes the file (random, 0600) and sets the role's password from it
    await execFileP(path.join(ROOT, 'scripts/pg.sh'), ['role-password', PGHOST, role, passwordFile[role]]);
    password[role] = (await readFile(passwordFile[role], 'utf8')).trim();
  }
  password.postgres = (await readFile(PG_PASSWORD_FILE, 'utf8')).trim();
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A node-postgres client over TCP as role (password: the role's, unless given). Connected. */
async function tcpClient(role, database = db.name, pass = password[role]) {
  const c = new pg.Client({ host: '127.0.0.1', port: PGPORT, user: role, database, password: pass });
  await c.connect();
  return c;
}

/** Run sql as role; resolves with the result or rejects with the server's error (its .code is the SQLSTATE). */
async function as(role, sql, params) {
  const c = await tcpClient(role);
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** The SQLSTATE sql fails with as role (assert.fail when it succeeds). */
async function refused(role, sql) {
  try {
    await as(role, sql);
  } catch (e) {
    return e.code;
  }
  assert.fail(`${role} was allowed: ${sql}`);
}

const DENIED = '42501'; // insufficient_privilege: "permission denied for ..." and "must be owner of ..."

/** A libpq conninfo over TCP as role, for the daemons (their password comes from --db-password-file). */
const tcpDsn = (role, name) => `host=127.0.0.1 port=${PGPORT} user=${role} dbname=${name}`;

/** Assert that no output of these processes shows any of the passwords. */
function assertNoPassword(...procs) {
  for (const p of procs)
    for (const [role, pw] of Object.entries(password)) assert.ok(!p.output().includes(pw), `${p.name} printed the password of ${role}`);
}

test('authentication: no trust anywhere, TCP without a password or with a wrong one is refused', async () => {
  const rules = await psql(db.dsn, `SELECT string_agg(type || ':' || array_to_string(user_name, ',') || ':' || auth_method, ' ' ORDER BY line_number)
    FROM pg_hba_file_rules`);
  assert.equal(rules, 'local:postgres:peer local:all:scram-sha-256 host:all:scram-sha-256 host:all:scram-sha-256');
  for (const role of ['postgres', ...ROLES]) {
    // psql: no password given (none in the environment, no password file), never prompted
    const env = { ...process.env, PGPASSFILE: path.join(dir, 'none'), PGPASSWORD: '' };
    delete env.PGPASSWORD;
    const r = await execFileP('psql', ['-X', '-w', '-tAc', 'SELECT 1', '-d', tcpDsn(role, db.name)], { env }).then(
      () => null, (e) => e);
    assert.ok(r, `${role} logged in over TCP without a password`);
    assert.match(r.stderr, /no password supplied|password authentication failed/);
    await assert.rejects(tcpClient(role, db.name, 'not-the-password'), (e) => e.code === '28P01', `${role} with a wrong password`);
  }
  // the password files: readable by their owner only
  for (const f of [PG_PASSWORD_FILE, ...Object.values(passwordFile)]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
  // with them, each role gets in
  for (const role of ['postgres', ...ROLES]) {
    const r = await as(role, 'SELECT current_user AS u');
    assert.equal(r.rows[0].u, role);
  }
});

test('the ingest role appends readings, rejects and presence, and nothing else', async () => {
  const topic = 'roles/temperature/ing';
  await as('sensorpipe_ingest', `INSERT INTO readings (topic, value) VALUES ($1, 21.5)`, [topic]);
  await as('sensorpipe_ingest', `INSERT INTO rejects (topic, payload, reason) VALUES ('roles/x/y', 'abc'::bytea, 'test')`);
  const upsert = `INSERT INTO devices (device, online, updated_at) VALUES ('roles', $1, now())
    ON CONFLICT (device) DO UPDATE SET online = EXCLUDED.online, updated_at = EXCLUDED.updated_at
    WHERE devices.updated_at <= EXCLUDED.updated_at`;
  await as('sensorpipe_ingest', upsert, [true]);
  await as('sensorpipe_ingest', upsert, [false]);
  assert.equal(await psql(db.dsn, `SELECT value FROM readings WHERE topic = '${topic}'`), '21.5');
  assert.equal(await psql(db.dsn, `SELECT online FROM devices WHERE device = 'roles'`), 'f');
  if (!timescale) {
    // its role runs the rollups' catch-up (as the owner, db/011), which writes tables it may not write itself
    assert.ok(Number((await as('sensorpipe_ingest', 'SELECT sensorpipe_rollup_catch_up() AS n')).rows[0].n) >= 1);
    assert.equal(await psql(db.dsn, `SELECT sum(n) FROM readings_hourly WHERE topic = '${topic}'`), '1');
    assert.equal(await psql(db.dsn, `SELECT sum(n) FROM readings_minutely WHERE topic = '${topic}'`), '1');
  }
  for (const sql of [
    'DELETE FROM readings',
    'UPDATE readings SET value = 0',
    'TRUNCATE readings',
    'SELECT * FROM readings',
    'DELETE FROM rejects',
    'SELECT * FROM rejects',
    'DELETE FROM devices',
    'DROP TABLE readings',
    'DROP TABLE rejects',
    'DROP FUNCTION sensorpipe_maintain()',
    'ALTER TABLE readings ADD COLUMN x int',
    'CREATE TABLE roles_x (a int)',
    'CREATE TEMP TABLE roles_t (a int)',
    `INSERT INTO readings_hourly VALUES (now(), 'x', 1, 1, 1, 1)`,
    'DELETE FROM readings_hourly',
    `UPDATE sensorpipe_settings SET value = '1' WHERE key = 'retention_days'`,
    'SELECT sensorpipe_rollup_rebuild()',
    'SELECT sensorpipe_maintain_partitions()',
    'SELECT sensorpipe_secure()',
  ])
    assert.equal(await refused('sensorpipe_ingest', sql), DENIED, sql);
  assert.equal(await psql(db.dsn, `SELECT count(*) FROM readings WHERE topic = '${topic}'`), '1');
});

test('the serve role reads and LISTENs, and cannot write or run the upkeep', async () => {
  const c = await tcpClient('sensorpipe_serve');
  try {
    for (const t of ['readings', 'devices', 'sensorpipe_settings', 'readings_hourly', 'readings_minutely', 'schema_migrations',
      'sensorpipe_rollup_mark'])
      await c.query(`SELECT * FROM ${t} LIMIT 1`);
    await c.query('SELECT count(*) FROM rejects'); // what /metrics asks
    await c.query('SELECT payload, reason FROM rejects LIMIT 1'); // the device page's GET /api/rejects (db/008)
    await c.query('SELECT * FROM presence_history LIMIT 1'); // GET /api/presence
    const got = new Promise((resolve) => c.once('notification', resolve));
    await c.query('LISTEN new_reading');
    await psql(db.dsn, `INSERT INTO readings (topic, value) VALUES ('roles/temperature/srv', 1)`);
    const n = await got;
    assert.equal(JSON.parse(n.payload).count, 1);
  } finally {
    await c.end();
  }
  for (const sql of [
    `INSERT INTO readings (topic, value) VALUES ('roles/temperature/srv', 2)`,
    `INSERT INTO devices (device, online) VALUES ('srv', true)`,
    `INSERT INTO rejects (topic, payload, reason) VALUES ('a', 'b', 'c')`,
    `INSERT INTO presence_history (device, online, ts) VALUES ('a', true, now())`,
    'DELETE FROM readings',
    `UPDATE sensorpipe_settings SET value = '1'`,
    'DROP TABLE readings',
    'CREATE TABLE roles_y (a int)',
    'SELECT sensorpipe_maintain()',
    'SELECT sensorpipe_rollup_rebuild()',
    'SELECT sensorpipe_rollup_catch_up()',
    'UPDATE sensorpipe_rollup_mark SET last_id = 0',
  ])
    assert.equal(await refused('sensorpipe_serve', sql), DENIED, sql);
});

test('the upkeep and the rollups\' catch-up run as the owner: SECURITY DEFINER with a fixed search_path', async () => {
  const fns = await psql(db.dsn, `SELECT string_agg(proname || ':' || prosecdef || ':' || array_to_string(proconfig, ','), ' ' ORDER BY proname)
    FROM pg_proc WHERE proname IN ('sensorpipe_maintain', 'sensorpipe_rollup_catch_up', 'readings_hourly_add', 'readings_minutely_add')`);
  assert.equal(fns, 'readings_hourly_add:true:search_path=public, pg_temp readings_minutely_add:true:search_path=public, pg_temp '
    + 'sensorpipe_maintain:true:search_path=public, pg_temp sensorpipe_rollup_catch_up:true:search_path=public, pg_temp');
  // EXECUTE: the ingest may call the upkeep and the catch-up only; PUBLIC no function of ours
  assert.equal(await psql(db.dsn, `SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege('sensorpipe_ingest', p.oid, 'EXECUTE')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`),
  'sensorpipe_maintain,sensorpipe_rollup_catch_up');
});

test('upkeep called by the ingest role: partitions made ahead, old ones dropped by the retention', async (t) => {
  if (timescale) {
    // hypertable: chunks are TimescaleDB's; the upkeep is drop_chunks(), run as the owner
    const r = await as('sensorpipe_ingest', 'SELECT sensorpipe_maintain() AS m');
    assert.match(r.rows[0].m, /^timescaledb: dropped \d+ chunks/);
    t.diagnostic('TimescaleDB path: partition assertions skipped');
    return;
  }
  const d = await createDatabase('roles_upkeep');
  const day = (offset) => {
    const x = new Date(Date.now() + offset * 86400000);
    return x.toISOString().slice(0, 10);
  };
  const part = (offset) => `readings_${day(offset).replaceAll('-', '')}`;
  // as the owner: a partition 10 days old with a row (its rollups too), retention 3 days,
  // and the partition 7 days ahead gone
  await psql(d.dsn, `CREATE TABLE ${part(-10)} PARTITION OF readings FOR VALUES FROM ('${day(-10)}T00:00:00Z') TO ('${day(-9)}T00:00:00Z');
    INSERT INTO readings (ts, topic, value) VALUES ('${day(-10)}T12:00:00Z', 'old/temperature/a', 1);
    UPDATE sensorpipe_settings SET value = '3' WHERE key = 'retention_days';
    DROP TABLE ${part(7)}`);
  // the ingest's role runs the rollups' catch-up (as the owner: it may not write them itself)
  const ci = await tcpClient('sensorpipe_ingest', d.name);
  try {
    assert.equal((await ci.query('SELECT sensorpipe_rollup_catch_up() AS n')).rows[0].n, '1');
    await assert.rejects(ci.query('UPDATE sensorpipe_rollup_mark SET last_id = 0'), (e) => e.code === DENIED);
  } finally {
    await ci.end();
  }
  assert.equal(await psql(d.dsn, `SELECT sum(n) FROM readings_hourly WHERE topic = 'old/temperature/a'`), '1');
  const c = await tcpClient('sensorpipe_ingest', d.name);
  let summary;
  try {
    summary = (await c.query('SELECT sensorpipe_maintain() AS m')).rows[0].m;
  } finally {
    await c.end();
  }
  assert.match(summary, /partitions: 1 created, 1 dropped; rollup: 1 hourly rows deleted, 1 minutely rows deleted/);
  assert.equal(await psql(d.dsn, `SELECT to_regclass('${part(-10)}') IS NULL`), 't', 'the old partition is dropped');
  // the new partition belongs to the owner, like every other
  assert.equal(await psql(d.dsn, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = '${part(7)}'`), 'postgres');
  assert.equal(await psql(d.dsn, `SELECT count(*) FROM readings WHERE topic = 'old/temperature/a'`), '0');
  // the ingest still cannot drop a partition itself
  const c2 = await tcpClient('sensorpipe_ingest', d.name);
  try {
    await assert.rejects(c2.query(`DROP TABLE ${part(0)}`), (e) => e.code === DENIED);
  } finally {
    await c2.end();
  }
});

test('a pipeline whose ingest and serve log in as their roles with password files stores and serves a reading', async () => {
  const d = await createDatabase('roles_pipe');
  const httpPort = await freePort();
  const ingest = spawnSensorpipe(['ingest', '--db', tcpDsn('sensorpipe_ingest', d.name),
    '--db-password-file', passwordFile.sensorpipe_ingest, '--mqtt-port', String(MQTT_PORT),
    '--mqtt-client-id', `test-ingest-${d.name}`, '--clean-session', '--retention-days', '30'], { name: 'ingest-role' });
  const serve = spawnSensorpipe(['serve', '--db', tcpDsn('sensorpipe_serve', d.name),
    '--db-password-file', passwordFile.sensorpipe_serve, '--listen', `127.0.0.1:${httpPort}`], { name: 'serve-role' });
  try {
    await ingest.waitForOutput(/subscribed/i);
    // not the owner: no migration, an info line; the retention is the owner's to set
    await ingest.waitForOutput(/connected as sensorpipe_ingest, not as the schema's owner postgres: migrations skipped/);
    await ingest.waitForOutput(/--retention-days 30 not stored/);
    await ingest.waitForOutput(/maintenance: partitions/);
    assert.equal(await psql(d.dsn, `SELECT value FROM sensorpipe_settings WHERE key = 'retention_days'`), '0');
    const url = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => (await fetch(`${url}/healthz`)).status === 200, { message: `serve as its role to answer /healthz\n${serve.output()}` });
    assert.match(serve.output(), /connected as sensorpipe_serve, not as the schema's owner postgres: migrations skipped/);
    const ws = await wsConnect(`ws://127.0.0.1:${httpPort}/ws?history=0&topic=rolepipe/%23`);
    await ws.next((m) => m.type === 'history', { message: 'the history frame' });

    await publish('rolepipe/temperature/dht22', '22.25', { qos: 1 });
    await publish('rolepipe/status', 'online', { qos: 1 });
    await publish('rolepipe/temperature/bad', 'not a number', { qos: 1 });
    const m = await ws.next((x) => x.type === 'reading' || x.type === 'readings', { message: 'the reading over the live tail' });
    const row = m.type === 'reading' ? m.data : m.data[0];
    assert.deepEqual([row.topic, row.value], ['rolepipe/temperature/dht22', 22.25]);
    await ws.close();
    await waitFor(async () => (await psql(d.dsn, `SELECT count(*) FROM rejects WHERE topic = 'rolepipe/temperature/bad'`)) === '1'
      && (await psql(d.dsn, `SELECT online FROM devices WHERE device = 'rolepipe'`)) === 't', { message: 'the reject and the presence row' });
    const topics = await (await fetch(`${url}/api/topics`)).json();
    const t = topics.topics.find((x) => x.topic === 'rolepipe/temperature/dht22');
    assert.equal(t?.value, 22.25);
    const from = new Date(Date.now() - 3600e3).toISOString();
    const to = new Date(Date.now() + 3600e3).toISOString();
    const buckets = await (await fetch(`${url}/api/readings?topic=rolepipe/temperature/dht22&from=${from}&to=${to}&bucket=1h`)).json();
    assert.equal(JSON.stringify(buckets).includes('22.25'), true, `bucketed answer: ${JSON.stringify(buckets)}`);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /sensorpipe/);
  } finally {
    assert.equal(await serve.stop(), 0);
    assert.equal(await ingest.stop(), 0);
  }
  assertNoPassword(ingest, serve);
});

test('as a role, a missing or older schema is refused clearly, and `sensorpipe migrate` refuses to run', async () => {
  const name = `roles_empty_${process.pid}_${Date.now()}`;
  await psql(dsnFor('postgres'), `CREATE DATABASE ${name}`);
  const port = await freePort();
  const serveArgs = (n) => ['serve', '--db', tcpDsn('sensorpipe_serve', n), '--db-password-file', passwordFile.sensorpipe_serve,
    '--listen', `127.0.0.1:${port}`];
  let serve = spawnSensorpipe(serveArgs(name), { name: 'serve-empty' });
  assert.equal(await serve.exited, 1);
  assert.match(serve.output(), /the database has no sensorpipe schema .*run `sensorpipe migrate` as its owner/);

  const ingest = spawnSensorpipe(['ingest', '--db', tcpDsn('sensorpipe_ingest', name), '--db-password-file',
    passwordFile.sensorpipe_ingest, '--mqtt-port', String(MQTT_PORT), '--mqtt-client-id', `test-ingest-${name}`, '--clean-session'],
  { name: 'ingest-empty' });
  try {
    await ingest.waitForOutput(/the database has no sensorpipe schema/);
  } finally {
    await ingest.stop();
  }

  const mig = spawnSensorpipe(['migrate', '--db', tcpDsn('sensorpipe_ingest', name), '--db-password-file', passwordFile.sensorpipe_ingest],
    { name: 'migrate-as-ingest' });
  assert.equal(await mig.exited, 1);
  assert.match(mig.output(), /connected as sensorpipe_ingest: only the schema's owner \(postgres\) or a superuser migrates/);
  assert.equal(await psql(dsnFor(name), `SELECT to_regclass('schema_migrations') IS NULL`), 't');

  // migrated by the owner, then one version taken back: older than the binary
  const d = await createDatabase('roles_old');
  const newest = await psql(d.dsn, 'SELECT max(version) FROM schema_migrations');
  await psql(d.dsn, `DELETE FROM schema_migrations WHERE version = ${newest}`);
  serve = spawnSensorpipe(serveArgs(d.name), { name: 'serve-old' });
  assert.equal(await serve.exited, 1);
  assert.match(serve.output(), new RegExp(`the schema is at version \\d+ and this binary needs ${newest}: run \`sensorpipe migrate\``));
  assertNoPassword(serve, ingest, mig);
});
