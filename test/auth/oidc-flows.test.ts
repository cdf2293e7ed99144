// The form an OIDC sign-in in progress is kept in: keyed by a hash of the state, sealed
// under a key derived from it. Only the right state opens it; any change to it is refused.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { flowKey, MemoryFlows, openFlow, sealFlow } from '../../src/auth/oidc-flows.js';

const flow = { authId: 'hskey-authreq-' + 'a'.repeat(24), nonce: 'nonce-123', verifier: 'verifier-456' };

test('a sealed flow opens with its state only, and neither the state nor the secrets appear in what is stored', () => {
  const state = 'state-abcdef';
  const sealed = sealFlow(state, flow);
  assert.deepEqual(openFlow(state, sealed), flow);
  assert.equal(openFlow('state-abcdeg', sealed), null);
  const text = sealed.toString('latin1') + flowKey(state);
  for (const secret of [state, flow.nonce, flow.verifier]) assert.equal(text.includes(secret), false, secret);
  assert.match(flowKey(state), /^[0-9a-f]{64}$/);
  assert.notEqual(flowKey(state), flowKey('state-abcdeg'));
});

test('a changed or truncated sealed flow is refused', () => {
  const sealed = sealFlow('s', { ...flow, verifier: null });
  assert.deepEqual(openFlow('s', sealed)?.verifier, null);
  const bent = Buffer.from(sealed);
  bent[bent.length - 1]! ^= 1;
  assert.equal(openFlow('s', bent), null);
  assert.equal(openFlow('s', sealed.subarray(0, 20)), null);
  assert.equal(openFlow('s', Buffer.alloc(0)), null);
});

test('in memory: taken once, capped, and gone after its time', () => {
  let now = 1000;
  const m = new MemoryFlows(() => now);
  assert.equal(m.put('k1', Buffer.from('x'), 100, 2), true);
  assert.equal(m.put('k2', Buffer.from('y'), 100, 2), true);
  assert.equal(m.put('k3', Buffer.from('z'), 100, 2), false, 'the cap');
  assert.deepEqual(m.take('k1'), Buffer.from('x'));
  assert.equal(m.take('k1'), undefined, 'used once');
  now += 101;
  assert.equal(m.take('k2'), undefined, 'expired');
  assert.equal(m.put('k3', Buffer.from('z'), 100, 2), true, 'expired ones make room');
});
