// The PostgreSQL schema is a derived copy: it must match what the generator derives now.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('prisma/postgres/schema.prisma is up to date with prisma/schema.prisma', () => {
  const r = spawnSync(process.execPath, ['scripts/prisma-generate.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
