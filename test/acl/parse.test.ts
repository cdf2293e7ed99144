import { test } from 'vitest';
import assert from 'node:assert/strict';
import { checkPolicyText, compilePolicy, parsePolicy, PolicyError } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

function refused(text: string, message: string): void {
  assert.throws(() => parsePolicy(text), (e: unknown) => e instanceof PolicyError && e.message === message);
}

test('HuJSON: comments and trailing commas are accepted', () => {
  const p = parsePolicy(`{
    // who may talk to whom
    "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"],},],
  }`);
  assert.equal(p.acls.length, 1);
});

test('keys are matched case-insensitively, unknown keys refused', () => {
  assert.equal(parsePolicy('{"ACLs": []}').acls.length, 0);
  refused('{"aclz": []}', 'unknown field "aclz"');
});

test('refusals use Tailscale wording', () => {
  refused('{"acls":[{"action":"deny","src":["*"],"dst":["*:*"]}]}', 'action="deny" is not supported');
  refused('{"acls":[{"action":"accept","src":["tag:nope"],"dst":["*:*"]}]}', 'src=tag not found: "tag:nope"');
  refused('{"tagOwners":{"tag:s":[]},"acls":[{"action":"accept","src":["*"],"dst":["tag:s:ssh"]}]}',
    'dst="tag:s:ssh": port range "ssh": invalid first integer');
  refused('{"acls":[{"action":"accept","src":["autogroup:self"],"dst":["*:*"]}]}', '"autogroup:self" not valid on the src side of a rule');
  refused('{"grants":[{"src":["*"],"dst":["*"]}]}', 'ip and app can not both be empty');
  refused('{"grants":[{"src":["*"],"dst":["0.0.0.0/0"],"ip":["*"]}]}', 'dst "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"');
  refused('{"grants":[{"src":["*"],"dst":["*"],"ip":["tcp:0"]}]}', `port range "0": first port must be >0, or use '*' for wildcard`);
  refused('{"ssh":[{"action":"check","checkPeriod":"200h","src":["*"],"dst":["autogroup:self"],"users":["root"]}]}', 'checkPeriod 200h0m0s is above the max (168h)');
  refused('{"ssh":[{"action":"accept","src":["*"],"dst":["autogroup:self"],"users":[]}]}', 'users must be specified');
  refused('{"groups":{"group:a":["group:b"],"group:b":["group:a"]}}', 'groups["group:b"]: "group:a": group members cannot be recursive');
});

test('checkPolicyText reports without throwing', () => {
  assert.deepEqual(checkPolicyText('{}'), { ok: true });
  const r = checkPolicyText('{"acls":[{"action":"drop","src":["*"],"dst":["*:*"]}]}');
  assert.equal(r.ok, false);
});

test('wire spelling: bare addresses, ranges for *, CIDR kept as written', () => {
  const p = parsePolicy(JSON.stringify({
    tagOwners: { 'tag:r': [] },
    hosts: { net: '10.33.0.0/16' },
    acls: [
      { action: 'accept', src: ['*'], dst: ['odin@example.com:22'] },
      { action: 'accept', src: ['odin@example.com'], dst: ['net:443'] },
    ],
  }));
  const nodes = [node(1), node(2, { tags: ['tag:r'], routableIPs: ['10.33.0.0/16'], approvedRoutes: ['10.33.0.0/16'] })];
  const c = compilePolicy(p, { users: USERS, nodes });
  const f1 = c.packetFilter(1);
  assert.deepEqual(f1[0].SrcIPs, ['10.33.0.0/16', '100.115.94.0-100.127.255.255', '100.64.0.0-100.115.91.255', 'fd7a:115c:a1e0::/48']);
  assert.deepEqual(f1[0].DstPorts!.map((d) => d.IP), ['100.64.0.2', 'fd7a:115c:a1e0::1:1']);
  assert.deepEqual(c.packetFilter(2), [{ SrcIPs: ['100.64.0.2', 'fd7a:115c:a1e0::1:1'], DstPorts: [{ IP: '10.33.0.0/16', Ports: { First: 443, Last: 443 } }] }]);
  assert.deepEqual(c.peers(1), [2]);
});

test('null policy allows everything', () => {
  const c = compilePolicy(null, { users: USERS, nodes: [node(1), node(2)] });
  assert.deepEqual(c.packetFilter(1), [{ SrcIPs: ['*'], DstPorts: [{ IP: '*', Ports: { First: 0, Last: 65535 } }] }]);
  assert.deepEqual(c.peers(1), [2]);
});

test('failing tests refuse the policy', () => {
  const p = parsePolicy('{"acls":[],"tests":[{"src":"odin@example.com","accept":["odin@example.com:22"]}]}');
  assert.throws(() => compilePolicy(p, { users: USERS, nodes: [node(1)] }), /test\(s\) failed/);
});

test('SSH check rules get a holdAndDelegate URL from the base URL', () => {
  const p = parsePolicy('{"ssh":[{"action":"check","src":["autogroup:member"],"dst":["autogroup:self"],"users":["root"]}]}');
  const c = compilePolicy(p, { users: USERS, nodes: [node(1)] }, { baseURL: 'https://ctl.example' });
  const rules = c.sshPolicy(1)!.rules;
  assert.equal(rules[0].action.holdAndDelegate, 'https://ctl.example/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER');
  assert.deepEqual(rules[0].sshUsers, { root: 'root' });
});

test('autoApprovers approve subnet routes by covering prefix and exit routes by exitNode', () => {
  const p = parsePolicy('{"tagOwners":{"tag:r":[]},"autoApprovers":{"routes":{"10.0.0.0/8":["tag:r"]},"exitNode":["tag:r"]}}');
  const c = compilePolicy(p, { users: USERS, nodes: [] });
  const n = node(5, { tags: ['tag:r'], routableIPs: ['10.1.0.0/16', '192.168.0.0/24', '0.0.0.0/0', '::/0'] });
  assert.deepEqual(c.autoApprovedRoutes(n), ['10.1.0.0/16', '0.0.0.0/0', '::/0']);
});
