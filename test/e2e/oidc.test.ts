// The stock client through OIDC: `tailscale up --login-server URL` without a key prints the
// AuthURL; a browser (the fetch browser of test/helpers/oidc.ts, run inside the tailnet's
// namespace) opens it, signs in at a real oidc-provider, and comes back; the waiting
// `tailscale up` finishes, the node is Running under the OIDC user in `switchboard nodes
// list`, and it reaches its peer. The provider runs in the namespace too, as the server's
// identity provider would on its network.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import type { Account } from '../helpers/oidc.js';
import { CLIENT_SECRET } from '../helpers/oidc.js';
import { skipOrFail, Tailnet, upInBackground, waitFor } from './harness.js';

const skip = skipOrFail();
const exec = promisify(execFile);
const IDP_SCRIPT = fileURLToPath(new URL('./oidc-idp.js', import.meta.url));
const BROWSER_SCRIPT = fileURLToPath(new URL('./oidc-browser.js', import.meta.url));
const IDP_PORT = 9400;
const ISSUER = `http://127.0.0.1:${IDP_PORT}`;

const ACCOUNTS: Record<string, Account> = {
  erin: { email: 'erin@corp.example', email_verified: true, preferred_username: 'erin', name: 'Erin Ito', groups: ['eng'] },
  mallory: { email: 'mallory@elsewhere.example', email_verified: true, preferred_username: 'mallory', name: 'Mallory', groups: [] },
};

/** A tailnet whose server signs people in at an oidc-provider started in the same namespace first. */
class OidcTailnet extends Tailnet {
  private idp: ReturnType<Tailnet['spawnInNs']> | null = null;

  constructor() {
    super({
      config: {
        oidc: {
          issuer: ISSUER,
          client_id: 'switchboard',
          client_secret: CLIENT_SECRET,
          scope: ['openid', 'profile', 'email', 'groups'],
          allowed_domains: ['corp.example'],
          pkce: { enabled: true, method: 'S256' },
        },
      },
    });
  }

  override async startServer(): Promise<void> {
    if (!this.idp) {
      const idp = this.spawnInNs('idp', process.execPath, [IDP_SCRIPT, String(IDP_PORT), `${this.url}/oidc/callback`, JSON.stringify(ACCOUNTS)]);
      this.idp = idp;
      await waitFor('the identity provider to listen', async () => {
        if (!idp.running) throw new Error(`the provider exited:\n${idp.log()}`);
        return idp.log().includes('idp: ready');
      }, 20_000);
    }
    await super.startServer();
  }

  /** Signs in as `account` from inside the namespace; our server's last answer. */
  async browse(authUrl: string, account: string): Promise<{ status: number; body: string }> {
    const { stdout } = await exec('ip', ['netns', 'exec', this.ns, process.execPath, BROWSER_SCRIPT, authUrl, account], { timeout: 30_000 });
    return JSON.parse(stdout) as { status: number; body: string };
  }

  override async stop(): Promise<void> {
    await this.idp?.stop().catch(() => {});
    await super.stop();
  }
}

const AUTH_URL = /(http:\/\/127\.0\.0\.1:8080\/register\/hskey-authreq-[0-9a-f]{24})/;

describe('stock client: OIDC login', { skip }, () => {
  const tn = new OidcTailnet();

  before(async () => {
    await tn.start();
  });
  after(async () => {
    await tn.stop();
  });

  test('tailscale up prints the AuthURL; signing in at the provider brings the node up under the OIDC user', async () => {
    const a = await tn.node('alpha', { user: 'ops' });
    const b = await tn.daemon('bravo');
    const up = upInBackground(b, tn.url, ['--hostname=bravo']);
    const [, url] = await waitFor('the AuthURL from tailscale up', async () => AUTH_URL.exec(up.output()), 40_000);
    assert.equal((await b.status()).BackendState, 'NeedsLogin');

    const page = await tn.browse(url!, 'erin');
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /bravo is now on the tailnet as user erin/);
    assert.equal(await up.done, 0, `tailscale up exits 0 once signed in\n${up.output()}`);

    assert.equal((await b.status()).BackendState, 'Running');
    const node = (await tn.nodes()).find((n: { givenName: string }) => n.givenName === 'bravo');
    assert.equal(node.user.name, 'erin', 'switchboard nodes list shows the node under the OIDC user');
    assert.equal(node.registerMethod, 'REGISTER_METHOD_OIDC');
    const erin = (await tn.cliJson(['users', 'list'])).find((u: { name: string }) => u.name === 'erin');
    assert.equal(erin.provider, 'oidc');
    assert.equal(erin.email, 'erin@corp.example');
    await waitFor('alpha online at bravo', async () => (await b.peer('alpha'))?.Online);
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online);
    assert.match(await b.tsOk(['ping', '-c', '10', 'alpha'], 40_000), /pong from alpha/);
    assert.match(await a.tsOk(['ping', '-c', '10', 'bravo'], 40_000), /pong from bravo/);
  });

  test('a user the provider knows but oidc.allowed_domains does not is refused; tailscale up keeps waiting, no node', async () => {
    const c = await tn.daemon('charlie');
    const up = upInBackground(c, tn.url, ['--hostname=charlie']);
    const [, url] = await waitFor('the AuthURL for charlie', async () => AUTH_URL.exec(up.output()), 40_000);
    const page = await tn.browse(url!, 'mallory');
    assert.equal(page.status, 403);
    assert.match(page.body, /elsewhere\.example&quot; is not in oidc\.allowed_domains/);
    // The registration stays open (someone allowed may still sign in): the client waits on.
    const ended = await Promise.race([up.done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2000))]);
    assert.equal(ended, false, `tailscale up is still waiting\n${up.output()}`);
    assert.equal((await c.status()).BackendState, 'NeedsLogin');
    assert.ok(!(await tn.nodes()).some((n: { givenName: string }) => n.givenName === 'charlie'));
    assert.ok(!(await tn.cliJson(['users', 'list'])).some((u: { name: string }) => u.name === 'mallory'));
  });
});
