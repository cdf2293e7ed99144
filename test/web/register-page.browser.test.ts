// The web-login page in a real browser: headless Chromium (scripts/chromium-setup.sh) loads
// /register/<id>, the DOM it builds names the machine and the approve command, a hostile
// hostname stays text, and a screenshot renders. Skipped without SWITCHBOARD_CHROMIUM
// (npm test sets it; SWITCHBOARD_SKIP_BROWSER=1 turns the browser tests off).

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { useServer } from '../helpers/fixture.js';

const run = promisify(execFile);
const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? '';

async function chromium(args: string[]): Promise<string> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-chromium-'));
  try {
    const { stdout } = await run(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${profile}`, ...args],
      { timeout: 60_000, maxBuffer: 8 << 20 },
    );
    return stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

describe('the web-login page in headless Chromium', { skip: CHROMIUM === '' }, () => {
  const f = useServer();

  test('renders the machine, its key and the exact command; a hostile hostname stays text', async () => {
    const c = f.client('<img src=x onerror=alert(1)>');
    const r = await c.register();
    const id = /\/register\/([^/]+)$/.exec(r.AuthURL)![1]!;
    const url = `${f.url}/register/${id}`;
    const dom = await chromium(['--dump-dom', url]);
    assert.ok(dom.includes(c.machineKey), 'the machine key is on the page');
    assert.ok(dom.includes(`switchboard auth register --user &lt;USER&gt; --auth-id ${id}`), 'the approve command is on the page');
    assert.ok(dom.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the hostname is shown as text');
    assert.doesNotMatch(dom, /<img/i, 'no element came from the hostname');
    const shot = path.join(f.dir, 'register.png');
    await chromium([`--screenshot=${shot}`, '--window-size=1000,700', url]);
    const png = fs.readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.ok(png.length > 5000, `a rendered page, not a blank one (${png.length} bytes)`);
  });
});
