// The SQLite file itself: created with its folder, private (0600, also -wal/-shm), in WAL mode.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createStore } from '../../src/db/index.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-sqlite-'));
}

test('createStore makes the parent folders and a 0600 file in WAL mode', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'a', 'b', 'db.sqlite');
  const oldUmask = process.umask(0o022);
  try {
    const store = await createStore({ type: 'sqlite', path: file });
    try {
      await store.migrate();
      await store.createUser({ name: 'odin', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      for (const side of [`${file}-wal`, `${file}-shm`]) {
        assert.ok(fs.existsSync(side), `${side} exists while open (WAL)`);
        assert.equal(fs.statSync(side).mode & 0o777, 0o600, side);
      }
      const probe = new Database(file, { readonly: true });
      try {
        assert.equal(probe.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        probe.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    process.umask(oldUmask);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing world-readable file is tightened to 0600', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'db.sqlite');
  try {
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    const store = await createStore({ type: 'sqlite', path: file });
    await store.close();
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a path that cannot be a database gives an error naming it', async () => {
  const dir = tempDir();
  try {
    // A folder where the file should be.
    const file = path.join(dir, 'is-a-folder');
    fs.mkdirSync(file);
    await assert.rejects(createStore({ type: 'sqlite', path: file }), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.ok(e.message.includes(file), e.message);
      return true;
    });
    await assert.rejects(createStore({ type: 'sqlite', path: '' }), /path is empty/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('database.sqlite.write_ahead_log: false keeps the rollback journal (no -wal file after writes)', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'db.sqlite');
  try {
    const store = await createStore({ type: 'sqlite', path: file, writeAheadLog: false, walAutocheckpoint: 0 });
    await store.migrate();
    await store.createUser({ name: 'alice', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
    assert.equal(fs.existsSync(`${file}-wal`), false);
    await store.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'delete');
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
