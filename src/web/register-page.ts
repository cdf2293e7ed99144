// GET /register/<auth id>: the page a `tailscale up` link opens. It shows which machine is
// asking and the exact command an administrator runs to let it in. Everything on it came
// from an unauthenticated client (the hostname above all), so every value is escaped, and
// the page loads nothing from elsewhere.

import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PendingRegistration } from '../auth/pending.js';
import { authIdProblem } from '../auth/pending.js';
import type { WebLogin } from '../auth/weblogin.js';
import type { OidcLogin } from '../auth/oidc.js';

/** Holds the login's state in the browser between /register/<id> and /oidc/callback. */
export const OIDC_STATE_COOKIE = 'switchboard_oidc_state';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.5}
h1{font-size:1.5rem}dt{font-weight:600;margin-top:.6rem}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
pre{background:#f3f3f3;padding:.8rem;border-radius:4px;white-space:pre-wrap;word-break:break-all}p.note{color:#555}`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Switchboard</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

/** The registration page for `e` (exported for tests of the escaping). */
export function registrationPage(e: PendingRegistration, knownNode: { givenName: string } | undefined): string {
  const register = `switchboard auth register --user <USER> --auth-id ${e.id}`;
  const approve = `switchboard auth approve --auth-id ${e.id}`;
  const reject = `switchboard auth reject --auth-id ${e.id}`;
  const rows: Array<[string, string]> = [
    ['Machine name', e.hostname || '(not given)'],
    ['Machine key', e.machineKey],
    ['Node key', e.nodeKey],
    ['Link valid until', e.expiresAt.toISOString()],
  ];
  if (knownNode) rows.splice(1, 0, ['Known as', knownNode.givenName]);
  const dl = rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('\n');
  const steps = knownNode
    ? `<p>This machine is already on the tailnet and asks to log in again. To let it back in for its current owner, an administrator runs:</p>
<pre>${escapeHtml(approve)}</pre>
<p>or, to give it to a user (replace &lt;USER&gt; with a user name or id):</p>
<pre>${escapeHtml(register)}</pre>`
    : `<p>To add this machine to the tailnet, an administrator runs (replace &lt;USER&gt; with a user name or id):</p>
<pre>${escapeHtml(register)}</pre>`;
  return page(
    'Machine registration',
    `<dl>
${dl}
</dl>
${steps}
<p>To refuse it:</p>
<pre>${escapeHtml(reject)}</pre>
<p class="note">Check that the machine key matches the one the machine shows before approving it. <code>tailscale up</code> finishes by itself once the registration is decided.</p>`,
  );
}

export function send(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(html);
}

/** With `oidc()` answering a login, an undecided registration's page sends the browser to the provider. */
export function mountRegisterPage(app: FastifyInstance, web: WebLogin, oidc: () => OidcLogin | null = () => null): void {
  app.get<{ Params: { authId: string } }>('/register/:authId', async (req, reply) => {
    const id = req.params.authId;
    if (authIdProblem(id)) {
      return send(reply, 400, page('Not a registration link', '<p>This address does not name a registration. Copy the whole link that <code>tailscale up</code> printed.</p>'));
    }
    const e = await web.pending.get(id);
    if (!e) {
      return send(
        reply,
        404,
        page('Registration link expired', '<p>This registration is unknown or has expired. Run <code>tailscale up</code> again for a new link.</p>'),
      );
    }
    if (e.verdict) {
      const done = e.verdict.kind === 'approved' ? 'This machine has been registered.' : 'This registration was rejected.';
      return send(reply, 200, page('Registration decided', `<p>${escapeHtml(done)}</p>`));
    }
    const provider = oidc();
    if (provider) {
      let to: { url: string; state: string };
      try {
        to = await provider.authorizationUrl(id);
      } catch (err) {
        return send(reply, 503, page('Login unavailable', `<p>${escapeHtml((err as Error).message)}</p>`));
      }
      // Lax: the provider's redirect back is a top-level navigation from another site.
      const secure = provider.redirectUri.startsWith('https:') ? '; Secure' : '';
      return reply
        .code(302)
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('set-cookie', `${OIDC_STATE_COOKIE}=${to.state}; Path=/oidc/callback; HttpOnly; SameSite=Lax; Max-Age=${Math.ceil(provider.flowTtlMs / 1000)}${secure}`)
        .redirect(to.url);
    }
    return send(reply, 200, registrationPage(e, web.knownNode(e)));
  });
}
