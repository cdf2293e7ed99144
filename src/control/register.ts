// POST /machine/register: pre-auth key registration, interactive (web) login with its
// long-polled follow-up, re-registration of a known machine, node-key rotation
// (OldNodeKey) and logout (Expiry in the past).
// Refusals travel in RegisterResponse.Error, which the client shows to the user.

import type { NodeRecord, PreAuthKeyRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import { MIN_CAPABILITY_VERSION, type Hostinfo, type RegisterResponse } from '../tailcfg/types.js';
import { TAGGED_DEVICES_USER_ID, userIdOf } from '../mapresponse/nodes.js';
import { KeyedLock } from '../util/keyedlock.js';
import { PendingFull, type PendingRegistration } from '../auth/pending.js';
import type { WebLogin } from '../auth/weblogin.js';
import type { ControlMetrics } from './metrics.js';
import { checkHostinfo } from './hostinfo.js';
import { decideTags, type TagCheck } from './requesttags.js';
import { BadRequest, optionalBool, optionalObject, optionalString, optionalTime, requireKey, zeroKey } from './validate.js';

export interface RegisterContext {
  tailnet: Tailnet;
  log: (msg: string) => void;
  /** Serializes registrations of one machine. */
  locks: KeyedLock;
  /** Key lifetime of nodes that do not ask for one (config node.expiry); 0 never expires. */
  defaultExpiryMs: number;
  metrics: ControlMetrics;
  /** tagOwners check for Hostinfo.RequestTags; without one every requested tag is refused. */
  refusedTags?: TagCheck;
  /** Interactive login; without it a client without a key is refused. */
  webLogin?: WebLogin;
}

/** The server shut down while a follow-up waited; answered with 503. */
export class ServerClosing extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'ServerClosing';
  }
}

/** register()'s answer when the client must wait for a decision (outside the machine's lock). */
interface WaitFor {
  waitFor: PendingRegistration;
}

interface ParsedRegister {
  version: number;
  nodeKey: string;
  oldNodeKey: string;
  authKey: string;
  expiry: Date | null;
  hostinfo: Hostinfo | null;
  ephemeral: boolean;
  followup: string;
}

function parseRegister(body: Record<string, unknown>): ParsedRegister {
  const version = body.Version;
  if (typeof version !== 'number' || !Number.isInteger(version)) throw new BadRequest('Version: expected an integer capability version');
  if (version < MIN_CAPABILITY_VERSION) {
    throw new BadRequest(`Version: capability version ${version} is too old; Switchboard needs ${MIN_CAPABILITY_VERSION} (Tailscale v1.80) or newer`);
  }
  const auth = optionalObject(body.Auth, 'Auth');
  return {
    version,
    nodeKey: requireKey(body.NodeKey, 'nodekey', 'NodeKey'),
    oldNodeKey: requireKey(body.OldNodeKey, 'nodekey', 'OldNodeKey', true),
    authKey: auth ? optionalString(auth.AuthKey, 'Auth.AuthKey').trim() : '',
    expiry: optionalTime(body.Expiry, 'Expiry'),
    hostinfo: checkHostinfo(body.Hostinfo),
    ephemeral: optionalBool(body.Ephemeral, 'Ephemeral'),
    followup: optionalString(body.Followup, 'Followup'),
  };
}

function response(t: Tailnet, node: NodeRecord | null, fields: Partial<RegisterResponse>): RegisterResponse {
  const uid = node ? userIdOf(node) : 0;
  const user = uid && uid !== TAGGED_DEVICES_USER_ID ? t.user(uid) : undefined;
  const login = user ? user.email || user.name : uid === TAGGED_DEVICES_USER_ID ? 'tagged-devices' : '';
  const display = user ? user.displayName || user.name : uid === TAGGED_DEVICES_USER_ID ? 'Tagged Devices' : '';
  return {
    User: { ID: uid, DisplayName: display, Created: (user?.createdAt ?? new Date(0)).toISOString() },
    Login: { ID: uid, LoginName: login, DisplayName: display },
    NodeKeyExpired: false,
    MachineAuthorized: false,
    AuthURL: '',
    Error: '',
    ...fields,
  };
}

function expired(n: NodeRecord, now: Date): boolean {
  return n.expiry !== null && n.expiry.getTime() <= now.getTime();
}

/** `signal` aborts a waiting follow-up when the client goes away. */
export async function handleRegister(ctx: RegisterContext, machineKey: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<RegisterResponse> {
  const req = parseRegister(body);
  let res = await ctx.locks.run(machineKey, () => register(ctx, machineKey, req));
  // The wait holds no lock: the decision itself takes the machine's lock to write the node.
  for (let i = 0; 'waitFor' in res && i < 3; i++) {
    const outcome = await ctx.webLogin!.wait(res.waitFor.id, signal);
    if (outcome.kind === 'aborted') return response(ctx.tailnet, null, { Error: 'the client went away' }); // no one reads it
    // A transient failure, not a refusal: the client retries its follow-up (after a restart
    // the link is unknown, and it gets a new one).
    if (outcome.kind === 'closed') throw new ServerClosing();
    res = await ctx.locks.run(machineKey, () => register(ctx, machineKey, req));
  }
  if ('waitFor' in res) res = response(ctx.tailnet, null, { AuthURL: ctx.webLogin!.authUrl(res.waitFor.id) });
  const result = res.Error ? 'refused' : 'ok';
  ctx.metrics.registrations.inc({ result });
  ctx.metrics.registrationsByMethod.inc({ method: req.authKey ? 'authkey' : 'none', result });
  return res;
}

async function register(ctx: RegisterContext, machineKey: string, req: ParsedRegister): Promise<RegisterResponse | WaitFor> {
  const { tailnet } = ctx;
  const now = new Date();
  const existing = tailnet.nodeByMachineKey(machineKey);

  // Logout: the client asks for its current key to expire now.
  if (existing && req.expiry && req.expiry.getTime() <= now.getTime() && (existing.nodeKey === req.nodeKey || existing.nodeKey === req.oldNodeKey)) {
    if (existing.ephemeral) {
      await tailnet.removeNode(existing.id);
      ctx.log(`node ${existing.givenName} (ephemeral) logged out and was removed`);
      return response(tailnet, existing, { NodeKeyExpired: true });
    }
    const n = await tailnet.updateNode(existing.id, { expiry: now }, { keyExpiry: true });
    ctx.log(`node ${n.givenName} logged out`);
    return response(tailnet, n, { NodeKeyExpired: true });
  }

  if (req.authKey) return registerWithKey(ctx, machineKey, req, existing ?? null);

  if (existing && !expired(existing, now)) {
    if (existing.nodeKey === req.nodeKey) {
      const tags = decideTags(ctx.refusedTags, existing.userId, existing.tags, req.hostinfo);
      if (!tags.ok) return refuseTags(ctx, existing, tags.error);
      const changes = { ...(req.hostinfo ? hostinfoChanges(existing, req.hostinfo) : {}), ...(tags.tags.join(',') !== existing.tags.join(',') ? { tags: tags.tags } : {}) };
      const n = Object.keys(changes).length ? await tailnet.updateNode(existing.id, changes) : existing;
      return response(tailnet, n, { MachineAuthorized: true });
    }
    // A new key without credentials is `tailscale up --force-reauth` (or `tailscale login`):
    // with web login on, that is a login like any other, as headscale has it.
    if (!ctx.webLogin && req.oldNodeKey && existing.nodeKey === req.oldNodeKey) {
      if (tailnet.nodeByNodeKey(req.nodeKey)) return response(tailnet, null, { Error: 'NodeKey is already used by another node' });
      const n = await tailnet.updateNode(existing.id, { nodeKey: req.nodeKey, ...(req.hostinfo ? hostinfoChanges(existing, req.hostinfo) : {}) });
      ctx.log(`node ${n.givenName} rotated its node key`);
      return response(tailnet, n, { MachineAuthorized: true });
    }
  }
  if (ctx.webLogin) {
    // An expired key itself is never re-used: the client makes a new one and comes back.
    if (existing && expired(existing, now) && existing.nodeKey === req.nodeKey) return response(tailnet, existing, { NodeKeyExpired: true });
    return interactive(ctx, ctx.webLogin, machineKey, req);
  }
  if (existing && expired(existing, now)) {
    return response(tailnet, existing, {
      NodeKeyExpired: true,
      Error: 'this node is logged out or its key expired: log in again with `tailscale up --authkey <key>`',
    });
  }
  return response(tailnet, null, {
    Error: 'this server registers nodes with pre-auth keys: run `tailscale up --login-server <url> --authkey <key>` (create one with `switchboard preauthkeys create --user <user>`)',
  });
}

/**
 * A client without a key: a follow-up of a registration of this machine waits for its
 * decision; anything else gets (or refreshes) a registration and its link.
 */
async function interactive(ctx: RegisterContext, web: WebLogin, machineKey: string, req: ParsedRegister): Promise<RegisterResponse | WaitFor> {
  const { tailnet } = ctx;
  const id = req.followup ? web.followupId(req.followup) : null;
  const entry = id ? await web.pending.get(id) : undefined;
  if (entry && entry.machineKey === machineKey) {
    const v = entry.verdict;
    if (!v) return { waitFor: entry };
    if (v.kind === 'rejected') return response(tailnet, null, { Error: v.reason });
    const node = tailnet.nodeByMachineKey(machineKey);
    if (node && node.id === v.nodeId && node.nodeKey === req.nodeKey) return response(tailnet, node, { MachineAuthorized: true });
    // Approved for another key (the client has moved on): start over below.
  }
  try {
    const e = await web.begin({ machineKey, nodeKey: req.nodeKey, hostinfo: req.hostinfo, ephemeral: req.ephemeral, expiry: req.expiry });
    return response(tailnet, null, { AuthURL: web.authUrl(e.id) });
  } catch (err) {
    if (err instanceof PendingFull) return response(tailnet, null, { Error: err.message }); // logged by begin()
    throw err;
  }
}

async function registerWithKey(ctx: RegisterContext, machineKey: string, req: ParsedRegister, existing: NodeRecord | null): Promise<RegisterResponse> {
  const { tailnet } = ctx;
  const check = tailnet.checkPreAuthKey(req.authKey);
  if (!check.ok) {
    ctx.log(`registration refused for machine ${machineKey.slice(0, 16)}…: ${check.error}`);
    return response(tailnet, null, { Error: check.error });
  }
  const key = check.key;
  // Before the key is claimed: a refused request costs the admin no single-use key.
  const tags = decideTags(ctx.refusedTags, key.userId, key.tags, req.hostinfo);
  if (!tags.ok) return refuseTags(ctx, existing, tags.error);
  const clash = tailnet.nodeByNodeKey(req.nodeKey);
  if (clash && clash.machineKey !== machineKey) return response(tailnet, null, { Error: 'NodeKey is already used by another node' });

  // The key is claimed before the node is written: of two racing registrations with
  // one single-use key, exactly one passes this line.
  if (!(await tailnet.claimPreAuthKey(key))) {
    return response(tailnet, null, { Error: 'pre-auth key has already been used' });
  }
  try {
    const fields = { ...keyedFields(key, req, ctx.defaultExpiryMs), tags: tags.tags };
    if (existing) {
      const n = await tailnet.updateNode(existing.id, {
        ...fields,
        nodeKey: req.nodeKey,
        ...(req.hostinfo ? hostinfoChanges(existing, req.hostinfo) : {}),
      });
      ctx.log(`node ${n.givenName} re-registered with a pre-auth key`);
      return response(tailnet, n, { MachineAuthorized: true });
    }
    const hostinfo = req.hostinfo ?? {};
    const n = await tailnet.addNode({
      ...fields,
      machineKey,
      nodeKey: req.nodeKey,
      discoKey: zeroKey('discokey'),
      endpoints: [],
      hostinfo,
      hostname: typeof hostinfo.Hostname === 'string' ? hostinfo.Hostname : '',
      lastSeen: null,
      approvedRoutes: [],
    });
    ctx.log(`node ${n.givenName} registered (${[n.ipv4, n.ipv6].filter(Boolean).join(', ')})`);
    return response(tailnet, n, { MachineAuthorized: true });
  } catch (err) {
    if (!key.reusable) {
      // Give the key back: the registration it was spent on did not happen.
      await tailnet.releasePreAuthKey(key.id).catch(() => {});
    }
    throw err;
  }
}

function refuseTags(ctx: RegisterContext, node: NodeRecord | null, error: string): RegisterResponse {
  ctx.log(`registration refused${node ? ` for node ${node.givenName}` : ''}: ${error}`);
  return response(ctx.tailnet, null, { Error: error });
}

function keyedFields(key: PreAuthKeyRecord, req: ParsedRegister, defaultExpiryMs: number) {
  const now = Date.now();
  let expiry: Date | null = null;
  if (req.expiry && req.expiry.getTime() > now) expiry = req.expiry;
  else if (defaultExpiryMs > 0) expiry = new Date(now + defaultExpiryMs);
  return {
    userId: key.userId,
    tags: key.tags,
    authKeyId: key.id,
    registerMethod: 'authkey' as const,
    ephemeral: key.ephemeral || req.ephemeral,
    expiry,
  };
}

export function hostinfoChanges(n: NodeRecord, hostinfo: Hostinfo): { hostinfo: Hostinfo; hostname: string } {
  const hostname = typeof hostinfo.Hostname === 'string' ? hostinfo.Hostname : n.hostname;
  return { hostinfo, hostname };
}
