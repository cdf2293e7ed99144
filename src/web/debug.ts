// /debug/* on metrics_listen_addr, the pages headscale serves there: the policy in force, each
// node's packet filter and SSH policy, the DERP map, and which nodes are connected. Read-only;
// like /metrics it is meant for a loopback or otherwise private listener.

import type { FastifyInstance } from 'fastify';
import type { DERPMap } from '../tailcfg/types.js';
import type { PolicyManager } from '../policy/manager.js';
import type { Tailnet } from '../state/tailnet.js';

export interface DebugDeps {
  tailnet: Tailnet;
  policy: PolicyManager;
  derpMap: () => DERPMap;
}

const PAGES: Array<[string, string]> = [
  ['notifier', 'Connected nodes'],
  ['policy', 'Current policy'],
  ['filter', 'Packet filter per node'],
  ['ssh', 'SSH policy per node'],
  ['derpmap', 'Current DERP map'],
];

export function mountDebug(app: FastifyInstance, deps: DebugDeps): void {
  const { tailnet, policy } = deps;
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  // headscale's key for a node in the per-node pages.
  const perNode = <T>(fn: (id: number) => T): Record<string, T> => {
    const out: Record<string, T> = {};
    for (const n of [...tailnet.allNodes()].sort((a, b) => a.id - b.id)) out[`id:${n.id}  hostname:${n.hostname} givenname:${n.givenName}`] = fn(n.id);
    return out;
  };

  app.get('/debug/', async (_req, reply) =>
    reply
      .type('text/plain; charset=utf-8')
      .send(['/metrics  Prometheus metrics', ...PAGES.map(([p, what]) => `/debug/${p}  ${what}`)].join('\n') + '\n'),
  );
  app.get('/debug/notifier', async (_req, reply) => {
    const lines = [...tailnet.allNodes()].filter((n) => tailnet.isOnline(n.id)).map((n) => `${n.id}\t${n.givenName}`);
    return reply.type('text/plain; charset=utf-8').send(`${lines.length} connected\n${lines.join('\n')}${lines.length ? '\n' : ''}`);
  });
  app.get('/debug/policy', async (_req, reply) => reply.type('application/json').send((await policy.get()).policy || '{}'));
  app.get('/debug/filter', async (_req, reply) => reply.type('application/json').send(json(perNode((id) => policy.view.packetFilter(id)))));
  app.get('/debug/ssh', async (_req, reply) => reply.type('application/json').send(json(perNode((id) => policy.view.sshPolicy(id)))));
  app.get('/debug/derpmap', async (_req, reply) => reply.type('application/json').send(json(deps.derpMap())));
}
