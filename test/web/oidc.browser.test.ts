// OIDC login in a real browser: headless Chromium (Debian's, scripts/chromium-setup.sh),
// driven by playwright-core, opens the AuthURL of a waiting registration, is sent to a real
// oidc-provider on loopback, fills in its login and consent forms, and lands on our callback
// page; the registration completes for that user. A user outside allowed_domains gets our
// refusal page, and neither a node nor a user is written. Requests that would leave the
// machine (the provider's page imports a web font) are aborted.
// Skipped without SWITCHBOARD_CHROMIUM (npm test sets it), except under CI=true, where the
// browser is required.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TailscaleClient } from '../../src/client/client.js';
import { oidcConfig, startProvider, type Account, type TestProvider } from '../helpers/oidc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? '';

const ACCOUNTS: Record<string, Account> = {
  alice: { email: 'alice@corp.example', email_verified: true, preferred_username: 'alice', name: 'Alice Liddell', groups: ['eng'] },
  mallory: { email: 'mallory@elsewhere.example', email_verified: true, preferred_username: 'mallory', name: 'Mallory', groups: ['eng'] },
};

/** A port free right now, so server_url (and the provider's redirect URI) can name it before the server starts. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((res) => s.close(res));
  return port;
}

if (CHROMIUM === '' && process.env.CI === 'true') {
  test('the OIDC browser test needs Chromium under CI', () => {
    assert.fail('SWITCHBOARD_CHROMIUM is unset; scripts/test.sh sets it from scripts/chromium-setup.sh');
  });
} else if (CHROMIUM === '') {
  console.log('test/web/oidc.browser.test: skipped, SWITCHBOARD_CHROMIUM is unset (npm test sets it; SWITCHBOARD_SKIP_BROWSER=1 leaves it out)');
}

describe('OIDC login in headless Chromium', { skip: CHROMIUM === '' }, () => {
  let idp: TestProvider;
  let srv: TestServer;
  let browser: Browser;
  const clients: TailscaleClient[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-browser-'));

  beforeAll(async () => {
    const port = await freePort();
    const serverUrl = `http://127.0.0.1:${port}`;
    idp = await startProvider(`${serverUrl}/oidc/callback`, ACCOUNTS);
    srv = await startTestServer(
      { type: 'sqlite', path: path.join(dir, 'db.sqlite') },
      (c) => {
        oidcConfig(idp.issuer, { allowed_domains: ['corp.example'] })(c);
        c.listen_addr = `127.0.0.1:${port}`;
        c.server_url = serverUrl;
      },
      dir,
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    for (const c of clients) c.close();
    await srv?.stop();
    await idp?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh browser profile that reaches loopback only; the status of our callback's answer is recorded. */
  async function newPage(): Promise<{ page: Page; callbackStatus: () => number | undefined }> {
    const context = await browser.newContext();
    await context.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === '127.0.0.1' ? route.continue() : route.abort();
    });
    const page = await context.newPage();
    let status: number | undefined;
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/oidc/callback') status = r.status();
    });
    return { page, callbackStatus: () => status };
  }

  async function signInAt(page: Page, authUrl: string, account: string): Promise<void> {
    await page.goto(authUrl);
    // We redirected to the provider: its login form, then its consent form.
    assert.equal(new URL(page.url()).origin, idp.issuer, `at the provider, not ${page.url()}`);
    await page.fill('input[name="login"]', account);
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.pathname === '/oidc/callback');
  }

  async function pending(hostname: string): Promise<{ c: TailscaleClient; authUrl: string }> {
    const c = new TailscaleClient({ serverUrl: srv.url, hostname });
    clients.push(c);
    const r = await c.register();
    assert.equal(r.MachineAuthorized, false);
    assert.match(r.AuthURL, new RegExp(`^${srv.url}/register/hskey-authreq-[0-9a-f]{24}$`));
    return { c, authUrl: r.AuthURL };
  }

  test('sign in at the provider, land on our page, and the waiting registration completes', async () => {
    const { c, authUrl } = await pending('alice-laptop');
    const waiting = c.register({ followup: authUrl });
    const { page, callbackStatus } = await newPage();
    await signInAt(page, authUrl, 'alice');
    assert.equal(callbackStatus(), 200);
    assert.equal(await page.textContent('h1'), 'Machine registered');
    assert.match((await page.textContent('body'))!, /alice-laptop is now on the tailnet as user alice/);
    assert.equal((await waiting).MachineAuthorized, true, 'the waiting follow-up learned the outcome');
    const node = srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
    assert.equal(node.registerMethod, 'oidc');
    assert.equal(srv.server.tailnet.user(node.userId!)!.name, 'alice');
    assert.equal(srv.server.tailnet.user(node.userId!)!.providerId, `${idp.issuer}/alice`);
    await page.context().close();
  });

  test('a user outside allowed_domains sees our refusal page; no node, no user', async () => {
    const { c, authUrl } = await pending('mallory-pc');
    const { page, callbackStatus } = await newPage();
    await signInAt(page, authUrl, 'mallory');
    assert.equal(callbackStatus(), 403);
    assert.equal(await page.textContent('h1'), 'Login refused');
    assert.match((await page.textContent('body'))!, /the email domain "elsewhere\.example" is not in oidc\.allowed_domains/);
    assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
    assert.equal(srv.server.tailnet.userByName('mallory'), undefined);
    // The registration is still waiting: someone allowed may yet complete it.
    assert.ok((await srv.server.webLogin.pending.get(/\/register\/(.+)$/.exec(authUrl)![1]!))?.verdict === null);
    await page.context().close();
  });
});
