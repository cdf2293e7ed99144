// Policy document parsing: HuJSON text to a validated, typed Policy. Only checks that need
// no tailnet state live here; anything that needs nodes waits for compilation.
import JSON5 from 'json5';
import { fail, Issues, PolicyError } from './errors.js';
import { parsePrefix, type Range } from './ipset.js';
import { parsePorts, parseProto, PORT_PROTOS, protoName, type PortRange } from './ports.js';
import { validateStatic } from './validate.js';

export interface AclEntry {
  action: string;
  src: string[];
  dst: { alias: string; ports: PortRange[]; raw: string }[];
  proto?: number[];
}

export interface IpSpec {
  proto?: number[];
  ports: PortRange[];
}

export interface GrantEntry {
  src: string[];
  dst: string[];
  ip: IpSpec[];
  app: Record<string, unknown[]> | null;
  via: string[];
}

export interface SshEntry {
  action: 'accept' | 'check';
  src: string[];
  dst: string[];
  users: string[];
  checkPeriod?: number;
  acceptEnv?: string[];
  /** A checkPeriod was written (validation refuses it on "accept" rules). */
  hasCheckPeriod?: boolean;
}

export interface NodeAttrEntry {
  target: string[];
  attr: string[];
  app?: Record<string, unknown[]>;
  ipPool?: Range[];
}

export interface PolicyTest {
  src: string;
  proto?: string;
  accept: string[];
  deny: string[];
  malformed?: boolean;
}

export interface SshTest {
  src: string;
  dst: string[];
  accept: string[];
  check: string[];
  deny: string[];
  malformed?: boolean;
}

/** A rule of the unified rule list: ACL entries and grants both compile to these. */
export interface Rule {
  kind: 'acl' | 'grant';
  src: string[];
  dst: { alias: string; ports: PortRange[] }[];
  /** Per-protocol split for grants; ACL rules hold one element. */
  ipSpecs: { proto?: number[]; ports: PortRange[] | null }[];
  app: Record<string, unknown[]> | null;
  via: string[];
}

export interface Policy {
  groups: Record<string, string[]>;
  hosts: Record<string, Range>;
  tagOwners: Record<string, string[]>;
  acls: AclEntry[];
  grants: GrantEntry[];
  ssh: SshEntry[];
  nodeAttrs: NodeAttrEntry[];
  autoApprovers: { routes: Record<string, string[]>; exitNode: string[] };
  tests: PolicyTest[];
  sshTests: SshTest[];
  randomizeClientPort: boolean;
  /** Neither "acls" nor "grants" given: Tailscale then allows all traffic. */
  implicitAllowAll: boolean;
}

const TOP_KEYS = [
  'groups', 'hosts', 'tagOwners', 'acls', 'grants', 'ssh', 'nodeAttrs', 'autoApprovers',
  'tests', 'sshTests', 'randomizeClientPort', 'derpMap', 'disableIPv4', 'OneCGNATRoute',
  'postures', 'defaultSrcPosture', 'ipsets', 'attrsDelegation',
];

type Obj = Record<string, unknown>;

/** Go's encoding/json matches field names case-insensitively; Tailscale inherits that. */
function pickKeys(o: Obj, allowed: string[], where: string): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    const canon = allowed.find((a) => a.toLowerCase() === k.toLowerCase());
    if (!canon) fail(`${where}unknown field "${k}"`);
    out[canon] = v;
  }
  return out;
}

function asObj(v: unknown, what: string): Obj {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(`${what}: expected an object`);
  return v as Obj;
}

function asArr(v: unknown, what: string): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) fail(`${what}: expected a list`);
  return v;
}

function asStrList(v: unknown, what: string): string[] {
  return asArr(v, what).map((x) => {
    if (typeof x !== 'string') fail(`${what}: expected a string, got ${JSON.stringify(x)}`);
    return x;
  });
}

const TAG_RE = /^tag:[A-Za-z][A-Za-z0-9-]*$/;

/** Tag name syntax, in the words of Tailscale's tailcfg.CheckTag (ASCII only). */
export function validateTagName(t: string, where: string): void {
  if (!t.startsWith('tag:')) fail(`${where}: tags must start with 'tag:'`);
  if (t === 'tag:') fail(`${where}: tag names must not be empty`);
  if (!/^tag:[A-Za-z]/.test(t)) fail(`${where}: tag names must start with a letter, after 'tag:'`);
  if (!TAG_RE.test(t)) fail(`${where}: tag names can only contain numbers, letters, or dashes`);
}

function parseDuration(s: string): number {
  // Go time.ParseDuration subset: sequences of <number><unit>.
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const sign = s.startsWith('-') ? -1 : 1;
  const body = s.startsWith('-') || s.startsWith('+') ? s.slice(1) : s;
  if (body === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  if (body === '') fail(`time: invalid duration "${s}"`);
  while ((m = re.exec(body))) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== body.length) fail(`time: invalid duration "${s}"`);
  return sign * total;
}

export function formatGoDuration(sec: number): string {
  if (sec < 0) return `-${formatGoDuration(-sec)}`;
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec - h * 3600 - m * 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * "alias:ports" split at the last colon. RFC 3986 brackets are accepted around an IPv6
 * address ("[fd7a::1]:22", "[fd7a::1]/128:22") and refused around anything else.
 */
function splitDst(raw: string): { alias: string; ports: PortRange[] } {
  let input = raw;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) fail('square brackets are only valid around IPv6 addresses');
    const host = input.slice(1, close);
    const r = parsePrefix(host);
    if (!r || !r.v6 || host.includes('/')) fail(`square brackets are only valid around IPv6 addresses: "${host}"`);
    const rest = input.slice(close + 1);
    if (rest === '' || (rest[0] !== ':' && rest[0] !== '/')) fail(`square brackets are only valid around IPv6 addresses: "${raw}"`);
    input = host + rest;
  }
  const i = input.lastIndexOf(':');
  // Without a colon the last label is read as the port list, as Tailscale reports it.
  if (i < 0) fail(`dst="${raw}": port range "${raw}": invalid first integer`);
  if (i === 0) fail('input cannot start with a colon character');
  if (i === input.length - 1) fail(`dst="${raw}": port range "": invalid first integer`);
  const alias = input.slice(0, i);
  const portStr = input.slice(i + 1);
  try {
    return { alias, ports: parsePorts(portStr) };
  } catch (e) {
    if (e instanceof PolicyError) fail(`dst="${raw}": ${e.message}`);
    throw e;
  }
}

function parseAcl(v: unknown, idx: number): AclEntry {
  const o = pickKeys(asObj(v, `acls[${idx}]`), ['action', 'src', 'dst', 'proto', 'users', 'ports', 'srcPosture'], '');
  const action = o.action;
  if (action !== 'accept') {
    if (typeof action === 'string' && action !== '') fail(`action="${action}" is not supported`);
    fail('action must be specified');
  }
  const src = asStrList(o.src, 'src');
  const dstRaw = asStrList(o.dst ?? o.ports, 'dst');
  const dst = dstRaw.map((d) => ({ ...splitDst(d.trim()), raw: d }));
  let proto: number[] | undefined;
  if (o.proto !== undefined && o.proto !== null && o.proto !== '') {
    if (typeof o.proto !== 'string' && typeof o.proto !== 'number') fail(`proto: expected a string`);
    proto = parseProto(String(o.proto));
    // Ports only mean something for TCP, UDP and SCTP; other protocols take "*".
    if (!PORT_PROTOS.includes(proto[0])) {
      for (const d of dst) {
        if (d.ports.some((r) => r.First !== 0 || r.Last !== 65535)) {
          fail(`protocol does not support specific ports: "${protoName(proto[0])}", only "*" is allowed`);
        }
      }
    }
  }
  return { action, src: src.map((x) => x.trim()), dst, proto };
}

function parseIpSpec(s: string): IpSpec {
  if (s === '*') return { ports: [{ First: 0, Last: 65535 }] };
  const parts = s.split(':');
  if (parts.length === 1) return { ports: parsePorts(s) };
  if (parts.length !== 2) {
    fail(`expected only one colon in Internet protocol and port type, got: [${parts.join(' ')}](${parts.length})`);
  }
  const proto = parseProto(parts[0]);
  return { proto, ports: parsePorts(parts[1]) };
}

function validateCapName(name: string): void {
  const slash = name.indexOf('/');
  if (slash <= 0 || name.includes('://')) fail('capability name must have the form {domain}/{path}');
  const domain = name.slice(0, slash).toLowerCase();
  if (domain === 'tailscale.com' || domain.endsWith('.tailscale.com')) {
    // A few tailscale.com capabilities are meant to be granted by policy.
    // Companions (drive-sharer, relay-target) are granted by the server, never by policy.
    const allowed = ['tailscale.com/cap/drive', 'tailscale.com/cap/kubernetes', 'tailscale.com/cap/tsidp', 'tailscale.com/cap/relay', 'tailscale.com/cap/webui', 'tailscale.com/cap/secrets'];
    if (!allowed.includes(name)) fail('capability name must not be in the tailscale.com domain');
  }
}

/**
 * Capability values are copied into every MapResponse as they are; a deeply nested one would
 * overflow the stack of whatever walks it (cloning, JSON encoding). Walked without recursion.
 */
function checkValueDepth(v: unknown, where: string): void {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > POLICY_LIMITS.valueDepth) fail(`${where}: values nest deeper than ${POLICY_LIMITS.valueDepth} levels`);
    for (const c of Object.values(x as Obj)) stack.push([c, d + 1]);
  }
}

function parseGrant(v: unknown, idx: number): GrantEntry {
  const o = pickKeys(asObj(v, `grants[${idx}]`), ['src', 'dst', 'ip', 'app', 'via', 'srcPosture'], '');
  // Surrounding whitespace in an alias is ignored, as Tailscale does.
  const src = asStrList(o.src, 'src').map((x) => x.trim());
  const dst = asStrList(o.dst, 'dst').map((x) => x.trim());
  const ipRaw = asStrList(o.ip, 'ip');
  const appObj = o.app === undefined || o.app === null ? null : asObj(o.app, 'app');
  if (ipRaw.length === 0 && (!appObj || Object.keys(appObj).length === 0)) fail('ip and app can not both be empty');
  const ip = ipRaw.map(parseIpSpec);
  let app: Record<string, unknown[]> | null = null;
  if (appObj && Object.keys(appObj).length > 0) {
    app = {};
    for (const [k, vals] of Object.entries(appObj)) {
      validateCapName(k);
      app[k] = asArr(vals, `app["${k}"]`);
      checkValueDepth(app[k], `app["${k}"]`);
    }
  }
  const via = asArr(o.via, 'via').map((v) => {
    if (typeof v !== 'string' || !v.startsWith('tag:')) fail('via can only be a tag');
    return v;
  });
  for (const d of dst) {
    // Any zero-length prefix ("0.0.0.0/0", "::/0", "10.0.0.0/0") means every address.
    if (/\/0+$/.test(d) && parsePrefix(d)) fail(`dst "${d}": to allow all IP addresses, use "*" or "autogroup:internet"`);
  }
  if (app && dst.includes('autogroup:internet')) fail('cannot use app grants with autogroup:internet');
  return { src, dst, ip, app, via };
}

function parseSsh(v: unknown, idx: number): SshEntry {
  const o = pickKeys(asObj(v, `ssh[${idx}]`), ['action', 'src', 'dst', 'users', 'checkPeriod', 'acceptEnv', 'srcPosture', 'recorder', 'enforceRecorder'], '');
  // Tailscale trims surrounding whitespace in SSH rule words.
  const trim = (l: string[]) => l.map((x) => x.trim());
  const action = typeof o.action === 'string' ? o.action.trim() : o.action;
  if (action === undefined || action === null || action === '') fail('action must be specified');
  if (action !== 'accept' && action !== 'check') fail(`${JSON.stringify(action)} is not a valid action`);
  const src = trim(asStrList(o.src, 'src'));
  const dst = trim(asStrList(o.dst, 'dst'));
  const users = trim(asStrList(o.users, 'users'));
  if (users.length === 0) fail('users must be specified');
  for (const u of users) {
    if (u === '' || u === '*') fail(`user ${JSON.stringify(u)} is not valid`);
  }
  const out: SshEntry = { action, src, dst, users };
  if (o.checkPeriod !== undefined && o.checkPeriod !== null) {
    const cp = String(o.checkPeriod);
    const secs = cp === 'always' ? 0 : parseDuration(cp);
    if (action !== 'check') fail('checkPeriod is only valid with action "check"');
    if (secs < 0) fail(`checkPeriod ${formatGoDuration(secs)} must be a positive duration`);
    if (secs > 168 * 3600) fail(`checkPeriod ${formatGoDuration(secs)} is above the max (168h)`);
    out.checkPeriod = secs;
    out.hasCheckPeriod = true;
  }
  if (o.acceptEnv !== undefined && o.acceptEnv !== null) {
    out.acceptEnv = asStrList(o.acceptEnv, 'acceptEnv');
    if (out.acceptEnv.includes('')) fail('acceptEnv values cannot be empty');
  }
  return out;
}

function parseNodeAttr(v: unknown, idx: number): NodeAttrEntry {
  const o = pickKeys(asObj(v, `nodeAttrs[${idx}]`), ['target', 'attr', 'app', 'ipPool'], '');
  const out: NodeAttrEntry = { target: asStrList(o.target, 'target').map((t) => t.trim()), attr: asStrList(o.attr, 'attr') };
  if (o.ipPool !== undefined && o.ipPool !== null) {
    out.ipPool = asStrList(o.ipPool, 'ipPool').map((x) => {
      const r = x.includes('/') ? parsePrefix(x) : null;
      if (!r) fail(`ipPool: "${x}": invalid prefix`);
      checkIpPool(x, r);
      return r;
    });
  }
  if (o.app !== undefined && o.app !== null) {
    const app = asObj(o.app, 'app');
    out.app = {};
    for (const [k, vals] of Object.entries(app)) {
      out.app[k] = asArr(vals, `app["${k}"]`);
      checkValueDepth(out.app[k], `app["${k}"]`);
    }
  }
  return out;
}

const CGNAT = parsePrefix('100.64.0.0/10')!;
const RESERVED_POOLS = ['100.100.100.0/24', '100.115.92.0/23'];

/** An ipPool lies inside the CGNAT range and clear of the ranges Tailscale keeps for itself. */
function checkIpPool(text: string, masked: Range): void {
  if (masked.v6 || masked.lo < CGNAT.lo || masked.hi > CGNAT.hi) {
    fail(`nodeAttrs ipPool must be within 100.64.0.0/10: "${text}"`);
  }
  for (const res of RESERVED_POOLS) {
    const rr = parsePrefix(res)!;
    if (masked.lo <= rr.hi && rr.lo <= masked.hi) fail(`nodeAttrs ipPool must not overlap reserved Tailscale ranges: "${text}" overlaps "${res}"`);
  }
}

function parseTest(v: unknown): PolicyTest {
  // Malformed test entries fail like failing tests do, so keep them and flag them.
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { src: '', accept: [], deny: [], malformed: true };
  const o = v as Obj;
  const t: PolicyTest = { src: '', accept: [], deny: [] };
  try {
    for (const [k, val] of Object.entries(o)) {
      const lk = k.toLowerCase();
      if (lk === 'src') t.src = String(val ?? '');
      else if (lk === 'proto') t.proto = String(val ?? '');
      else if (lk === 'accept') t.accept = asStrList(val, 'accept');
      else if (lk === 'deny') t.deny = asStrList(val, 'deny');
      else if (lk === 'srcpostureattrs') continue;
      else t.malformed = true;
    }
  } catch {
    t.malformed = true;
  }
  if (typeof o.src !== 'string' || o.src === '') t.malformed = true;
  return t;
}

function parseSshTest(v: unknown): SshTest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { src: '', dst: [], accept: [], check: [], deny: [], malformed: true };
  const o = v as Obj;
  const t: SshTest = { src: '', dst: [], accept: [], check: [], deny: [] };
  try {
    for (const [k, val] of Object.entries(o)) {
      const lk = k.toLowerCase();
      if (lk === 'src') t.src = String(val ?? '');
      else if (lk === 'dst') t.dst = asStrList(val, 'dst');
      else if (lk === 'accept') t.accept = asStrList(val, 'accept');
      else if (lk === 'check') t.check = asStrList(val, 'check');
      else if (lk === 'deny') t.deny = asStrList(val, 'deny');
      else t.malformed = true;
    }
  } catch {
    t.malformed = true;
  }
  for (const d of t.dst) {
    if (d === 'autogroup:internet') fail(`SSH tests dst contains disallowed element "${d}"`);
  }
  if (t.src === '') t.malformed = true;
  return t;
}

/** Bounds on what one policy may hold, so parsing and compiling stay cheap for the server. */
export const POLICY_LIMITS = {
  /** The policy text, in UTF-16 code units (about bytes for the ASCII policies are written in). */
  textLength: 1024 * 1024,
  /** Members of one group. */
  groupMembers: 10_000,
  /** Nesting of arrays and objects inside capability values (app, nodeAttrs app). */
  valueDepth: 32,
};

/** Parses each list entry on its own; a faulty entry becomes an issue and is left out. */
function entries<T>(issues: Issues, v: unknown, section: string, idx: number[], fn: (x: unknown, i: number) => T): T[] {
  const out: T[] = [];
  asArr(v, section).forEach((x, i) => {
    const r = issues.guard([section, i], () => fn(x, i));
    if (r !== undefined) {
      out.push(r);
      idx.push(i);
    }
  });
  return out;
}

/** Original list positions of the entries a Policy holds, for error locations. */
export interface EntryIndex {
  acls: number[];
  grants: number[];
  ssh: number[];
  nodeAttrs: number[];
  sshTests: number[];
}

export function parsePolicy(text: string): Policy {
  if (text.length > POLICY_LIMITS.textLength) {
    fail(`policy is ${text.length} characters long; the limit is ${POLICY_LIMITS.textLength}`);
  }
  let raw: unknown;
  try {
    raw = JSON5.parse(text);
  } catch (e) {
    throw new PolicyError(`parsing policy: ${(e as Error).message}`);
  }
  const top = pickKeys(asObj(raw, 'policy'), TOP_KEYS, '');
  const issues = new Issues();

  const groups: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(asObj(top.groups, 'groups'))) {
    issues.guard(['groups', k], () => {
      if (!k.startsWith('group:')) fail(`group must start with 'group:', got: "${k}"`);
      groups[k] = asStrList(v, `groups["${k}"]`);
      if (groups[k].length > POLICY_LIMITS.groupMembers) {
        fail(`groups["${k}"]: ${groups[k].length} members; the limit is ${POLICY_LIMITS.groupMembers}`);
      }
    });
  }
  // Tailscale's control plane refuses any group that names a group, nested or cyclic, with
  // one message; it reports the parent that sorts last (the deepest non-leaf of a chain).
  // Refusing nesting also keeps expansion linear: a group is its own member list.
  for (const g of Object.keys(groups).sort().reverse()) {
    const m = groups[g].find((x) => x.startsWith('group:'));
    if (m !== undefined) fail(`groups["${g}"]: "${m}": group members cannot be recursive`, ['groups', g]);
  }
  // Group members are users: a login with an "@" (tags and autogroups cannot be members).
  for (const [g, members] of Object.entries(groups)) {
    members.forEach((m, i) => {
      if (!m.includes('@')) issues.add(`username must contain @, got: "${m}"`, ['groups', g, i]);
    });
  }

  const hosts: Record<string, Range> = {};
  for (const [k, v] of Object.entries(asObj(top.hosts, 'hosts'))) {
    issues.guard(['hosts', k], () => {
      // A host name is a bare word: no "@" (a user) and no ":" (a tag, group or autogroup).
      if (k.includes('@') || k.includes(':')) fail(`invalid hostname: "${k}"`);
      const r = typeof v === 'string' ? parsePrefix(v) : null;
      if (!r) fail(`hostname contains invalid IP address: hostname "${k}" address "${String(v)}"`);
      hosts[k] = r;
    });
  }

  const tagOwners: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(asObj(top.tagOwners, 'tagOwners'))) {
    issues.guard(['tagOwners', k], () => {
      tagOwners[k] = asStrList(v, `tagOwners["${k}"]`);
      validateTagName(k, `tagOwners["${k}"]`);
    });
  }

  const idx: EntryIndex = { acls: [], grants: [], ssh: [], nodeAttrs: [], sshTests: [] };
  const acls = entries(issues, top.acls, 'acls', idx.acls, parseAcl);
  const grants = entries(issues, top.grants, 'grants', idx.grants, parseGrant);
  const ssh = entries(issues, top.ssh, 'ssh', idx.ssh, parseSsh);
  const nodeAttrs = entries(issues, top.nodeAttrs, 'nodeAttrs', idx.nodeAttrs, parseNodeAttr);

  const routes: Record<string, string[]> = {};
  let exitNode: string[] = [];
  issues.guard(['autoApprovers'], () => {
    const aa = pickKeys(asObj(top.autoApprovers, 'autoApprovers'), ['routes', 'exitNode', 'services'], 'autoApprovers: ');
    for (const [k, v] of Object.entries(asObj(aa.routes, 'autoApprovers.routes'))) {
      issues.guard(['autoApprovers', 'routes', k], () => {
        if (!k.includes('/') || !parsePrefix(k)) fail(`autoApprovers.routes: "${k}": invalid CIDR prefix`);
        routes[k] = asStrList(v, `autoApprovers.routes["${k}"]`);
      });
    }
    exitNode = asStrList(aa.exitNode, 'autoApprovers.exitNode');
  });

  const tests = asArr(top.tests, 'tests').map(parseTest);
  const sshTests = entries(issues, top.sshTests, 'sshTests', idx.sshTests, (x) => parseSshTest(x));

  const policy: Policy = {
    groups, hosts, tagOwners, acls, grants, ssh, nodeAttrs,
    autoApprovers: { routes, exitNode }, tests, sshTests,
    randomizeClientPort: top.randomizeClientPort === true,
    implicitAllowAll: top.acls === undefined && top.grants === undefined,
  };
  validateStatic(policy, issues, idx);
  issues.throwIfAny();
  return policy;
}
