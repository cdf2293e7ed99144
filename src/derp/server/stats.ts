// The relay's counters on the server's prom-client registry (src/metrics). Hot-path counters
// take no labels; the region is one label-free fact here since Switchboard embeds one region.

import type { Registry } from '../../metrics/registry.js';
import type { DropReason } from './conn.js';

export interface DerpStats {
  accepted(): void;
  refused(reason: 'not_admitted' | 'protocol'): void;
  disconnected(): void;
  /** A packet read from a client (before routing). */
  received(bytes: number): void;
  /** A packet handed to its receiver's socket. */
  relayed(bytes: number): void;
  dropped(reason: DropReason, kind: 'disco' | 'other', bytes: number): void;
  /** A packet to a mesh peer's client (out) or from one (in). */
  forwarded(direction: 'in' | 'out', bytes: number): void;
  stun(result: 'ok' | 'invalid'): void;
}

export interface DerpGauges {
  clientCount: number;
  homeClientCount: number;
  /** Mesh links of ours (derp.server.mesh_with) logged in and watching. */
  meshPeerCount?: number;
  /** Mesh peers watching this relay. */
  meshWatcherCount?: number;
  /** Keys reachable through a mesh peer. */
  meshKeyCount?: number;
}

export function registerDerpMetrics(r: Registry, region: { id: number; code: string }, gauges: () => DerpGauges): DerpStats {
  // Alphabetical: prom-client writes labels in the order given.
  const regionLabels = { region_code: region.code, region_id: String(region.id) };
  r.gauge('switchboard_derp_region_info', 'The embedded DERP region (value 1), for joining on region labels.', () => [[regionLabels, 1]], ['region_id', 'region_code']);
  r.gauge('switchboard_derp_clients', 'Logged-in connections to the embedded DERP relay.', () => gauges().clientCount);
  r.gauge('switchboard_derp_home_clients', 'Connections whose client calls the embedded relay its home (preferred) region.', () => gauges().homeClientCount);
  r.gauge('switchboard_derp_mesh_peers', 'Mesh links to the relays in derp.server.mesh_with that are logged in and watching.', () => gauges().meshPeerCount ?? 0);
  r.gauge('switchboard_derp_mesh_watchers', 'Mesh peers watching this relay\'s connections.', () => gauges().meshWatcherCount ?? 0);
  r.gauge('switchboard_derp_mesh_keys', 'Node keys reachable through a mesh peer.', () => gauges().meshKeyCount ?? 0);
  const fwdPackets = r.counter('switchboard_derp_packets_forwarded_total', 'Packets forwarded over the mesh: out (to a mesh peer\'s client), in (from one).', ['direction']);
  const fwdBytes = r.counter('switchboard_derp_bytes_forwarded_total', 'Packet bytes forwarded over the mesh, by direction.', ['direction']);
  const conns = r.counter('switchboard_derp_connections_total', 'DERP connections by result (accepted; refused: not_admitted, protocol).', ['result', 'reason']);
  const recvPackets = r.counter('switchboard_derp_packets_received_total', 'Packets clients sent to the relay.');
  const recvBytes = r.counter('switchboard_derp_bytes_received_total', 'Packet bytes clients sent to the relay.');
  const packets = r.counter('switchboard_derp_packets_relayed_total', 'Packets handed to their receiver.');
  const bytes = r.counter('switchboard_derp_bytes_relayed_total', 'Packet bytes handed to their receiver.');
  const dropPackets = r.counter('switchboard_derp_packets_dropped_total', 'Packets dropped, by reason (derper\'s names) and kind (disco, other).', ['reason', 'kind']);
  const dropBytes = r.counter('switchboard_derp_bytes_dropped_total', 'Packet bytes dropped, by reason and kind.', ['reason', 'kind']);
  const disconnects = r.counter('switchboard_derp_disconnects_total', 'Logged-in DERP connections that ended.');
  const stun = r.counter('switchboard_stun_requests_total', 'STUN datagrams, by result (ok: answered, invalid: ignored).', ['result']);
  return {
    accepted: () => conns.inc({ result: 'accepted' }),
    refused: (reason) => conns.inc({ reason, result: 'refused' }),
    disconnected: () => disconnects.inc(),
    received: (n) => {
      recvPackets.inc();
      recvBytes.inc(n);
    },
    relayed: (n) => {
      packets.inc();
      bytes.inc(n);
    },
    dropped: (reason, kind, n) => {
      dropPackets.inc({ kind, reason });
      dropBytes.inc({ kind, reason }, n);
    },
    forwarded: (direction, n) => {
      fwdPackets.inc({ direction });
      fwdBytes.inc({ direction }, n);
    },
    stun: (result) => stun.inc({ result }),
  };
}
