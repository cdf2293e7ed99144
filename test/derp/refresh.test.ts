import { afterAll as after, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDerpMapRefresh } from '../../src/derp/map.js';
import { loadConfig } from '../../src/config/load.js';
import type { DERPMap } from '../../src/tailcfg/types.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-derp-refresh-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const mapFile = join(dir, 'derp.yaml');
const region = (code: string) => `regions:\n  900:\n    regioncode: ${code}\n    nodes:\n      - {name: a, hostname: h.example}\n`;
writeFileSync(mapFile, region('one'));

const { config } = loadConfig({ cwd: dir, env: { SWITCHBOARD_DERP_PATHS: mapFile } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Waits for a condition instead of a fixed time: on a loaded machine a 20 ms timer may fire late.
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('reports changed maps only, and stops cleanly', async () => {
  const updates: DERPMap[] = [];
  const stop = startDerpMapRefresh(config.derp, (m) => updates.push(m), { intervalMs: 20 });
  await until('the first map', () => updates.length >= 1);
  await sleep(100); // several more refreshes of an unchanged file
  assert.equal(updates.length, 1, 'an unchanged map is reported once');
  assert.equal(updates[0]!.Regions['900']!.RegionCode, 'one');
  writeFileSync(mapFile, region('two'));
  await until('the changed map', () => updates.length >= 2);
  assert.equal(updates.length, 2);
  assert.equal(updates[1]!.Regions['900']!.RegionCode, 'two');
  stop();
  writeFileSync(mapFile, region('three'));
  await sleep(70);
  assert.equal(updates.length, 2, 'no refresh after stop');
});

test('a broken file keeps the old map and reports the error', async () => {
  writeFileSync(mapFile, region('good'));
  const errors: unknown[] = [];
  const updates: DERPMap[] = [];
  const stop = startDerpMapRefresh(config.derp, (m) => updates.push(m), { intervalMs: 20, onError: (e) => errors.push(e) });
  await until('the first map', () => updates.length >= 1);
  writeFileSync(mapFile, 'regions: [');
  await until('the error', () => errors.length >= 1);
  stop();
  assert.equal(updates.length, 1);
  assert.ok(errors.length >= 1);
  assert.match(String(errors[0]), /derp\.yaml/);
});

test('disabled auto update, or no sources: no timer at all', () => {
  const updates: DERPMap[] = [];
  const stop1 = startDerpMapRefresh({ ...config.derp, auto_update_enabled: false }, (m) => updates.push(m), { intervalMs: 1 });
  const stop2 = startDerpMapRefresh({ ...config.derp, paths: [] }, (m) => updates.push(m), { intervalMs: 1 });
  stop1();
  stop2();
  assert.deepEqual(updates, []);
});
