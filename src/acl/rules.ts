// Normalises ACL entries and grants into one ordered rule list. The control plane emits
// grants before ACL entries, each section in policy order.
import type { Policy } from './parse.js';
import type { PortRange } from './ports.js';

export interface IpGroup {
  proto?: number[];
  /** For ACLs each destination carries its own ports; for grants all share these. */
  ports: PortRange[] | null;
}

export interface RuleDef {
  kind: 'acl' | 'grant';
  /** Position in its section, for error messages. */
  pos: number;
  src: string[];
  dst: { alias: string; ports: PortRange[] | null }[];
  groups: IpGroup[];
  app: Record<string, unknown[]> | null;
  via: string[];
}

function protoKey(p?: number[]): string {
  return p ? p.join(',') : '';
}

export function ruleDefs(p: Policy): RuleDef[] {
  const out: RuleDef[] = [];
  if (p.implicitAllowAll) {
    out.push({ kind: 'acl', pos: 0, src: ['*'], dst: [{ alias: '*', ports: null }], groups: [{ ports: null }], app: null, via: [] });
  }
  p.grants.forEach((g, pos) => {
    // Grants split their "ip" list by protocol, one filter rule per protocol, in order of
    // first appearance.
    const groups: IpGroup[] = [];
    const byKey = new Map<string, IpGroup>();
    for (const spec of g.ip) {
      const k = protoKey(spec.proto);
      let grp = byKey.get(k);
      if (!grp) {
        grp = { proto: spec.proto, ports: [] };
        byKey.set(k, grp);
        groups.push(grp);
      }
      grp.ports!.push(...spec.ports);
    }
    out.push({
      kind: 'grant', pos, src: g.src,
      dst: g.dst.map((alias) => ({ alias, ports: null })),
      groups, app: g.app, via: g.via,
    });
  });
  p.acls.forEach((a, pos) => {
    out.push({
      kind: 'acl', pos, src: a.src,
      dst: a.dst.map((d) => ({ alias: d.alias, ports: d.ports })),
      groups: [{ proto: a.proto, ports: null }],
      app: null, via: [],
    });
  });
  return out;
}
