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
  private readonly frames = new Map<string, Buffer>();

  frame(json: string, compression: Compression): Buffer {
    const key = compression + json;
    let f = this.frames.get(key);
    if (!f) {
      f = encodeFrame(json, compression);
      this.frames.set(key, f);
    }
    return f;
  }
}

/** A client that cannot keep up gets disconnected; it reconnects and receives a full map. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

export class MapSession {
  private keepAliveTimer: NodeJS.Timeout | null = null;
  /** When the last frame went out; the keep-alive timer only fires after a quiet period. */
  private lastSent = 0;
  private closed = false;

  constructor(
    readonly nodeId: NodeID,
    private readonly state: StreamState,
    private readonly sink: FrameSink,
    private readonly compression: Compression,
    private readonly keepAliveMs: number,
    private readonly onClose: () => void,
    private readonly metrics?: StreamMetrics,
  ) {}

  start(firstJson: Buffer): void {
    this.send(encodeFrame(firstJson, this.compression), 'full');
    this.scheduleKeepAlive(this.keepAliveMs);
  }

  deliver(builder: MapBuilder, events: readonly TailnetEvent[], update: PolicyUpdate, batch: Batch): void {
    if (this.closed) return;
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

  private send(frame: Buffer, type: 'full' | 'delta' | 'keepalive', eventAt?: number): void {
    if (this.closed) return;
    this.lastSent = performance.now();
    this.sink.write(frame);
    this.metrics?.frame(type, frame.length, eventAt === undefined ? undefined : performance.now() - eventAt);
    if (this.sink.buffered() > MAX_BUFFERED_BYTES) this.close('client is not reading its map stream');
  }

  // One timer per session, never re-armed per frame: with thousands of streams, a
  // clearTimeout/setTimeout pair on every delivered change would cost more than the frame.
  private scheduleKeepAlive(delayMs: number): void {
    if (this.keepAliveMs <= 0 || this.closed) return;
    // Jitter keeps thousands of streams from waking in the same millisecond.
    const delay = delayMs * (0.9 + Math.random() * 0.2);
    this.keepAliveTimer = setTimeout(() => {
      const quiet = performance.now() - this.lastSent;
      if (quiet >= this.keepAliveMs * 0.9) {
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

  remove(session: MapSession): void {
    if (this.sessions.get(session.nodeId) === session) this.sessions.delete(session.nodeId);
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) s.close(reason);
    this.unsubscribe();
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
    for (const s of this.sessions.values()) {
      try {
        s.deliver(this.builder, events, update, batch);
      } catch (err) {
        this.log(`map update for node ${s.nodeId} failed: ${(err as Error).stack ?? err}`);
        s.close('internal error');
      }
    }
  }
}
