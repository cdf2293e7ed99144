// Temporary directories with real config files for the loader tests.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll as after } from 'vitest';

/** A fresh directory removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `text` to dir/name and returns the path. */
export function writeFile(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A minimal headscale-style file that loads cleanly; tests append or override keys. */
export const MINIMAL = `
server_url: https://hs.example.org
listen_addr: 0.0.0.0:8080
noise:
  private_key_path: noise.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
database:
  type: sqlite3
  sqlite:
    path: db.sqlite
dns:
  base_domain: tail.example.net
  nameservers:
    global: [1.1.1.1]
`;
