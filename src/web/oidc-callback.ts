// GET /oidc/callback (headscale's path): where the identity provider sends the browser back.
// The answer is a small page saying the machine is registered, or why not.

import type { FastifyInstance } from 'fastify';
import type { OidcLogin } from '../auth/oidc.js';
import { escapeHtml, OIDC_STATE_COOKIE, page, send } from './register-page.js';

export function mountOidcCallback(app: FastifyInstance, oidc: () => OidcLogin | null, serverUrl: string): void {
  app.get('/oidc/callback', async (req, reply) => {
    const provider = oidc();
    if (!provider) return send(reply, 404, page('OIDC is not enabled', '<p>This server does not use OIDC login.</p>'));
    const url = new URL(req.url, serverUrl);
    const r = await provider.callback(url, cookie(req.headers.cookie, OIDC_STATE_COOKIE));
    if (r.ok) {
      return send(
        reply,
        200,
        page('Machine registered', `<p>${escapeHtml(`${r.node} is now on the tailnet as user ${r.user}.`)} You can close this window; <code>tailscale up</code> finishes by itself.</p>`),
      );
    }
    return send(reply, r.status, page('Login refused', `<p>${escapeHtml(r.reason)}</p>`));
  });
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
