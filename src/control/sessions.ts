// Streaming map sessions: one per node with an open /machine/map stream. The hub
// receives each batch of tailnet events once, brings the policy up to date once,
// and lets every session turn the batch into its own smallest delta, a slice of
// sessions per turn of the event loop, each session getting its batches in order.
// A session owed several batches when its turn comes gets one delta for all of them:
// the more the hub falls behind, the fewer frames it builds.

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

/** After this many new frames in a row, none reused, a batch stops sharing: each session encodes its own. */
const MAX_UNSHARED_FRAMES = 64;

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
  private unshared = 0;

  frame(json: string, compression: Compression): Buffer {
    // Past the bound nothing new is kept, so a lookup (hashing the whole JSON) rarely pays.
    if (this.unshared > MAX_UNSHARED_FRAMES) return encodeFrame(json, compression);
    const frames = this.frames[compression];
    let f = frames.get(json);
    if (f) {
      this.unshared = 0;
      return f;
    }
    f = encodeFrame(json, compression);
    // Deltas that differ per session (each node's own filter after a policy change) are
    // not kept: 10,000 of them would stay in memory until the whole batch is served.
    if (++this.unshared <= MAX_UNSHARED_FRAMES) frames.set(json, f);
    else {
      this.frames.zstd.clear();
      this.frames.none.clear();
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

  /** `eventAt` is when the oldest of the events was emitted (several batches may be delivered as one). */
  deliver(builder: MapBuilder, events: readonly TailnetEvent[], update: PolicyUpdate, batch: Batch, eventAt = batch.eventAt): void {
    if (this.closed) return;
    // Behind: no delta is computed (the full map that ends this state carries everything).
    if (this.behindSince !== 0) return this.catchUp(builder);
    const json = builder.delta(this.state, events, update, batch.now);
    if (json !== null) this.send(batch.frame(json, this.compression), 'delta', eventAt);
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

/**
 * Default time a dispatch may hold the event loop before it yields. A batch for every
 * stream (a policy change) costs ~0.1 ms per session, so at 10,000 streams it is served
 * over many turns: the first clients have their delta within milliseconds, and
 * keep-alives, API requests and other batches are not held for the whole fleet.
 */
export const DEFAULT_SLICE_MS = 8;
/**
 * Once a membership batch (see `urgent`) has waited this long in the hub, a turn may
 * deliver for BEHIND_SLICE_FACTOR times the slice, and handshakes and stream opens take
 * short slices: peers hear of a node joining or leaving before more connections are
 * taken. Online and endpoint patches (thousands a second after a restart) do not count:
 * held back they coalesce, and the reconnecting clients' handshakes have a deadline.
 */
const BEHIND_AFTER_MS = 50;
const BEHIND_SLICE_FACTOR = 3;

/** A batch that changes who sees whom or what is allowed: until it arrives, peers cannot reach a new node at all. */
function urgent(events: readonly TailnetEvent[]): boolean {
  return events.some((e) => e.kind === 'nodeAdded' || e.kind === 'nodeRemoved' || e.kind === 'policyChanged');
}

/** A batch still being served: `owed` are the sessions it has not reached yet, in order. */
interface Work {
  readonly events: readonly TailnetEvent[];
  readonly update: PolicyUpdate;
  readonly batch: Batch;
  readonly owed: Set<MapSession>;
  /** performance.now() at dispatch (a lingered batch's events are older: see Batch.eventAt). */
  readonly queuedAt: number;
  readonly urgent: boolean;
}

const NO_VIEWERS: ReadonlySet<NodeID> = new Set();

export class SessionHub {
  private readonly sessions = new Map<NodeID, MapSession>();
  private readonly unsubscribe: () => void;
  /** Batches not yet delivered to all their sessions, oldest first. */
  private queue: Work[] = [];
  /** Per session, the batches it is owed, oldest first (the inverse of Work.owed). */
  private readonly owedTo = new Map<MapSession, Work[]>();
  private pumpScheduled = false;
  private closed = false;
  /** Batches delivered folded into a later one's delta (the coalescing's witness in tests and metrics). */
  coalesced = 0;

  constructor(
    tailnet: Tailnet,
    private readonly builder: MapBuilder,
    private readonly policy: () => PolicyView,
    private readonly log: (msg: string) => void,
    /** How long one turn of the event loop may spend delivering; 0 yields after every session. */
    public sliceMs = DEFAULT_SLICE_MS,
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
    this.closed = true;
    this.queue.length = 0;
    this.owedTo.clear();
    for (const s of [...this.sessions.values()]) s.close(reason);
    this.unsubscribe();
  }

  /**
   * True while a membership batch still owed has waited longer than BEHIND_AFTER_MS: the
   * queues of new work (handshakes, stream opens) then take short slices and leave the
   * turn to the hub (server.ts wires this).
   */
  get behind(): boolean {
    const now = performance.now();
    for (const w of this.queue) {
      if (now - w.queuedAt <= BEHIND_AFTER_MS) return false; // the rest are younger still
      if (w.urgent) return true;
    }
    return false;
  }

  /** Batches still being delivered (tests, metrics). */
  get pending(): number {
    return this.queue.length;
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
    if (this.closed) return;
    const update = this.policy().apply(events);
    for (const e of events) {
      if (e.kind === 'nodeRemoved') {
        this.builder.forget(e.nodeId);
        this.sessions.get(e.nodeId)?.close('node was deleted');
      }
    }
    const work: Work = { events, update, batch: new Batch(eventAt), owed: new Set(this.targets(events, update)), queuedAt: performance.now(), urgent: urgent(events) };
    if (work.owed.size === 0) return;
    for (const s of work.owed) {
      const list = this.owedTo.get(s);
      if (list) list.push(work);
      else this.owedTo.set(s, [work]);
    }
    this.queue.push(work);
    // The new batch starts at once, even behind a large one still being served: a small
    // change (one peer's endpoints) reaches its few sessions without waiting for the fleet.
    this.serve(work, performance.now() + this.sliceMs);
    this.schedule();
  }

  /**
   * Serves `work`'s sessions until the deadline. Each gets every batch it is owed, older
   * and newer, as one delta: the builder reads the present state whichever batch it
   * answers, so one delta over all their events says what several in a row would, and
   * the further the hub falls behind, the fewer frames it builds.
   */
  private serve(work: Work, deadline: number): void {
    let emptied = false;
    for (const s of work.owed) {
      const owed = this.owedTo.get(s)!;
      this.owedTo.delete(s);
      for (const w of owed) {
        w.owed.delete(s);
        if (w.owed.size === 0) emptied = true;
      }
      if (owed.length === 1) this.deliver(s, work.events, work.update, work.batch);
      else this.deliverMerged(s, owed);
      if (performance.now() >= deadline) break;
    }
    if (emptied) this.queue = this.queue.filter((w) => w.owed.size > 0);
  }

  private schedule(): void {
    if (this.pumpScheduled || this.queue.length === 0) return;
    this.pumpScheduled = true;
    // setImmediate: I/O (the frames just written, keep-alives, requests) runs in between.
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.closed) return;
      const deadline = performance.now() + this.sliceMs * (this.behind ? BEHIND_SLICE_FACTOR : 1);
      // A dispatch since may have served everything (its sessions' older batches with it).
      if (this.queue.length) {
        do this.serve(this.smallest(), deadline);
        while (this.queue.length && performance.now() < deadline);
      }
      this.schedule();
    });
  }

  /**
   * The batch with the fewest sessions left goes first: a peer's change is not held
   * behind a fleet-wide one, and order per session holds whichever is served first.
   */
  private smallest(): Work {
    let best = this.queue[0]!;
    for (const w of this.queue) if (w.owed.size < best.owed.size) best = w;
    return best;
  }

  /**
   * Several batches as one delta: their events in order, the newest batch's clock, and
   * their updates united as far as this session can tell (whether it is an affected
   * viewer; the peers re-rendered for anyone).
   */
  private deliverMerged(s: MapSession, owed: Work[]): void {
    this.coalesced += owed.length - 1;
    const me = s.nodeId;
    const events: TailnetEvent[] = [];
    let affected = false;
    const peers = new Set<NodeID>();
    for (const w of owed) {
      for (const e of w.events) events.push(e);
      if (!affected && (w.update.viewers === 'all' || w.update.viewers.has(me))) affected = true;
      for (const p of w.update.peers) peers.add(p);
    }
    const newest = owed[owed.length - 1]!;
    this.deliver(s, events, { viewers: affected ? new Set([me]) : NO_VIEWERS, peers }, newest.batch, owed[0]!.batch.eventAt);
  }

  private deliver(s: MapSession, events: readonly TailnetEvent[], update: PolicyUpdate, batch: Batch, eventAt?: number): void {
    try {
      s.deliver(this.builder, events, update, batch, eventAt);
    } catch (err) {
      this.log(`map update for node ${s.nodeId} failed: ${(err as Error).stack ?? err}`);
      s.close('internal error');
    }
  }
}
