// Rendering of a node record as the tailcfg.Node its peers (or itself) receive.
// A peer's JSON is the same for every viewer unless the policy gives that viewer
// extra routes or capabilities, so the common case is serialized once per change.

import type { NodeRecord, UserRecord } from '../state/model.js';
import { GO_ZERO_TIME, type Node, type NodeID } from '../tailcfg/types.js';
import { magicDnsName } from '../dns/names.js';
import type { CapMap, PeerRoutes } from './policyview.js';

/** Tailscale's (and headscale's) user id for nodes owned by tags. */
export const TAGGED_DEVICES_USER_ID = 2147455555;

export interface RenderOptions {
  baseDomain: string;
  now: Date;
}

/** Records hold addresses in canonical form (the allocator formats them), so no re-parse. */
export function nodeAddresses(n: NodeRecord): string[] {
  const out: string[] = [];
  if (n.ipv4) out.push(`${n.ipv4}/32`);
  if (n.ipv6) out.push(`${n.ipv6}/128`);
  return out;
}

export function homeDerpRegion(n: NodeRecord): number {
  return n.hostinfo.NetInfo?.PreferredDERP ?? 0;
}

export function isExpired(n: NodeRecord, now: Date): boolean {
  return n.expiry !== null && n.expiry.getTime() <= now.getTime();
}

export function userIdOf(n: NodeRecord): number {
  return n.tags.length > 0 || n.userId === null ? TAGGED_DEVICES_USER_ID : n.userId;
}

export function renderNode(
  n: NodeRecord,
  opts: RenderOptions,
  extra: { online: boolean | null; routes: PeerRoutes | null; capMap: CapMap | null; cap: number },
): Node {
  const addresses = nodeAddresses(n);
  const region = homeDerpRegion(n);
  const out: Node = {
    ID: n.id,
    StableID: String(n.id),
    Name: magicDnsName(n.givenName, opts.baseDomain),
    User: userIdOf(n),
    Key: n.nodeKey,
    KeyExpiry: n.expiry ? n.expiry.toISOString() : GO_ZERO_TIME,
    Machine: n.machineKey,
    DiscoKey: n.discoKey,
    Addresses: addresses,
    AllowedIPs: extra.routes ? [...addresses, ...extra.routes.allowedIPs] : addresses,
    Endpoints: n.endpoints,
    HomeDERP: region,
    DERP: `127.3.3.40:${region}`,
    Hostinfo: n.hostinfo,
    Created: n.createdAt.toISOString(),
    MachineAuthorized: true,
  };
  if (extra.cap) out.Cap = extra.cap;
  if (n.tags.length) out.Tags = n.tags;
  if (extra.routes && extra.routes.primaryRoutes.length) out.PrimaryRoutes = extra.routes.primaryRoutes;
  if (extra.online !== null) out.Online = extra.online;
  if (n.lastSeen) out.LastSeen = n.lastSeen.toISOString();
  if (extra.capMap) out.CapMap = extra.capMap;
  if (isExpired(n, opts.now)) out.Expired = true;
  return out;
}

/** Caches the serialized peer form of each node; a record is immutable, so identity is its version. */
export class PeerJsonCache {
  private readonly cache = new Map<NodeID, { rec: NodeRecord; online: boolean; expired: boolean; cap: number; json: Buffer }>();

  /** The peer's JSON as UTF-8 bytes. */
  get(n: NodeRecord, online: boolean, cap: number, opts: RenderOptions): Buffer {
    const expired = isExpired(n, opts.now);
    const hit = this.cache.get(n.id);
    if (hit && hit.rec === n && hit.online === online && hit.expired === expired && hit.cap === cap) return hit.json;
    const json = Buffer.from(JSON.stringify(renderNode(n, opts, { online, routes: null, capMap: null, cap })), 'utf8');
    this.cache.set(n.id, { rec: n, online, expired, cap, json });
    return json;
  }

  forget(id: NodeID): void {
    this.cache.delete(id);
  }
}

export function userProfile(u: UserRecord): { ID: number; LoginName: string; DisplayName: string; ProfilePicURL?: string } {
  const p: { ID: number; LoginName: string; DisplayName: string; ProfilePicURL?: string } = {
    ID: u.id,
    LoginName: u.email || u.name,
    DisplayName: u.displayName || u.name,
  };
  if (u.profilePicUrl) p.ProfilePicURL = u.profilePicUrl;
  return p;
}

export const TAGGED_DEVICES_PROFILE = { ID: TAGGED_DEVICES_USER_ID, LoginName: 'tagged-devices', DisplayName: 'Tagged Devices' };
