// POST /machine/map: lite updates (OmitPeers, no stream) record what the client
// reports; streaming polls get the full map and then deltas until they close.

import type { MapBuilder } from '../mapresponse/builder.js';
import { encodeFrame, type Compression } from '../mapresponse/encode.js';
import type { NodePatch } from '../state/events.js';
import type { NodeRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import { MIN_CAPABILITY_VERSION, type Hostinfo } from '../tailcfg/types.js';
import { MapSession, type FrameSink, type SessionHub } from './sessions.js';
import { checkHostinfo, MAX_ENDPOINTS } from './hostinfo.js';
import { BadRequest, isZeroKey, optionalBool, optionalObject, optionalString, optionalStringList, requireKey } from './validate.js';
import { KeyedLock } from '../util/keyedlock.js';
import type { ControlMetrics } from './metrics.js';
import type { StreamOpenQueue } from './stream-open-queue.js';

export interface MapContext {
  tailnet: Tailnet;
  builder: MapBuilder;
  hub: SessionHub;
  keepAliveMs: number;
  /** Bound on the bytes a map stream queues towards its client (limits.max_queued_map_bytes). */
  maxQueuedBytes?: number;
  log: (msg: string) => void;
  /** Serializes updates of one node. */
  locks: KeyedLock;
  metrics: ControlMetrics;
  /** Where stream opens wait their turn (stream-open-queue.ts); without it they open at once. */
  opens?: StreamOpenQueue;
}

export interface ParsedMapRequest {
  version: number;
  nodeKey: string;
  discoKey: string;
  stream: boolean;
  omitPeers: boolean;
  keepAlive: boolean;
  compression: Compression;
  hostinfo: Hostinfo | null;
  endpoints: string[] | null;
}

export function parseMapRequest(body: Record<string, unknown>): ParsedMapRequest {
  const version = body.Version;
  if (typeof version !== 'number' || !Number.isInteger(version)) throw new BadRequest('Version: expected an integer capability version');
  if (version < MIN_CAPABILITY_VERSION) {
    throw new BadRequest(`Version: capability version ${version} is too old; Switchboard needs ${MIN_CAPABILITY_VERSION} (Tailscale v1.80) or newer`);
  }
  const compress = optionalString(body.Compress, 'Compress');
  if (compress !== '' && compress !== 'zstd') throw new BadRequest(`Compress: unsupported compression ${JSON.stringify(compress)} (only "zstd")`);
  return {
    version,
    nodeKey: requireKey(body.NodeKey, 'nodekey', 'NodeKey'),
    discoKey: requireKey(body.DiscoKey, 'discokey', 'DiscoKey', true),
    stream: optionalBool(body.Stream, 'Stream'),
    omitPeers: optionalBool(body.OmitPeers, 'OmitPeers'),
    keepAlive: optionalBool(body.KeepAlive, 'KeepAlive'),
    compression: compress === 'zstd' ? 'zstd' : 'none',
    hostinfo: checkHostinfo(body.Hostinfo),
    endpoints: checkEndpoints(optionalStringList(body.Endpoints, 'Endpoints')),
  };
}

function checkEndpoints(list: string[] | null): string[] | null {
  if (list && list.length > MAX_ENDPOINTS) throw new BadRequest(`Endpoints: ${list.length} entries, at most ${MAX_ENDPOINTS}`);
  list?.forEach((e, i) => {
    // "[v6%zone]:port" is the longest form a client sends.
    if (e.length > 64) throw new BadRequest(`Endpoints[${i}]: ${e.length} characters, at most 64`);
  });
  return list;
}

export class MapAuthError extends Error {}

/** Finds the node the request speaks for; it must belong to the Noise session's machine. */
export function authorizeMapRequest(tailnet: Tailnet, machineKey: string, req: ParsedMapRequest): NodeRecord {
  const node = tailnet.nodeByNodeKey(req.nodeKey);
  if (!node) throw new MapAuthError('node key not registered: register first');
  if (node.machineKey !== machineKey) throw new MapAuthError('node key belongs to another machine');
  return node;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Hostinfo without the fields that change all the time (latencies) or travel as patches. */
function hostinfoIdentity(h: Hostinfo): string {
  const { NetInfo: _n, ...rest } = h;
  return JSON.stringify(rest);
}

/** Records what a map request reports; peers learn it as a patch when that suffices. */
export async function applyMapRequestUpdates(ctx: MapContext, node: NodeRecord, req: ParsedMapRequest): Promise<NodeRecord> {
  return ctx.locks.run(String(node.id), async () => {
    const current = ctx.tailnet.node(node.id);
    if (!current) return node;
    ctx.tailnet.setCapVersion(node.id, req.version);
    const changes: Partial<NodeRecord> = {};
    const patch: NodePatch = {};
    let full = false;
    if (req.discoKey && !isZeroKey(req.discoKey) && req.discoKey !== current.discoKey) {
      changes.discoKey = req.discoKey;
      patch.discoKey = true;
    }
    if (req.endpoints && !sameList(req.endpoints, current.endpoints)) {
      changes.endpoints = req.endpoints;
      patch.endpoints = true;
    }
    if (req.hostinfo) {
      const before = current.hostinfo;
      if (JSON.stringify(req.hostinfo) !== JSON.stringify(before)) {
        changes.hostinfo = req.hostinfo;
        if (typeof req.hostinfo.Hostname === 'string' && req.hostinfo.Hostname !== current.hostname) changes.hostname = req.hostinfo.Hostname;
        if ((req.hostinfo.NetInfo?.PreferredDERP ?? 0) !== (before.NetInfo?.PreferredDERP ?? 0)) patch.derpRegion = true;
        if (hostinfoIdentity(req.hostinfo) !== hostinfoIdentity(before)) full = true;
      }
    }
    if (Object.keys(changes).length === 0) return current;
    const hasPatch = Object.keys(patch).length > 0;
    if (!full && !hasPatch && changes.hostinfo && Object.keys(changes).length === 1) {
      // Only DERP latencies moved: no peer is told, and nothing is written.
      return (await ctx.tailnet.replaceHostinfoInMemory(node.id, changes.hostinfo)) ?? current;
    }
    // Client-reported state: peers hear of it now, the database within LAZY_WRITE_MS.
    return (await ctx.tailnet.updateNodeSoon(node.id, changes, full ? undefined : hasPatch ? patch : {})) ?? current;
  });
}

/** Opens a streaming session on `sink`. Returns the session (already registered). */
export function openStream(ctx: MapContext, node: NodeRecord, req: ParsedMapRequest, sink: FrameSink): MapSession {
  const { json, state } = ctx.builder.full(node.id);
  let release: () => void = () => {};
  const session: MapSession = new MapSession(
    node.id,
    state,
    sink,
    req.compression,
    req.keepAlive ? ctx.keepAliveMs : 0,
    () => {
      ctx.hub.remove(session);
      release();
    },
    ctx.metrics.stream,
    ctx.maxQueuedBytes,
    ctx.builder,
  );
  // Counted as open before the first write: a session that closes while writing it
  // (a client that cannot take the first map) must still be counted as closed.
  release = ctx.tailnet.streamOpened(node.id);
  ctx.hub.add(session);
  session.start(json);
  return session;
}

/** The single answer to a non-streaming map request that wants peers. */
export function oneShotMap(ctx: MapContext, node: NodeRecord, req: ParsedMapRequest): Buffer {
  return encodeFrame(ctx.builder.full(node.id, req.omitPeers).json, req.compression);
}
