// The client's view of the tailnet, updated from each MapResponse the way
// tailscaled's map session applies full maps and deltas.

import type { DERPMap, DNSConfig, FilterRule, MapResponse, Node, NodeID, SSHPolicy, UserProfile } from '../tailcfg/types.js';

export class NetMap {
  self: Node | null = null;
  readonly peers = new Map<NodeID, Node>();
  readonly packetFilters = new Map<string, FilterRule[]>();
  readonly userProfiles = new Map<number, UserProfile>();
  derpMap: DERPMap | null = null;
  dns: DNSConfig | null = null;
  domain = '';
  sshPolicy: SSHPolicy | null = null;

  apply(r: MapResponse): void {
    if (r.KeepAlive && Object.keys(r).length === 1) return;
    if (r.Node) this.self = r.Node;
    if (r.DERPMap) this.derpMap = r.DERPMap;
    if (r.DNSConfig) this.dns = r.DNSConfig;
    if (r.Domain) this.domain = r.Domain;
    if (r.SSHPolicy) this.sshPolicy = r.SSHPolicy;
    for (const u of r.UserProfiles ?? []) this.userProfiles.set(u.ID, u);
    if (r.PacketFilters) {
      for (const [name, rules] of Object.entries(r.PacketFilters)) {
        if (name === '*') this.packetFilters.clear();
        else if (rules === null) this.packetFilters.delete(name);
        else this.packetFilters.set(name, rules);
      }
    } else if (r.PacketFilter) {
      this.packetFilters.clear();
      this.packetFilters.set('base', r.PacketFilter);
    }
    if (r.Peers) {
      this.peers.clear();
      for (const p of r.Peers) this.peers.set(p.ID, p);
    }
    for (const p of r.PeersChanged ?? []) this.peers.set(p.ID, p);
    for (const id of r.PeersRemoved ?? []) this.peers.delete(id);
    for (const c of r.PeersChangedPatch ?? []) {
      const p = this.peers.get(c.NodeID);
      if (!p) continue;
      const q: Node = { ...p };
      if (c.DERPRegion !== undefined) {
        q.HomeDERP = c.DERPRegion;
        q.DERP = `127.3.3.40:${c.DERPRegion}`;
      }
      if (c.Endpoints !== undefined) q.Endpoints = c.Endpoints;
      if (c.DiscoKey !== undefined) q.DiscoKey = c.DiscoKey;
      if (c.Key !== undefined) q.Key = c.Key;
      if (c.KeyExpiry !== undefined) q.KeyExpiry = c.KeyExpiry;
      if (c.Online !== undefined) q.Online = c.Online;
      if (c.LastSeen !== undefined) q.LastSeen = c.LastSeen;
      if (c.CapMap !== undefined) q.CapMap = c.CapMap;
      if (c.Cap !== undefined) q.Cap = c.Cap;
      this.peers.set(c.NodeID, q);
    }
    for (const [id, online] of Object.entries(r.OnlineChange ?? {})) {
      const p = this.peers.get(Number(id));
      if (p) this.peers.set(p.ID, { ...p, Online: online });
    }
  }

  /** All filter rules in effect (every named chunk). */
  filterRules(): FilterRule[] {
    return [...this.packetFilters.values()].flat();
  }

  peerByName(label: string): Node | undefined {
    for (const p of this.peers.values()) if (p.Name.split('.')[0] === label) return p;
    return undefined;
  }
}
