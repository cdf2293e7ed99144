// Loading the configuration: defaults, then the file (YAML or JSON, headscale's layout),
// then SWITCHBOARD_* / HEADSCALE_* environment variables, then validation.
//
// Relative paths: like headscale, the noise and DERP keys, the SQLite file, the policy file
// and TLS files resolve against the directory of the config file; so does unix_socket (headscale
// hands it to the OS as written, but then the CLI, run from another folder, could not find
// it); derp.paths resolve against the working directory. Without a file the state lives
// under ./data of the working directory, and the socket at ~/.switchboard/switchboard.sock
// so the CLI finds it from anywhere. A leading ~/ is the home directory.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isScalar, type Document } from 'yaml';
import { parseDuration } from '../util/duration.js';
import { coerce, fromEnvText } from './coerce.js';
import { ConfigError } from './errors.js';
import { findConfigFile } from './find.js';
import { migrateLegacyKeys } from './legacy.js';
import { checkAliases, MAX_EXPANDED_VALUES } from './yaml-aliases.js';
import { SCHEMA, defaultFor, leaves, type Leaf, type Section } from './schema.js';
import type { Config, DefaultsMode, LoadedConfig } from './types.js';
import { validateConfig } from './validate.js';

export { ConfigError } from './errors.js';
export type { Config, LoadedConfig, DefaultsMode } from './types.js';

export interface LoadConfigOptions {
  /** Config file; else $SWITCHBOARD_CONFIG, else $HEADSCALE_CONFIG, else (with `search`) the
   * first config.yaml of find.ts's folders, else built-in defaults only. */
  path?: string;
  /** Look for a config file in the usual folders when none is named (serve and the CLI do). */
  search?: boolean;
  /** Replaces /etc/switchboard and /etc/headscale in the search (tests). */
  systemDirs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** For ~/ in paths and the search; default the user's home directory. */
  home?: string;
  /** 'dev' (default without a file): runnable as is, data under ./data. 'headscale' (default
   * with a file): headscale's own defaults, so a file means the same as it does there. */
  defaults?: DefaultsMode;
}

/** Where each explicitly set key came from ("config.yaml:12" or "from SWITCHBOARD_X"). */
export type Origins = Map<string, string>;

interface FileSource {
  raw: Record<string, unknown>;
  doc: Document;
  lines: LineCounter;
  file: string;
}

const ENV_PREFIXES = ['SWITCHBOARD_', 'HEADSCALE_'] as const;

export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = resolve(opts.cwd ?? process.cwd());
  const home = opts.home ?? homedir();
  const named = opts.path ?? env['SWITCHBOARD_CONFIG'] ?? env['HEADSCALE_CONFIG'];
  const file = opts.search
    ? findConfigFile({ explicit: opts.path, env, cwd, home, systemDirs: opts.systemDirs })
    : named
      ? resolve(cwd, named)
      : null;
  const mode: DefaultsMode = opts.defaults ?? (file ? 'headscale' : 'dev');

  const warnings: string[] = [];
  const values = new Map<string, unknown>();
  const origins: Origins = new Map();

  if (file) {
    const src = readConfigFile(file, warnings);
    warnings.push(...migrateLegacyKeys(src.raw));
    walk(src.raw, SCHEMA, [], src, values, origins, warnings);
  }
  applyEnv(env, values, origins, warnings);

  const config = build(values, mode, cwd, file ? dirname(file) : cwd, home);
  validateConfig(config, { origins, warnings });
  return { config, warnings, path: file };
}

function readConfigFile(file: string, warnings: string[]): FileSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, code === 'ENOENT' ? 'config file not found' : `cannot read config file: ${(e as Error).message}`);
  }
  const lines = new LineCounter();
  // JSON is YAML too, so one parser serves headscale's config.yaml and config.json.
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = err.linePos?.[0];
    const problem = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(file, problem, pos ? `line ${pos.line}` : undefined);
  }
  for (const w of doc.warnings) warnings.push(`${file}: ${w.message.split('\n')[0]}`);
  checkAliases(doc, lines, file);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_EXPANDED_VALUES });
  } catch (e) {
    // checkAliases should have caught it; whatever is left is still the file's fault.
    throw new ConfigError(file, `cannot read the YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) return { raw: {}, doc, lines, file };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, 'expected a mapping of keys at the top level');
  return { raw: raw as Record<string, unknown>, doc, lines, file };
}

/** "file:line" of the value at `path`, plus its text as written (for scalars). */
function locate(src: FileSource, path: string[]): { where: string; source?: string } {
  const node = src.doc.getIn(path, true) as { range?: [number, number, number]; source?: string } | undefined;
  if (!node || !node.range) return { where: src.file };
  const line = src.lines.linePos(node.range[0]).line;
  return { where: `${src.file}:${line}`, source: isScalar(node) && typeof node.source === 'string' ? node.source : undefined };
}

function walk(
  raw: Record<string, unknown>,
  section: Section,
  prefix: string[],
  src: FileSource,
  values: Map<string, unknown>,
  origins: Origins,
  warnings: string[],
): void {
  for (const [k, v] of Object.entries(raw)) {
    const path = [...prefix, k];
    const key = path.join('.');
    const child = section.children[k];
    if (!child) {
      warnings.push(`unknown key ${key} (ignored) at ${locate(src, path).where}`);
      continue;
    }
    if (child.kind === 'ignored') {
      warnings.push(`${key}: ${child.why} (ignored)`);
      continue;
    }
    if (child.kind === 'section') {
      if (v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v)) {
        throw new ConfigError(key, `expected a mapping of keys, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`, locate(src, path).where);
      }
      walk(v as Record<string, unknown>, child, path, src, values, origins, warnings);
      continue;
    }
    const { where, source } = locate(src, path);
    const value = coerce(v, child, key, where, source);
    if (value !== undefined) {
      values.set(key, value);
      origins.set(key, where);
    }
  }
}

/** SWITCHBOARD_<PATH> and HEADSCALE_<PATH> for every known key; SWITCHBOARD_ wins. */
export function envNamesFor(path: string[]): string[] {
  const tail = path.join('_').toUpperCase();
  return ENV_PREFIXES.map((p) => p + tail);
}

function applyEnv(env: NodeJS.ProcessEnv, values: Map<string, unknown>, origins: Origins, warnings: string[]): void {
  const known = new Set<string>(['SWITCHBOARD_CONFIG']);
  for (const { path, leaf } of leaves()) {
    const names = envNamesFor(path);
    names.forEach((n) => known.add(n));
    const name = names.find((n) => env[n] !== undefined);
    if (!name) continue;
    const key = path.join('.');
    const where = `from ${name}`;
    const value = coerce(fromEnvText(env[name]!, leaf, name), leaf, key, where);
    if (value !== undefined) {
      values.set(key, value);
      origins.set(key, where);
    }
  }
  // Only names that start like a known section are likely typos of ours; other
  // SWITCHBOARD_* variables may belong to other parts of the program.
  // Ignored headscale sections (e.g. cli) are left out: SWITCHBOARD_CLI_* belongs to our CLI.
  const sections = Object.entries(SCHEMA.children)
    .filter(([, node]) => node.kind === 'section')
    .map(([k]) => `SWITCHBOARD_${k.toUpperCase()}_`);
  for (const name of Object.keys(env)) {
    if (known.has(name) || !sections.some((s) => name.startsWith(s))) continue;
    warnings.push(`unknown environment variable ${name} (ignored)`);
  }
}

function build(values: Map<string, unknown>, mode: DefaultsMode, cwd: string, configDir: string, home: string): Config {
  const out: Record<string, unknown> = {};
  for (const { path, leaf } of leaves()) {
    const key = path.join('.');
    let v = values.has(key) ? values.get(key) : defaultFor(leaf, mode);
    v = finish(v, leaf, key, cwd, configDir, home, values.has(key));
    let cur = out;
    for (const k of path.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
    const last = path[path.length - 1]!;
    cur[last] = v;
    if (leaf.kind === 'duration') cur[`${last}_ms`] = parseDuration(v as string);
  }
  return out as unknown as Config;
}

function finish(v: unknown, leaf: Leaf, key: string, cwd: string, configDir: string, home: string, explicit: boolean): unknown {
  if (leaf.kind === 'path' && typeof v === 'string' && (v === '~' || v.startsWith('~/'))) return resolve(home, v.slice(2));
  if (leaf.kind === 'path' && typeof v === 'string' && v !== '' && !isAbsolute(v)) {
    // Built-in defaults (./data/...) always live under the working directory.
    return resolve(explicit && leaf.base === 'config' ? configDir : cwd, v);
  }
  if (key === 'derp.paths') return (v as string[]).map((p) => resolve(cwd, p));
  if (key === 'database.type' && v === 'sqlite3') return 'sqlite';
  return v;
}
