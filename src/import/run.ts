// `switchboard import headscale`: read headscale's database, map it, check it against the
// target's configuration and contents, print the plan, and (unless --dry-run, and only
// when nothing stands in the way) write it in one transaction. The noise key is copied
// after the database committed, so a failed import leaves the key file untouched too.

import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { createStore, type StoreOptions } from '../db/index.js';
import { parsePolicy, type Policy } from '../acl/index.js';
import { formatPrivate, parsePrivate } from '../noise/keys.js';
import { readHeadscale, type ImportPlan } from './map.js';
import { grantRequestedTags } from './requesttags.js';
import { openSource } from './source.js';
import { inspectTarget, type TargetState } from './target.js';

export interface ImportOptions {
  /** headscale's SQLite file, or a postgresql:// URL. */
  db: string;
  /** headscale's noise.private_key_path ("privkey:<hex>"). */
  noiseKey?: string;
  dryRun: boolean;
  replace: boolean;
  config: Config;
  /** The target database, from the config. */
  target: StoreOptions;
  /** The plan and the outcome. */
  out: (line: string) => void;
  /** Progress of long steps. */
  progress: (line: string) => void;
}

export interface ImportOutcome {
  plan: ImportPlan | null;
  problems: string[];
  written: boolean;
}

function readNoiseKey(file: string): Buffer {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`--noise-key: cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  try {
    return parsePrivate(raw.trim());
  } catch (err) {
    throw new Error(`--noise-key: ${file} does not hold headscale's "privkey:<64 hex>" key: ${(err as Error).message}`);
  }
}

/** Writes the key 0600 beside its final place, then renames: never a half-written key file. */
function writeNoiseKey(file: string, key: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.import-${process.pid}`;
  fs.writeFileSync(tmp, `${formatPrivate(key)}\n`, { mode: 0o600, flag: 'w' });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

function formatPlan(plan: ImportPlan, target: TargetState | null, noise: string | null): string[] {
  const lines = [
    `headscale database: ${plan.source}${plan.headscaleVersion ? ` (headscale ${plan.headscaleVersion})` : ''}, schema at migration ${plan.schema.newest}`,
    `target: ${target ? `${target.what}${target.fresh ? ' (new)' : Object.keys(target.held).length === 0 ? ' (empty)' : ''}` : '(not inspected)'}`,
    'to import:',
  ];
  const width = Math.max(...Object.keys(plan.counts).map((k) => k.length));
  for (const [k, n] of Object.entries(plan.counts)) lines.push(`  ${k.padEnd(width)}  ${n}`);
  lines.push(`  ${'policy'.padEnd(width)}  ${plan.policy ? `policies row ${plan.policy.id} (${plan.policy.text.length} characters)` : 'none in the database'}`);
  if (noise) lines.push(`  ${'noise key'.padEnd(width)}  ${noise}`);
  if (plan.notes.length > 0) {
    lines.push(`notes (${plan.notes.length}):`);
    for (const n of plan.notes) lines.push(`  - ${n}`);
  }
  return lines;
}

export async function importHeadscale(o: ImportOptions): Promise<ImportOutcome> {
  const problems: string[] = [];
  o.progress(`reading ${o.db.includes('://') ? 'the PostgreSQL database' : o.db}`);
  const source = await openSource(o.db);
  let plan: ImportPlan;
  try {
    plan = await readHeadscale(source, { prefixV4: o.config.prefixes.v4, prefixV6: o.config.prefixes.v6 });
  } finally {
    await source.close();
  }
  problems.push(...plan.problems);

  if (plan.policy && plan.policy.text.trim() === '') {
    plan.notes.push(`policies row ${plan.policy.id}: empty; not imported (no policy: every node may reach every other)`);
    plan.policy = null;
    plan.tailnet.settings = [];
  }
  let policy: Policy | null = null;
  if (plan.policy) {
    try {
      policy = parsePolicy(plan.policy.text);
    } catch (err) {
      problems.push(`policies row ${plan.policy.id}: ${(err as Error).message}`);
    }
    if (o.config.policy.mode !== 'database') {
      plan.notes.push('the config has policy.mode: file; the imported policy is stored but used only with policy.mode: database');
    }
  }

  if (problems.length === 0) {
    try {
      grantRequestedTags(plan, policy);
    } catch (err) {
      problems.push(`policies row ${plan.policy?.id ?? '?'}: checking requested tags: ${(err as Error).message}`);
    }
  }

  let noiseKey: Buffer | null = null;
  let noiseLine: string | null = null;
  if (o.noiseKey) {
    try {
      noiseKey = readNoiseKey(o.noiseKey);
      const dest = o.config.noise.private_key_path;
      let current: Buffer | null = null;
      try {
        current = parsePrivate(fs.readFileSync(dest, 'utf8').trim());
      } catch {
        // No key yet (or an unreadable one, which the copy replaces).
      }
      noiseLine = current?.equals(noiseKey)
        ? `${dest} already holds it`
        : `copied to ${dest}${current ? ' (replacing the key there)' : ''}`;
    } catch (err) {
      problems.push((err as Error).message);
    }
  } else {
    plan.notes.push(
      'no --noise-key: this server keeps (or makes) its own key, which clients connected to headscale do not know; give --noise-key with headscale\'s noise.private_key_path so they reconnect unchanged',
    );
  }

  let target: TargetState | null = null;
  try {
    target = await inspectTarget(o.target);
    const held = Object.entries(target.held);
    if (held.length > 0 && !o.replace) {
      problems.push(
        `target ${target.what} is not empty (${held.map(([k, n]) => `${n} ${k}`).join(', ')}); --replace overwrites its users, nodes, keys and policy`,
      );
    }
  } catch (err) {
    problems.push(`target: ${(err as Error).message}`);
  }

  for (const line of formatPlan(plan, target, noiseLine)) o.out(line);
  if (problems.length > 0) {
    o.out(`problems (${problems.length}); nothing was imported:`);
    for (const p of problems) o.out(`  - ${p}`);
    return { plan, problems, written: false };
  }
  if (o.dryRun) {
    o.out('dry run: no problems; nothing was changed');
    return { plan, problems, written: false };
  }

  o.progress(`opening ${target?.what ?? 'the target database'}`);
  const store = await createStore(o.target);
  try {
    await store.migrate((m) => o.progress(m));
    await store.importTailnet(plan.tailnet, { replace: o.replace, progress: o.progress });
  } finally {
    await store.close();
  }
  if (noiseKey) writeNoiseKey(o.config.noise.private_key_path, noiseKey);
  o.out(
    `imported ${plan.counts['users']} users, ${plan.counts['nodes']} nodes, ${plan.counts['pre-auth keys']} pre-auth keys, ` +
      `${plan.counts['API keys']} API keys${plan.policy ? ' and the policy' : ''}; start the server with \`switchboard serve\``,
  );
  return { plan, problems, written: true };
}
