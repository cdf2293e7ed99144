// PostgreSQL options: headscale's ssl values and pool settings map onto node-postgres.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { describeTarget, poolConfig, sslFromOption } from '../../src/db/pg-config.js';
import { createStore } from '../../src/db/index.js';

test('ssl option: booleans and libpq sslmodes', () => {
  assert.equal(sslFromOption(undefined), false);
  assert.equal(sslFromOption(false), false);
  assert.equal(sslFromOption('disable'), false);
  assert.equal(sslFromOption('false'), false);
  assert.deepEqual(sslFromOption(true), { rejectUnauthorized: false });
  assert.deepEqual(sslFromOption('require'), { rejectUnauthorized: false });
  assert.deepEqual(sslFromOption('verify-full'), { rejectUnauthorized: true });
  assert.deepEqual(sslFromOption('Verify-CA'), { rejectUnauthorized: true });
  assert.throws(() => sslFromOption('prefer'), /unknown value "prefer"/);
});

test('pool config from fields or URL; maxOpenConns sets the pool size', () => {
  const c = poolConfig({ type: 'postgres', host: 'db', port: 5433, name: 'hs', user: 'u', pass: 'p', maxOpenConns: 3 });
  assert.deepEqual(c, { host: 'db', port: 5433, database: 'hs', user: 'u', password: 'p', ssl: false, max: 3 });
  assert.equal(poolConfig({ type: 'postgres', host: 'db', port: 5432, name: 'x', user: 'u', pass: 'p' }).max, 10);
  assert.deepEqual(poolConfig({ type: 'postgres', url: 'postgresql://u:p@h/d' }), { connectionString: 'postgresql://u:p@h/d', max: 10 });
});

test('describeTarget never shows the password', () => {
  assert.equal(describeTarget({ type: 'postgres', url: 'postgresql://u:secret@h:6000/d' }), 'h:6000/d');
  assert.equal(describeTarget({ type: 'postgres', host: 'h', port: 1, name: 'd', user: 'u', pass: 'secret' }), 'h:1/d');
});

test('an unreachable server is a clear error naming where', async () => {
  // Port 1 on loopback: nothing listens there.
  await assert.rejects(
    createStore({ type: 'postgres', host: '127.0.0.1', port: 1, name: 'nope', user: 'u', pass: 'secret' }),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nope/);
      assert.ok(!e.message.includes('secret'));
      return true;
    },
  );
});

test('conn_max_idle_time_secs closes idle pool connections after that long; 0 never', () => {
  const base = { type: 'postgres' as const, host: 'h', port: 1, name: 'd', user: 'u', pass: 'p' };
  assert.equal(poolConfig({ ...base, connMaxIdleTimeSecs: 60 }).idleTimeoutMillis, 60_000);
  assert.equal(poolConfig({ ...base, connMaxIdleTimeSecs: 0 }).idleTimeoutMillis, 0);
  assert.equal(poolConfig({ type: 'postgres', url: 'postgresql://x/y', connMaxIdleTimeSecs: 5 }).idleTimeoutMillis, 5000);
});
