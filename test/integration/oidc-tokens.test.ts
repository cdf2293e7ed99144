// The ID token checks, with tokens a test chooses: a hand-made OpenID provider on loopback
// (discovery, JWKS, an authorization endpoint that answers at once, a token endpoint) signs
// real ES256 tokens with its key, and each test spoils one thing: the audience (a token
// minted for another client), the issuer, the signature, the expiry, the nonce. Each is
// refused with a page, no user and no node; the unspoilt token logs in, so the provider is
// known to work.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { CLIENT_SECRET, oidcConfig } from '../helpers/oidc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Claims = Record<string, unknown>;
/** Changes the claims (or the key) of the next ID token. */
type Spoil = (claims: Claims, keys: { signing: KeyObject; other: KeyObject }) => KeyObject | void;

function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

class HandMadeProvider {
  readonly server = http.createServer((req, res) => void this.handle(req, res));
  issuer = '';
  spoil: Spoil = () => {};
  private readonly key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly codes = new Map<string, { nonce: string; sub: string }>();
  nextSub = 'u0';

  async start(): Promise<void> {
    await new Promise<void>((res) => this.server.listen(0, '127.0.0.1', res));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((res) => this.server.close(() => res()));
  }

  private idToken(nonce: string, sub: string): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      iss: this.issuer,
      sub,
      aud: 'switchboard',
      iat: now,
      exp: now + 600,
      nonce,
      email: `${sub}@corp.example`,
      email_verified: true,
      preferred_username: sub,
      groups: ['eng'],
    };
    const signing = this.spoil(claims, { signing: this.key.privateKey, other: this.other.privateKey }) ?? this.key.privateKey;
    const input = `${b64url({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${b64url(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: signing, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.issuer);
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/auth`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
      });
    }
    if (url.pathname === '/jwks') {
      return json(200, { keys: [{ ...this.key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    }
    if (url.pathname === '/auth') {
      // Signs in whoever asks, at once: the browser goes straight back with a code.
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, { nonce: url.searchParams.get('nonce') ?? '', sub: this.nextSub });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      return void res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const grant = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!grant || form.get('client_id') !== 'switchboard' || form.get('client_secret') !== CLIENT_SECRET) {
        return json(400, { error: 'invalid_grant' });
      }
      return json(200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 600, id_token: this.idToken(grant.nonce, grant.sub) });
    }
    res.writeHead(404).end();
  }
}

describe('ID token checks', () => {
  const idp = new HandMadeProvider();
  let srv: TestServer;
  const clients: TailscaleClient[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-tokens-'));

  beforeAll(async () => {
    await idp.start();
    srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, oidcConfig(idp.issuer), dir);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
    await idp.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A registration, the redirect to the provider and back; our callback's answer. */
  async function login(sub: string, spoil: Spoil): Promise<{ c: TailscaleClient; status: number; html: string }> {
    idp.spoil = spoil;
    idp.nextSub = sub;
    const c = new TailscaleClient({ serverUrl: srv.url, hostname: `${sub}-pc` });
    clients.push(c);
    const r = await c.register();
    const start = await fetch(r.AuthURL.replace('http://127.0.0.1:8080', srv.url), { redirect: 'manual' });
    assert.equal(start.status, 302);
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!;
    const atIdp = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const back = atIdp.headers.get('location')!.replace('http://127.0.0.1:8080', srv.url);
    const res = await fetch(back, { headers: { cookie } });
    return { c, status: res.status, html: await res.text() };
  }

  test('the unspoilt token logs in (the provider works)', async () => {
    const { c, status, html } = await login('good', () => {});
    assert.equal(status, 200, html);
    assert.equal(srv.server.tailnet.user(srv.server.tailnet.nodeByMachineKey(c.machineKey)!.userId!)!.name, 'good');
  });

  for (const [what, spoil] of [
    ['minted for another client (aud)', (cl: Claims) => void (cl.aud = 'another-client')],
    ['for several audiences, authorised for another party (azp)', (cl: Claims) => void ((cl.aud = ['another-client', 'switchboard']), (cl.azp = 'another-client'))],
    ['from another issuer', (cl: Claims) => void (cl.iss = 'https://evil.example')],
    ['signed with a key the provider does not publish', (_cl: Claims, k: { other: KeyObject }) => k.other],
    ['expired', (cl: Claims) => void ((cl.exp = Math.floor(Date.now() / 1000) - 3600), (cl.iat = Math.floor(Date.now() / 1000) - 7200))],
    ['with another login\'s nonce', (cl: Claims) => void (cl.nonce = 'replayed-nonce')],
  ] as const) {
    test(`an ID token ${what} is refused: a page, no user, no node`, async () => {
      const sub = `bad${randomBytes(3).toString('hex')}`;
      const { c, status, html } = await login(sub, spoil as Spoil);
      assert.equal(status, 400, html);
      assert.match(html, /Login refused/);
      assert.match(html, /the login could not be verified/);
      assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
      assert.equal(srv.server.tailnet.userByName(sub), undefined);
    });
  }
});
