#!/usr/bin/env node
// Generates both Prisma clients (SQLite and PostgreSQL) offline, before tsc.
// prisma/schema.prisma is the source; prisma/postgres/schema.prisma is derived from it here
// (provider and output only) so the two can never drift. Skips all work when the schemas,
// the Prisma version and this script are unchanged since the last run.
//   node scripts/prisma-generate.mjs           generate if needed
//   node scripts/prisma-generate.mjs --check   exit 1 if the postgres copy is out of date
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'prisma/schema.prisma');
const pgSchema = path.join(root, 'prisma/postgres/schema.prisma');
const outDir = path.join(root, 'src/db/generated');
const stamp = path.join(outDir, '.schema-hash');

function derivePostgres(text) {
  const swaps = [
    [/provider\s*=\s*"sqlite"/, 'provider = "postgresql"'],
    [/output(\s*)=\s*"\.\.\/src\/db\/generated\/sqlite"/, 'output$1= "../../src/db/generated/postgres"'],
  ];
  let out = text;
  for (const [re, to] of swaps) {
    if (!re.test(out)) throw new Error(`prisma-generate: ${src} has no ${re} to turn into the PostgreSQL copy`);
    out = out.replace(re, to);
  }
  return '// GENERATED from ../schema.prisma by scripts/prisma-generate.mjs: do not edit.\n' + out;
}

const sqliteText = fs.readFileSync(src, 'utf8');
const pgText = derivePostgres(sqliteText);

if (process.argv.includes('--check')) {
  const have = fs.existsSync(pgSchema) ? fs.readFileSync(pgSchema, 'utf8') : '';
  if (have !== pgText) {
    console.error('prisma-generate: prisma/postgres/schema.prisma is out of date; run node scripts/prisma-generate.mjs');
    process.exit(1);
  }
  process.exit(0);
}

if (!fs.existsSync(pgSchema) || fs.readFileSync(pgSchema, 'utf8') !== pgText) {
  fs.mkdirSync(path.dirname(pgSchema), { recursive: true });
  fs.writeFileSync(pgSchema, pgText);
}

const prismaPkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/prisma/package.json'), 'utf8'));
const clientPkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/@prisma/client/package.json'), 'utf8'));
const hash = createHash('sha256')
  .update(sqliteText).update('\0').update(pgText).update('\0')
  .update(prismaPkg.version).update('\0').update(clientPkg.version).update('\0')
  .update(fs.readFileSync(fileURLToPath(import.meta.url)))
  .digest('hex');

const present = ['sqlite', 'postgres'].every((d) => fs.existsSync(path.join(outDir, d, 'client.ts')));
if (present && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === hash) process.exit(0);

function generate(schema) {
  const cli = path.join(root, 'node_modules/prisma/build/index.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'generate', '--schema', schema], {
      cwd: root,
      // The CLI only checks that a schema engine exists (generate never runs it) and would
      // otherwise try to download one; no network here. Also no update checks/telemetry.
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || '/bin/false',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`prisma generate --schema ${path.relative(root, schema)} failed (exit ${code}):\n${out}`)),
    );
  });
}

try {
  fs.rmSync(stamp, { force: true });
  await Promise.all([generate(src), generate(pgSchema)]);
  fs.writeFileSync(stamp, hash + '\n');
  console.error('prisma-generate: generated src/db/generated/{sqlite,postgres}');
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
