// Interactive ("web") login: a client without a key gets a link, <server_url>/register/<id>;
// an administrator decides (auth register / approve / reject) and the client's follow-up
// request, waiting meanwhile, learns the outcome. Deciding writes the node under the
// machine's registration lock, so it never races the client's own register requests on
// this instance, and holds the entry's claim (pending.ts), so no other instance decides it
// meanwhile. Where the entries live is the PendingBook's business (memory, or PostgreSQL).

import { AdminError, type NodeView } from '../state/admin.js';
import type { NodeRecord, RegisterMethod, UserRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import type { Hostinfo } from '../tailcfg/types.js';
import { decideTags, type TagCheck } from '../control/requesttags.js';
import { zeroKey } from '../control/validate.js';
import type { KeyedLock } from '../util/keyedlock.js';
import { RateLimitedLog } from '../util/ratelog.js';
import { authIdProblem, PendingFull, PendingRegistrations, type PendingBook, type PendingRegistration, type Verdict, type WaitResult } from './pending.js';

export interface WebLoginOptions {
  tailnet: Tailnet;
  /** The same lock the control protocol's registrations take, per machine key. */
  locks: KeyedLock;
  serverUrl: string;
  ttlMs: number;
  maxEntries: number;
  /** Key lifetime of nodes that do not ask for one (config node.expiry); 0 never expires. */
  defaultExpiryMs: number;
  /** tagOwners check for the tags the machine asked for (--advertise-tags); without one they are refused. */
  refusedTags?: TagCheck;
  log: (msg: string) => void;
  /** Where registrations wait; in this process's memory when absent. */
  pending?: PendingBook;
}

/** Errors carry an HTTP-ish status, like the admin service's. */
export class WebLoginError extends AdminError {}

export class WebLogin {
  readonly pending: PendingBook;
  private readonly base: string;

  private readonly beganLog: RateLimitedLog;
  private readonly refusedLog: RateLimitedLog;

  constructor(private readonly opts: WebLoginOptions) {
    this.pending = opts.pending ?? new PendingRegistrations({ ttlMs: opts.ttlMs, maxEntries: opts.maxEntries });
    this.base = opts.serverUrl.replace(/\/+$/, '');
    this.beganLog = new RateLimitedLog(opts.log, 10_000, (n, sec) => `${n} more machines started a web login in the last ${sec} s (switchboard auth list)`);
    this.refusedLog = new RateLimitedLog(opts.log, 10_000, (n, sec) => `refused ${n} more web logins in the last ${sec} s: too many waiting`);
  }

  authUrl(id: string): string {
    return `${this.base}/register/${id}`;
  }

  /** The auth id named by a follow-up URL of ours, or null when it is not one. */
  followupId(followup: string): string | null {
    let path: string;
    try {
      path = new URL(followup).pathname;
    } catch {
      return null;
    }
    const m = /^\/register\/([^/]+)$/.exec(path);
    return m && authIdProblem(m[1]!) === null ? m[1]! : null;
  }

  /** Starts (or refreshes) the machine's registration; throws PendingFull when the cache is full. */
  async begin(input: { machineKey: string; nodeKey: string; hostinfo: Hostinfo | null; ephemeral: boolean; expiry: Date | null }): Promise<PendingRegistration> {
    const hostname = typeof input.hostinfo?.Hostname === 'string' ? input.hostinfo.Hostname : '';
    const requestedExpiry = input.expiry && input.expiry.getTime() > Date.now() ? input.expiry : null;
    const before = this.pending.undecided;
    let e: PendingRegistration;
    try {
      e = await this.pending.begin({ ...input, hostname, requestedExpiry });
    } catch (err) {
      if (err instanceof PendingFull) this.refusedLog.log(`web login of machine ${input.machineKey.slice(0, 16)}… refused: ${err.message}`);
      throw err;
    }
    if (this.pending.undecided > before) {
      // Anyone can start one, so a flood must not flood the log either.
      this.beganLog.log(`machine ${input.machineKey.slice(0, 16)}… (${JSON.stringify(hostname.slice(0, 64))}) is waiting for web login: ${this.authUrl(e.id)}`);
    }
    return e;
  }

  wait(id: string, signal?: AbortSignal): Promise<WaitResult> {
    return this.pending.wait(id, signal);
  }

  /** The undecided registration `id`, or a 400/404 naming the problem. */
  async lookup(id: string): Promise<PendingRegistration> {
    const problem = authIdProblem(id);
    if (problem) throw new WebLoginError(400, `invalid auth id ${JSON.stringify(id.slice(0, 64))}: ${problem}`);
    const e = await this.pending.get(id);
    if (!e) throw new WebLoginError(404, `no pending registration with auth id ${id} (it may have expired: run \`tailscale up\` again for a new link)`);
    if (e.verdict) throw new WebLoginError(409, `registration ${id} was already ${e.verdict.kind}`);
    return e;
  }

  /** The node this registration would re-authenticate, if the machine is known. */
  knownNode(e: PendingRegistration): NodeRecord | undefined {
    return this.opts.tailnet.nodeByMachineKey(e.machineKey);
  }

  /** `auth register --user`: creates the node (or re-authenticates the machine's node) for `user`. */
  async register(id: string, user: UserRecord, how?: { expiry: Date | null; method: RegisterMethod }): Promise<NodeView> {
    const first = await this.lookup(id);
    return this.opts.locks.run(first.machineKey, () =>
      this.decideWith(id, async (e, token) => {
      const existing = this.opts.tailnet.nodeByMachineKey(e.machineKey);
      const base = existing && existing.userId === user.id ? existing.tags : [];
      const node = await this.writeNode(e, user.id, await this.grantTags(id, e, user.id, base, token), how);
      await this.settle(id, { kind: 'approved', nodeId: node.id }, token);
      this.opts.log(`node ${node.givenName} registered to user ${user.name} by ${how?.method === 'oidc' ? 'OIDC' : 'web'} login (${id})`);
      return this.opts.tailnet.getNode(node.id);
    }),
    );
  }

  /** `auth approve`: re-authenticates a known machine for the user (or tags) it already has. */
  async approve(id: string): Promise<NodeView> {
    const first = await this.lookup(id);
    return this.opts.locks.run(first.machineKey, () =>
      this.decideWith(id, async (e, token) => {
        const known = this.knownNode(e);
        if (!known) {
          throw new WebLoginError(400, `registration ${id} is of a new machine: choose its owner with \`switchboard auth register --user <user> --auth-id ${id}\``);
        }
        const node = await this.writeNode(e, known.userId, await this.grantTags(id, e, known.userId, known.tags, token));
        await this.settle(id, { kind: 'approved', nodeId: node.id }, token);
        this.opts.log(`node ${node.givenName} re-authenticated by web login (${id})`);
        return this.opts.tailnet.getNode(node.id);
      }),
    );
  }

  async reject(id: string): Promise<void> {
    const e = await this.lookup(id);
    if (!(await this.pending.decide(id, { kind: 'rejected', reason: 'the registration was rejected by an administrator' }))) throw this.taken(id);
    this.opts.log(`registration ${id} of ${e.hostname || 'a machine'} (${e.machineKey.slice(0, 16)}…) rejected`);
  }

  close(): void {
    this.pending.close();
    this.beganLog.close();
    this.refusedLog.close();
  }

  /**
   * The node's tags after this login: what it has plus what it asked for (--advertise-tags),
   * when the approving user may own each, as a pre-auth-key login decides. A refusal ends the
   * registration: the waiting client shows the reason, the admin's command fails with it.
   */
  private async grantTags(id: string, e: PendingRegistration, userId: number | null, base: readonly string[], token: string): Promise<string[]> {
    const d = decideTags(this.opts.refusedTags, userId, base, e.hostinfo);
    if (d.ok) return d.tags;
    await this.settle(id, { kind: 'rejected', reason: d.error }, token);
    throw new WebLoginError(400, d.error);
  }

  /**
   * Runs `decide` on the still-undecided entry while holding its claim; the claim goes
   * again when `decide` fails before settling, so the entry stays decidable.
   */
  private async decideWith<T>(id: string, decide: (e: PendingRegistration, token: string) => Promise<T>): Promise<T> {
    const e = await this.lookup(id); // decided or expired while we queued?
    const token = await this.pending.claim(id);
    if (token === null) throw this.taken(id);
    try {
      return await decide(e, token);
    } finally {
      // A failed release must not hide decide's own error; the claim's lease then runs out.
      try {
        await this.pending.release(id, token);
      } catch (err) {
        this.opts.log(`registration ${id}: could not release its claim: ${(err as Error).message}`);
      }
    }
  }

  private async settle(id: string, verdict: Verdict, token: string): Promise<void> {
    // Only the claim's lease running out (a stall of many seconds) lets this fail.
    if (!(await this.pending.decide(id, verdict, token))) throw this.taken(id);
  }

  private taken(id: string): WebLoginError {
    return new WebLoginError(409, `registration ${id} was decided meanwhile (or is being decided elsewhere)`);
  }

  private expiryFor(e: PendingRegistration): Date | null {
    if (e.requestedExpiry && e.requestedExpiry.getTime() > Date.now()) return e.requestedExpiry;
    return this.opts.defaultExpiryMs > 0 ? new Date(Date.now() + this.opts.defaultExpiryMs) : null;
  }

  /** userId null keeps a tagged node tagged (approve of a tagged machine). */
  private async writeNode(e: PendingRegistration, userId: number | null, tags: string[], how?: { expiry: Date | null; method: RegisterMethod }): Promise<NodeRecord> {
    const t = this.opts.tailnet;
    const clash = t.nodeByNodeKey(e.nodeKey);
    if (clash && clash.machineKey !== e.machineKey) throw new WebLoginError(409, 'the node key of this registration is already used by another node');
    const expiry = how ? how.expiry : this.expiryFor(e);
    const registerMethod = how?.method ?? 'cli';
    const existing = t.nodeByMachineKey(e.machineKey);
    if (existing) {
      // Re-authentication keeps the node: its id, addresses and name.
      const toUser = userId !== null && existing.userId !== userId;
      return t.updateNode(existing.id, {
        nodeKey: e.nodeKey,
        expiry,
        registerMethod,
        ...(toUser ? { userId } : {}),
        ...(tags.join(',') !== existing.tags.join(',') ? { tags } : {}),
        ...(e.hostinfo ? { hostinfo: e.hostinfo, hostname: e.hostname || existing.hostname } : {}),
      });
    }
    return t.addNode({
      userId,
      tags,
      authKeyId: null,
      registerMethod,
      ephemeral: e.ephemeral,
      expiry,
      machineKey: e.machineKey,
      nodeKey: e.nodeKey,
      discoKey: zeroKey('discokey'),
      endpoints: [],
      hostinfo: e.hostinfo ?? {},
      hostname: e.hostname,
      lastSeen: null,
      approvedRoutes: [],
    });
  }
}
