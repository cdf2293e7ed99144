// Streaming map sessions: one per node with an open /machine/map stream. The hub
// receives each batch of tailnet events once, brings the policy up to date once,
// and lets every session turn the batch into its own smallest delta.

import type { MapBuilder, StreamState } from '../mapresponse/builder.js';
import { encodeFrame, keepAliveFrame, type Compression } from '../mapresponse/encode.js';
import type { PolicyUpdate, PolicyView } from '../mapresponse/policyview.js';
import type { TailnetEvent } from '../state/events.js';
import type { Tailnet } from '../state/tailnet.js';
import type { NodeID } from '../tailcfg/types.js';

export interface FrameSink {
  /** Returns false when the transport is buffering. */
  write(frame: Buffer): boolean;
  /** Bytes queued but not yet sent. */
  buffered(): number;
  close(reason: string): void;
}

/** Observes frames written to map streams (metrics); `sinceEventMs` is set for deltas. */
export interface StreamMetrics {
  frame(type: 'full' | 'delta' | 'keepalive', bytes: number, sinceEventMs?: number): void;
}

/**
 * One dispatch of events: a single timestamp for every session, so that sessions whose
 * deltas are identical (a peer's new endpoints, seen by all) share one compressed frame.
 */
export class Batch {
  readonly now = new Date();
  /** performance.now() when the first event of the batch was emitted. */
  constructor(readonly eventAt = performance.now()) {}
  /** Per compression, keyed by the JSON itself: a concatenated key would copy every delta once more. */
  private readonly frames: Record<Compression, Map<string, Buffer>> = { zstd: new Map(), none: new Map() };

  frame(json: string, compression: Compression): Buffer {
    const frames = this.frames[compression];
    let f = frames.get(json);
    if (!f) {
      f = encodeFrame(json, compression);
      frames.set(json, f);
    }
    return f;
  }
}

/**
 * Default bound on the bytes a session lets queue towards a client that does not read
 * (limits.max_queued_map_bytes). Past it the session stops queueing deltas, and when the
 * queue has drained sends one fresh full map in place of all it skipped.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 4 << 20;
/** Behind for this long without draining: the client is cut off (it reconnects for a full map). */
const MAX_BEHIND_MS = 60_000;

export class MapSession {
  private keepAliveTimer: NodeJS.Timeout | null = null;
  /** When the last frame went out; the keep-alive timer only fires after a quiet period. */
  private lastSent = 0;
  private closed = false;
  /** performance.now() when a frame was held back for the queue bound; 0 while the client keeps up. */
  private behindSince = 0;
  /** Most bytes seen queued right after a write (the bound's witness in tests). */
  peakQueuedBytes = 0;

  constructor(
    readonly nodeId: NodeID,
    private state: StreamState,
    private readonly sink: FrameSink,
    private readonly compression: Compression,
    private readonly keepAliveMs: number,
    private readonly onClose: () => void,
    private readonly metrics?: StreamMetrics,
    private readonly maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES,
    /** Builds the fresh full map that replaces skipped deltas. */
    private readonly builder?: MapBuilder,
  ) {}

  start(firstJson: Buffer): void {
    // The first map goes out whatever its size: the queue is empty, and there is nothing to coalesce it with.
    this.write(encodeFrame(firstJson, this.compression), 'full');
    this.scheduleKeepAlive(this.keepAliveMs);
  }

  /** True while deltas are being skipped for a client that is not reading. */
  get behind(): boolean {
    return this.behindSince !== 0;
  }

  deliver(builder: MapBuilder, events: readonly TailnetEvent[], update: PolicyUpdate, batch: Batch): void {
    if (this.closed) return;
    // Behind: no delta is computed (the full map that ends this state carries everything).
    if (this.behindSince !== 0) return this.catchUp(builder);
    const json = builder.delta(this.state, events, update, batch.now);
    if (json !== null) this.send(batch.frame(json, this.compression), 'delta', batch.eventAt);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    this.sink.close(reason);
    this.onClose();
  }

  /** Queues a frame unless that would take the queue past the bound; then the session falls behind. */
  private send(frame: Buffer, type: 'full' | 'delta' | 'keepalive', eventAt?: number): void {
    if (this.closed) return;
    const queued = this.sink.buffered();
    if (queued > 0 && queued + frame.length > this.maxQueuedBytes) {
      // The state already counts this delta as told; the full map sent on catching up makes that true.
      if (this.behindSince === 0) this.behindSince = performance.now();
      return;
    }
    this.write(frame, type, eventAt);
  }

  private write(frame: Buffer, type: 'full' | 'delta' | 'keepalive', eventAt?: number): void {
    this.lastSent = performance.now();
    this.sink.write(frame);
    this.peakQueuedBytes = Math.max(this.peakQueuedBytes, this.sink.buffered());
    this.metrics?.frame(type, frame.length, eventAt === undefined ? undefined : performance.now() - eventAt);
  }

  /**
   * Behind: once the client has taken its whole queue (nothing is added meanwhile), one
   * full map of the present state replaces every delta it missed; like the first map it
   * goes to an empty queue whatever its size. A client that takes nothing for a minute is cut off.
   */
  private catchUp(builder: MapBuilder | undefined): void {
    if (this.closed || this.behindSince === 0) return;
    if (this.sink.buffered() > 0) {
      if (performance.now() - this.behindSince > MAX_BEHIND_MS) this.close('client is not reading its map stream');
      return;
    }
    if (!builder) return this.close('client fell behind on its map stream');
    const { json, state } = builder.full(this.nodeId);
    this.state = state;
    this.behindSince = 0;
    this.write(encodeFrame(json, this.compression), 'full');
  }

  // One timer per session, never re-armed per frame: with thousands of streams, a
  // clearTimeout/setTimeout pair on every delivered change would cost more than the frame.
  private scheduleKeepAlive(delayMs: number): void {
    if (this.keepAliveMs <= 0 || this.closed) return;
    // Jitter keeps thousands of streams from waking in the same millisecond.
    const delay = delayMs * (0.9 + Math.random() * 0.2);
    this.keepAliveTimer = setTimeout(() => {
      const quiet = performance.now() - this.lastSent;
      if (this.behindSince !== 0) {
        // A quiet tailnet sends no deltas, so the timer is what notices a drained queue.
        this.catchUp(this.builder);
        this.scheduleKeepAlive(this.keepAliveMs);
      } else if (quiet >= this.keepAliveMs * 0.9) {
        this.send(keepAliveFrame(this.compression), 'keepalive');
        this.scheduleKeepAlive(this.keepAliveMs);
      } else this.scheduleKeepAlive(this.keepAliveMs - quiet);
    }, delay);
    this.keepAliveTimer.unref();
  }
}

export class SessionHub {
  private readonly sessions = new Map<NodeID, MapSession>();
  private readonly unsubscribe: () => void;

  constructor(
    tailnet: Tailnet,
    private readonly builder: MapBuilder,
    private readonly policy: () => PolicyView,
    private readonly log: (msg: string) => void,
  ) {
    this.unsubscribe = tailnet.subscribe((events, eventAt) => this.dispatch(events, eventAt));
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Registers a new stream for a node, replacing (closing) any older one. */
  add(session: MapSession): void {
    const old = this.sessions.get(session.nodeId);
    this.sessions.set(session.nodeId, session);
    if (old) old.close('replaced by a newer map stream from the same node');
  }

  get(nodeId: NodeID): MapSession | undefined {
    return this.sessions.get(nodeId);
  }

  remove(session: MapSession): void {
    if (this.sessions.get(session.nodeId) === session) this.sessions.delete(session.nodeId);
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) s.close(reason);
    this.unsubscribe();
  }

  /**
   * The sessions a batch can concern, so that a change costs what it touches, not the
   * tailnet's size. Peer visibility is symmetric (a rule that lets A reach B shows each to
   * the other), so the nodes that see X are X's own peers; viewers whose peer sets moved
   * (X added, removed, retagged) are in update.viewers, with their old and new peers.
   */
  private targets(events: readonly TailnetEvent[], update: PolicyUpdate): Iterable<MapSession> {
    if (update.viewers === 'all') return this.sessions.values();
    const policy = this.policy();
    const ids = new Set<NodeID>(update.viewers);
    const withPeers = (id: NodeID) => {
      ids.add(id);
      for (const v of policy.visiblePeers(id)) ids.add(v);
    };
    for (const e of events) {
      switch (e.kind) {
        case 'nodeAdded':
        case 'nodeChanged':
        case 'nodeRemoved':
        case 'nodePatched':
          withPeers(e.nodeId);
          break;
        default:
          return this.sessions.values(); // users, policy, configuration: every stream may care
      }
      if (ids.size >= this.sessions.size) return this.sessions.values();
    }
    for (const p of update.peers) withPeers(p);
    if (ids.size >= this.sessions.size) return this.sessions.values();
    const out: MapSession[] = [];
    for (const id of ids) {
      const s = this.sessions.get(id);
      if (s) out.push(s);
    }
    return out;
  }

  private dispatch(events: readonly TailnetEvent[], eventAt?: number): void {
    const update = this.policy().apply(events);
    for (const e of events) {
      if (e.kind === 'nodeRemoved') {
        this.builder.forget(e.nodeId);
        this.sessions.get(e.nodeId)?.close('node was deleted');
      }
    }
    const batch = new Batch(eventAt);
    for (const s of this.targets(events, update)) {
      try {
        s.deliver(this.builder, events, update, batch);
      } catch (err) {
        this.log(`map update for node ${s.nodeId} failed: ${(err as Error).stack ?? err}`);
        s.close('internal error');
      }
    }
  }
}
