// OIDC login: /register/<id> sends the browser to the provider, /oidc/callback (headscale's
// path) checks what came back and registers the waiting machine for the signed-in user.
// openid-client does discovery, PKCE and the ID token checks (signature against the
// provider's published keys, issuer, audience, expiry, nonce); this file makes the per-login
// secrets (kept, sealed, in a FlowBook: oidc-flows.ts) and applies headscale's oidc.* rules.

import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as oc from 'openid-client';
import type { Config } from '../config/types.js';
import type { UserRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import { validateUserName } from '../state/names.js';
import { groupsClaim } from './groups.js';
import type { WebLogin } from './weblogin.js';
import { flowKey, MemoryFlows, openFlow, sealFlow, type FlowBook } from './oidc-flows.js';

type OidcConfig = Config['oidc'];

export interface OidcClaims {
  iss: string;
  sub: string;
  email?: string;
  email_verified?: boolean;
  preferred_username?: string;
  name?: string;
  picture?: string;
  /** From the claim oidc.groups.claim names (default "groups"). */
  groups?: string[];
  exp?: number;
}

export type CallbackResult = { ok: true; user: string; node: string } | { ok: false; status: number; reason: string };

export class OidcLogin {
  readonly redirectUri: string;

  private constructor(
    private readonly cfg: OidcConfig,
    private readonly client: oc.Configuration,
    serverUrl: string,
    private readonly web: WebLogin,
    private readonly tailnet: Tailnet,
    readonly flowTtlMs: number,
    private readonly maxFlows: number,
    private readonly log: (m: string) => void,
    private readonly flows: FlowBook,
  ) {
    this.redirectUri = `${serverUrl.replace(/\/+$/, '')}/oidc/callback`;
  }

  /** Discovers the provider; throws (naming the issuer) when it cannot be reached or is invalid. */
  static async discover(opts: {
    cfg: OidcConfig;
    serverUrl: string;
    web: WebLogin;
    tailnet: Tailnet;
    flowTtlMs: number;
    maxFlows: number;
    log: (m: string) => void;
    /** Where sign-ins in progress are kept; this process's memory when absent. */
    flows?: FlowBook;
  }): Promise<OidcLogin> {
    const { cfg } = opts;
    const secret = clientSecret(cfg);
    const issuer = new URL(cfg.issuer);
    // A plain-http issuer is the admin's explicit choice (a loopback or test provider).
    const execute = issuer.protocol === 'http:' ? [oc.allowInsecureRequests] : [];
    let client: oc.Configuration;
    try {
      client = await oc.discovery(issuer, cfg.client_id, secret || undefined, secret ? oc.ClientSecretPost(secret) : oc.None(), {
        execute,
        timeout: 10,
      });
    } catch (err) {
      throw new Error(`oidc: discovery at ${cfg.issuer} failed: ${(err as Error).message}`);
    }
    // openid-client leaves the ID token's signature unchecked when the token comes straight
    // from the token endpoint (TLS vouches for the issuer); check it anyway, as headscale
    // does: the issuer may be plain http, and a proxy in between must not mint tokens.
    oc.enableNonRepudiationChecks(client);
    const methods = client.serverMetadata().code_challenge_methods_supported;
    if (cfg.pkce.enabled && methods && !methods.includes(cfg.pkce.method)) {
      // Logins would fail at the provider; say so now rather than at the first user's login.
      opts.log(`oidc: the provider supports PKCE methods ${methods.join(', ')}, not oidc.pkce.method ${cfg.pkce.method}; logins will be refused`);
    }
    return new OidcLogin(cfg, client, opts.serverUrl, opts.web, opts.tailnet, opts.flowTtlMs, opts.maxFlows, opts.log, opts.flows ?? new MemoryFlows());
  }

  /**
   * The provider's authorization URL for registration `authId` (which must be pending), and
   * the state the browser keeps in a cookie so the callback must come back to it.
   */
  async authorizationUrl(authId: string): Promise<{ url: string; state: string }> {
    await this.web.lookup(authId);
    const state = oc.randomState();
    const nonce = oc.randomNonce();
    const params: Record<string, string> = {
      ...this.cfg.extra_params,
      redirect_uri: this.redirectUri,
      scope: this.cfg.scope.join(' '),
      state,
      nonce,
    };
    let verifier: string | null = null;
    if (this.cfg.pkce.enabled) {
      verifier = oc.randomPKCECodeVerifier();
      params.code_challenge_method = this.cfg.pkce.method;
      params.code_challenge = this.cfg.pkce.method === 'S256' ? await oc.calculatePKCECodeChallenge(verifier) : verifier;
    }
    if (!(await this.flows.put(flowKey(state), sealFlow(state, { authId, nonce, verifier }), this.flowTtlMs, this.maxFlows))) {
      throw new Error('too many OIDC logins in progress; try again in a minute');
    }
    return { url: oc.buildAuthorizationUrl(this.client, params).href, state };
  }

  /** Handles the provider's redirect back; never leaves a half-registered node. */
  async callback(url: URL, cookieState: string | undefined): Promise<CallbackResult> {
    const state = url.searchParams.get('state') ?? '';
    // Used once: a replayed callback finds nothing.
    const sealed = state ? await this.flows.take(flowKey(state)) : undefined;
    const flow = sealed ? openFlow(state, sealed) : null;
    if (!flow) {
      return { ok: false, status: 400, reason: 'this login link is unknown, already used or expired; run `tailscale up` again' };
    }
    if (!sameSecret(state, cookieState ?? '')) {
      // headscale checks the same: the callback must reach the browser that began the login.
      return { ok: false, status: 400, reason: 'this login was not started in this browser; open the link `tailscale up` printed here' };
    }
    const providerError = url.searchParams.get('error');
    if (providerError) {
      return { ok: false, status: 403, reason: `the identity provider refused the login: ${providerError} ${url.searchParams.get('error_description') ?? ''}`.trim() };
    }
    let claims: OidcClaims;
    let tokens: oc.TokenEndpointResponse & oc.TokenEndpointResponseHelpers;
    try {
      tokens = await oc.authorizationCodeGrant(this.client, url, {
        expectedState: state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
        ...(flow.verifier ? { pkceCodeVerifier: flow.verifier } : {}),
      });
      const raw = tokens.claims() as unknown as Record<string, unknown>;
      claims = { ...(raw as unknown as OidcClaims), groups: groupsClaim(raw, this.cfg.groups.claim) };
    } catch (err) {
      this.log(`oidc: login for registration ${flow.authId} failed: ${(err as Error).message}`);
      return { ok: false, status: 400, reason: `the login could not be verified: ${(err as Error).message}` };
    }
    // Providers often put groups (and sometimes email) only in the userinfo answer.
    if (!claims.groups || claims.email === undefined) {
      try {
        const info = await oc.fetchUserInfo(this.client, tokens.access_token, claims.sub);
        claims = { ...(info as unknown as OidcClaims), ...claims, groups: claims.groups ?? groupsClaim(info, this.cfg.groups.claim) };
        if (claims.email === undefined && typeof info.email === 'string') {
          claims.email = info.email;
          claims.email_verified = info.email_verified === true;
        }
      } catch {
        // The ID token alone is enough when the provider has no userinfo endpoint.
      }
    }
    const refusal = checkAllowed(this.cfg, claims);
    if (refusal) {
      this.log(`oidc: login of ${JSON.stringify(claims.sub)} (${claims.email ?? 'no email'}) refused: ${refusal}`);
      return { ok: false, status: 403, reason: refusal };
    }
    let made: { user: UserRecord; created: boolean } | null = null;
    try {
      // Still waiting? Asked before any user is made for it (expired, or decided meanwhile).
      await this.web.lookup(flow.authId);
      made = await this.findOrCreateUser(claims);
      const expiry = this.cfg.use_expiry_from_token && claims.exp ? new Date(claims.exp * 1000) : this.cfg.expiry_ms > 0 ? new Date(Date.now() + this.cfg.expiry_ms) : null;
      const node = await this.web.register(flow.authId, made.user, { expiry, method: 'oidc' });
      return { ok: true, user: made.user.name, node: node.givenName };
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      this.log(`oidc: registration ${flow.authId} failed: ${(err as Error).message}`);
      if (made?.created) await this.undoUser(made.user);
      return { ok: false, status, reason: (err as Error).message };
    }
  }

  /** A user made for a login whose registration then failed goes again, unless something else is already theirs. */
  private async undoUser(u: UserRecord): Promise<void> {
    try {
      await this.tailnet.deleteUser(u.id);
      this.log(`oidc: removed user ${u.name}, made for a login whose registration failed`);
    } catch (err) {
      // A concurrent login of the same person registered a node under them meanwhile.
      this.log(`oidc: kept user ${u.name} after a failed registration: ${(err as Error).message}`);
    }
  }

  private async findOrCreateUser(c: OidcClaims): Promise<{ user: UserRecord; created: boolean }> {
    const providerId = providerIdentifier(c);
    const email = this.emailOf(c);
    // This login's groups replace the last one's: a group the provider dropped is left.
    const oidcGroups = [...(c.groups ?? [])].sort();
    for (const u of this.tailnet.allUsers()) {
      if (u.provider === 'oidc' && u.providerId === providerId) {
        return { user: await this.tailnet.updateUserProfile(u.id, { displayName: c.name ?? '', email, profilePicUrl: c.picture ?? '', oidcGroups }), created: false };
      }
    }
    const name = c.preferred_username || email;
    if (!name) throw Object.assign(new Error('the provider sent neither preferred_username nor email, so the user cannot be named'), { status: 403 });
    const problem = validateUserName(name);
    if (problem) throw Object.assign(new Error(`the user name ${JSON.stringify(name)} from the provider is unusable: ${problem}`), { status: 403 });
    if (this.tailnet.userByName(name)) {
      // headscale lets an OIDC user share a local user's name; here names are unique (the
      // CLI, the API and policies name users by them), so the login is refused instead.
      throw Object.assign(
        new Error(
          `the user name ${JSON.stringify(name)} is already taken by a user that is not linked to this sign-in; ` +
            'an administrator can rename that user (switchboard users rename) so that you can sign in, then run `tailscale up` again',
        ),
        { status: 409 },
      );
    }
    const u = await this.tailnet.createUser({
      name,
      displayName: c.name ?? '',
      email,
      pictureUrl: c.picture ?? '',
      provider: 'oidc',
      providerId,
      oidcGroups,
    });
    this.log(`oidc: created user ${u.name} for ${providerId}`);
    return { user: u, created: true };
  }

  private emailOf(c: OidcClaims): string {
    if (!c.email) return '';
    return !this.cfg.email_verified_required || c.email_verified === true ? c.email : '';
  }
}

/** headscale's identifier: issuer and subject, joined by "/". */
export function providerIdentifier(c: Pick<OidcClaims, 'iss' | 'sub'>): string {
  return `${c.iss.replace(/\/+$/, '')}/${c.sub}`;
}

/** Why these claims may not log in under oidc.allowed_* / email_verified_required, or null. */
export function checkAllowed(cfg: OidcConfig, c: OidcClaims): string | null {
  const email = c.email ?? '';
  const verified = c.email_verified === true;
  if (cfg.email_verified_required && email !== '' && !verified) {
    return `the email address ${email} is not verified at the identity provider (oidc.email_verified_required)`;
  }
  if (cfg.allowed_domains.length > 0) {
    const at = email.lastIndexOf('@');
    const domain = at >= 0 ? email.slice(at + 1).toLowerCase() : '';
    if (!domain || !cfg.allowed_domains.some((d) => d.toLowerCase() === domain)) {
      return `the email domain ${domain ? JSON.stringify(domain) : '(no email)'} is not in oidc.allowed_domains`;
    }
  }
  if (cfg.allowed_groups.length > 0) {
    const groups = Array.isArray(c.groups) ? c.groups : [];
    if (!groups.some((g) => cfg.allowed_groups.includes(g))) return 'the user is in none of oidc.allowed_groups';
  }
  if (cfg.allowed_users.length > 0 && !cfg.allowed_users.includes(email)) {
    return `the user ${email ? JSON.stringify(email) : '(no email)'} is not in oidc.allowed_users`;
  }
  return null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function clientSecret(cfg: OidcConfig): string {
  if (cfg.client_secret_path) {
    try {
      return readFileSync(cfg.client_secret_path, 'utf8').trim();
    } catch (err) {
      throw new Error(`oidc.client_secret_path: cannot read ${cfg.client_secret_path}: ${(err as Error).message}`);
    }
  }
  return cfg.client_secret;
}
