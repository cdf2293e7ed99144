// A real OpenID provider for tests (oidc-provider on loopback, its development login and
// consent forms) and a tiny fetch-based browser that signs in through it: follows redirects
// by hand, keeps cookies, fills in the forms.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import type { Config } from '../../src/config/types.js';

export interface Account {
  email: string;
  email_verified: boolean;
  preferred_username: string;
  name: string;
  groups: string[];
}

export interface ProviderClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

export interface TestProvider {
  issuer: string;
  /** The provider itself, for minting tokens in bad-input tests. */
  provider: InstanceType<typeof Provider>;
  close(): Promise<void>;
}

/**
 * Starts a provider on 127.0.0.1:`port` (0: any) with client "switchboard" (secret
 * CLIENT_SECRET) redirecting to `redirectUri`, plus any `extraClients`. `accounts` is read
 * at each login, so a test may change someone's groups between logins.
 */
export async function startProvider(
  redirectUri: string,
  accounts: Record<string, Account>,
  extraClients: ProviderClient[] = [],
  port = 0,
): Promise<TestProvider> {
  const server = http.createServer();
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients = [{ client_id: 'switchboard', client_secret: CLIENT_SECRET, redirect_uris: [redirectUri] }, ...extraClients].map((c) => ({
    ...c,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }));
  const provider = new Provider(issuer, {
    clients,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => false },
    async findAccount(_ctx: unknown, id: string) {
      const a = accounts[id];
      if (!a) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...a, groups: [...a.groups] }) };
    },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    provider,
    close: () =>
      new Promise((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

/** Our oidc.* settings for `issuer` and client "switchboard", with `extra` on top. */
export function oidcConfig(issuer: string, extra: Partial<Config['oidc']> = {}): (c: Config) => void {
  return (c) => {
    c.oidc = {
      ...c.oidc,
      issuer,
      client_id: 'switchboard',
      client_secret: CLIENT_SECRET,
      scope: ['openid', 'profile', 'email', 'groups'],
      pkce: { enabled: true, method: 'S256' },
      ...extra,
    };
  };
}

/** Signs in as `account` from `start` (a /register/<id> link) and returns our server's last answer. */
export async function signIn(start: string, account: string, switchboardUrl: string): Promise<Response> {
  return (await browse(start, account, switchboardUrl, false)) as Response;
}

/** Like signIn, but stops before /oidc/callback: its URL and the cookie header the browser would send. */
export async function reachCallback(start: string, account: string, switchboardUrl: string): Promise<{ url: string; cookie: string }> {
  return (await browse(start, account, switchboardUrl, true)) as { url: string; cookie: string };
}

async function browse(start: string, account: string, switchboardUrl: string, stop: boolean): Promise<Response | { url: string; cookie: string }> {
  const jar = new Map<string, string>();
  let url = start;
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 20; hop++) {
    // The provider redirects to the configured server_url; the test server may listen elsewhere.
    const target = url.replace(/^http:\/\/127\.0\.0\.1:8080/, switchboardUrl);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (stop && target.startsWith(`${switchboardUrl}/oidc/callback`)) return { url: target, cookie };
    const res = await fetch(target, {
      method,
      redirect: 'manual',
      headers: {
        cookie,
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body,
    });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      jar.set(kv!.slice(0, i), kv!.slice(i + 1));
    }
    method = 'GET';
    body = undefined;
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, target).href;
      continue;
    }
    if (new URL(target).origin === switchboardUrl) return res;
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(html);
    assert.ok(action, `provider page has a form: ${html.slice(0, 300)}`);
    url = new URL(action[1]!.replace(/&amp;/g, '&'), target).href;
    method = 'POST';
    body = /name="prompt" value="login"/.test(html) ? `prompt=login&login=${account}&password=x` : 'prompt=consent';
  }
  throw new Error('too many redirects');
}
