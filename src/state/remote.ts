// The event a change made by another instance stands for, found by comparing the node as
// this instance held it with the row as it is now: the same kinds of event a local change
// emits, so sessions send the same small deltas (a PeerChange when one suffices).

import type { NodePatch, TailnetEvent } from './events.js';
import type { NodeRecord } from './model.js';

/** Fields that travel in a PeerChange, and the patch flag each one sets. */
const PATCHABLE: ReadonlyArray<[keyof NodeRecord, keyof NodePatch]> = [
  ['endpoints', 'endpoints'],
  ['discoKey', 'discoKey'],
  ['nodeKey', 'nodeKey'],
  ['expiry', 'keyExpiry'],
  ['lastSeen', 'lastSeen'],
];

/** Bookkeeping columns: a change to them alone tells peers nothing. */
const IGNORED = new Set<keyof NodeRecord>(['updatedAt', 'createdAt']);

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;
  }
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

/** Hostinfo apart from NetInfo (latencies, preferred DERP): a change there needs the whole node. */
function hostinfoIdentity(n: NodeRecord): string {
  const { NetInfo: _n, ...rest } = n.hostinfo;
  return JSON.stringify(rest);
}

/** null when nothing a peer sees changed (the caller still takes the new row). */
export function remoteNodeEvent(before: NodeRecord | undefined, now: NodeRecord | null): TailnetEvent | null {
  if (!before && !now) return null;
  if (!before) return { kind: 'nodeAdded', nodeId: now!.id };
  if (!now) return { kind: 'nodeRemoved', nodeId: before.id };
  const patch: NodePatch = {};
  const patchable = new Map(PATCHABLE);
  for (const key of Object.keys(now) as Array<keyof NodeRecord>) {
    if (IGNORED.has(key) || same(before[key], now[key])) continue;
    const flag = patchable.get(key);
    if (flag) {
      patch[flag] = true;
      continue;
    }
    if (key === 'hostinfo') {
      if (hostinfoIdentity(before) !== hostinfoIdentity(now)) return { kind: 'nodeChanged', nodeId: now.id };
      if ((before.hostinfo.NetInfo?.PreferredDERP ?? 0) !== (now.hostinfo.NetInfo?.PreferredDERP ?? 0)) patch.derpRegion = true;
      continue;
    }
    return { kind: 'nodeChanged', nodeId: now.id };
  }
  // Only latencies moved (or nothing): memory takes the row, peers are not told.
  return Object.keys(patch).length === 0 ? null : { kind: 'nodePatched', nodeId: now.id, patch };
}
