#!/usr/bin/env node
// `npm start`: build only when the server's sources changed since the last successful build,
// then run `switchboard serve` with the arguments given (npm start -- -c config.yaml).
// A stamp written after a build that succeeded marks the compiled tree as current; a failed
// build writes none, so the next start builds (and shows the errors) again.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.start-stamp');
// What `serve` runs from: the server's sources, Prisma's schema and the build's own settings.
const inputs = ['src', 'bin', 'prisma/schema.prisma', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/prisma-generate.mjs'];

function newestMtime(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const e of fs.readdirSync(p)) {
    // Prisma's generated client is an output of the build, not an input.
    if (e === 'generated' && p.endsWith(path.join('src', 'db'))) continue;
    max = Math.max(max, newestMtime(path.join(p, e)));
  }
  return max;
}

function upToDate() {
  let built;
  try {
    built = fs.statSync(stamp).mtimeMs;
  } catch {
    return false;
  }
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'))) return false;
  return inputs.every((i) => newestMtime(path.join(root, i)) <= built);
}

if (!upToDate()) {
  console.error('start: sources changed since the last build; building…');
  fs.rmSync(stamp, { force: true });
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  fs.writeFileSync(stamp, new Date().toISOString() + '\n');
}

// In this process, so signals (SIGTERM from a supervisor, SIGHUP) reach the server itself.
const bin = path.join(root, 'bin', 'switchboard.js');
process.argv = [process.argv[0], bin, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(bin).href);
