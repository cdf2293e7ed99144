// Which config file is in use when none is named on the command line: the same places for
// `serve` and for the admin CLI, so both agree on the database and the unix socket.
// Order: -c, $SWITCHBOARD_CONFIG, $HEADSCALE_CONFIG, then config.yaml (or .yml / .json) in
// the working directory, ~/.switchboard, ~/.headscale, /etc/switchboard and /etc/headscale,
// the first that exists. headscale looks in its own folders (viper's search path), so an
// existing headscale install is found as it is.

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface FindOptions {
  /** -c/--config. */
  explicit?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Searched after the working directory and home (tests replace /etc). */
  systemDirs?: string[];
}

const NAMES = ['config.yaml', 'config.yml', 'config.json'];
export const SYSTEM_CONFIG_DIRS = ['/etc/switchboard', '/etc/headscale'];

/** The folders searched, in order, for README and --help. */
export function searchDirs(o: Pick<FindOptions, 'cwd' | 'home' | 'systemDirs'>): string[] {
  return [o.cwd, join(o.home, '.switchboard'), join(o.home, '.headscale'), ...(o.systemDirs ?? SYSTEM_CONFIG_DIRS)];
}

/** The config file to load, or null for built-in defaults only (the zero-setup case). */
export function findConfigFile(o: FindOptions): string | null {
  const named = o.explicit ?? nonEmpty(o.env['SWITCHBOARD_CONFIG']) ?? nonEmpty(o.env['HEADSCALE_CONFIG']);
  // A named file that is missing is an error for the loader to report, not a reason to search.
  if (named !== undefined) return resolve(o.cwd, named);
  for (const dir of searchDirs(o)) {
    for (const name of NAMES) {
      const p = join(dir, name);
      if (existsSync(p) && statSync(p).isFile()) return p;
    }
  }
  return null;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v !== '' ? v : undefined;
}
