// One test per rule of docs/policy-rules.md (the rule id is the test name's prefix). Inputs
// are written from Tailscale's policy-file documentation, not taken from the captures.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicy, PolicyError, type PolicyNode } from '../../src/acl/index.js';

const BASE = {
  groups: { 'group:eng': ['alice@example.com', 'bob@example.com'] },
  tagOwners: { 'tag:web': ['group:eng'], 'tag:db': ['alice@example.com'] },
  hosts: { 'corp-net': '10.1.0.0/16', printer: '10.1.2.3' },
};

type Doc = Record<string, unknown>;

function text(extra: Doc): string {
  return JSON.stringify({ ...BASE, ...extra });
}

/** The policy is refused and one of its faults carries exactly `message`. */
function refuses(extra: Doc, message: string): void {
  try {
    parsePolicy(text(extra));
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    const all = e.issues.map((i) => i.message);
    assert.ok(all.includes(message), `want ${JSON.stringify(message)}, got ${JSON.stringify(all)}`);
    return;
  }
  assert.fail(`accepted, want refusal ${JSON.stringify(message)}`);
}

function accepts(extra: Doc): void {
  assert.doesNotThrow(() => parsePolicy(text(extra)));
}

const acl = (src: string[], dst: string[], more: Doc = {}) => ({ acls: [{ action: 'accept', src, dst, ...more }] });
const grant = (g: Doc) => ({ grants: [{ src: ['*'], dst: ['*'], ip: ['*'], ...g }] });
const ssh = (r: Doc) => ({ ssh: [{ action: 'accept', src: ['group:eng'], dst: ['tag:web'], users: ['root'], ...r }] });

// groups
test('G1 group names start with "group:"', () => refuses({ groups: { eng: ['alice@example.com'] } }, `group must start with 'group:', got: "eng"`));
test('G2 group members are users (contain @)', () => {
  refuses({ groups: { 'group:x': ['tag:web'] } }, 'username must contain @, got: "tag:web"');
  refuses({ groups: { 'group:x': ['autogroup:member'] } }, 'username must contain @, got: "autogroup:member"');
});
test('G3 groups cannot contain groups', () =>
  refuses({ groups: { 'group:a': ['alice@example.com'], 'group:b': ['group:a'] } }, 'groups["group:b"]: "group:a": group members cannot be recursive'));

// hosts
test('H1 host names are bare words', () => refuses({ hosts: { 'a@b': '10.0.0.1' } }, 'invalid hostname: "a@b"'));
test('H2 host values are an address or prefix', () =>
  refuses({ hosts: { nas: 'nas.local' } }, 'hostname contains invalid IP address: hostname "nas" address "nas.local"'));
test('H3 a host may be a non-canonical prefix', () => accepts({ hosts: { lab: '10.2.3.4/16' } }));

// tagOwners
test('T0 tag names start with tag: and are not empty', () => {
  refuses({ tagOwners: { web: [] } }, `tagOwners["web"]: tags must start with 'tag:'`);
  refuses({ tagOwners: { 'tag:': [] } }, 'tagOwners["tag:"]: tag names must not be empty');
});
test('T1 tag names start with a letter after tag:', () => refuses({ tagOwners: { 'tag:1st': [] } }, `tagOwners["tag:1st"]: tag names must start with a letter, after 'tag:'`));
test('T2 tag names hold letters, digits and dashes', () =>
  refuses({ tagOwners: { 'tag:web_1': [] } }, 'tagOwners["tag:web_1"]: tag names can only contain numbers, letters, or dashes'));
test('T3 owners are users, groups, tags or role autogroups', () => {
  refuses({ tagOwners: { 'tag:web': ['devops'] } }, 'invalid owner format: "devops"');
  accepts({ tagOwners: { 'tag:web': ['autogroup:admin'], 'tag:ci': ['tag:web'], 'tag:k': [] } });
});
test('T4 owner groups and tags must be defined', () => {
  refuses({ tagOwners: { 'tag:web': ['group:ops'] } }, 'group not defined in policy: "group:ops"');
  refuses({ tagOwners: { 'tag:web': ['tag:ci'] } }, 'tag not found: "tag:ci"');
});

// ACL action, ports, proto
test('A1 action is "accept"', () => {
  refuses(acl(['*'], ['*:*'], { action: 'deny' }), 'action="deny" is not supported');
  refuses({ acls: [{ src: ['*'], dst: ['*:*'] }] }, 'action must be specified');
});
test('A2 dst carries a port list', () => {
  refuses(acl(['*'], ['tag:web:http']), 'dst="tag:web:http": port range "http": invalid first integer');
  refuses(acl(['*'], ['tag:web:99999']), 'dst="tag:web:99999": port range "99999": port number out of range');
  refuses(acl(['*'], ['tag:web:0']), `dst="tag:web:0": port range "0": first port must be >0, or use '*' for wildcard`);
  refuses(acl(['*'], ['tag:web:90-80']), 'dst="tag:web:90-80": port range "90-80": invalid port range: first port is greater than last port');
  accepts(acl(['*'], ['tag:web:80,443,8000-8100', 'tag:db:*']));
});
test('A3 bracketed IPv6 destinations', () => {
  accepts(acl(['*'], ['[fd7a:115c:a1e0::1]:22', '[fd7a:115c:a1e0::]/48:80']));
  refuses(acl(['*'], ['[10.1.2.3]:22']), 'square brackets are only valid around IPv6 addresses: "10.1.2.3"');
});
test('A4 proto names and numbers', () => {
  accepts(acl(['*'], ['*:*'], { proto: 'gre' }));
  accepts(acl(['*'], ['*:*'], { proto: '47' }));
  refuses(acl(['*'], ['*:*'], { proto: '*' }), 'proto name "*" not known; use protocol number 0-255 or protocol name (icmp, tcp, udp, etc.)');
  refuses(acl(['*'], ['*:*'], { proto: '047' }), 'leading 0 not permitted in protocol number: "047"');
  refuses(acl(['*'], ['*:*'], { proto: '300' }), 'protocol number out of range (0-255): 300');
  refuses(acl(['*'], ['*:*'], { proto: 'quic' }), 'invalid protocol number: "quic" must be a known protocol name or valid protocol number 0-255');
});
test('A5 only tcp, udp and sctp take specific ports', () => {
  refuses(acl(['*'], ['tag:web:22'], { proto: 'icmp' }), 'protocol does not support specific ports: "icmp", only "*" is allowed');
  refuses(acl(['*'], ['tag:web:22'], { proto: '47' }), 'protocol does not support specific ports: "gre", only "*" is allowed');
  accepts(acl(['*'], ['tag:web:53'], { proto: 'udp' }));
});

// ACL / grant sources and destinations
test('S1 src tags must be defined', () => refuses(acl(['tag:ci'], ['*:*']), 'src=tag not found: "tag:ci"'));
test('S2 src and dst groups must be defined', () => {
  refuses(acl(['group:ops'], ['*:*']), 'group not defined in policy: "group:ops"');
  refuses(grant({ dst: ['group:ops'] }), 'group not defined in policy: "group:ops"');
});
test('S3 an unknown bare word is not an address', () => refuses(acl(['fileserver'], ['*:*']), '"fileserver": invalid address'));
test('S4 unknown autogroups', () =>
  refuses(acl(['autogroup:everyone'], ['*:*']),
    'invalid autogroup: got "autogroup:everyone", must be one of [autogroup:internet autogroup:member autogroup:nonroot autogroup:tagged autogroup:self autogroup:danger-all]'));
test('S5 src autogroups: member, tagged, danger-all', () => {
  accepts(acl(['autogroup:member', 'autogroup:tagged'], ['*:*']));
  accepts(grant({ src: ['autogroup:danger-all'] }));
  refuses(acl(['autogroup:internet'], ['*:*']), 'autogroup:internet can only be used in ACL destinations');
  refuses(acl(['autogroup:self'], ['*:*']), '"autogroup:self" not valid on the src side of a rule');
  refuses(acl(['autogroup:nonroot'], ['*:*']),
    'autogroup not supported for ACL sources: "autogroup:nonroot", can be [autogroup:member autogroup:tagged autogroup:danger-all]');
});
test('S6 dst autogroups: internet, member, tagged, self', () => {
  accepts(acl(['group:eng'], ['autogroup:internet:*', 'autogroup:member:22', 'autogroup:tagged:80', 'autogroup:self:*']));
  refuses(acl(['*'], ['autogroup:danger-all:*']), 'cannot use autogroup:danger-all as a dst');
  refuses(grant({ dst: ['autogroup:nonroot'] }),
    'autogroup not supported for ACL destinations: "autogroup:nonroot", can be [autogroup:internet autogroup:member autogroup:tagged autogroup:self]');
});
test('S7 ACL dst tags must be defined', () => refuses(acl(['*'], ['tag:ci:22']), 'dst="tag:ci": tag not found: "tag:ci"'));
test('S8 autogroup:self needs user-kind sources', () => {
  accepts(acl(['*'], ['autogroup:self:*']));
  accepts(acl(['group:eng', 'alice@example.com', 'autogroup:member'], ['autogroup:self:*']));
  refuses(acl(['tag:web'], ['autogroup:self:*']), 'autogroup:self can only be used with users, groups, or supported autogroups');
  refuses(grant({ dst: ['autogroup:self'] }), 'autogroup:self can only be used with users, groups, or supported autogroups');
});

// grants
test('R1 a grant has ip or app', () => refuses({ grants: [{ src: ['*'], dst: ['*'] }] }, 'ip and app can not both be empty'));
test('R2 ip entries: proto:ports with one colon', () => {
  accepts(grant({ ip: ['tcp:443', 'udp:53', '8080', 'icmp:*'] }));
  refuses(grant({ ip: ['tcp:80:81'] }), 'expected only one colon in Internet protocol and port type, got: [tcp 80 81](3)');
  refuses(grant({ ip: ['https'] }), 'port range "https": invalid first integer');
});
test('R3 zero-length prefixes are spelled "*" or autogroup:internet', () => {
  refuses(grant({ dst: ['::/0'] }), 'dst "::/0": to allow all IP addresses, use "*" or "autogroup:internet"');
  refuses(grant({ dst: ['192.168.0.0/0'] }), 'dst "192.168.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"');
});
test('R4 capability names', () => {
  accepts(grant({ ip: [], app: { 'example.com/cap/admin-panel': [{ role: 'viewer' }] } }));
  refuses(grant({ ip: [], app: { 'https://example.com/cap/x': [{}] } }), 'capability name must have the form {domain}/{path}');
  refuses(grant({ ip: [], app: { 'tailscale.com/cap/ingress': [{}] } }), 'capability name must not be in the tailscale.com domain');
  accepts(grant({ ip: [], app: { 'tailscale.com/cap/drive': [{ shares: ['*'], access: 'ro' }] } }));
  accepts(grant({ ip: [], app: { 'tailscale.com/cap/secrets': [{ action: ['get'] }] } }));
  refuses(grant({ ip: [], app: { 'tailscale.com/cap/drive-sharer': [{}] } }), 'capability name must not be in the tailscale.com domain');
});
test('R5 app grants cannot target autogroup:internet', () =>
  refuses(grant({ dst: ['autogroup:internet'], ip: [], app: { 'example.com/cap/x': [{}] } }), 'cannot use app grants with autogroup:internet'));
test('R6 via names defined tags only', () => {
  refuses(grant({ dst: ['10.1.0.0/16'], via: ['group:eng'] }), 'via can only be a tag');
  refuses(grant({ dst: ['10.1.0.0/16'], via: ['tag:router'] }), 'tag "tag:router" not found');
  accepts(grant({ dst: ['10.1.0.0/16'], via: ['tag:web'] }));
});

// ssh
test('X1 ssh action', () => {
  refuses(ssh({ action: '' }), 'action must be specified');
  refuses(ssh({ action: 'allow' }), '"allow" is not a valid action');
});
test('X2 ssh users', () => {
  refuses(ssh({ users: [] }), 'users must be specified');
  refuses(ssh({ users: ['*'] }), 'user "*" is not valid');
  accepts(ssh({ users: ['autogroup:nonroot', 'root', 'deploy'] }));
});
test('X3 ssh src kinds', () => {
  accepts(ssh({ src: ['alice@example.com', 'group:eng', 'tag:db', 'autogroup:member', 'autogroup:tagged'] }));
  refuses(ssh({ src: ['*'] }), 'invalid src "*"');
  refuses(ssh({ src: ['10.1.2.3'] }), 'invalid src "10.1.2.3"');
  refuses(ssh({ src: ['autogroup:danger-all'] }), 'autogroup not supported for SSH sources: "autogroup:danger-all", can be [autogroup:member autogroup:tagged]');
});
test('X4 ssh dst kinds', () => {
  refuses(ssh({ dst: ['*'] }),
    "wildcard (*) is not supported as SSH destination; use 'autogroup:member' for user-owned devices, 'autogroup:tagged' for tagged devices, or specific tags/users");
  refuses(ssh({ dst: ['printer'] }), 'invalid dst "printer"');
  refuses(ssh({ dst: ['group:eng'] }), 'invalid dst "group:eng"');
  refuses(ssh({ dst: ['autogroup:internet'] }), 'autogroup:internet can only be used in ACL destinations');
  refuses(ssh({ dst: ['tag:ci'] }), 'tag not found: "tag:ci"');
});
test('X5 tagged sources never reach user-owned devices', () => {
  refuses(ssh({ src: ['tag:db'], dst: ['alice@example.com'] }),
    'tags in SSH source cannot access user-owned devices (alice@example.com); use autogroup:tagged or specific tags as destinations instead');
  refuses(ssh({ src: ['tag:db'], dst: ['autogroup:member'] }), 'tags in SSH source cannot access autogroup:member (user-owned devices)');
  refuses(ssh({ src: ['autogroup:tagged'], dst: ['autogroup:self'] }),
    'autogroup:self destination requires source to contain only users or groups, not tags or autogroup:tagged');
});
test('X6 a user destination is reachable from that user only', () => {
  accepts(ssh({ src: ['alice@example.com'], dst: ['alice@example.com'] }));
  refuses(ssh({ src: ['group:eng'], dst: ['alice@example.com'] }),
    'user destination requires source to contain only that same user "alice@example.com"; use autogroup:self instead for same-user SSH access');
});
test('X7 checkPeriod', () => {
  accepts(ssh({ action: 'check', checkPeriod: '12h' }));
  accepts(ssh({ action: 'check', checkPeriod: 'always' }));
  refuses(ssh({ checkPeriod: '1h' }), 'checkPeriod is only valid with action "check"');
  refuses(ssh({ action: 'check', checkPeriod: '169h' }), 'checkPeriod 169h0m0s is above the max (168h)');
  refuses(ssh({ action: 'check', checkPeriod: '-5m' }), 'checkPeriod -5m0s must be a positive duration');
  refuses(ssh({ action: 'check', checkPeriod: 'soon' }), 'time: invalid duration "soon"');
});
test('X8 acceptEnv entries are not empty', () => {
  accepts(ssh({ acceptEnv: ['GIT_*', 'LANG'] }));
  refuses(ssh({ acceptEnv: [''] }), 'acceptEnv values cannot be empty');
});

// nodeAttrs
test('N1 nodeAttrs target kinds', () => {
  accepts({ nodeAttrs: [{ target: ['*', 'group:eng', 'tag:web', 'alice@example.com', '10.1.2.3', 'autogroup:member', 'autogroup:admin'], attr: ['funnel'] }] });
  refuses({ nodeAttrs: [{ target: ['autogroup:self'], attr: ['funnel'] }] },
    'nodeAttrs target does not support this autogroup: "autogroup:self", can be [autogroup:member autogroup:tagged]');
  refuses({ nodeAttrs: [{ target: ['tag:ci'], attr: ['funnel'] }] }, 'tag not found: "tag:ci"');
  refuses({ nodeAttrs: [{ target: ['nas'], attr: ['funnel'] }] }, '"nas": invalid address');
});
test('N2 ipPool inside 100.64.0.0/10, clear of reserved ranges', () => {
  accepts({ nodeAttrs: [{ target: ['tag:web'], ipPool: ['100.80.0.0/16'] }] });
  refuses({ nodeAttrs: [{ target: ['tag:web'], ipPool: ['192.168.0.0/24'] }] }, 'nodeAttrs ipPool must be within 100.64.0.0/10: "192.168.0.0/24"');
  refuses({ nodeAttrs: [{ target: ['tag:web'], ipPool: ['100.100.0.0/16'] }] },
    'nodeAttrs ipPool must not overlap reserved Tailscale ranges: "100.100.0.0/16" overlaps "100.100.100.0/24"');
});

// autoApprovers
test('P1 route keys are prefixes', () => refuses({ autoApprovers: { routes: { '10.1.2.3': ['tag:web'] } } }, 'autoApprovers.routes: "10.1.2.3": invalid CIDR prefix'));
test('P2 approvers are users, groups or tags', () => {
  accepts({ autoApprovers: { routes: { '10.1.0.0/16': ['tag:web', 'group:eng', 'alice@example.com'] }, exitNode: ['tag:web'] } });
  refuses({ autoApprovers: { exitNode: ['autogroup:member'] } }, 'invalid auto approver format: "autogroup:member"');
  refuses({ autoApprovers: { routes: { '10.1.0.0/16': ['tag:router'] } } }, 'tag not found: "tag:router"');
  refuses({ autoApprovers: { routes: { '10.1.0.0/16': ['group:ops'] } } }, 'group not defined in policy: "group:ops"');
});

// sshTests (document-level part; evaluation is in compile)
test('Q1 sshTests dst names one device', () => {
  refuses({ sshTests: [{ src: 'alice@example.com', dst: ['autogroup:internet'], accept: ['root'] }] }, 'SSH tests dst contains disallowed element "autogroup:internet"');
  refuses({ sshTests: [{ src: 'alice@example.com', dst: ['tag:ci'], accept: ['root'] }] }, 'test(s) failed:\nSSH tests dst contains unknown tag "tag:ci"');
  refuses({ sshTests: [{ src: 'alice@example.com', dst: ['corp-net'], accept: ['root'] }] }, 'test(s) failed:\nSSH tests dst contains disallowed element "corp-net"');
});

test('every fault is reported, each with its place in the document', () => {
  try {
    parsePolicy(text({ acls: [{ action: 'accept', src: ['tag:ci'], dst: ['*:*'] }, { action: 'accept', src: ['*'], dst: ['group:ops:*'] }] }));
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof PolicyError);
    assert.deepEqual(e.issues, [
      { message: 'src=tag not found: "tag:ci"', path: ['acls', 0, 'src', 0] },
      { message: 'group not defined in policy: "group:ops"', path: ['acls', 1, 'dst', 0] },
    ]);
    assert.equal(e.message, 'src=tag not found: "tag:ci"\ngroup not defined in policy: "group:ops"');
  }
});

test('R7 aliases are read without surrounding whitespace', () => {
  const p = parsePolicy(text(grant({ src: [' group:eng'], dst: ['tag:web '] })));
  assert.deepEqual([p.grants[0].src, p.grants[0].dst], [['group:eng'], ['tag:web']]);
});

const USERS = [{ id: 1, name: 'alice', email: 'alice@example.com' }, { id: 2, name: 'bob', email: 'bob@example.com' }];
function dev(id: number, userId: number | null, tags: string[] = []): PolicyNode {
  return { id, name: `d${id}`, userId, tags, ipv4: `100.64.0.${id}`, ipv6: `fd7a:115c:a1e0::${id}`, routableIPs: [], approvedRoutes: [] };
}

test('Q2 sshTests autogroup:self is the source user\'s own devices', () => {
  const nodes = [dev(1, 1), dev(2, 1), dev(3, 2)];
  const policy = (src: string, accept: string[], deny: string[] = []) => parsePolicy(text({
    ssh: [{ action: 'accept', src: ['autogroup:member'], dst: ['autogroup:self'], users: ['root'] }],
    sshTests: [{ src, dst: ['autogroup:self'], accept, deny }],
  }));
  assert.doesNotThrow(() => compilePolicy(policy('alice@example.com', ['root']), { users: USERS, nodes }));
  assert.throws(() => compilePolicy(policy('alice@example.com', [], ['root']), { users: USERS, nodes }), /test\(s\) failed/);
  // A group has no single "self": nothing to test against, so the test fails.
  assert.throws(() => compilePolicy(policy('group:eng', ['root']), { users: USERS, nodes }), /test\(s\) failed/);
});

test('Q3 tests destinations are one host and one port', () => {
  const nodes = [dev(1, 1), dev(2, 2)];
  const run = (dst: string) => compilePolicy(parsePolicy(text({
    acls: [{ action: 'accept', src: ['*'], dst: ['*:*'] }],
    tests: [{ src: 'alice@example.com', accept: [dst] }],
  })), { users: USERS, nodes });
  assert.doesNotThrow(() => run('100.64.0.2:22'));
  assert.doesNotThrow(() => run('bob@example.com:22'));
  for (const bad of ['100.64.0.2/32:22', 'bob@example.com:22,80', 'bob@example.com:*', 'bob@example.com:20-30', 'autogroup:internet:443']) {
    assert.throws(() => run(bad), /test\(s\) failed/, bad);
  }
});

test('X9 user:*@domain and localpart:*@domain name this tailnet\'s domain', () => {
  const nodes = [dev(1, 1), dev(2, 2)];
  const run = (doc: Doc) => compilePolicy(parsePolicy(text(doc)), { users: USERS, nodes });
  assert.doesNotThrow(() => run(acl(['user:*@example.com'], ['*:*'])));
  assert.doesNotThrow(() => run(acl(['user:*@passkey'], ['*:*'])));
  const msg = (d: string) => `${d} is not associated with this Tailnet and cannot be used in user:*@<domain> expressions`;
  assert.throws(() => run(acl(['user:*@example.net'], ['*:*'])), { message: msg('example.net') });
  assert.throws(() => run(grant({ dst: ['user:*@corp.example'] })), { message: msg('corp.example') });
  assert.throws(() => run(ssh({ users: ['localpart:*@example.org'] })), { message: msg('example.org') });
});

test('Q4 sshTests dst: an IPv4 literal names its device, an IPv6 literal is refused', () => {
  const nodes = [dev(1, 1), dev(2, null, ['tag:web'])];
  const run = (dst: string) => compilePolicy(parsePolicy(text({
    ssh: [{ action: 'accept', src: ['alice@example.com'], dst: ['tag:web'], users: ['root'] }],
    sshTests: [{ src: 'alice@example.com', dst: [dst], accept: ['root'] }],
  })), { users: USERS, nodes });
  assert.doesNotThrow(() => run('100.64.0.2'));
  assert.throws(() => run('fd7a:115c:a1e0::2'), /test\(s\) failed/);
});

test('N3 role autogroups as nodeAttrs targets: admin and owner resolve, roles not kept name nobody', () => {
  const nodes = [dev(1, 1), dev(2, 2)];
  for (const t of ['autogroup:admin', 'autogroup:owner', 'autogroup:auditor', 'autogroup:it-admin']) {
    const c = compilePolicy(parsePolicy(text({ nodeAttrs: [{ target: [t], attr: ['example-attr'] }] })), { users: USERS, nodes });
    const has = 'example-attr' in c.capMap(1);
    assert.equal(has, t === 'autogroup:admin' || t === 'autogroup:owner', t);
  }
});

test('S9 rule sources may name users by role: autogroup:admin and autogroup:owner', () => {
  const nodes = [dev(1, 1), dev(2, 2), dev(3, null, ['tag:web'])];
  const c = compilePolicy(parsePolicy(text(grant({ src: ['autogroup:owner'], dst: ['tag:web'], ip: ['22'] }))), { users: USERS, nodes });
  assert.deepEqual(c.packetFilter(3).flatMap((r) => r.SrcIPs), ['100.64.0.1', 'fd7a:115c:a1e0::1']);
  const a = compilePolicy(parsePolicy(text(acl(['autogroup:admin'], ['tag:web:22']))), { users: USERS, nodes });
  assert.equal(a.packetFilter(3).flatMap((r) => r.SrcIPs).length, 4);
  refuses(acl(['*'], ['autogroup:admin:22']), 'invalid autogroup: got "autogroup:admin", must be one of [autogroup:internet autogroup:member autogroup:nonroot autogroup:tagged autogroup:self autogroup:danger-all]');
});

test('Q5 tests may name an address no device owns, such as a host behind a subnet router', () => {
  const router = { ...dev(2, 1), routableIPs: ['10.1.0.0/16'], approvedRoutes: ['10.1.0.0/16'] };
  const nodes = [dev(1, 2), router];
  const run = (tests: Doc[]) => compilePolicy(parsePolicy(text({
    acls: [{ action: 'accept', src: ['bob@example.com'], dst: ['corp-net:22'] }],
    tests,
  })), { users: USERS, nodes });
  assert.doesNotThrow(() => run([{ src: 'bob@example.com', accept: ['printer:22', '10.1.9.9:22'], deny: ['printer:80'] }]));
  assert.throws(() => run([{ src: 'bob@example.com', accept: ['10.1.9.9:443'] }]), /test\(s\) failed/);
  assert.throws(() => run([{ src: 'alice@example.com', accept: ['printer:22'] }]), /test\(s\) failed/);
});

test('P3 user and group approvers approve routes of their own untagged devices, also while they register', () => {
  const doc = text({ autoApprovers: { routes: { '10.1.0.0/16': ['alice@example.com'], '10.2.0.0/16': ['group:eng'] }, exitNode: ['bob@example.com'] } });
  const p = parsePolicy(doc);
  const router = (userId: number | null, tags: string[] = []) => ({
    ...dev(9, userId, tags), routableIPs: ['10.1.0.0/24', '10.2.0.0/16', '0.0.0.0/0', '::/0'],
  });
  // Not yet part of the tailnet index: approval happens during registration.
  const empty = compilePolicy(p, { users: USERS, nodes: [] });
  assert.deepEqual(empty.autoApprovedRoutes(router(1)), ['10.1.0.0/24', '10.2.0.0/16']);
  assert.deepEqual(empty.autoApprovedRoutes(router(2)), ['10.2.0.0/16', '0.0.0.0/0', '::/0']);
  assert.deepEqual(empty.autoApprovedRoutes(router(null, ['tag:web'])), []);
  const indexed = compilePolicy(p, { users: USERS, nodes: [router(1)] });
  assert.deepEqual(indexed.autoApprovedRoutes(router(1)), ['10.1.0.0/24', '10.2.0.0/16']);
});

test('Q6 sshTests dst "*" stands for every device', () => {
  const nodes = [dev(1, 1), dev(2, null, ['tag:web'])];
  const run = (users: string[]) => compilePolicy(parsePolicy(text({
    ssh: [{ action: 'accept', src: ['alice@example.com'], dst: ['tag:web', 'autogroup:self'], users: ['root'] }],
    sshTests: [{ src: 'alice@example.com', dst: ['*'], ...(users.length ? { accept: users } : { deny: ['root'] }) }],
  })), { users: USERS, nodes });
  assert.doesNotThrow(() => run(['root']));
  assert.throws(() => run([]), /test\(s\) failed/);
});
